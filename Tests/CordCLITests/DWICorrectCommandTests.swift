// `cordq dwi correct` in-process on a small multiband phantom written as files, its bad
// inputs, and the real SCT testing series.
import ArgumentParser
import Foundation
import Testing
import CordTestSupport
@testable import CordCLI
@testable import CordCore
@testable import CordIO
import CordMultiband
@testable import CordPhantom
@testable import CordPipeline

@Suite struct DWICorrectCommandTests {
    static func run(_ args: [String]) throws {
        var cmd = try CordQCommand.parseAsRoot(args)
        try cmd.run()
    }

    /// A 16 × 16 × 6 MB-2 phantom series (2 mm pixels, 5 mm slices; b = 0 ×2, b = 800 ×10) with
    /// planted motion, one dropout and banding, written as dwi.nii.gz + bval/bvec + sidecar.
    static func write(_ dir: String, sidecar: [String: JSONValue]?) throws -> (path: String, sim: MultibandDWISimulation) {
        var p = PhantomParameters(); p.snr = nil
        let subject = try PhantomSubject(p, on: PhantomGrid.axial(inPlane: 2, sliceThickness: 5, fieldOfView: 32, inferior: -20, superior: 10))
        var d = DiffusionPhantomParameters(); d.snr = 40; d.orientationSamples = 60
        var c = MultibandCorruption(); c.factor = 2; c.dropouts = 1
        let table = GradientTable(DiffusionSchemes.referenceVolumes(2) + DiffusionSchemes.shell(800, 10))
        let sim = try MultibandSimulator.simulate(subject, table: table, parameters: d, corruption: c)
        let path = dir + "/dwi.nii.gz"
        try NIfTIFile.write(sim.image, to: path)
        try GradientFiles.write(table, grid: subject.grid, bval: dir + "/dwi.bval", bvec: dir + "/dwi.bvec")
        if var s = sidecar {
            if s["SliceTiming"] == nil { s["SliceTiming"] = .array(sim.truth.sliceTiming.map { .number($0) }) }
            try JSONFile.write(s, to: dir + "/dwi.json")
        }
        return (path, sim)
    }

    @Test func correctsAMultibandPhantomAndWritesEveryOutput() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let (path, sim) = try Self.write(dir, sidecar: ["MultibandAccelerationFactor": .number(2)])
        try Self.run(["dwi", "correct", path, dir + "/out.nii.gz"])
        for f in ["out.nii.gz", "out.bval", "out.bvec", "out_motion.tsv", "out_outliers.tsv", "out.json"] { #expect(TextFile.exists(dir + "/" + f), "\(f)") }
        let motion = try TSVTable.read(dir + "/out_motion.tsv")
        #expect(motion.columns == ["volume", "group", "slices", "tx_mm", "ty_mm", "rz_deg", "ncc"])
        #expect(motion.rows.count == 12 * 3)   // volumes × slice groups
        let outliers = try TSVTable.read(dir + "/out_outliers.tsv")
        #expect(outliers.columns == ["volume", "slice", "group", "score", "ratio", "outlier", "replaced"])
        let flagged = Set(outliers.rows.filter { $0[5] == "1" }.map { "\($0[0])/\($0[2])" })
        #expect(flagged == Set(sim.truth.dropouts.map { "\($0.volume)/\($0.group)" }))
        let record = try JSONFile.read([String: JSONValue].self, from: dir + "/out.json")
        #expect(record["MultibandFactor"] == .number(2))
        guard case let .object(motionRecord)? = record["Motion"], case let .array(perVolume)? = motionRecord["MeanDisplacementPerVolume_mm"] else {
            Issue.record("no Motion.MeanDisplacementPerVolume_mm in out.json"); return
        }
        #expect(perVolume.count == 12)
        let (out, _) = try NIfTIFile.read(dir + "/out.nii.gz")
        #expect(out.frames == 12 && out.grid.isCompatible(with: sim.image.grid))
        // Refused without --overwrite, and nothing changes.
        #expect(throws: (any Error).self) { try Self.run(["dwi", "correct", path, dir + "/out.nii.gz"]) }
    }

    @Test func badInputsAreClearErrorsAndLeaveNothing() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        // SliceTiming with 2 slices per time but MultibandAccelerationFactor 3.
        let (path, _) = try Self.write(dir, sidecar: ["MultibandAccelerationFactor": .number(3)])
        do {
            try Self.run(["dwi", "correct", path, dir + "/a.nii.gz"])
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains("dwi.nii.gz") && "\(error)".contains("MultibandAccelerationFactor is 3"))
        }
        // --slice-groups contradicting the timing.
        #expect(throws: (any Error).self) { try Self.run(["dwi", "correct", path, dir + "/a.nii.gz", "--slice-groups", "3"]) }
        #expect(throws: (any Error).self) { try Self.run(["dwi", "correct", path, dir + "/a.nii.gz", "--slice-groups", "zero"]) }
        // A 3D image.
        let grid = Grid(nx: 8, ny: 8, nz: 4, spacing: [1, 1, 4])
        try NIfTIFile.write(Volume<Float>(grid: grid, frames: 1, repeating: 1), to: dir + "/t2.nii.gz")
        try TextFile.write("0\n", to: dir + "/t2.bval"); try TextFile.write("0\n0\n0\n", to: dir + "/t2.bvec")
        do {
            try Self.run(["dwi", "correct", dir + "/t2.nii.gz", dir + "/b.nii.gz"])
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains("t2.nii.gz has 1 volume"))
        }
        #expect(Support.files(in: dir).allSatisfy { !$0.hasPrefix("a") && !$0.hasPrefix("b") && !$0.hasPrefix(".") })
    }

    @Test func missingSliceTimingIsSingleBandWithAWarning() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let (path, _) = try Self.write(dir, sidecar: nil)
        let s = try DWICorrection.run(dwi: path, output: dir + "/c.nii.gz", mask: nil, groups: .auto, options: {
            var o = MultibandCorrectionOptions(); o.progress = false; o.outlierWarningFraction = 0.02; return o }())
        #expect(s.result.groups.factor == 1)
        #expect(s.result.quality.warnings.contains { $0.contains("single-band (MB 1) assumed") })
        // Judged slice by slice, the planted group dropout is 2 of 60 slices (3.3 %): above the 2 % asked for here.
        #expect(s.result.quality.outliers == 2)
        #expect(s.result.quality.warnings.contains { $0.contains("2 of 60 diffusion-weighted slice groups") && $0.contains("more than 2 %") })
    }

    /// The SCT testing series (7 volumes: too few for a tensor prediction, so motion only):
    /// mean displacement in moco_params convention, small for this still subject.
    @Test(.enabled(if: Support.hasSharedData, "needs ../shared/data (sct_testing_data/dmri)"))
    func realSCTTestingDMRI() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let input = Support.sharedData + "/sct_testing_data/dmri/dmri.nii.gz"
        let s = try DWICorrection.run(dwi: input, output: dir + "/moco.nii.gz", mask: nil, groups: .auto, options: {
            var o = MultibandCorrectionOptions(); o.progress = false; return o }())
        let q = s.result.quality
        print("sct_testing_data/dmri: mean displacement per volume (mm) \(q.meanDisplacementPerVolume.map { formatFixed($0, 3) })")
        #expect(q.factor == 1 && q.meanDisplacementPerVolume.count == 7)
        #expect(q.maxDisplacement < 2)   // mm; a still volunteer, 0.84 mm pixels
        #expect(q.warnings.contains { $0.contains("too few for a tensor prediction") })
    }
}
