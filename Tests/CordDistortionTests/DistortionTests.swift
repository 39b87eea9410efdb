// Reverse phase-encoding field estimation and unwarping on a phantom pair with a known field
// (disc bumps + gradient): field RMSE in the cord + 5 mm, NRMSE and cord Dice before/after,
// invertibility, and the errors for bad pairs.
import Foundation
import Testing
import CordCore
@testable import CordDistortion
import CordPhantom

/// The phantom pair and its correction, made once (a few seconds in debug).
struct DistortionFixture: Sendable {
    let subject: PhantomSubject
    let sim: DistortionSimulation
    let estimate: FieldEstimate

    static let shared: DistortionFixture? = {
        do { return try DistortionFixture() } catch { print("distortion fixture failed: \(error)"); return nil }
    }()

    init() throws {
        var p = PhantomParameters(); p.snr = nil
        // 40 × 40 × 12 voxels of 1 × 1 × 4 mm, phase encoding along j (anterior–posterior).
        subject = try PhantomSubject(p, on: PhantomGrid.axial(inPlane: 1, sliceThickness: 4, fieldOfView: 40, inferior: -30, superior: 18))
        var d = DiffusionPhantomParameters(); d.snr = 30; d.orientationSamples = 100; d.seed = 3
        let table = GradientTable(DiffusionSchemes.referenceVolumes(1) + DiffusionSchemes.shell(800, 6))
        sim = try DistortionSimulator.simulate(subject, table: table, diffusion: d, parameters: DistortionPhantomParameters())
        let t = sim.totalReadoutTime
        var o = FieldEstimationOptions(); o.progress = false
        estimate = try FieldEstimation.estimate(
            EPIImage(image: sim.up, readout: EPIReadout(phaseEncoding: sim.upEncoding, totalReadoutTime: t), name: "up"),
            EPIImage(image: sim.down, readout: EPIReadout(phaseEncoding: sim.downEncoding, totalReadoutTime: t), name: "down"),
            options: o)
    }

    /// RMS of a − b over `mask`.
    static func rms(_ a: Volume<Float>, _ b: Volume<Float>, _ mask: Mask) -> Double {
        var s = 0.0, n = 0.0
        for i in 0..<mask.grid.voxelCount where mask.data[i] != 0 { let d = Double(a.data[i] - b.data[i]); s += d * d; n += 1 }
        return (s / n).squareRoot()
    }
    /// RMSE of `image` against `truth` in `mask` over the truth's range there.
    static func nrmse(_ image: Volume<Float>, _ truth: Volume<Float>, _ mask: Mask) -> Double {
        var lo = Float.infinity, hi = -Float.infinity
        for i in 0..<mask.grid.voxelCount where mask.data[i] != 0 { lo = min(lo, truth.data[i]); hi = max(hi, truth.data[i]) }
        return rms(image, truth, mask) / Double(hi - lo)
    }
    static func dice(_ a: Mask, _ b: Mask) -> Double {
        var both = 0, na = 0, nb = 0
        for i in 0..<a.grid.voxelCount { if a.data[i] != 0 { na += 1 }; if b.data[i] != 0 { nb += 1 }; if a.data[i] != 0 && b.data[i] != 0 { both += 1 } }
        return 2 * Double(both) / Double(na + nb)
    }
    var upReadout: EPIReadout { EPIReadout(phaseEncoding: sim.upEncoding, totalReadoutTime: sim.totalReadoutTime) }
}

@Suite struct DistortionPhantomTests {
    @Test func fieldIsRecoveredInTheCordRegion() throws {
        let f = try #require(DistortionFixture.shared)
        let zero = Volume<Float>(grid: f.sim.fieldHz.grid)
        let truthRMS = DistortionFixture.rms(f.sim.fieldHz, zero, f.sim.region)
        let rmse = DistortionFixture.rms(f.estimate.fieldHz, f.sim.fieldHz, f.sim.region)
        print("field in cord + 5 mm: truth RMS \(formatFixed(truthRMS, 2)) Hz, estimate RMSE \(formatFixed(rmse, 2)) Hz; pair mismatch \(formatFixed(f.estimate.mismatchBefore, 3)) → \(formatFixed(f.estimate.mismatchAfter, 3)); \(f.estimate.iterations) GN iterations")
        // Truth RMS is about 34 Hz (1.35 voxels at 40 ms); measured 2.5 Hz (0.1 voxel; 3.0 Hz before the coarse-to-fine levels), tolerance
        // 4.5 Hz. The per-line optimal-transport start alone gives 8.2 Hz: Gauss–Newton must halve it.
        #expect(truthRMS > 20)
        #expect(rmse < 4.5, "field RMSE \(rmse) Hz in the cord + 5 mm (tolerance 4.5 Hz)")
        // The corrected pair agrees far better than the acquired one (at least 2×).
        #expect(f.estimate.mismatchAfter < 0.5 * f.estimate.mismatchBefore)
    }

    @Test func warpIsInvertibleEverywhere() throws {
        let f = try #require(DistortionFixture.shared)
        // Both Jacobians 1 ± ∂d positive on every voxel (the barrier's job); tolerance: > 0.
        #expect(f.estimate.minimumJacobian > 0, "minimum Jacobian \(f.estimate.minimumJacobian)")
        #expect(f.estimate.jacobianFirst.minimum > 0)
    }

    @Test func correctedB0IsCloserToTheUndistortedTruth() throws {
        let f = try #require(DistortionFixture.shared)
        let before = DistortionFixture.nrmse(f.sim.up, f.sim.undistorted, f.sim.region)
        let afterUp = DistortionFixture.nrmse(f.estimate.correctedFirst, f.sim.undistorted, f.sim.region)
        let afterCombined = DistortionFixture.nrmse(f.estimate.combined, f.sim.undistorted, f.sim.region)
        print("b=0 NRMSE in cord + 5 mm: distorted \(formatFixed(before, 4)), corrected \(formatFixed(afterUp, 4)), combined pair \(formatFixed(afterCombined, 4))")
        // Unwarping with the true field leaves 0.06 (linear interpolation of voxel-integrated
        // signal at the CSF edges, see trueFieldUndoesThePhantomDistortion); measured 0.067.
        #expect(afterUp < 0.5 * before, "corrected NRMSE \(afterUp) vs distorted \(before) (at least halved)")
        #expect(afterCombined < 0.08, "combined NRMSE \(afterCombined) (tolerance 0.08)")
    }

    @Test func cordDiceRecovers() throws {
        let f = try #require(DistortionFixture.shared)
        // The true cord pushed through the true distortion (as signal), then pulled back with the estimate.
        let cord = f.sim.cordMask.map { Float($0) }
        let distorted = try DistortionSimulator.distort(cord, displacement: f.sim.displacementUp, axis: f.sim.upEncoding.axis)
        let back = try Unwarp.apply(EPIImage(image: distorted, readout: f.upReadout, name: "cord"), fieldHz: f.estimate.fieldHz)
        let before = DistortionFixture.dice(Mask.threshold(distorted, above: 0.5), f.sim.cordMask)
        let after = DistortionFixture.dice(Mask.threshold(back.corrected, above: 0.5), f.sim.cordMask)
        print("cord Dice vs undistorted truth: distorted \(formatFixed(before, 3)), corrected \(formatFixed(after, 3))")
        #expect(before < 0.85, "the phantom distortion moves the cord (Dice \(before))")
        #expect(after > 0.93, "corrected cord Dice \(after) (tolerance 0.93)")
    }

    @Test func distortedDWIIsUnwarped() throws {
        let f = try #require(DistortionFixture.shared)
        let r = try Unwarp.apply(EPIImage(image: f.sim.dwi, readout: f.upReadout, name: "dwi"), fieldHz: f.estimate.fieldHz)
        #expect(r.corrected.frames == f.sim.dwi.frames)
        // Over all volumes, in the cord + 5 mm: NRMSE against the undistorted noise-free series.
        let n = f.sim.dwi.grid.voxelCount
        var before = 0.0, after = 0.0
        for t in 0..<f.sim.dwi.frames {
            let truth = f.sim.dwiUndistorted.frame(t)
            before += DistortionFixture.nrmse(f.sim.dwi.frame(t), truth, f.sim.region)
            after += DistortionFixture.nrmse(r.corrected.frame(t), truth, f.sim.region)
        }
        before /= Double(f.sim.dwi.frames); after /= Double(f.sim.dwi.frames)
        print("DWI mean NRMSE in cord + 5 mm: distorted \(formatFixed(before, 4)), unwarped \(formatFixed(after, 4)) (\(n) voxels × \(f.sim.dwi.frames))")
        #expect(after < 0.6 * before, "unwarped DWI NRMSE \(after) vs \(before) (tolerance: at least 40 % lower)")
    }

    @Test func trueFieldUndoesThePhantomDistortion() throws {
        // The simulator pushes signal forward with exact cumulative integration; Unwarp pulls
        // it back by linear interpolation and the Jacobian: with the true field they agree up
        // to interpolation at the sharp CSF edges (measured NRMSE 0.060 without noise; the
        // distorted image is at 0.31), tolerance 0.07.
        let f = try #require(DistortionFixture.shared)
        let noiseFree = try DistortionSimulator.distort(f.sim.undistorted, displacement: f.sim.displacementUp, axis: f.sim.upEncoding.axis)
        let r = try Unwarp.apply(EPIImage(image: noiseFree, readout: f.upReadout, name: "up"), fieldHz: f.sim.fieldHz)
        let e = DistortionFixture.nrmse(r.corrected, f.sim.undistorted, f.sim.region)
        #expect(e < 0.07, "NRMSE \(e) after unwarping with the true field (tolerance 0.07)")
        #expect(r.minimumJacobian > 0)
    }
}

@Suite struct DistortionInputTests {
    static let grid = Grid(nx: 12, ny: 16, nz: 2, spacing: SIMD3(1, 1, 3))
    static func image(_ grid: Grid = grid) -> Volume<Float> {
        var v = Volume<Float>(grid: grid)
        for k in 0..<grid.nz { for j in 0..<grid.ny { for i in 0..<grid.nx { v[i, j, k] = Float(1 + (j > 5 && j < 10 ? 2 : 0) + i % 2) } } }
        return v
    }

    @Test func samePhaseEncodingOnBothIsRefused() {
        let r = EPIReadout(phaseEncoding: PhaseEncoding(axis: 1, reversed: false), totalReadoutTime: 0.04)
        #expect(throws: DistortionError.samePhaseEncoding(first: "a.nii.gz", second: "b.nii.gz", direction: "j")) {
            _ = try FieldEstimation.estimate(EPIImage(image: Self.image(), readout: r, name: "a.nii.gz"),
                                             EPIImage(image: Self.image(), readout: r, name: "b.nii.gz"))
        }
    }

    @Test func missingOrImplausibleReadoutTimeIsRefused() {
        #expect(throws: DistortionError.missingReadoutTime(name: "a.nii.gz")) {
            _ = try EPIReadout.checked(phaseEncoding: PhaseEncoding(axis: 1, reversed: false), totalReadoutTime: nil, name: "a.nii.gz")
        }
        #expect(throws: DistortionError.missingPhaseEncoding(name: "a.nii.gz")) {
            _ = try EPIReadout.checked(phaseEncoding: nil, totalReadoutTime: 0.04, name: "a.nii.gz")
        }
        // 40 (milliseconds given as seconds) is refused.
        #expect(throws: DistortionError.implausibleReadoutTime(name: "a.nii.gz", seconds: 40)) {
            _ = try EPIReadout.checked(phaseEncoding: PhaseEncoding(axis: 1, reversed: false), totalReadoutTime: 40, name: "a.nii.gz")
        }
    }

    @Test func pairsOnDifferentGridsOrReadoutsAreRefused() {
        let up = EPIReadout(phaseEncoding: PhaseEncoding(axis: 1, reversed: false), totalReadoutTime: 0.04)
        let down = EPIReadout(phaseEncoding: PhaseEncoding(axis: 1, reversed: true), totalReadoutTime: 0.04)
        let other = Grid(nx: 12, ny: 16, nz: 2, spacing: SIMD3(1, 1.2, 3))
        #expect(throws: CordError.self) {
            _ = try FieldEstimation.estimate(EPIImage(image: Self.image(), readout: up, name: "a"), EPIImage(image: Self.image(other), readout: down, name: "b"))
        }
        let slower = EPIReadout(phaseEncoding: PhaseEncoding(axis: 1, reversed: true), totalReadoutTime: 0.06)
        #expect(throws: DistortionError.differentReadoutTimes(first: "a", firstSeconds: 0.04, second: "b", secondSeconds: 0.06)) {
            _ = try FieldEstimation.estimate(EPIImage(image: Self.image(), readout: up, name: "a"), EPIImage(image: Self.image(), readout: slower, name: "b"))
        }
        let across = EPIReadout(phaseEncoding: PhaseEncoding(axis: 0, reversed: true), totalReadoutTime: 0.04)
        #expect(throws: DistortionError.differentPhaseEncodingAxes(first: "a", firstDirection: "j", second: "b", secondDirection: "i-")) {
            _ = try FieldEstimation.estimate(EPIImage(image: Self.image(), readout: up, name: "a"), EPIImage(image: Self.image(), readout: across, name: "b"))
        }
        // A field on another grid than the image.
        #expect(throws: CordError.self) {
            _ = try Unwarp.apply(EPIImage(image: Self.image(), readout: up, name: "a"), fieldHz: Volume<Float>(grid: other))
        }
    }

    @Test func emptyImageIsRefused() {
        let up = EPIReadout(phaseEncoding: PhaseEncoding(axis: 1, reversed: false), totalReadoutTime: 0.04)
        let down = EPIReadout(phaseEncoding: PhaseEncoding(axis: 1, reversed: true), totalReadoutTime: 0.04)
        #expect(throws: DistortionError.noSignal(name: "b")) {
            _ = try FieldEstimation.estimate(EPIImage(image: Self.image(), readout: up, name: "a"), EPIImage(image: Volume<Float>(grid: Self.grid), readout: down, name: "b"))
        }
    }
}
