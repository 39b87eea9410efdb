// RESOLVE (readout-segmented EPI) from CordPhantom's simulator through CordRecon, against the
// simulation's truth. The simulator and the reconstruction share the sampling equations (centred
// DFT, odd/even phase model), so these NRMSEs check them against each other; the navigator's
// benefit, the shot selection and the DTI numbers are what they measure.
import CordCore
import CordDiffusion
import CordIO
import CordPhantom
import CordPipeline
import CordRecon
import CordTestSupport
import Foundation
import Testing

/// NRMSE of frame `v` (magnitude, slice 0) against `truth` inside `mask`, after the best scale.
func frameNRMSE(_ image: Volume<ComplexF>, frame v: Int, _ truth: [Double], _ mask: [Bool]) -> Double {
    let n = truth.count
    let m = (0..<n).map { Double(image.data[v * n + $0].length) }
    var num = 0.0, den = 0.0
    for i in 0..<n where mask[i] { num += m[i] * truth[i]; den += m[i] * m[i] }
    let a = den > 0 ? num / den : 0
    return EPIQuality.nrmse(m.map { $0 * a }, truth, mask: mask)
}

@Suite struct ResolveReconTests {
    func meanNRMSE(_ sim: ResolveSimulation, _ configure: (inout ResolveReconOptions) -> Void = { _ in }) throws -> (Double, ResolveReconReport, EPIReconResult) {
        var o = ResolveReconOptions(); o.base.quiet = true
        configure(&o)
        let (r, rep) = try ResolveReconstruction.reconstruct(sim.raw, options: o)
        let e = sim.truth.indices.map { frameNRMSE(r.image, frame: $0, sim.truth[$0], sim.mask) }
        return (e.reduce(0, +) / Double(e.count), rep, r)
    }

    @Test func navigatorCorrectionBeatsTheUncorrectedBaseline() throws {
        var s = ResolveSimulationSettings(); s.directions = 2
        let sim = try ResolveKSpaceSimulator.simulate(s)
        let (nav, rep, r) = try meanNRMSE(sim)
        let (off, repOff, _) = try meanNRMSE(sim) { $0.navigator = false }
        print("RESOLVE 32², 5 segments × 8, 4 coils: NRMSE with navigator \(nav), without \(off)")
        #expect(r.image.grid.nx == 32 && r.image.grid.ny == 32 && r.image.frames == 3)
        #expect(rep.segments == 5 && rep.segmentStarts == [0, 6, 12, 18, 24] && rep.overlapSamples == 2)
        #expect(rep.shots.count == 15 && rep.rejectedShots == 0)
        #expect(rep.shots.allSatisfy { $0.phaseErrorRMS != nil })
        #expect(repOff.navigator.hasPrefix("off"))
        // Tolerances: navigator-corrected mean NRMSE below 0.07 (noise floor of this phantom 0.015
        // at b = 0, 0.025 at b = 1000); the baseline at least 2.5× worse.
        #expect(nav < 0.07, "navigator NRMSE \(nav)")
        #expect(off > 2.5 * nav, "baseline \(off) vs \(nav)")
        let d = try #require(r.diffusion)
        #expect(d.count == 3 && d[0].b == 0 && abs(d[1].b - 1000) < 1e-9)
    }

    @Test func corruptedShotsAreRejectedByNavigatorConsistency() throws {
        var s = ResolveSimulationSettings(); s.directions = 2; s.corruptedShots = 2; s.seed = 11
        let sim = try ResolveKSpaceSimulator.simulate(s)
        let (sel, rep, _) = try meanNRMSE(sim)
        let (avg, _, _) = try meanNRMSE(sim) { $0.selectShots = false }
        print("RESOLVE with 2 corrupted shots re-acquired: NRMSE with selection \(sel), averaging both copies \(avg)")
        #expect(rep.rejectedShots == 2)
        #expect(Set(rep.shots.filter(\.rejected).map(\.shot)) == Set(sim.corruptedShotCounters))
        #expect(sel < 0.07, "selected \(sel)")
        #expect(avg > 1.3 * sel, "averaged copies \(avg) vs selected \(sel)")
    }

    @Test func readoutPartialFourierByPOCS() throws {
        var s = ResolveSimulationSettings(); s.directions = 1; s.omittedSegments = 1
        let sim = try ResolveKSpaceSimulator.simulate(s)
        let (pocs, rep, _) = try meanNRMSE(sim)
        let (zero, _, _) = try meanNRMSE(sim) { $0.base.partialFourier = .zero }
        print("RESOLVE readout partial Fourier (4 of 5 segments, 26/32 columns): POCS \(pocs), zero filling \(zero)")
        #expect(abs(rep.readoutCoverage - 26.0 / 32) < 1e-9)
        #expect(pocs < 0.08, "POCS \(pocs)")
        #expect(zero > 1.2 * pocs, "zero filling \(zero) vs POCS \(pocs)")
    }

    @Test func missingSegmentIsRefusedAndMissingNavigatorFallsBack() throws {
        var s = ResolveSimulationSettings(); s.directions = 1
        let sim = try ResolveKSpaceSimulator.simulate(s)
        var o = ResolveReconOptions(); o.base.quiet = true
        // Segment 2 of volume 2 dropped.
        var cut = sim.raw
        cut.acquisitions.removeAll { $0.index.segment == 2 && $0.index.repetition == 1 && !$0.flags.contains(.isNoiseMeasurement) }
        do { _ = try ResolveReconstruction.reconstruct(cut, options: o); Issue.record("a missing segment was accepted") } catch let e as CordError {
            #expect("\(e)".contains("segment 2") && "\(e)".contains("volume 2"), "\(e)")
        }
        // No navigators: reconstructed without correction, with a warning.
        var noNav = sim.raw
        noNav.acquisitions.removeAll { $0.index.set == 1 }
        let (r, rep) = try ResolveReconstruction.reconstruct(noNav, options: o)
        #expect(rep.warnings.contains { $0.contains("no navigator echoes") })
        #expect(rep.navigator.hasPrefix("off"))
        #expect(r.report.warnings.contains { $0.contains("no navigator echoes") })
    }

    /// ISMRMRD written, `cordq recon` (auto-detected RESOLVE) → NIfTI + bval/bvec + quality JSON,
    /// then CordQ's own `dwi dti`: FA and MD in the cord against the simulated tensors.
    @Test func resolveDWIThroughFilesGivesCordFAandMD() throws {
        var s = ResolveSimulationSettings(); s.directions = 6; s.noise = 0.002
        let sim = try ResolveKSpaceSimulator.simulate(s)
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        try ISMRMRDFile.write(sim.raw, to: dir + "/resolve.h5")
        var req = ReconRequest(input: dir + "/resolve.h5", output: dir + "/dwi.nii.gz"); req.options.quiet = true
        let run = try ReconPipeline.run(req)
        #expect(run.recon.sequence.hasPrefix("resolve"))
        #expect(run.outputs.contains(dir + "/dwi_resolve.json") && run.outputs.contains(dir + "/dwi.bvec"))
        let json = try String(contentsOfFile: dir + "/dwi_resolve.json", encoding: .utf8)
        #expect(json.contains("\"phaseErrorRMS\"") && json.contains("\"rejectedShots\" : 0"))
        let fit = try DiffusionProcessing.dti(inputs: [DWIInput(image: dir + "/dwi.nii.gz", bval: dir + "/dwi.bval", bvec: dir + "/dwi.bvec")],
                                              mask: .all, output: dir + "/dti", options: DTIOptions())
        _ = fit
        let (fa, _) = try NIfTIFile.read(dir + "/dti/FA.nii.gz")
        let (md, _) = try NIfTIFile.read(dir + "/dti/MD.nii.gz")
        // White matter away from the cord edge (truth FA 0.69, MD 0.9 µm²/ms): eroded cord mask.
        let n = s.nx
        var inner: [Int] = []
        for i in sim.cordMask.indices where sim.cordMask[i] {
            let x = i % n, y = i / n
            if [(1, 0), (-1, 0), (0, 1), (0, -1)].allSatisfy({ sim.cordMask[(y + $0.1) * n + x + $0.0] }) && sim.fa[i] > 0.6 { inner.append(i) }
        }
        #expect(inner.count >= 10)
        let faM = inner.map { Double(fa.data[$0]) }.reduce(0, +) / Double(inner.count)
        let mdM = inner.map { Double(md.data[$0]) }.reduce(0, +) / Double(inner.count)
        let faT = inner.map { sim.fa[$0] }.reduce(0, +) / Double(inner.count)
        let mdT = inner.map { sim.md[$0] }.reduce(0, +) / Double(inner.count)
        print("RESOLVE DTI, white matter (\(inner.count) voxels): FA \(faM) vs truth \(faT), MD \(mdM) vs \(mdT) µm²/ms")
        // Tolerance: 0.05 FA, 0.05 µm²/ms MD (partial volume with GM/CSF at 1.5 mm pixels).
        #expect(abs(faM - faT) < 0.05 && abs(mdM - mdT) < 0.05)
        // The uncorrected baseline through the same steps (printed for the record).
        var off = ReconRequest(input: dir + "/resolve.h5", output: dir + "/off.nii.gz"); off.options.quiet = true
        off.resolveNavigator = false
        _ = try ReconPipeline.run(off)
        _ = try DiffusionProcessing.dti(inputs: [DWIInput(image: dir + "/off.nii.gz", bval: dir + "/off.bval", bvec: dir + "/off.bvec")],
                                        mask: .all, output: dir + "/dti-off", options: DTIOptions())
        let (fa0, _) = try NIfTIFile.read(dir + "/dti-off/FA.nii.gz")
        let (md0, _) = try NIfTIFile.read(dir + "/dti-off/MD.nii.gz")
        let fa0M = inner.map { Double(fa0.data[$0]) }.reduce(0, +) / Double(inner.count)
        let md0M = inner.map { Double(md0.data[$0]) }.reduce(0, +) / Double(inner.count)
        print("RESOLVE DTI without navigator: FA \(fa0M), MD \(md0M) µm²/ms")
    }
}
