// Smoothing a per-slice centre sequence along the cord and its tangent.
import CordCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A smooth curve through per-slice points: Gaussian-weighted local linear regression along
/// z (Cleveland 1979, JASA 74:829, with a Gaussian kernel instead of tricube), which gives
/// the value and the slope at every slice. Used for the segmentation's centerline and for
/// the angle correction of morphometry, where the Spinal Cord Toolbox fits a B-spline to
/// the segmentation's centres of mass.
enum CenterlineFit {
    /// Smoothed positions (mm, in-plane) and slopes (mm per mm along z) at every slice from
    /// `points` (mm, nil where missing) on slices spaced `dz` mm; `sigma` is the kernel SD
    /// (mm). Slices outside the range of the given points keep nil.
    static func smooth(_ points: [SIMD2<Double>?], dz: Double, sigma: Double)
        -> [(position: SIMD2<Double>, slope: SIMD2<Double>)?] {
        let known = points.indices.filter { points[$0] != nil }
        guard let first = known.first, let last = known.last else { return points.map { _ in nil } }
        let reach = CheckedNumber.clamped(3 * sigma / dz, .up)
        var out: [(position: SIMD2<Double>, slope: SIMD2<Double>)?] = Array(repeating: nil, count: points.count)
        for k in first...last {
            var sw = 0.0, sz = 0.0, szz = 0.0
            var sp = SIMD2<Double>.zero, szp = SIMD2<Double>.zero
            for q in max(first, k - reach)...min(last, k + reach) {
                guard let p = points[q] else { continue }
                let z = Double(q - k) * dz
                let w = exp(-0.5 * z * z / (sigma * sigma))
                sw += w; sz += w * z; szz += w * z * z
                sp += w * p; szp += w * z * p
            }
            guard sw > 0 else { continue }
            let det = sw * szz - sz * sz
            if det > 1e-9 * sw * sw * dz * dz {
                let slope = (sw * szp - sz * sp) / det
                out[k] = ((sp - slope * sz) / sw, slope)
            } else {
                out[k] = (sp / sw, .zero)
            }
        }
        return out
    }
}
