// `cordq phantom kspace`, `cordq info RAW` and `cordq recon` in-process on a small simulation.
import CordCLI
import CordCore
import CordIO
import CordPipeline
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

    @Test func phantomResolveThenReconAutoDetectsAndWritesTheShotRecord() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var sim = try CordQCommand.parseAsRoot(["phantom", "kspace", dir + "/rs", "--sequence", "resolve", "--matrix", "32",
                                                "--segment-width", "8", "--navigator-lines", "16", "--coils", "2", "--directions", "1",
                                                "--corrupted-shots", "1"])
        try sim.run()
        #expect(Support.files(in: dir + "/rs") == ["resolve.h5", "truth_combined.nii.gz", "truth_cord.nii.gz", "truth_fa.nii.gz",
                                                   "truth_md.nii.gz", "truth_shots.json"])
        var recon = try CordQCommand.parseAsRoot(["recon", dir + "/rs/resolve.h5", dir + "/out/dwi.nii.gz", "--no-navigator"])
        try recon.run()
        #expect(Support.files(in: dir + "/out") == ["dwi.bval", "dwi.bvec", "dwi.json", "dwi.nii.gz", "dwi_resolve.json"])
        let json = try String(contentsOfFile: dir + "/out/dwi_resolve.json", encoding: .utf8)
        #expect(json.contains("\"navigator\" : \"off") && json.contains("\"rejectedShots\" : 1"))
        // RESOLVE has no g-factor: refused before anything is written.
        var g = try CordQCommand.parseAsRoot(["recon", dir + "/rs/resolve.h5", dir + "/out2/dwi.nii.gz", "--gfactor", dir + "/out2/g.nii.gz"])
        #expect(throws: (any Error).self) { try g.run() }
        #expect(!FileManager.default.fileExists(atPath: dir + "/out2/dwi.nii.gz"))
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

    /// Diffusion as the raw-data convention stores it (user_float[0] = b, [1…3] = direction
    /// in the patient frame, LPS): a second volume at b = 1000 along LPS +x (patient's left)
    /// gives dwi.bval `0 1000` and a bvec that reads back as RAS −x (the patient's left is −x
    /// in RAS). Readouts of one volume that disagree are refused, naming the volume.
    @Test func diffusionUserFieldsBecomeBvalAndBvec() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var sim = try CordQCommand.parseAsRoot(["phantom", "kspace", dir + "/ph", "--matrix", "16", "--coils", "2"])
        try sim.run()
        var raw = try ISMRMRDFile.read(dir + "/ph/epi.h5")
        let second = raw.acquisitions.filter { !$0.flags.contains(.isNoiseMeasurement) }.map { a -> RawAcquisition in
            var c = a; c.index.repetition = 1
            c.userFloats[0] = 1000; c.userFloats[1] = 1; c.userFloats[2] = 0; c.userFloats[3] = 0
            return c
        }
        raw.acquisitions += second
        try ISMRMRDFile.write(raw, to: dir + "/dwi.h5")
        var recon = try CordQCommand.parseAsRoot(["recon", dir + "/dwi.h5", dir + "/out/dwi.nii.gz"])
        try recon.run()
        #expect(Support.files(in: dir + "/out") == ["dwi.bval", "dwi.bvec", "dwi.json", "dwi.nii.gz"])
        let h = try NIfTIFile.readHeader(dir + "/out/dwi.nii.gz")
        #expect(h.frames == 2)
        let bvals = try TextFile.read(dir + "/out/dwi.bval").split(whereSeparator: \.isWhitespace).compactMap { Double($0) }
        #expect(bvals == [0, 1000])
        let table = try DiffusionProcessing.gradientTable(for: DWIInput(image: dir + "/out/dwi.nii.gz"), grid: h.grid, frames: 2)
        let d = table.entries[1].direction
        #expect(abs(d.x + 1) < 1e-4 && abs(d.y) < 1e-4 && abs(d.z) < 1e-4, "\(d)")   // LPS +x = RAS −x
        // One readout of volume 1 with another b: refused, nothing written.
        var bad = raw
        if let i = bad.acquisitions.lastIndex(where: { $0.index.repetition == 1 && !$0.flags.contains(.isPhaseCorrectionData) }) { bad.acquisitions[i].userFloats[0] = 500 }
        try ISMRMRDFile.write(bad, to: dir + "/bad.h5")
        var refuse = try CordQCommand.parseAsRoot(["recon", dir + "/bad.h5", dir + "/bad/dwi.nii.gz"])
        do { try refuse.run(); Issue.record("inconsistent b-values were accepted") } catch {
            #expect("\(error)".contains("volume 1") && "\(error)".contains("b-values"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/bad/dwi.nii.gz"))
    }
}
