// Finding the cord's centre on every axial slice: a dark-disc-in-bright-ring score per
// pixel, linked along the cord by dynamic programming.
import CordCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The cord's centre per axial slice of the RPI-reoriented image.
struct AxialCentres: Sendable {
    /// Continuous pixel position (i, j) of the centre per RPI slice k; nil where no cord.
    var centres: [SIMD2<Double>?]
    /// The detection score on the path per slice, in units of its noise SD (a z-score).
    var significance: [Double]
    var polarity: CordPolarity
}

/// Centre detection after Gros et al. 2018 (OptiC, Med Image Anal 44:215) in spirit: a
/// per-slice score of each candidate centre, then the best path along the cord by dynamic
/// programming. The score here is hand-made, not learned: a ring where CSF lies (elliptical
/// annulus 6.8×4.5 to 8.8×6.0 mm semi-axes, RL×AP) is split into 16 sectors; each sector's
/// mean minus the mean of the cord's core (ellipse 3.5×2.2 mm), signed by the polarity and
/// divided by the image's 2–98 % intensity range, counts when positive, and the score is the
/// mean over sectors. Rectifying keeps the score high where CSF is bright on only part of
/// the ring (thick-slice MT scans, where the posterior CSF is not bright). The path maximises Σ_k dz·(score − κ·slope²) with slope the
/// in-plane shift per mm along z (κ = 0.1), a shift of at most tan 45° per mm.
/// For a dark cord a sector counts by min(ring − core, ring − image median): CSF is the bright
/// fluid on T2w, T2*w and MT gradient echo, and dark structures in mid-grey tissue (a fat
/// plane or vessel behind the cord on the MT-off test scan) otherwise outscore a cord whose
/// posterior CSF is thin.
enum CenterlineDetector {
    static let innerSemiAxes = SIMD2(3.5, 2.2)
    static let ringInner = SIMD2(6.8, 4.5), ringOuter = SIMD2(8.8, 6.0)
    static let slopePenalty = 0.1
    static let sectorCount = 16
    /// Scale of the ring tried when the default (1: a CSF layer of 2–3 mm around a cord of
    /// about 13 × 8.5 mm) finds no cord-like outline with either polarity: the thin layer of
    /// a narrow dural sac (15 × 10 mm, common in cervical stenosis), where the default ring
    /// lies in the epidural fat beyond it (as bright as the cord on T1w: no cord found at all
    /// on such a phantom). Only a fallback: as the first choice the smaller ring took the
    /// MT-off test scan's upper slices to a dark region in front of the CSF (Dice 0.49).
    static let narrowRingScale = 0.8

    /// Pixel offsets of the core and of the ring's 16 sectors for pixels of dx × dy mm.
    static func kernel(dx: Double, dy: Double, ringScale: Double = 1) -> (inner: [SIMD2<Int>], sectors: [[SIMD2<Int>]]) {
        var inner = Set<SIMD2<Int>>()
        let step = 0.5
        var y = -innerSemiAxes.y
        while y <= innerSemiAxes.y {
            var x = -innerSemiAxes.x
            while x <= innerSemiAxes.x {
                let p = x / innerSemiAxes.x, q = y / innerSemiAxes.y
                if p * p + q * q <= 1 { inner.insert(SIMD2(CheckedNumber.clamped(x / dx, .toNearestOrAwayFromZero), CheckedNumber.clamped(y / dy, .toNearestOrAwayFromZero))) }
                x += step
            }
            y += step
        }
        var sectors: [[SIMD2<Int>]] = []
        for d in 0..<sectorCount {
            var ring = Set<SIMD2<Int>>()
            for a in 0..<4 {
                let t = (Double(d) + Double(a) / 4) / Double(sectorCount) * 2 * Double.pi
                for f in [0.0, 0.33, 0.67, 1.0] {
                    let s = (ringInner + (ringOuter - ringInner) * f) * ringScale
                    ring.insert(SIMD2(CheckedNumber.clamped(s.x * cos(t) / dx, .toNearestOrAwayFromZero), CheckedNumber.clamped(s.y * sin(t) / dy, .toNearestOrAwayFromZero)))
                }
            }
            sectors.append(Array(ring.subtracting(inner)))
        }
        return (Array(inner), sectors)
    }

    /// Score maps (one per slice, nx·ny values, for `sign`) and the score's noise SD.
    /// Centres whose ring would leave the slice score −10 (the cord and its CSF must be inside).
    static func scoreMaps(_ stack: AxialStack, sign: Float, ringScale: Double = 1) -> (scores: UnsafeMutableBufferPointer<Float>, noiseSD: Double) {
        let (inner, sectors) = kernel(dx: stack.dx, dy: stack.dy, ringScale: ringScale)
        let stats = stack.intensityStatistics()
        let range = Double(max(stats.high - stats.low, 1e-12))
        let nx = stack.nx, ny = stack.ny, per = nx * ny
        let out = UnsafeMutableBufferPointer<Float>.allocate(capacity: per * stack.nz)
        out.initialize(repeating: -10)
        // Flattened offsets: core first, then the sectors one after another.
        let all = inner + sectors.flatMap { $0 }
        let offsets = all.map { $0.x + nx * $0.y }
        var sectorBounds = [0, inner.count]
        for sector in sectors { sectorBounds.append(sectorBounds[sectorBounds.count - 1] + sector.count) }
        let bounds = sectorBounds
        let mi = all.map { abs($0.x) }.max() ?? 0, mj = all.map { abs($0.y) }.max() ?? 0
        let scale = sign / Float(range)
        let median = stack.percentile(0.5)
        let data = SendablePointer(stack.data.baseAddress!)
        let target = SendablePointer(out.baseAddress!)
        guard nx > 2 * mi, ny > 2 * mj else { return (out, 1) }
        parallelChunks(stack.nz) { ks, _ in
            offsets.withUnsafeBufferPointer { off in bounds.withUnsafeBufferPointer { bd in
                for k in ks {
                    for j in mj..<(ny - mj) {
                        for i in mi..<(nx - mi) {
                            let centre = per * k + i + nx * j
                            var core: Float = 0
                            for n in 0..<bd[1] { core += data.pointer[centre + off[n]] }
                            core /= Float(bd[1])
                            var total: Float = 0
                            for d in 1..<(bd.count - 1) {
                                var ring: Float = 0
                                for n in bd[d]..<bd[d + 1] { ring += data.pointer[centre + off[n]] }
                                let mean = ring / Float(bd[d + 1] - bd[d])
                                // Dark cord: CSF is bright, so the ring counts only by how much
                                // it exceeds both the core and the image's median.
                                let contrast = (sign > 0 ? min(mean - core, mean - median) : mean - core) * scale
                                if contrast > 0 { total += contrast }
                            }
                            target.pointer[centre] = total / Float(bd.count - 2)
                        }
                    }
                }
            } }
        }
        let ringCount = Double(sectors.map(\.count).reduce(0, +)) / Double(sectors.count)
        let noise = Double(stats.noise) / range * (1 / Double(inner.count) + 1 / ringCount).squareRoot()
        return (out, max(noise, 1e-9))
    }

    /// Best path through the score maps, by dynamic
    /// programming over all pixels of consecutive slices. `anchor`: (slice, pixel) the path
    /// must pass within 3 mm of. Returns the pixel per slice and the path's total objective.
    static func bestPath(_ scores: UnsafeMutableBufferPointer<Float>, stack: AxialStack,
                         anchor: (k: Int, p: SIMD2<Double>)?) -> (path: [Int], objective: Double) {
        let nx = stack.nx, ny = stack.ny, nz = stack.nz, per = nx * ny
        let pix = min(stack.dx, stack.dy)
        let window = max(1, min(24, CheckedNumber.clamped(stack.dz / pix, .up) + 1))
        let kappa = Float(slopePenalty / stack.dz)
        let dzf = Float(stack.dz)
        let dxf = Float(stack.dx), dyf = Float(stack.dy)
        var total = [Float](repeating: 0, count: per)
        let back = UnsafeMutableBufferPointer<Int32>.allocate(capacity: per * nz)
        defer { back.deallocate() }
        func unary(_ k: Int, _ p: Int) -> Float {
            var s = scores[per * k + p] * dzf
            if let a = anchor, a.k == k {
                let dxm = (Double(p % nx) - a.p.x) * stack.dx, dym = (Double(p / nx) - a.p.y) * stack.dy
                if dxm * dxm + dym * dym > 9 { s -= 1e6 }
            }
            return s
        }
        for p in 0..<per { total[p] = unary(0, p) }
        let next = SharedBuffer<Float>(repeating: 0, count: per)
        let backPtr = SendablePointer(back.baseAddress!)
        for k in 1..<max(nz, 1) {
            let previous = total
            let unaries: [Float] = (0..<per).map { unary(k, $0) }
            parallelChunks(ny) { rows, _ in
                previous.withUnsafeBufferPointer { prev in
                    for j in rows {
                        for i in 0..<nx {
                            var best: Float = -.infinity, arg = 0
                            for b in max(0, j - window)...min(ny - 1, j + window) {
                                let ddy = Float(b - j) * dyf
                                for a in max(0, i - window)...min(nx - 1, i + window) {
                                    let ddx = Float(a - i) * dxf
                                    let v = prev[a + nx * b] - kappa * (ddx * ddx + ddy * ddy)
                                    if v > best { best = v; arg = a + nx * b }
                                }
                            }
                            let p = i + nx * j
                            next[p] = best + unaries[p]
                            backPtr.pointer[per * k + p] = Int32(arg)
                        }
                    }
                }
            }
            total = next.array
        }
        var last = 0
        for p in 0..<per where total[p] > total[last] { last = p }
        var path = [Int](repeating: 0, count: nz)
        path[nz - 1] = last
        if nz > 1 {
            for k in stride(from: nz - 1, to: 0, by: -1) { path[k - 1] = Int(back[per * k + path[k]]) }
        }
        return (path, Double(total[last]))
    }

    /// How far (mm) a slice's centre may lie from the point its neighbours predict (the
    /// midpoint of the slices on either side; at either end, the line through the next two
    /// extended) before the slice is searched again near that point: 3 mm of detection noise
    /// and sub-voxel jitter, plus the sagitta a cord bending with a 60 mm radius of curvature
    /// (tighter than the cervical lordosis) gives over the slice gap, dz²/(2·60 mm), twice that
    /// when extrapolating at an end: 3.2 mm at 5 mm slices, 5.4 mm (interior) at 17 mm.
    static func maximumKink(dz: Double, end: Bool) -> Double { 3 + (end ? 2 : 1) * dz * dz / (2 * 60) }
    /// Radius (mm) around the predicted point within which a kinked slice is searched again.
    static let kinkSearchRadius = 3.0

    /// The slice whose centre lies furthest beyond `maximumKink` from the point its neighbours
    /// predict: (slice, that point in pixels, the excess in mm); nil when none does. `centres`
    /// per RPI slice in pixels (nil: no cord there; a slice is judged only with both
    /// neighbours, or at either end of the run the next two, present). `ends`: whether the
    /// first and last slices are judged (by extrapolation, which one wrong neighbour throws
    /// further off than the interpolation of an interior slice).
    static func worstKink(_ centres: [SIMD2<Double>?], stack: AxialStack, ends: Bool) -> (Int, SIMD2<Double>, Double)? {
        let nz = centres.count
        func c(_ k: Int) -> SIMD2<Double>? { k >= 0 && k < nz ? centres[k] : nil }
        var worst: (Int, SIMD2<Double>, Double)?
        for k in 0..<nz {
            guard let here = centres[k] else { continue }
            let predicted: SIMD2<Double>, end: Bool
            if let a = c(k - 1), let b = c(k + 1) {
                predicted = (a + b) / 2; end = false
            } else if ends, c(k - 1) == nil, let a = c(k + 1), let b = c(k + 2) {
                predicted = 2 * a - b; end = true
            } else if ends, c(k + 1) == nil, let a = c(k - 1), let b = c(k - 2) {
                predicted = 2 * a - b; end = true
            } else { continue }
            let d = (here - predicted) * SIMD2(stack.dx, stack.dy)
            let excess = (d * d).sum().squareRoot() - maximumKink(dz: stack.dz, end: end)
            if excess > 0, worst == nil || excess > worst!.2 { worst = (k, predicted, excess) }
        }
        return worst
    }

    /// Scores of slice `k` beyond `radius` mm of `centre` (pixels) set to −10.
    static func restrict(_ scores: UnsafeMutableBufferPointer<Float>, stack: AxialStack, slice k: Int, around centre: SIMD2<Double>, radius: Double) {
        let per = stack.nx * stack.ny
        for j in 0..<stack.ny {
            for i in 0..<stack.nx {
                let x = (Double(i) - centre.x) * stack.dx, y = (Double(j) - centre.y) * stack.dy
                if x * x + y * y > radius * radius { scores[per * k + i + stack.nx * j] = -10 }
            }
        }
    }

    /// Detects the cord's centre on every slice for a given polarity. Pixels within 4 mm of
    /// an `excluded` centre (per slice, continuous pixel coordinates) cannot be chosen; on a
    /// `constrained` slice only pixels within `kinkSearchRadius` of the given point can.
    /// `seedSlice`: when there is no `anchor`, the RPI slice `k` (and the input's slice
    /// index, for messages) in which `seed` picks the most cord-like candidate as the anchor.
    static func detect(_ stack: AxialStack, polarity: CordPolarity, anchor given: (k: Int, p: SIMD2<Double>)?,
                       excluded: [[SIMD2<Double>]] = [], constrained: [Int: SIMD2<Double>] = [:], ringScale: Double = 1,
                       seedSlice: (k: Int, input: Int)? = nil,
                       minimumSignificance: Double = 6) throws -> AxialCentres {
        let (scores, noise) = scoreMaps(stack, sign: polarity.sign, ringScale: ringScale)
        defer { scores.deallocate() }
        let ri = CheckedNumber.clamped(4 / stack.dx, .up), rj = CheckedNumber.clamped(4 / stack.dy, .up)
        for (k, points) in excluded.enumerated() where k < stack.nz {
            for c in points {
                let ci = CheckedNumber.clamped(c.x, .toNearestOrAwayFromZero), cj = CheckedNumber.clamped(c.y, .toNearestOrAwayFromZero)
                for j in max(0, cj - rj)...max(0, min(stack.ny - 1, cj + rj)) {
                    for i in max(0, ci - ri)...max(0, min(stack.nx - 1, ci + ri)) {
                        let x = (Double(i) - c.x) * stack.dx, y = (Double(j) - c.y) * stack.dy
                        if x * x + y * y <= 16 { scores[stack.nx * (stack.ny * k + j) + i] = -10 }
                    }
                }
            }
        }
        for (k, centre) in constrained where k >= 0 && k < stack.nz {
            restrict(scores, stack: stack, slice: k, around: centre, radius: kinkSearchRadius)
        }
        var anchor = given
        if anchor == nil, let seedSlice {
            let p = try seed(scores, noise: noise, stack: stack, slice: seedSlice.k, sign: polarity.sign,
                             minimumSignificance: minimumSignificance, inputSlice: seedSlice.input)
            anchor = (seedSlice.k, p)
        }
        let path = bestPath(scores, stack: stack, anchor: anchor).path
        let nx = stack.nx, ny = stack.ny, per = nx * ny
        var centres: [SIMD2<Double>?] = []
        var significance: [Double] = []
        for k in 0..<stack.nz {
            let p = path[k], i = p % nx, j = p / nx
            @inline(__always) func s(_ a: Int, _ b: Int) -> Double {
                Double(scores[per * k + min(max(a, 0), nx - 1) + nx * min(max(b, 0), ny - 1)])
            }
            // Parabolic sub-pixel refinement of the maximum along i and j.
            func vertex(_ m: Double, _ c: Double, _ p: Double) -> Double {
                let d = m - 2 * c + p
                return d < 0 ? min(max(0.5 * (m - p) / d, -0.5), 0.5) : 0
            }
            let c = s(i, j)
            let fx = vertex(s(i - 1, j), c, s(i + 1, j)), fy = vertex(s(i, j - 1), c, s(i, j + 1))
            centres.append(SIMD2(Double(i) + fx, Double(j) + fy))
            significance.append(c / noise)
        }
        return AxialCentres(centres: centres, significance: significance, polarity: polarity)
    }
}

/// A raw pointer that workers write to at disjoint indices.
struct SendablePointer<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
    init(_ p: UnsafeMutablePointer<T>) { pointer = p }
}
