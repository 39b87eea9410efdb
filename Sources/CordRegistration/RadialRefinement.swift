// Non-linear in-plane refinement of template registration: per axial slice, a radial
// stretch that takes the subject cord's outline onto the template cord's (after the
// moment-matching affine), smooth in angle and z and exactly invertible.
import CordCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A radial, angle-dependent stretch of each axial plane of the subject about the cord's
/// centre c(z): a point at distance r and angle θ from c moves along its ray to f_θ(r), with
///
///     f(r) = r + (k − 1)·r·(r/R)^p        for r ≤ R (p = `taper`, 2 by default),
///     f(r) = k·R + (r − R)·(R + D − kR)/D  for R < r < R + D,
///     f(r) = r                            beyond,
///
/// R(θ, z) the subject cord's boundary radius, k(θ, z) the ratio of the (affinely mapped)
/// template boundary radius to R, and D = max(`rampWidth`, 2|k − 1|R) so f is increasing
/// (slope ≥ ⅓ inside with k ≥ 1 − ⅔/(p+1), ≥ ½ in the ramp) — hence invertible ray by ray:
/// exactly outside and for p = 1, by safeguarded Newton iteration to 10⁻¹³ mm inside for
/// p > 1. The subject outline therefore lands on the template outline while the correction
/// shrinks toward the centre as (r/R)^p, leaving the cord's inside (grey matter) to the
/// affine, and it fades to the identity in the CSF. Boundary radii are found where the subject mask and the
/// template cord map (both trilinear) cross ½ along 48 rays per slice; log k and R are
/// smoothed with a circular Gaussian (σ 15°) and over ±`zSmoothing` mm of slices, and
/// k is clamped to 1 − ⅔/(p+1)…1.5. Beyond the segmented slices the stretch fades out over 5 mm.
/// (Radial boundary matching in polar coordinates about the cord centre; it plays the part
/// of the non-linear slice-wise segmentation step — e.g. `algo=columnwise` — that follows
/// the affine one in SCT's `sct_register_to_template`, De Leener et al. 2017 NeuroImage
/// 147:805 for the Spinal Cord Toolbox.)
struct RadialRefinement: Sendable {
    static let angles = 48
    /// Subject world z (mm) of each refined slice, ascending.
    let z: [Double]
    /// Per slice, per angle: factor k and subject boundary radius R (mm).
    let k: [Double], radius: [Double]
    let rampWidth: Double, fade: Double
    /// Exponent p of the inside profile f(r) = r + (k − 1)·r^(p+1)/R^p.
    let taper: Int

    /// Builds the stretch for the subject slices of `map.subject`, comparing `segmentation`
    /// (0/1 on the subject grid) with `templateCord` (probability on the atlas grid) after
    /// `map`'s affine. Nil when no slice has a usable outline.
    init?(map: CordMap, segmentation: Volume<Float>, templateCord: Volume<Float>,
          angleSmoothing: Double = 15, taper: Int = 2,
          rampWidth: Double = 3, zSmoothing: Double = 2, fade: Double = 5) {
        self.taper = max(1, taper)
        let kMin = 1 - 0.67 / Double(self.taper + 1)   // keeps f' ≥ ⅓ inside
        let m = Self.angles
        let slices = map.subject.slices
        var zs: [Double] = [], logK: [[Double?]] = [], radii: [[Double?]] = []
        let rays = (0..<m).map { a -> SIMD2<Double> in
            let t = 2 * Double.pi * Double(a) / Double(m)
            return SIMD2(cos(t), sin(t))
        }
        for s in slices {
            let c = map.subject.at(z: s.z).centre
            var kRow = [Double?](repeating: nil, count: m), rRow = [Double?](repeating: nil, count: m)
            for (a, u) in rays.enumerated() {
                let subjectR = Self.crossing { r in
                    Double(segmentation.trilinear(world: SIMD3(c.x + r * u.x, c.y + r * u.y, s.z)))
                }
                let templateR = Self.crossing { r in
                    let q = map.affineTemplatePoint(ofSubject: SIMD3(c.x + r * u.x, c.y + r * u.y, s.z))
                    return Double(templateCord.trilinear(world: q))
                }
                guard let rs = subjectR, let rt = templateR, rs > 0.3 else { continue }
                kRow[a] = log(min(max(rt / rs, kMin), 1.5)); rRow[a] = rs
            }
            guard kRow.contains(where: { $0 != nil }) else { continue }
            zs.append(s.z); logK.append(kRow); radii.append(rRow)
        }
        guard !zs.isEmpty else { return nil }
        let sigmaSteps = angleSmoothing / (360 / Double(m))
        let sk = Self.smoothed(logK, z: zs, angleSigma: sigmaSteps, zHalfWidth: zSmoothing, missing: 0)
        let meanR = radii.flatMap { $0.compactMap { $0 } }.reduce(0, +) / Double(max(1, radii.flatMap { $0.compactMap { $0 } }.count))
        let sr = Self.smoothed(radii, z: zs, angleSigma: sigmaSteps, zHalfWidth: zSmoothing, missing: meanR)
        z = zs; k = sk.map { exp($0) }; radius = sr
        self.rampWidth = rampWidth; self.fade = fade
    }

    /// First radius (mm, 0.05 mm resolution) where `value` falls below ½ going out from the
    /// centre, by linear interpolation between samples; nil when the centre is outside or no
    /// crossing occurs within 15 mm.
    static func crossing(_ value: (Double) -> Double) -> Double? {
        let step = 0.1
        var previous = value(0)
        guard previous >= 0.5 else { return nil }
        var r = step
        while r <= 15 {
            let v = value(r)
            if v < 0.5 { return r - step + step * (previous - 0.5) / max(previous - v, 1e-12) }
            previous = v; r += step
        }
        return nil
    }

    /// Weighted circular Gaussian over angles (σ in angle steps) then moving average over
    /// slices within ±`zHalfWidth` mm; missing entries have weight 0 (`missing` when none).
    static func smoothed(_ rows: [[Double?]], z: [Double], angleSigma: Double, zHalfWidth: Double, missing: Double) -> [Double] {
        let m = angles
        let radius = CheckedNumber.clamped(3 * angleSigma, .up)
        let weights = (-radius...radius).map { exp(-Double($0 * $0) / (2 * angleSigma * angleSigma)) }
        var angular: [(Double, Double)] = []   // (weighted sum, weight) per slice × angle
        for row in rows {
            for a in 0..<m {
                var s = 0.0, w = 0.0
                for (o, wt) in weights.enumerated() {
                    if let v = row[((a + o - radius) % m + m) % m] { s += wt * v; w += wt }
                }
                angular.append((s, w))
            }
        }
        var out = [Double](repeating: missing, count: rows.count * m)
        for i in 0..<rows.count {
            for a in 0..<m {
                var s = 0.0, w = 0.0
                for j in 0..<rows.count where abs(z[j] - z[i]) <= zHalfWidth {
                    s += angular[j * m + a].0; w += angular[j * m + a].1
                }
                if w > 1e-9 { out[i * m + a] = s / w }
            }
        }
        return out
    }

    /// (k, R) at subject height z and angle θ: bilinear between slices and angles; k fades to
    /// 1 within `fade` mm beyond the first and last slices (identity further out).
    @inline(__always) func parameters(z q: Double, angle: Double) -> (k: Double, r: Double) {
        guard let first = z.first, let last = z.last else { return (1, 1) }
        var w = 1.0
        if q < first { w = max(0, 1 - (first - q) / fade) } else if q > last { w = max(0, 1 - (q - last) / fade) }
        guard w > 0 else { return (1, 1) }
        let m = Self.angles
        var lo = 0, hi = z.count - 1, t = 0.0
        if q <= first { hi = 0 } else if q >= last { lo = hi } else {
            while hi - lo > 1 { let mid = (lo + hi) / 2; if z[mid] <= q { lo = mid } else { hi = mid } }
            t = (q - z[lo]) / (z[hi] - z[lo])
        }
        var x = angle / (2 * Double.pi) * Double(m)
        x -= Double(m) * (x / Double(m)).rounded(.down)
        let a0 = min(CheckedNumber.clamped(x), m - 1), a1 = (a0 + 1) % m, fa = x - Double(a0)
        @inline(__always) func value(_ v: [Double]) -> Double {
            let s0 = v[lo * m + a0] * (1 - fa) + v[lo * m + a1] * fa
            let s1 = v[hi * m + a0] * (1 - fa) + v[hi * m + a1] * fa
            return s0 * (1 - t) + s1 * t
        }
        let kk = value(k)
        return (1 + (kk - 1) * w, value(radius))
    }

    /// Subject point → stretched subject point (the same z), about the cord centre `c`.
    func forward(_ p: SIMD3<Double>, centre c: SIMD2<Double>) -> SIMD3<Double> {
        let d = SIMD2(p.x, p.y) - c
        let r = (d * d).sum().squareRoot()
        guard r > 1e-12 else { return p }
        let (kk, big) = parameters(z: p.z, angle: atan2(d.y, d.x))
        let ramp = max(rampWidth, 2 * abs(kk - 1) * big)
        let f: Double
        if r <= big { f = r + (kk - 1) * r * power(r / big) } else if r < big + ramp { f = kk * big + (r - big) * (big + ramp - kk * big) / ramp } else { f = r }
        let out = c + d * (f / r)
        return SIMD3(out.x, out.y, p.z)
    }

    /// The exact inverse of `forward`.
    func inverse(_ p: SIMD3<Double>, centre c: SIMD2<Double>) -> SIMD3<Double> {
        let d = SIMD2(p.x, p.y) - c
        let f = (d * d).sum().squareRoot()
        guard f > 1e-12 else { return p }
        let (kk, big) = parameters(z: p.z, angle: atan2(d.y, d.x))
        let ramp = max(rampWidth, 2 * abs(kk - 1) * big)
        let r: Double
        if f <= kk * big { r = insideInverse(f, k: kk, radius: big) } else if f < big + ramp { r = big + (f - kk * big) * ramp / (big + ramp - kk * big) } else { r = f }
        let out = c + d * (r / f)
        return SIMD3(out.x, out.y, p.z)
    }

    /// r with r + (k − 1)·r^(p+1)/R^p = f on 0…R: the quadratic's root for p = 1, else
    /// Newton's method from f/k kept inside the bracket (the function is increasing).
    func insideInverse(_ f: Double, k: Double, radius: Double) -> Double {
        if taper == 1 { return 2 * f / (1 + (1 + 4 * (k - 1) / radius * f).squareRoot()) }
        let p = Double(taper)
        var lo = 0.0, hi = radius, r = min(max(f / k, 0), radius)
        for _ in 0..<60 {
            let q = power(r / radius)
            let g = r + (k - 1) * r * q - f, dg = 1 + (k - 1) * (p + 1) * q
            if g > 0 { hi = r } else { lo = r }
            var next = r - g / dg
            if !(next > lo && next < hi) { next = (lo + hi) / 2 }
            if abs(next - r) < 1e-13 { return next }
            r = next
        }
        return r
    }

    /// x^taper by repeated multiplication.
    @inline(__always) func power(_ x: Double) -> Double {
        var y = x
        for _ in 1..<taper { y *= x }
        return y
    }
}
