import Foundation
import Testing
import CordTestSupport
@testable import CordCore
@testable import CordIO
@testable import CordMyelin
@testable import CordPhantom
@testable import CordPipeline

/// Writes a noise-free MT/PD/T1w FLASH phantom with sidecars into `dir`; returns the truth.
func writeMTPhantom(_ dir: String, flipInSidecar: Bool = true) throws -> FLASHSimulation {
    var params = PhantomParameters(); params.snr = nil
    let subject = try PhantomSubject(params, on: PhantomGrid.axial(inPlane: 1, sliceThickness: 3, fieldOfView: 32, inferior: -6, superior: 6))
    let acq = [FLASHAcquisition(flipAngleDegrees: 9, repetitionTime: 0.03, mtPulse: true),
               FLASHAcquisition(flipAngleDegrees: 9, repetitionTime: 0.03, mtPulse: false),
               FLASHAcquisition(flipAngleDegrees: 15, repetitionTime: 0.015, mtPulse: false)]
    let sim = try FLASHSimulator.simulate(subject.composition, acquisitions: acq, parameters: FLASHSimulationParameters())
    for (name, (img, a)) in zip(["mt", "pd", "t1w"], zip(sim.images, acq)) {
        try NIfTIFile.write(img, to: "\(dir)/\(name).nii.gz")
        let flip = flipInSidecar ? "\"FlipAngle\": \(a.flipAngleDegrees), " : ""
        try "{\(flip)\"RepetitionTime\": \(a.repetitionTime)}".write(toFile: "\(dir)/\(name).json", atomically: true, encoding: .utf8)
    }
    var wm = Mask(grid: sim.t1.grid, frames: 1, repeating: 0)
    for v in 0..<wm.data.count where sim.pureMask.data[v] != 0 && abs(sim.mtsat.data[v] - 2.8) < 1e-4 { wm.data[v] = 1 }
    try NIfTIFile.write(wm, to: "\(dir)/wm.nii.gz", datatype: .uint8)
    return sim
}

@Suite struct MTPipelineTests {
    @Test func mtsatFromSidecarsRecoversThePhantom() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        _ = try writeMTPhantom(dir)
        var r = MTsatRequest(mt: dir + "/mt.nii.gz", pd: dir + "/pd.nii.gz", t1w: dir + "/t1w.nii.gz", outputFolder: dir + "/out")
        r.form = .exact; r.mask = dir + "/wm.nii.gz"
        let report = try MTPipeline.mtsat(r)
        #expect(abs((report.maskMedians["mtsat_pu"] ?? 0) - 2.8) < 0.028)   // 1% of the WM truth
        #expect(abs((report.maskMedians["t1_s"] ?? 0) - 1.0) < 0.01)
        #expect(report.timings["t1w_flip_deg_tr_s"] == [15, 0.015])
        let (m, _) = try NIfTIFile.read(dir + "/out/mtsat.nii.gz")
        #expect(m.data.allSatisfy { $0.isFinite })
        #expect(Support.files(in: dir + "/out") == ["a.nii.gz", "mtsat.json", "mtsat.nii.gz", "r1map.nii.gz", "t1map.nii.gz"])
    }

    @Test func missingFlipAngleNamesTheSidecarAndTheOption() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        _ = try writeMTPhantom(dir, flipInSidecar: false)
        let r = MTsatRequest(mt: dir + "/mt.nii.gz", pd: dir + "/pd.nii.gz", t1w: dir + "/t1w.nii.gz", outputFolder: dir + "/out")
        do { _ = try MTPipeline.mtsat(r); Issue.record("no error") } catch {
            #expect("\(error)".contains("mt.json") && "\(error)".contains("FlipAngle") && "\(error)".contains("--mt-flip"))
        }
        #expect(!Support.files(in: dir).contains("out"))
        // Given on the command line instead, it works.
        var ok = r
        ok.mtTiming.flipAngleDegrees = 9; ok.pdTiming.flipAngleDegrees = 9; ok.t1Timing.flipAngleDegrees = 15
        _ = try MTPipeline.mtsat(ok)
    }

    @Test func mismatchedGridsAndOverwritingAnInputAreRefused() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        _ = try writeMTPhantom(dir)
        try NIfTIFile.write(Volume<Float>(grid: Grid(nx: 4, ny: 4, nz: 4, spacing: [1, 1, 1])), to: dir + "/small.nii.gz")
        var r = MTRRequest(mtOn: dir + "/mt.nii.gz", mtOff: dir + "/small.nii.gz", output: dir + "/mtr.nii.gz")
        do { _ = try MTPipeline.mtr(r); Issue.record("no error") } catch {
            #expect("\(error)".contains("small.nii.gz") && "\(error)".contains("same voxel grid"))
        }
        r = MTRRequest(mtOn: dir + "/mt.nii.gz", mtOff: dir + "/pd.nii.gz", output: dir + "/./pd.nii.gz")
        #expect(throws: CordIOError.self) { try MTPipeline.mtr(r) }
        #expect(!Support.files(in: dir).contains("mtr.nii.gz"))
    }
}

@Suite(.enabled(if: Support.hasSharedData, "../shared/data is absent: real MT scans skipped"))
struct MTRealDataTests {
    let data = Support.sharedData

    @Test func sctTestingMTGivesPlausibleCordValuesAndAlignmentHelps() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let mt = data + "/sct_testing_data/mt"
        var r = MTRRequest(mtOn: mt + "/mt1.nii.gz", mtOff: mt + "/mt0.nii.gz", output: dir + "/mtr.nii.gz")
        r.mask = mt + "/mt1_seg.nii.gz"; r.register = true
        let rep = try MTPipeline.mtr(r)
        let ncc = try #require(rep.alignment.values.first)
        #expect(ncc[1] > ncc[0] + 0.1)                                   // measured 0.774 → 0.930
        let mtr = try #require(rep.maskMedians["mtr_pu"])
        #expect(mtr > 25 && mtr < 60)                                    // measured 32.0 p.u.
        var s = MTsatRequest(mt: mt + "/mt1.nii.gz", pd: mt + "/mt0.nii.gz", t1w: mt + "/t1w.nii.gz", outputFolder: dir + "/mtsat")
        s.mask = mt + "/mt1_seg.nii.gz"; s.register = true
        let sat = try MTPipeline.mtsat(s)
        // t1w here is SCT's dummy (mt0 / 1.5, per its README): plausible ranges, not physiology.
        #expect((sat.maskMedians["mtsat_pu"] ?? 0) > 1 && (sat.maskMedians["mtsat_pu"] ?? 0) < 4)  // measured 1.76
        #expect((sat.maskMedians["t1_s"] ?? 0) > 0.6 && (sat.maskMedians["t1_s"] ?? 0) < 2)        // measured 1.19
    }

    @Test func tutorialMTAlignmentReducesMismatchAroundTheCord() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let mt = data + "/sct_tutorial_data/mt"
        // A hand-placed box around the cord (voxels i 86–104, j 90–108, every slice).
        let h = try NIfTIFile.readHeader(mt + "/mt1.nii.gz")
        var box = Mask(grid: h.grid, frames: 1, repeating: 0)
        for k in 0..<h.grid.nz { for j in 90...108 { for i in 86...104 { box[i, j, k] = 1 } } }
        try NIfTIFile.write(box, to: dir + "/box.nii.gz", datatype: .uint8, like: h)
        var r = MTRRequest(mtOn: mt + "/mt1.nii.gz", mtOff: mt + "/mt0.nii.gz", output: dir + "/mtr.nii.gz")
        r.mask = dir + "/box.nii.gz"; r.register = true
        let rep = try MTPipeline.mtr(r)
        let ncc = try #require(rep.alignment.values.first)
        #expect(ncc[1] > ncc[0] + 0.005)                                 // measured 0.820 → 0.831
        let mtr = try #require(rep.maskMedians["mtr_pu"])
        #expect(mtr > 30 && mtr < 60)                                    // measured 48.2 p.u. (box: cord + CSF)
    }
}
