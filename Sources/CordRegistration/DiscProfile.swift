// The image intensity along the cord in a band in front of it (vertebral bodies and discs),
// and the ridge filter that makes discs stand out of it.
import CordCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The cord's centerline from a segmentation: per axial slice (canonical RPI) centre of
/// mass, smoothed by a local linear fit along world z, so position and slope are defined
/// everywhere and continue linearly beyond the segmentation's ends.
struct SmoothCenterline: Sendable {
    let z: [Double], x: [Double], y: [Double]
    /// Half-width (mm) of the local linear fit along z.
    let halfWindow: Double

    init(_ profile: CordProfile, halfWindow: Double = 10) {
        z = profile.slices.map(\.z); x = profile.slices.map(\.centre.x); y = profile.slices.map(\.centre.y)
        self.halfWindow = halfWindow
    }

    var zRange: ClosedRange<Double> { (z.first ?? 0)...(z.last ?? 0) }

    /// Centre (world mm) and slope (dx/dz, dy/dz) at world z: a tricube-weighted linear fit
    /// over the slices within `halfWindow` of z (of the nearest end beyond the ends).
    func at(_ q: Double) -> (centre: SIMD3<Double>, slope: SIMD2<Double>) {
        let c = min(max(q, zRange.lowerBound), zRange.upperBound)
        var w = halfWindow
        var fit: (SIMD2<Double>, SIMD2<Double>)?
        while fit == nil {
            fit = Self.localLinear(z, x, y, at: c, halfWindow: w)
            w *= 1.5
            if w > 1e4 { break }
        }
        let (value, slope) = fit ?? (SIMD2(x.first ?? 0, y.first ?? 0), .zero)
        let p = value + slope * (q - c)
        return (SIMD3(p.x, p.y, q), slope)
    }

    /// Weighted least-squares line through the (z, x, y) samples near `c`; nil with fewer
    /// than 3 samples or no spread in z.
    static func localLinear(_ z: [Double], _ x: [Double], _ y: [Double], at c: Double,
                            halfWindow w: Double) -> (SIMD2<Double>, SIMD2<Double>)? {
        var sw = 0.0, sz = 0.0, szz = 0.0, sx = SIMD2<Double>.zero, szx = SIMD2<Double>.zero, n = 0
        for i in z.indices {
            let d = abs(z[i] - c) / w
            guard d < 1 else { continue }
            let t = 1 - d * d * d, wt = t * t * t
            let dz = z[i] - c
            let v = SIMD2(x[i], y[i])
            sw += wt; sz += wt * dz; szz += wt * dz * dz; sx += wt * v; szx += wt * dz * v; n += 1
        }
        guard n >= 3 else { return nil }
        let det = sw * szz - sz * sz
        guard det > 1e-9 * max(sw * szz, 1e-30) else { return nil }
        let slope = (sw * szx - sz * sx) / det
        let value = (sx - slope * sz) / sw
        return (value, slope)
    }
}

/// Mean intensity in a band in front of the cord, sampled every `step` mm of world z along
/// the smoothed centerline: at each position the band spans `depth` mm along the anterior
/// direction orthogonal to the centerline (in the plane of the tangent and world anterior)
/// and ±`halfWidth` mm to the sides, 1 mm apart. Positions where under 60 % of the band
/// lies inside the image are NaN.
struct DiscProfile: Sendable {
    /// World z (mm) of sample j: z0 + j·step.
    let z0: Double, step: Double
    var values: [Double]
    /// The centerline point (world mm) of each sample.
    let centres: [SIMD3<Double>]

    var count: Int { values.count }
    func z(_ j: Int) -> Double { z0 + Double(j) * step }

    init(image: Volume<Float>, centerline: SmoothCenterline, zRange: ClosedRange<Double>, step: Double,
         depth: ClosedRange<Double>, halfWidth: Double) {
        let n = max(1, CheckedNumber.clamped((zRange.upperBound - zRange.lowerBound) / step, .down) + 1)
        z0 = zRange.lowerBound; self.step = step
        let zs = (0..<n).map { zRange.lowerBound + Double($0) * step }
        let frames = zs.map { centerline.at($0) }
        centres = frames.map(\.centre)
        let depths = Array(stride(from: depth.lowerBound, through: depth.upperBound + 1e-9, by: 1.0))
        let sides = Array(stride(from: -halfWidth, through: halfWidth + 1e-9, by: 1.0))
        let out = SharedBuffer<Double>(repeating: .nan, count: n)
        let g = image.grid
        parallelChunks(n, minimumChunk: 16) { range, _ in
            for j in range {
                let (c, slope) = frames[j]
                let t = normalized(SIMD3(slope.x, slope.y, 1))
                let anterior = normalized(SIMD3(0, 1, 0) - t.y * t)
                let side = normalized(cross(t, anterior))
                var sum = 0.0, inside = 0
                for d in depths { for s in sides {
                    let v = g.voxel(ofWorld: c + d * anterior + s * side)
                    let value = image.trilinear(v, outside: .nan)
                    if value.isFinite { sum += Double(value); inside += 1 }
                } }
                if Double(inside) >= 0.6 * Double(depths.count * sides.count) { out[j] = sum / Double(inside) }
            }
        }
        values = out.array
    }

    /// The longest run of finite samples, as an index range.
    var validRun: Range<Int> {
        var best = 0..<0, start: Int?
        for j in 0...values.count {
            if j < values.count, values[j].isFinite { if start == nil { start = j }; continue }
            if let s = start, j - s > best.count { best = s..<j }
            start = nil
        }
        return best
    }
}

/// Ridge (bright-bar) filter of a 1D profile: minus the scale-normalised second derivative
/// of a Gaussian, −σ²·(G_σ'' ∗ f) (Lindeberg 1998 Int J Comput Vis 30:117, ridge detection
/// in scale space). A bright band of width ≈ 2√3·σ flanked by darker tissue (a disc between
/// two vertebral bodies, or a disc between the dark end plates) gives a positive peak at
/// its centre; plateaus and linear trends give 0.
enum RidgeFilter {
    /// Response at every sample of `values` (mm spacing `step`), edges extended by the end value.
    static func response(_ values: ArraySlice<Double>, step: Double, sigma: Double) -> [Double] {
        let r = CheckedNumber.clamped(4 * sigma / step, .up)
        var kernel = (-r...r).map { i -> Double in
            let x = Double(i) * step / sigma
            return (1 - x * x) * exp(-x * x / 2)
        }
        let mean = kernel.reduce(0, +) / Double(kernel.count)
        kernel = kernel.map { $0 - mean }
        let v = Array(values), n = v.count
        guard n > 0 else { return [] }
        var out = [Double](repeating: 0, count: n)
        for j in 0..<n {
            var s = 0.0
            for (o, k) in kernel.enumerated() {
                let idx = min(max(j + o - r, 0), n - 1)
                s += k * v[idx]
            }
            out[j] = s
        }
        return out
    }

    /// Median and robust standard deviation (1.4826·MAD) of `values` where `use` is true,
    /// floored at 10⁻³ of the values' range so noise-free inputs stay finite.
    static func robustScale(_ values: [Double], use: (Int) -> Bool) -> (median: Double, sd: Double) {
        let kept = values.indices.filter(use).map { values[$0] }
        guard !kept.isEmpty else { return (0, 1) }
        let med = median(kept)
        let mad = median(kept.map { abs($0 - med) })
        let range = (values.max() ?? 0) - (values.min() ?? 0)
        return (med, max(1.4826 * mad, 1e-3 * range, 1e-12))
    }

    static func median(_ v: [Double]) -> Double {
        let s = v.sorted(), n = s.count
        guard n > 0 else { return 0 }
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
    }
}
