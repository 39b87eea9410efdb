// The cord's outline on one axial slice: one radius per angle around the centre, chosen by
// dynamic programming on the cord/CSF edge strength.
import CordCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A star-shaped outline: radius (mm) at `radii.count` equally spaced angles around `centre`.
/// Angle θ is measured in the slice plane in mm from the +i axis toward +j (RPI: from the
/// patient's left toward anterior).
struct StarContour: Sendable {
    /// Centre in continuous pixel coordinates (i, j) of the RPI slice.
    var centre: SIMD2<Double>
    var radii: [Double]
    /// Mean edge strength along the outline in units of its noise SD.
    var edgeSignificance: Double
    /// Whether the outline (plus one pixel) stays inside the slice.
    var insideImage: Bool

    /// Radius (mm) at angle θ (radians), linear between the sampled angles.
    @inline(__always) func radius(at theta: Double) -> Double {
        let m = radii.count
        var f = theta / (2 * Double.pi) * Double(m)
        f -= (f / Double(m)).rounded(.down) * Double(m)
        let a = CheckedNumber.clamped(f) % m, b = (a + 1) % m, w = f - Double(CheckedNumber.clamped(f))
        return radii[a] * (1 - w) + radii[b] * w
    }
    /// Area (mm²) and centroid offset (mm) of the polygon through the outline's points.
    func polygon() -> (area: Double, centroid: SIMD2<Double>) {
        let m = radii.count
        var area = 0.0, cx = 0.0, cy = 0.0
        for a in 0..<m {
            let t0 = 2 * Double.pi * Double(a) / Double(m), t1 = 2 * Double.pi * Double(a + 1) / Double(m)
            let x0 = radii[a] * cos(t0), y0 = radii[a] * sin(t0)
            let x1 = radii[(a + 1) % m] * cos(t1), y1 = radii[(a + 1) % m] * sin(t1)
            let c = x0 * y1 - x1 * y0
            area += c; cx += (x0 + x1) * c; cy += (y0 + y1) * c
        }
        area /= 2
        return (area, area != 0 ? SIMD2(cx, cy) / (6 * area) : .zero)
    }
}

/// The polar-boundary formulation (see METHODS.md, after PropSeg's idea of moving a
/// contour along intensity profiles orthogonal to the cord edge, De Leener et al. 2014,
/// NeuroImage 98:528): profiles along 72 rays from the centre, sampled every δ ≤ 0.2 mm to
/// `maximumRadius` mm; the edge strength is the signed derivative of intensity along the ray
/// (cord→CSF direction of the polarity), normalised per slice by the median of the rays'
/// maxima. The outline maximises Σ edge − μ·Σ|Δr| − ν·Σ|r − r_prior| (μ = 0.15 /mm, steps
/// of at most 1.5 mm between neighbouring rays; ν weights an optional prior outline from
/// the neighbouring slices), solved by dynamic programming over three turns with the middle
/// turn kept so the outline closes. Each radius is refined to a fraction of δ by a parabola
/// through the edge strengths around it.
struct PolarBoundaryFinder: Sendable {
    var angles = 72
    var maximumRadius = 11.0
    var minimumRadius = 0.6
    var smoothness = 0.15
    var maximumStep = 1.5
    var priorWeight = 0.0
    /// Region term: pixels beyond the cord's own range on the side away from CSF (darker
    /// than the core's 10th percentile on a dark-cord image, brighter than its 90th on a
    /// bright-cord image) by more than `regionTolerance` (fraction of the intensity range)
    /// cost `regionWeight` per mm inside the outline, which stops the outline where the cord
    /// borders tissue instead of CSF (posterior to the cord on thick-slice MT scans).
    var regionWeight: Float = 2
    /// Where between the cord's level (0) and the CSF's level (1) along a ray the boundary
    /// is placed. 0.5 is the geometric boundary of a blurred step. Reference segmentations
    /// from the Spinal Cord Toolbox put theirs nearer the cord: on `t2_seg-manual` (1 mm
    /// T2w), a voxel is labelled cord only when its intensity lies within about 40 % of the
    /// step, and along rays from the reference's centroid (levels as in `levelCrossing`) the
    /// 40 % crossing encloses its CSA to −0.2 % on average over 55 slices, 50 % to +4 %.
    /// That CSA is the one published norms use, so 0.4 is the default; on the phantom's sharp
    /// 0.5 mm edges it costs 2–3 % of area against the geometric truth (0.5: < 1 %).
    var boundaryLevel = 0.4
    var regionTolerance: Float = 0.1
    /// A thin CSF layer (see `levels`) whose peak rises above the cord by at least this
    /// fraction of the slice's median cord→CSF step counts as present, and its boundary is
    /// the crossing of `boundaryLevel` of that median step; below it the CSF is taken as
    /// effaced and the gradient maximum stays. 0.8, the same fraction as the plateau test
    /// that tells a full layer from a thin one.
    var thinLayerFraction = 0.8

    func find(_ stack: AxialStack, slice k: Int, centre: SIMD2<Double>, sign: Float, range: Float,
              noise: Float, prior: [Double]?) -> StarContour {
        let pix = min(stack.dx, stack.dy)
        let delta = min(0.2, pix / 3)
        let n = CheckedNumber.clamped(maximumRadius / delta, .up)
        let h = max(1, CheckedNumber.clamped(0.5 * pix / delta, .toNearestOrAwayFromZero))
        let m = angles
        // Intensity profiles: n + 2h samples per ray starting at r = −h·δ... clamped at 0.
        let count = n + 2 * h
        var profile = [Float](repeating: 0, count: m * count)
        var edge = [Float](repeating: 0, count: m * n)
        var rayMax = [Float](repeating: 0, count: m)
        for a in 0..<m {
            let t = 2 * Double.pi * Double(a) / Double(m)
            let ux = cos(t) / stack.dx, uy = sin(t) / stack.dy
            for s in 0..<count {
                let r = Double(s - h) * delta
                profile[a * count + s] = stack.sample(centre.x + r * ux, centre.y + r * uy, k)
            }
            var best: Float = 0
            for s in 0..<n {
                let e = sign * (profile[a * count + s + 2 * h] - profile[a * count + s]) / Float(2 * h) / Float(delta) / range
                edge[a * n + s] = e
                if e > best { best = e }
            }
            rayMax[a] = best
        }
        let sorted = rayMax.sorted()
        let norm = max(sorted[m / 2], 1e-6)
        let nMin = max(1, CheckedNumber.clamped(minimumRadius / delta, .toNearestOrAwayFromZero))
        let w = max(1, CheckedNumber.clamped(maximumStep / delta, .up))
        let mu = Float(smoothness * delta)  // per step of δ, in normalised edge units
        // The core's reference intensity (10th/90th percentile within 2.5 mm).
        var core: [Float] = []
        let coreSamples = min(n, CheckedNumber.clamped(2.5 / delta, .toNearestOrAwayFromZero))
        for a in 0..<m { for s in 0..<coreSamples { core.append(sign * profile[a * count + s + h]) } }
        core.sort()
        let reference = core.isEmpty ? 0 : core[core.count / 10]
        // Unary terms in normalised units: edge, minus the region cost inside, minus the prior.
        var unary = [Float](repeating: 0, count: m * n)
        for a in 0..<m {
            var inside: Float = 0
            for s in 0..<n {
                let excess = (reference - sign * profile[a * count + s + h]) / range - regionTolerance
                if excess > 0 { inside += regionWeight * Float(delta) * excess / regionTolerance }
                var u = s < nMin ? -1e3 : edge[a * n + s] / norm - inside
                if let p = prior, priorWeight > 0 { u -= Float(priorWeight * abs(Double(s) * delta - p[a])) }
                unary[a * n + s] = u
            }
        }
        // Three turns of dynamic programming; keep the middle one.
        let turns = 3 * m
        var score = [Float](repeating: 0, count: n), nextScore = score
        var back = [Int32](repeating: 0, count: turns * n)
        for s in 0..<n { score[s] = unary[s] }
        for t in 1..<turns {
            let a = t % m
            for s in 0..<n {
                var best: Float = -.infinity, arg = s
                for q in max(0, s - w)...min(n - 1, s + w) {
                    let v = score[q] - mu * Float(abs(q - s))
                    if v > best { best = v; arg = q }
                }
                nextScore[s] = best + unary[a * n + s]
                back[t * n + s] = Int32(arg)
            }
            swap(&score, &nextScore)
        }
        var s = 0
        for q in 0..<n where score[q] > score[s] { s = q }
        var chosen = [Int](repeating: 0, count: turns)
        chosen[turns - 1] = s
        for t in stride(from: turns - 1, to: 0, by: -1) { chosen[t - 1] = Int(back[t * n + chosen[t]]) }
        // Each radius: the gradient maximum (parabolic sub-step), the geometric boundary,
        // moved to the `boundaryLevel` crossing where a full CSF layer gives the levels. Thin
        // layers (26 % of the rays on the t2 test scan, mostly lateral) take the slice's median
        // step instead of their own (`thinLayerFraction`): CSA −1 point on average there (+2.8 →
        // +1.8 %), while effaced layers at a compression keep the maximum. (Moving every thin
        // ray by the slice's median crossing − maximum offset also moved the effaced rays
        // inward and raised MSCC by up to 4 points on the phantom.)
        var radii = [Double](repeating: 0, count: m)
        var edgeSum = 0.0
        var steps: [Double] = [], thin: [(ray: Int, edge: Int, cord: Double, peak: Double)] = []
        for a in 0..<m {
            let s = chosen[m + a]
            let e0 = s > 0 ? Double(edge[a * n + s - 1]) : Double(edge[a * n + s])
            let e1 = Double(edge[a * n + s]), e2 = s < n - 1 ? Double(edge[a * n + s + 1]) : e1
            let d = e0 - 2 * e1 + e2
            let f = d < 0 ? min(max(0.5 * (e0 - e2) / d, -0.5), 0.5) : 0
            radii[a] = (Double(s) + f) * delta
            edgeSum += e1
            guard e1 > 0.3 * Double(norm), let lv = levels(profile, ray: a, count: count, edge: s, h: h, delta: delta, sign: sign) else { continue }
            if lv.full, let r = crossing(profile, ray: a, count: count, edge: s, h: h, delta: delta, sign: sign,
                                         level: lv.cord + boundaryLevel * (lv.csf - lv.cord)) {
                radii[a] = r
                steps.append(lv.csf - lv.cord)
            } else if !lv.full {
                thin.append((a, s, lv.cord, lv.peak))
            }
        }
        // Thin CSF: where the layer is bright (peak ≥ `thinLayerFraction` of the slice's
        // median step over the rays with a full layer, at least a quarter of the rays), the
        // crossing of `boundaryLevel` of that median step; an effaced layer keeps the maximum.
        steps.sort()
        if steps.count >= m / 4 {
            let step = steps[steps.count / 2]
            for t in thin where t.peak - t.cord >= thinLayerFraction * step {
                if let r = crossing(profile, ray: t.ray, count: count, edge: t.edge, h: h, delta: delta, sign: sign,
                                    level: t.cord + boundaryLevel * step) { radii[t.ray] = r }
            }
        }
        var inside = true
        for a in 0..<m {
            let t = 2 * Double.pi * Double(a) / Double(m)
            let x = centre.x + (radii[a] + pix) * cos(t) / stack.dx, y = centre.y + (radii[a] + pix) * sin(t) / stack.dy
            if x < 0 || y < 0 || x > Double(stack.nx - 1) || y > Double(stack.ny - 1) { inside = false }
        }
        // Noise SD of one edge value: σ·√2/(2h·δ) over the range (bilinear samples ≈ pixels).
        let edgeNoise = Double(noise) * 2.0.squareRoot() / (Double(2 * h) * delta) / Double(range)
        return StarContour(centre: centre, radii: radii, edgeSignificance: edgeSum / Double(m) / max(edgeNoise, 1e-12),
                           insideImage: inside)
    }

    /// The levels along ray `a` around edge sample `s` (signed so CSF is the higher):
    /// cord, median over 1.2–2.5 mm inside the edge (clear of a 1 mm-wide blurred edge; the
    /// median ignores grey matter and ringing); CSF, mean over 0.5–1.5 mm outside the edge,
    /// not the peak (on real scans the CSF is a 2–3 mm layer whose peak carries truncation
    /// overshoot and the upward bias of a maximum over noisy samples; the peak put the
    /// outline 0.1 mm outside and CSA +4.5 % on the t2 test scan, while on the phantom's wide,
    /// flat CSF the two differ by < 0.1 % of area); the peak within 1.5 mm outside; and
    /// whether the CSF layer is full (1 mm outside the edge at ≥ 80 % of the peak) rather
    /// than thin. Nil when the inner window is empty or nothing outside is brighter than the cord.
    func levels(_ profile: [Float], ray a: Int, count: Int, edge s: Int, h: Int, delta: Double, sign: Float)
        -> (cord: Double, csf: Double, peak: Double, full: Bool)? {
        @inline(__always) func value(_ q: Int) -> Double { Double(sign * profile[a * count + min(max(q + h, 0), count - 1)]) }
        @inline(__always) func steps(_ mm: Double) -> Int { CheckedNumber.clamped(mm / delta, .toNearestOrAwayFromZero) }
        let last = count - h - 1
        let inA = max(0, s - steps(2.5)), inB = max(inA + 1, s - steps(1.2))
        guard inB <= s else { return nil }
        let cord = withUnsafeTemporaryAllocation(of: Double.self, capacity: inB - inA) { buffer in
            var inner = buffer
            for q in inA..<inB { inner[q - inA] = value(q) }
            inner.sort()
            return inner[inner.count / 2]
        }
        let peak = thinPeak(profile, ray: a, count: count, edge: s, h: h, delta: delta, sign: sign)
        let outA = min(s + steps(0.5), last), outB = min(s + steps(1.5), last)
        var csf = 0.0
        for q in outA...outB { csf += value(q) }
        csf /= Double(outB - outA + 1)
        guard peak > cord else { return nil }
        let plateau = value(s + steps(1.0))
        return (cord, csf, peak, csf > cord && plateau >= cord + 0.8 * (peak - cord))
    }

    /// The highest signed value within 1.5 mm outside edge sample `s` of ray `a`.
    func thinPeak(_ profile: [Float], ray a: Int, count: Int, edge s: Int, h: Int, delta: Double, sign: Float) -> Double {
        let last = count - h - 1
        var peak = -Double.infinity
        for q in s...min(s + CheckedNumber.clamped(1.5 / delta, .toNearestOrAwayFromZero), last) {
            peak = max(peak, Double(sign * profile[a * count + min(max(q + h, 0), count - 1)]))
        }
        return peak
    }

    /// The radius (mm) nearest to edge sample `s` within ±1 mm where ray `a`'s signed
    /// profile crosses `level`, by linear interpolation between samples; nil when none.
    func crossing(_ profile: [Float], ray a: Int, count: Int, edge s: Int, h: Int, delta: Double, sign: Float, level: Double) -> Double? {
        @inline(__always) func value(_ q: Int) -> Double { Double(sign * profile[a * count + min(max(q + h, 0), count - 1)]) }
        let w = CheckedNumber.clamped(1.0 / delta, .toNearestOrAwayFromZero)
        var best: Double?
        for q in max(0, s - w)..<(s + w) {
            let v0 = value(q), v1 = value(q + 1)
            guard (v0 - level) * (v1 - level) <= 0, v0 != v1 else { continue }
            let r = (Double(q) + (level - v0) / (v1 - v0)) * delta
            if best == nil || abs(r - Double(s) * delta) < abs(best! - Double(s) * delta) { best = r }
        }
        return best
    }
}
