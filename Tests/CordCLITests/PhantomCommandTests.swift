import ArgumentParser
import Foundation
import Testing
import CordTestSupport
@testable import CordCLI
@testable import CordCore
@testable import CordIO
@testable import CordPhantom
@testable import CordPipeline

@Suite struct PhantomCommandTests {
    @Test func writesABIDSSubjectWhoseFilesMatchTheTruth() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let out = dir + "/bids"
        var cmd = try CordQCommand.parseAsRoot(["phantom", out, "--acquisitions", "ax", "--seed", "5", "--compress", "C4:0.3"])
        try cmd.run()
        let ds = try BIDSDataset.load(out)
        #expect(ds.subjects.map(\.id) == ["sub-phantom01"])
        #expect(ds.participants["sub-phantom01"] != nil)
        let t2 = try #require(ds.subjects[0].series(suffix: "T2w", entities: ["acq": "ax"]).first)
        let side = try BIDSSidecar.read(try #require(t2.sidecarPath))
        #expect(side.repetitionTime == 4 && side.echoTime == 0.12)
        let (img, h) = try NIfTIFile.read(try #require(t2.imagePath))
        #expect(img.grid.orientationCode == "RPI" && h.datatype == .float32)

        let truthDir = out + "/derivatives/truth/sub-phantom01/anat/sub-phantom01_acq-ax"
        let (cord, _) = try NIfTIFile.read(truthDir + "_label-cord_mask.nii.gz")
        try img.grid.requireCompatible(with: cord.grid, "T2w", "cord mask")
        let (tissues, th) = try NIfTIFile.read(truthDir + "_desc-tissues_dseg.nii.gz", as: Int32.self)
        #expect(th.datatype == .int16)
        let lut = try TSVTable.read(truthDir + "_desc-tissues_dseg.tsv")
        #expect(lut.columns == ["index", "name"] && lut.rows.contains { $0[1] == "WM left lateral corticospinal tract" })
        // Cord mask = union of the cord tissue labels (labels written as stored).
        for n in 0..<cord.data.count {
            let isCord = TissueClass(rawValue: tissues.data[n])?.isCord ?? false
            #expect((cord.data[n] > 0) == isCord)
        }
        let truth = try JSONFile.read(PhantomTruth.self, from: truthDir + "_desc-truth_parameters.json")
        #expect(truth.compression?.level == .c4 && abs((truth.compression?.fraction ?? 0) - 0.3) < 1e-12)
        // Noise: the written image differs from the noise-free one by about σ (Rician in CSF ≈ σ).
        let (clean, _) = try NIfTIFile.read(truthDir + "_desc-noisefree_T2w.nii.gz")
        let diff = zip(img.data, clean.data).map { Double($0 - $1) }
        let rms = (diff.map { $0 * $0 }.reduce(0, +) / Double(diff.count)).squareRoot()
        #expect(rms > 0.5 * truth.noiseSigma && rms < 2 * truth.noiseSigma)  // Rician background inflates the RMS
    }

    @Test func sameSeedGivesIdenticalImages() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        for name in ["a", "b"] {
            var cmd = try CordQCommand.parseAsRoot(["phantom", dir + "/" + name, "--acquisitions", "ax", "--seed", "9"])
            try cmd.run()
        }
        let p = "/sub-phantom01/anat/sub-phantom01_acq-ax_T2w.nii.gz"
        let (a, _) = try NIfTIFile.read(dir + "/a" + p), (b, _) = try NIfTIFile.read(dir + "/b" + p)
        #expect(a.data == b.data)
    }

    @Test func badArgumentsAndExistingOutputAreRefusedWithoutWriting() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        #expect(throws: (any Error).self) { try CordQCommand.parseAsRoot(["phantom", dir + "/x", "--compress", "C9:0.4"]) }
        #expect(throws: (any Error).self) { try CordQCommand.parseAsRoot(["phantom", dir + "/x", "--compress", "C5:0.95"]) }
        #expect(throws: (any Error).self) { try CordQCommand.parseAsRoot(["phantom", dir + "/x", "--acquisitions", "cor"]) }
        try "keep".write(toFile: dir + "/note.txt", atomically: true, encoding: .utf8)
        var cmd = try CordQCommand.parseAsRoot(["phantom", dir, "--acquisitions", "ax"])
        #expect(throws: CordIOError.self) { try cmd.run() }
        #expect(Support.files(in: dir) == ["note.txt"])  // no staging folder left, input untouched
        // An invalid subject label is refused before anything is written.
        var bad = PhantomExportOptions(); bad.subject = "x_y"
        #expect(throws: CordError.self) { try PhantomExport.write(to: dir + "/y", options: bad) }
        #expect(Support.files(in: dir) == ["note.txt"])
    }
}

@Suite struct PhantomProtocolTests {
    /// The phantom subject is written to match the clinical-minimal card; one changed
    /// sidecar value must come back as exactly that deviation.
    @Test func phantomSubjectPassesClinicalMinimalAndOneChangeIsReported() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var options = PhantomExportOptions(); options.parameters.snr = 20
        _ = try PhantomExport.write(to: dir + "/bids", options: options)
        let subject = dir + "/bids/sub-phantom01"
        let library = ProtocolLibrary(folders: [Support.packageRoot + "/protocols"])
        let ok = try library.check(subject: subject, protocol: "clinical-minimal")
        #expect(ok.canProceed)
        #expect(ok.deviations.isEmpty)
        var cmd = try CordQCommand.parseAsRoot(["protocol", "check", subject, "--protocol", Support.packageRoot + "/protocols/clinical-minimal.yaml"])
        try cmd.run()   // exit 0
        // DWI TR 9 s is outside the card's 2–8 s.
        let json = subject + "/dwi/sub-phantom01_dwi.json"
        let text = try String(contentsOfFile: json, encoding: .utf8).replacingOccurrences(of: "\"RepetitionTime\" : 5", with: "\"RepetitionTime\" : 9")
        try text.write(toFile: json, atomically: true, encoding: .utf8)
        let bad = try library.check(subject: subject, protocol: "clinical-minimal")
        #expect(!bad.canProceed)
        #expect(bad.deviations.map { "\($0.series) \($0.finding.key)" } == ["dwi tr_s"])
    }
}
