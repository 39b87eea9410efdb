// `cordq phantom kspace`, `cordq info RAW` and `cordq recon` in-process on a small simulation.
import CordCLI
import CordCore
import CordIO
import CordTestSupport
import Foundation
import Testing

@Suite struct ReconCommandTests {
    @Test func phantomKSpaceThenReconWritesImageSidecarAndGFactor() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var sim = try CordQCommand.parseAsRoot(["phantom", "kspace", dir + "/ph", "--matrix", "24", "--coils", "4",
                                                "--acceleration", "2", "--partial-fourier", "0.75"])
        try sim.run()
        #expect(Support.files(in: dir + "/ph") == ["epi.h5", "truth_combined.nii.gz", "truth_object.nii.gz", "truth_sense_gfactor.nii.gz"])
        var info = try CordQCommand.parseAsRoot(["info", dir + "/ph/epi.h5"])
        try info.run()
        var recon = try CordQCommand.parseAsRoot(["recon", dir + "/ph/epi.h5", dir + "/out/epi.nii.gz", "--gfactor", dir + "/out/g.nii.gz",
                                                  "--complex", "--partial-fourier", "homodyne"])
        try recon.run()
        #expect(Support.files(in: dir + "/out") == ["epi.json", "epi.nii.gz", "g.nii.gz"])
        let h = try NIfTIFile.readHeader(dir + "/out/epi.nii.gz")
        #expect(h.datatype == .complex64 && h.grid.nx == 24 && h.grid.ny == 24)
        let json = try String(contentsOfFile: dir + "/out/epi.json", encoding: .utf8)
        #expect(json.contains("\"ParallelReductionFactorInPlane\": 2") && json.contains("\"PartialFourier\": 0.75"))
    }

    @Test func unknownSequenceIsRefusedAndNothingWritten() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var sim = try CordQCommand.parseAsRoot(["phantom", "kspace", dir + "/ph", "--matrix", "16", "--coils", "2"])
        try sim.run()
        var raw = try ISMRMRDFile.read(dir + "/ph/epi.h5")
        raw.header.trajectory = .other
        raw.acquisitions = raw.acquisitions.map { var a = $0; a.flags.remove(.isReverse); return a }
        try ISMRMRDFile.write(raw, to: dir + "/radial.h5")
        var recon = try CordQCommand.parseAsRoot(["recon", dir + "/radial.h5", dir + "/out/x.nii.gz"])
        #expect(throws: (any Error).self) { try recon.run() }
        #expect(!FileManager.default.fileExists(atPath: dir + "/out/x.nii.gz") && !FileManager.default.fileExists(atPath: dir + "/out/x.json"))
    }
}
