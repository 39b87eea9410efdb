import Foundation
import Testing
@testable import CordCore
@testable import CordLongitudinal
@testable import CordPhantom
@testable import CordPipeline
@testable import CordRegistration

/// Between-session alignment on phantom T2w sessions of one subject, the second one moved by
/// a known rigid transform (the phantom sampled on a turned grid, so nothing is interpolated)
/// or by a known slice-wise in-plane shift pattern.
@Suite struct HalfwayAlignmentTests {
    static let parameters: PhantomParameters = {
        // swiftlint:disable:next force_try
        try! PhantomCohort(healthy: 1, compressed: 0, seed: 5).subjects()[0].parameters
    }()

    /// A session of the subject moved by `shift` (mm, phantom frame) and turned by `degrees`
    /// about the grid centre c: scanner w = c + R(p + shift − c).
    static func session(_ label: String, grid: Grid, shift: SIMD3<Double>, degrees: SIMD3<Double>, seed: UInt64) throws -> SessionAnatomy {
        var p = parameters
        p.centerlineX += shift.x; p.centerlineY += shift.y; p.topOfC1 += shift.z; p.seed = seed
        let phantom = try PhantomSubject(p, on: PhantomSessions.rotatedSamplingGrid(grid, degrees: degrees))
        return SessionAnatomy(label: label, image: Volume(grid: grid, frames: 1, exactly: phantom.t2w.data),
                              cord: Volume(grid: grid, frames: 1, exactly: phantom.cordMask.data))
    }

    static func truth(grid: Grid, shift: SIMD3<Double>, degrees: SIMD3<Double>) -> RigidTransform {
        let c = grid.world(Double(grid.nx - 1) / 2, Double(grid.ny - 1) / 2, Double(grid.nz - 1) / 2)
        let r = RigidTransform.rodrigues(degrees * (.pi / 180))
        return RigidTransform(rotation: r, translation: c + r * (shift - c))
    }

    static func centroid(_ m: Mask) -> SIMD3<Double> {
        var c = SIMD3<Double>.zero, n = 0.0
        for v in 0..<m.data.count where m.data[v] != 0 { c += m.grid.world(m.grid.coordinates(of: v)); n += 1 }
        return c / n
    }

    /// A known rigid repositioning (4° about R–L, 1.5° about A–P, −1° about S–I, and a shift of
    /// (0.7, −0.5, 3.0) mm) is recovered: the pairwise transform and, through the halfway space,
    /// each session's half of it.
    @Test func knownRotationAndShiftAreRecovered() throws {
        let p = Self.parameters
        let grid = PhantomCohortExport.grid(for: p, fieldOfView: 28, margin: 4)
        let shift = SIMD3<Double>(0.7, -0.5, 3.0), degrees = SIMD3<Double>(4, 1.5, -1)
        let a = try Self.session("a", grid: grid, shift: .zero, degrees: .zero, seed: 101)
        let b = try Self.session("b", grid: grid, shift: shift, degrees: degrees, seed: 202)
        let truth = Self.truth(grid: grid, shift: shift, degrees: degrees)
        let (found, ncc) = try HalfwaySpace.align(fixed: a, moving: b)
        let c = Self.centroid(a.cord)
        let angleError = found.after(truth.inverse).angleDegrees
        let error = found.apply(c) - truth.apply(c)
        print("rigid: rotation found \(found.rotationVector * (180 / .pi))° for \(degrees)°, error \(formatFixed(angleError, 3))°; displacement error at the cord centroid \(error) mm; NCC \(formatFixed(ncc, 3))")
        // Tolerance: 0.5° and 0.3 mm per axis at the cord centroid (0.5 × 0.5 × 3 mm voxels, SNR 20).
        #expect(angleError < 0.5)
        #expect(abs(error.x) < 0.3 && abs(error.y) < 0.3 && abs(error.z) < 0.3)
        // Worst displacement error over the cord (C1–T1, ≈ 150 mm long): rotation error × lever arm.
        var worst = 0.0
        for v in 0..<a.cord.data.count where a.cord.data[v] != 0 {
            let w = grid.world(grid.coordinates(of: v))
            worst = max(worst, length(found.apply(w) - truth.apply(w)))
        }
        print("rigid: worst displacement error over the cord \(formatFixed(worst, 3)) mm")
        #expect(worst < 0.75)

        // Halfway space: each session carries half of the relative transform (exact square root),
        // so the composed mapping reproduces the pairwise one and neither session is the identity.
        var options = HalfwayOptions(); options.sliceWise = false
        let halfway = try HalfwaySpace.estimate([a, b], options: options)
        let composed = halfway.mappings[1].rigid.after(halfway.mappings[0].rigid.inverse)
        #expect(composed.after(found.inverse).angleDegrees < 1e-6)
        #expect(length(composed.apply(c) - found.apply(c)) < 1e-6)
        let halfA = halfway.mappings[0].rigid.angleDegrees, halfB = halfway.mappings[1].rigid.angleDegrees
        print("halfway: session rotations \(formatFixed(halfA, 3))° and \(formatFixed(halfB, 3))° (relative \(formatFixed(found.angleDegrees, 3))°)")
        #expect(abs(halfA - found.angleDegrees / 2) < 1e-6 && abs(halfB - found.angleDegrees / 2) < 1e-6)
    }

    /// A slice-wise in-plane shift pattern (each axial slice moved in plane by d(z), up to
    /// 0.8 mm, smooth along z as neck flexion would move the cord) is recovered by the
    /// rigid + slice-wise alignment; rigid alone cannot.
    @Test func sliceWiseInPlaneShiftPatternIsRecovered() throws {
        let p = Self.parameters
        let grid = PhantomCohortExport.grid(for: p, fieldOfView: 28, margin: 0)
        let a = try Self.session("a", grid: grid, shift: .zero, degrees: .zero, seed: 303)
        var pb = p; pb.seed = 404; pb.snr = nil
        let clean = try PhantomSubject(pb, on: grid)
        let z0 = grid.world(0, 0, 0).z, length_ = Double(grid.nz - 1) * grid.spacing.z
        func pattern(_ z: Double) -> SIMD2<Double> {
            let u = (z - z0) / length_
            return SIMD2(0.8 * sin(2 * .pi * u * 1.5), 0.6 * cos(2 * .pi * u))
        }
        // Session b: each slice of the noise-free image shifted in plane (bilinear), then noise.
        var image = Volume<Float>(grid: grid, repeating: 0), cord = Mask(grid: grid, repeating: 0)
        var rng = SeededRNG(seed: 9, stream: 1)
        let sigma = Double(a.image.data.max() ?? 1) / 60
        for k in 0..<grid.nz {
            let d = pattern(grid.world(0, 0, Double(k)).z)
            for j in 0..<grid.ny { for i in 0..<grid.nx {
                let w = grid.world(SIMD3(i, j, k))
                let v = grid.voxel(ofWorld: SIMD3(w.x - d.x, w.y - d.y, w.z))
                let n = grid.index(i, j, k)
                let s = Double(clean.t2wNoiseFree.trilinear(SIMD3(v.x, v.y, Double(k)), outside: 0))
                image.data[n] = Float(abs(s + sigma * rng.normal()))
                cord.data[n] = clean.cordMask.nearest(SIMD3(v.x, v.y, Double(k)), outside: 0)
            } }
        }
        let b = SessionAnatomy(label: "b", image: image, cord: cord)
        func errors(_ h: HalfwaySpace) -> (rms: Double, worst: Double) {
            var sq = 0.0, worst = 0.0, count = 0.0
            for k in 2..<(grid.nz - 2) {
                // The slice's cord centre in session a, and where the alignment puts it in b.
                var c = SIMD3<Double>.zero, m = 0.0
                for j in 0..<grid.ny { for i in 0..<grid.nx where a.cord.data[grid.index(i, j, k)] != 0 { c += grid.world(SIMD3(i, j, k)); m += 1 } }
                guard m > 0 else { continue }
                c /= m
                let found = h.toSession(h.toHalfway(c, from: 0), 1) - c
                let d = pattern(c.z)
                let e = SIMD2(found.x - d.x, found.y - d.y)
                sq += (e * e).sum(); count += 1; worst = max(worst, (e * e).sum().squareRoot())
            }
            return ((sq / count).squareRoot(), worst)
        }
        var rigidOnly = HalfwayOptions(); rigidOnly.sliceWise = false
        let rigid = errors(try HalfwaySpace.estimate([a, b], options: rigidOnly))
        let full = try HalfwaySpace.estimate([a, b])
        let refined = errors(full)
        print("slice-wise pattern (amplitude 0.8/0.6 mm): in-plane error per slice RMS \(formatFixed(refined.rms, 3)) mm, worst \(formatFixed(refined.worst, 3)) mm; rigid only: RMS \(formatFixed(rigid.rms, 3)), worst \(formatFixed(rigid.worst, 3)) mm; NCC \(formatFixed(full.pairs[0].ncc, 3)) → \(formatFixed(full.pairs[0].nccSliceWise ?? .nan, 3))")
        // Tolerance: per-slice RMS 0.15 mm, worst 0.35 mm (0.5 mm pixels); rigid alone must be clearly worse.
        #expect(refined.rms < 0.15)
        #expect(refined.worst < 0.35)
        #expect(rigid.rms > 2 * refined.rms)
        // Symmetry: the two sessions' in-plane shifts are opposite (no session privileged).
        let s0 = try #require(full.mappings[0].inPlane), s1 = try #require(full.mappings[1].inPlane)
        #expect(zip(s0.shifts, s1.shifts).allSatisfy { (($0 + $1) * ($0 + $1)).sum() < 1e-18 })
    }

    /// Sessions with different head positions (rotations of 2–5° and a 5 mm S–I shift) give the
    /// same level assignment: ses-a's disc labels taken through the halfway space label ses-b's
    /// cord as well as ses-a's own labels label ses-a's; used without the halfway space they do
    /// not. (The phantom's cord masks stand in for the segmentation to keep the test short;
    /// `LongitudinalPhantomTests` runs the whole pipeline with CordQ's own.)
    @Test func rotatedSessionsGetTheSameLevelAssignment() throws {
        let p = Self.parameters
        let grid = PhantomCohortExport.grid(for: p, fieldOfView: 28, margin: 6)
        func session(_ label: String, shift: SIMD3<Double>, degrees: SIMD3<Double>, seed: UInt64) throws -> (SessionAnatomy, PhantomSubject) {
            var q = p
            q.centerlineX += shift.x; q.centerlineY += shift.y; q.topOfC1 += shift.z; q.seed = seed
            let phantom = try PhantomSubject(q, on: PhantomSessions.rotatedSamplingGrid(grid, degrees: degrees))
            let image = Volume(grid: grid, frames: 1, exactly: phantom.t2w.data)
            let cord = Volume(grid: grid, frames: 1, exactly: phantom.cordMask.data)
            return (SessionAnatomy(label: label, image: image, cord: cord), phantom)
        }
        let (a, pa) = try session("a", shift: .zero, degrees: SIMD3(-1.5, 0.5, 0), seed: 505)
        let (b, pb) = try session("b", shift: SIMD3(0.5, -0.3, 5), degrees: SIMD3(3.5, -1, 1), seed: 606)
        let discs = PhantomExport.discLabels(pa)
        let labelsA = try VertebralLabelling.fromLabels(Volume(grid: grid, frames: 1, exactly: discs.data.map { Int32($0) }), kind: .disc, segmentation: a.cord)
        let halfway = try HalfwaySpace.estimate([a, b])
        let shared = try halfway.sharedLabels([labelsA, nil])
        func agreement(_ labels: VertebralLabels, _ s: SessionAnatomy, _ truth: PhantomSubject) throws -> Double {
            let map = try labels.levelMap(on: grid, segmentation: s.cord).volume
            var same = 0, both = 0
            for n in map.data.indices where map.data[n] > 0 && map.data[n] <= 7 && truth.levels.volume.data[n] > 0 && truth.levels.volume.data[n] <= 7 {
                both += 1; if map.data[n] == truth.levels.volume.data[n] { same += 1 }
            }
            return both == 0 ? 0 : Double(same) / Double(both)
        }
        let own = try agreement(labelsA, a, pa), propagated = try agreement(shared.perSession[1], b, pb), naive = try agreement(labelsA, b, pb)
        let relative = halfway.pairs[0].transform
        print("rotated sessions: relative rotation found \(relative.rotationVector * (180 / .pi))°; level agreement with truth: ses-a own labels \(formatFixed(100 * own, 1)) %, ses-b through the halfway space \(formatFixed(100 * propagated, 1)) %, ses-b with ses-a's labels unpropagated \(formatFixed(100 * naive, 1)) %")
        // Tolerance: ses-b as well as ses-a's own (within 1.5 points: 3 mm slices straddle level
        // boundaries differently in the two positions); the unpropagated labels at least 10 points worse.
        #expect(propagated >= own - 0.015)
        #expect(naive < propagated - 0.1)
    }
}
