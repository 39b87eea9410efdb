import Foundation
import Testing
@testable import CordCore
@testable import CordPhantom
@testable import CordAlign

@Suite struct SliceRegistrationTests {
    /// A noise-free axial phantom T2w (0.8 mm pixels, 3 mm slices, 8 slices) and its cord mask.
    static func phantom(snr: Double? = nil) throws -> PhantomSubject {
        var p = PhantomParameters(); p.snr = snr
        return try PhantomSubject(p, on: PhantomGrid.axial(inPlane: 0.8, sliceThickness: 3, fieldOfView: 40, inferior: -12, superior: 12))
    }
    /// Applies known per-slice transforms to the phantom image.
    static func moved(_ img: Volume<Float>, _ transforms: [SliceTransform]) -> Volume<Float> {
        var out = img
        let sp = img.grid.spacing
        for k in 0..<img.grid.nz { SlicePair.resample(img, into: &out, k: k, transform: transforms[k], spacing: SIMD2(sp.x, sp.y)) }
        return out
    }

    /// The grid search's whole-voxel correlation equals the bilinear route at integer shifts
    /// (with and without a mask, up to the image edge), to 1e-9.
    @Test func wholeVoxelCorrelationMatchesTheBilinearRoute() throws {
        let ph = try Self.phantom(snr: 20)
        let img = ph.t2w, sp = img.grid.spacing
        let (f, _) = img.reoriented()
        let moving = Self.moved(img, (0..<img.grid.nz).map { _ in SliceTransform(shift: SIMD2(0.9, -0.5), rotation: 0, centre: .zero, score: nil) })
        let (m, reo) = moving.reoriented()
        var compared = 0
        for mask in [nil, reo.apply(ph.cordMask)] as [Mask?] {
            for k in [0, 3, 7] {
                let pair = try #require(SlicePair(fixed: f, moving: m, mask: mask, k: k, margin: 8))
                for dy in -8...8 { for dx in -8...8 {
                    let a = pair.correlation(dx: dx, dy: dy), b = pair.correlation(shift: SIMD2(Double(dx) * sp.x, Double(dy) * sp.y), rotation: 0)
                    #expect((a == nil) == (b == nil), "dx \(dx) dy \(dy)")
                    if let a, let b { #expect(abs(a - b) < 1e-9); compared += 1 }
                } }
            }
        }
        #expect(compared > 1000)
    }

    @Test func recoversKnownTranslationsPerSlice() throws {
        let ph = try Self.phantom()
        let img = ph.t2w
        let nz = img.grid.nz
        let centre = SIMD2(Double(img.grid.nx - 1) / 2 * 0.8, Double(img.grid.ny - 1) / 2 * 0.8)
        let truth = (0..<nz).map { k in SliceTransform(shift: SIMD2(1.3 - 0.25 * Double(k), -0.7 + 0.3 * Double(k % 3)), rotation: 0, centre: centre, score: nil) }
        let moving = Self.moved(img, truth)
        var o = SliceRegistrationOptions(); o.smoothingDegree = nil
        let r = try SliceRegistration.align(moving: moving, fixed: img, mask: ph.cordMask, options: o)
        // Undoing a shift s needs −s: the estimated transform maps moving onto fixed.
        for k in 0..<nz {
            let residual: SIMD2<Double> = r.transforms[k].shift + truth[k].shift
            #expect((residual * residual).sum().squareRoot() < 0.1)  // mm, ⅛ pixel
        }
        #expect(r.correlationAfter > r.correlationBefore)
        #expect(r.correlationAfter > 0.98)   // two bilinear interpolations blur the sharp phantom edges
    }

    /// Smooth off-centre blobs: content that pins rotation down (the phantom's nearly
    /// elliptical slices leave the correlation almost flat in rotation: 0.9806 at the true
    /// angle vs 0.9809 half a degree away).
    static func blobs() -> Volume<Float> {
        let g = Grid(nx: 48, ny: 48, nz: 3, spacing: [1, 1, 4])
        var v = Volume<Float>(grid: g)
        let centres: [(Double, Double, Double, Double)] = [(12, 14, 4, 1), (33, 10, 3, 0.7), (30, 34, 5, 0.9), (15, 35, 2.5, 0.6), (24, 24, 6, 0.4)]
        for k in 0..<3 { for j in 0..<48 { for i in 0..<48 {
            var s = 0.1
            for (cx, cy, r, a) in centres { let d2 = (Double(i) - cx) * (Double(i) - cx) + (Double(j) - cy) * (Double(j) - cy); s += a * exp(-d2 / (2 * r * r)) }
            v[i, j, k] = Float(s)
        } } }
        return v
    }

    @Test func rigidModeRecoversARotation() throws {
        let img = Self.blobs()
        let c = SIMD2(23.5, 23.5), theta = 4 * Double.pi / 180
        let truth = [SliceTransform](repeating: SliceTransform(shift: SIMD2(0.5, -0.4), rotation: theta, centre: c, score: nil), count: img.grid.nz)
        let moving = Self.moved(img, truth)
        // Metric region: a central disc plus margin, clear of the zero-filled corners that
        // rotating the synthetic image leaves in `moving`.
        var mask = Mask(grid: img.grid, frames: 1, repeating: 0)
        for k in 0..<3 { for j in 0..<48 { for i in 0..<48 where (Double(i) - 23.5) * (Double(i) - 23.5) + (Double(j) - 23.5) * (Double(j) - 23.5) < 15 * 15 { mask[i, j, k] = 1 } } }
        var o = SliceRegistrationOptions(); o.rigid = true; o.smoothingDegree = nil; o.maskMargin = 2
        let r = try SliceRegistration.align(moving: moving, fixed: img, mask: mask, options: o)
        for t in r.transforms {
            let degrees = t.rotation * 180 / Double.pi
            #expect(abs(degrees + 4) < 0.1)    // the inverse rotation, to a tenth of a degree
        }
        #expect(r.correlationAfter > 0.999 && r.correlationBefore < 0.97)
    }

    @Test func polynomialSmoothingFollowsASmoothDrift() throws {
        let t = (0..<9).map { k -> SliceTransform in
            let x = Double(k) / 8
            let noise = k % 2 == 0 ? 0.05 : -0.05
            return SliceTransform(shift: SIMD2(1 + 2 * x + noise, -x * x), rotation: 0, centre: .zero, score: 0.9)
        }
        let s = SliceRegistration.smooth(t, degree: 2)
        for k in 0..<9 {
            let x = Double(k) / 8
            #expect(abs(s[k].shift.x - (1 + 2 * x)) < 0.06)   // noise of ±0.05 averaged away
            #expect(abs(s[k].shift.y + x * x) < 1e-9)        // exact quadratic reproduced
        }
    }

    @Test func gridMismatchAndEmptyMaskAreRefused() throws {
        let a = Volume<Float>(grid: Grid(nx: 8, ny: 8, nz: 2, spacing: [1, 1, 1]))
        let b = Volume<Float>(grid: Grid(nx: 8, ny: 8, nz: 3, spacing: [1, 1, 1]))
        #expect(throws: CordError.self) { try SliceRegistration.align(moving: a, fixed: b) }
        #expect(throws: CordError.self) { try SliceRegistration.align(moving: a, fixed: a, mask: Mask(grid: a.grid, frames: 1, repeating: 0)) }
    }
}
