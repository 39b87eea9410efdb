// Mutual information between two stacks of axial slices, for images of different contrast
// (a b = 0 mean and a diffusion-weighted mean), and the one in-plane transform maximising it.
import CordCore
#if canImport(Glibc)
import Glibc
#endif

/// Rigid (or translation) in-plane alignment of a stack of slices by mutual information.
///
/// MI = Σ p(f, m) ln(p(f, m) / (p(f) p(m))) over a 32 × 32 joint histogram of the pooled
/// metric regions (Viola & Wells 1997, IJCV 24:137; Maes et al. 1997, IEEE TMI 16:187), the
/// moving value bilinear-interpolated and shared linearly between its two nearest bins (a
/// first-order Parzen window, which keeps MI smooth in the transform). Intensities are binned
/// between the 1st and 99th percentiles of each image's region. Search as
/// `SliceGroupRegistration`: integer-voxel translations, then a halving pattern search in
/// (tx, ty, θ). Used where contrast differs, e.g. FSL eddy's post-alignment of the
/// diffusion-weighted frame to the b = 0 frame.
public enum StackMutualInformation {
    static let bins = 32

    /// Aligns slices `slices` of `moving` to `fixed` (canonical, 3D, same grid); `mask` restricts
    /// the metric to a box around it per slice (plus `options.maskMargin`).
    public static func align(moving: Volume<Float>, fixed: Volume<Float>, slices: [Int], mask: Mask?, centre: SIMD2<Double>,
                             options: SliceGroupRegistrationOptions) -> SliceTransform? {
        let g = fixed.grid, nx = g.nx, ny = g.ny, sp = SIMD2(g.spacing.x, g.spacing.y)
        // Region voxels (i, j, k) and their fixed bins.
        var points: [SIMD3<Int32>] = []
        for k in slices {
            var lo = SIMD2(0, 0), hi = SIMD2(nx - 1, ny - 1)
            if let m = mask {
                var a = SIMD2(Int.max, Int.max), b = SIMD2(Int.min, Int.min), found = false
                for j in 0..<ny { for i in 0..<nx where m.data[i + nx * (j + ny * k)] != 0 {
                    found = true; a = pointwiseMin(a, SIMD2(i, j)); b = pointwiseMax(b, SIMD2(i, j))
                } }
                guard found else { continue }
                let mi = CheckedNumber.clamped(options.maskMargin / sp.x, .up), mj = CheckedNumber.clamped(options.maskMargin / sp.y, .up)
                lo = SIMD2(max(0, a.x - mi), max(0, a.y - mj)); hi = SIMD2(min(nx - 1, b.x + mi), min(ny - 1, b.y + mj))
            }
            for j in lo.y...hi.y { for i in lo.x...hi.x { points.append(SIMD3(Int32(i), Int32(j), Int32(k))) } }
        }
        guard points.count >= 64 else { return nil }
        func range(_ v: Volume<Float>) -> (Double, Double) {
            var values = points.map { v.data[Int($0.x) + nx * (Int($0.y) + ny * Int($0.z))] }
            values.sort()
            let lo = Double(values[values.count / 100]), hi = Double(values[values.count * 99 / 100])
            return (lo, max(hi, lo + 1e-6))
        }
        let (flo, fhi) = range(fixed), (mlo, mhi) = range(moving)
        let nbin = bins
        let fixedBin: [Int] = points.map { p in
            let x = (Double(fixed.data[Int(p.x) + nx * (Int(p.y) + ny * Int(p.z))]) - flo) / (fhi - flo) * Double(nbin - 1)
            return max(0, min(nbin - 1, CheckedNumber.clamped(x, .toNearestOrAwayFromZero)))
        }
        let data = moving.data
        var joint = [Double](repeating: 0, count: nbin * nbin)
        func mi(_ shift: SIMD2<Double>, _ rot: Double) -> Double? {
            for i in joint.indices { joint[i] = 0 }
            let c = cos(rot), s = sin(rot)
            var total = 0.0
            for (idx, p) in points.enumerated() {
                let q0 = SIMD2(Double(p.x) * sp.x, Double(p.y) * sp.y) - centre - shift
                let q = (SIMD2(c * q0.x + s * q0.y, -s * q0.x + c * q0.y) + centre) / sp
                guard q.x >= 0, q.y >= 0, q.x <= Double(nx - 1), q.y <= Double(ny - 1) else { continue }
                let ix = min(Int(q.x), max(nx - 2, 0)), iy = min(Int(q.y), max(ny - 2, 0))
                let fx = q.x - Double(ix), fy = q.y - Double(iy), base = nx * ny * Int(p.z)
                let ix1 = min(ix + 1, nx - 1), iy1 = min(iy + 1, ny - 1)
                let v = (Double(data[base + ix + nx * iy]) * (1 - fx) + Double(data[base + ix1 + nx * iy]) * fx) * (1 - fy)
                    + (Double(data[base + ix + nx * iy1]) * (1 - fx) + Double(data[base + ix1 + nx * iy1]) * fx) * fy
                let b = max(0, min(Double(nbin - 1), (v - mlo) / (mhi - mlo) * Double(nbin - 1)))
                let b0 = min(Int(b), nbin - 2), w = b - Double(b0)
                let row = fixedBin[idx] * nbin
                joint[row + b0] += 1 - w; joint[row + b0 + 1] += w
                total += 1
            }
            guard total >= 0.5 * Double(points.count) else { return nil }
            var pf = [Double](repeating: 0, count: nbin), pm = [Double](repeating: 0, count: nbin)
            for a in 0..<nbin { for b in 0..<nbin { let x = joint[a * nbin + b]; pf[a] += x; pm[b] += x } }
            var m = 0.0
            for a in 0..<nbin where pf[a] > 0 { for b in 0..<nbin where joint[a * nbin + b] > 0 {
                let p = joint[a * nbin + b] / total
                m += p * log(p * total * total / (pf[a] * pm[b]))
            } }
            return m
        }
        var best = (score: -Double.infinity, shift: SIMD2<Double>.zero, rot: 0.0)
        let rx = CheckedNumber.clamped(options.maximumShift / sp.x, .down), ry = CheckedNumber.clamped(options.maximumShift / sp.y, .down)
        for dy in -ry...ry { for dx in -rx...rx {
            let sh = SIMD2(Double(dx) * sp.x, Double(dy) * sp.y)
            if let v = mi(sh, 0), v > best.score { best = (v, sh, 0) }
        } }
        guard best.score > -Double.infinity else { return nil }
        best = refineSliceTransform(from: best, spacing: sp, maximumShift: options.maximumShift,
                                    maximumRotation: options.maximumRotation, rigid: options.rigid) { mi($0, $1) }
        return SliceTransform(shift: best.shift, rotation: best.rot, centre: centre, score: best.score)
    }
}

extension SliceTransform {
    /// `self` after `first`: the transform that applies `first`, then `self`, expressed about
    /// `first`'s centre.
    public func composed(after first: SliceTransform) -> SliceTransform {
        let c = first.centre
        let moved = apply(first.apply(c))
        return SliceTransform(shift: moved - c, rotation: rotation + first.rotation, centre: c, score: first.score)
    }
}
