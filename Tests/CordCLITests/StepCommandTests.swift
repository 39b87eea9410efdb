import ArgumentParser
import Foundation
import Testing
import CordTestSupport
@testable import CordCLI
@testable import CordCore
@testable import CordIO

@Suite struct StepCommandTests {
    @Test func denoiseWritesAllOutputsOrNone() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var rng = SeededRNG(seed: 2)
        var v = Volume<Float>(grid: Grid(nx: 10, ny: 10, nz: 6, spacing: [1, 1, 3]), frames: 12)
        for i in 0..<v.data.count { v.data[i] = 100 + Float(i % 12) * 5 + Float(5 * rng.normal()) }
        try NIfTIFile.write(v, to: dir + "/dwi.nii.gz")
        var cmd = try CordQCommand.parseAsRoot(["denoise", "mppca", dir + "/dwi.nii.gz", dir + "/out.nii.gz",
                                                "--noise", dir + "/sigma.nii.gz", "--rank", dir + "/rank.nii.gz", "--extent", "5,5,3",
                                                "--min-volumes", "12"])
        try cmd.run()
        #expect(Support.files(in: dir) == ["dwi.nii.gz", "out.nii.gz", "rank.nii.gz", "sigma.nii.gz"])
        let (sigma, _) = try NIfTIFile.read(dir + "/sigma.nii.gz")
        #expect(sigma.frames == 1 && sigma.grid.isCompatible(with: v.grid))
        // The output may not replace the input; a 3D input is refused; nothing is left behind.
        var same = try CordQCommand.parseAsRoot(["denoise", "mppca", dir + "/dwi.nii.gz", dir + "/dwi.nii.gz"])
        #expect(throws: CordIOError.self) { try same.run() }
        try NIfTIFile.write(v.frame(0), to: dir + "/b0.nii.gz")
        var threeD = try CordQCommand.parseAsRoot(["denoise", "mppca", dir + "/b0.nii.gz", dir + "/x.nii.gz", "--noise", dir + "/xs.nii.gz"])
        #expect(throws: CordIOError.self) { try threeD.run() }
        #expect(!Support.files(in: dir).contains("x.nii.gz") && !Support.files(in: dir).contains("xs.nii.gz"))
        #expect(throws: (any Error).self) { try CordQCommand.parseAsRoot(["denoise", "mppca", "a", "b", "--extent", "4"]) }
        #expect(throws: (any Error).self) { try CordQCommand.parseAsRoot(["denoise", "mppca", "a", "b", "--estimator", "exp3"]) }
    }

    @Test func mtCommandsValidateTheirOptions() throws {
        #expect(throws: (any Error).self) { try CordQCommand.parseAsRoot(["mt", "mtsat", "--mt", "a", "--pd", "b", "--t1w", "c", "out", "--b1-correction", "full"]) }
        #expect(throws: (any Error).self) { try CordQCommand.parseAsRoot(["mt", "mtsat", "--mt", "a", "--pd", "b", "--t1w", "c", "out", "--mt-tr", "35"]) }
        #expect(throws: (any Error).self) { try CordQCommand.parseAsRoot(["mt", "mtsat", "--mt", "a", "--pd", "b", "--t1w", "c", "out", "--form", "approx"]) }
        #expect(throws: (any Error).self) { try CordQCommand.parseAsRoot(["mt", "mtr", "--mt-on", "a", "--mt-off", "b", "o.nii", "--smoothing", "5"]) }
        let help = CordQCommand.helpMessage(for: MTsatCommand.self)
        #expect(help.contains("Helms") && help.contains("Weiskopf") && help.contains("sct_compute_mtsat"))
    }
}

@Suite struct DegibbsDebiasCommandTests {
    @Test func degibbsAndDebiasRunAndRefuseBadInput() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var v = Volume<Float>(grid: Grid(nx: 16, ny: 16, nz: 2, spacing: [1, 1, 3]), frames: 2)
        for k in 0..<2 { for j in 0..<16 { for i in 0..<16 { for t in 0..<2 { v[i, j, k, t] = (i > 5 && i < 11) ? 100 : 20 } } } }
        try NIfTIFile.write(v, to: dir + "/in.nii.gz")
        var g = try CordQCommand.parseAsRoot(["denoise", "degibbs", dir + "/in.nii.gz", dir + "/g.nii.gz"])
        try g.run()
        let (out, _) = try NIfTIFile.read(dir + "/g.nii.gz")
        #expect(out.grid.isCompatible(with: v.grid) && out.frames == 2 && out.data.allSatisfy { $0.isFinite })
        var d = try CordQCommand.parseAsRoot(["denoise", "debias", dir + "/in.nii.gz", dir + "/d.nii.gz", "--sigma", "10", "--method", "moments"])
        try d.run()
        let (db, _) = try NIfTIFile.read(dir + "/d.nii.gz")
        #expect(abs(db[0, 0, 0, 0] - Float((400.0 - 200.0).squareRoot())) < 1e-3)   // √(M² − 2σ²), M = 20, σ = 10
        #expect(throws: (any Error).self) { try CordQCommand.parseAsRoot(["denoise", "debias", "a", "b"]) }
        #expect(throws: (any Error).self) { try CordQCommand.parseAsRoot(["denoise", "degibbs", "a", "b", "--axes", "0"]) }
        try NIfTIFile.write(Volume<Float>(grid: Grid(nx: 4, ny: 4, nz: 2, spacing: [1, 1, 1])), to: dir + "/tiny.nii.gz")
        var tiny = try CordQCommand.parseAsRoot(["denoise", "degibbs", dir + "/tiny.nii.gz", dir + "/t.nii.gz"])
        #expect(throws: (any Error).self) { try tiny.run() }
        #expect(!Support.files(in: dir).contains("t.nii.gz"))
    }
}
