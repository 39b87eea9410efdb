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
/// programming. The score here is hand-made, not learned: the mean intensity of a ring where
/// CSF lies (elliptical annulus 6.8×4.5 to 8.8×6.0 mm semi-axes, RL×AP) minus the mean of
/// the cord's core (ellipse 3.5×2.2 mm), signed by the polarity and divided by the image's
/// 2–98 % intensity range. The path maximises Σ_k dz·(score − κ·slope²) with slope the
/// in-plane shift per mm along z (κ = 0.1), a shift of at most tan 45° per mm.
enum CenterlineDetector {
    static let innerSemiAxes = SIMD2(3.5, 2.2)
    static let ringInner = SIMD2(6.8, 4.5), ringOuter = SIMD2(8.8, 6.0)
    static let slopePenalty = 0.1

    /// Pixel offsets of the core and the ring for pixels of dx × dy mm.
    static func kernel(dx: Double, dy: Double) -> (inner: [SIMD2<Int>], ring: [SIMD2<Int>]) {
        var inner = Set<SIMD2<Int>>(), ring = Set<SIMD2<Int>>()
        let step = 0.5
        var y = -innerSemiAxes.y
        while y <= innerSemiAxes.y {
            var x = -innerSemiAxes.x
            while x <= innerSemiAxes.x {
                let p = x / innerSemiAxes.x, q = y / innerSemiAxes.y
                if p * p + q * q <= 1 { inner.insert(SIMD2(Int((x / dx).rounded()), Int((y / dy).rounded()))) }
                x += step
            }
            y += step
        }
        for a in 0..<48 {
            let t = Double(a) / 48 * 2 * Double.pi
            for f in [0.0, 0.33, 0.67, 1.0] {
                let s = ringInner + (ringOuter - ringInner) * f
                let x = s.x * cos(t), y = s.y * sin(t)
                ring.insert(SIMD2(Int((x / dx).rounded()), Int((y / dy).rounded())))
            }
        }
        return (Array(inner), Array(ring.subtracting(inner)))
    }

    /// Score maps (one per slice, nx·ny values, polarity "dark cord") and the score's noise SD.
    static func scoreMaps(_ stack: AxialStack) -> (scores: UnsafeMutableBufferPointer<Float>, noiseSD: Double) {
        let (inner, ring) = kernel(dx: stack.dx, dy: stack.dy)
        let stats = stack.intensityStatistics()
        let range = Double(max(stats.high - stats.low, 1e-12))
        let nx = stack.nx, ny = stack.ny, per = nx * ny
        let out = UnsafeMutableBufferPointer<Float>.allocate(capacity: per * stack.nz)
        out.initialize(repeating: 0)
        let innerX = inner.map(\.x), innerY = inner.map(\.y), ringX = ring.map(\.x), ringY = ring.map(\.y)
        let wIn = Float(1) / Float(inner.count), wRing = Float(1) / Float(ring.count)
        let scale = Float(1 / range)
        let data = SendablePointer(stack.data.baseAddress!)
        let target = SendablePointer(out.baseAddress!)
        parallelChunks(stack.nz) { range, _ in
            innerX.withUnsafeBufferPointer { ix in innerY.withUnsafeBufferPointer { iy in
            ringX.withUnsafeBufferPointer { rx in ringY.withUnsafeBufferPointer { ry in
                for k in range {
                    let base = per * k
                    for j in 0..<ny {
                        for i in 0..<nx {
                            var a: Float = 0, b: Float = 0
                            for n in 0..<ix.count {
                                let x = min(max(i + ix[n], 0), nx - 1), y = min(max(j + iy[n], 0), ny - 1)
                                a += data.pointer[base + x + nx * y]
                            }
                            for n in 0..<rx.count {
                                let x = min(max(i + rx[n], 0), nx - 1), y = min(max(j + ry[n], 0), ny - 1)
                                b += data.pointer[base + x + nx * y]
                            }
                            target.pointer[base + i + nx * j] = (b * wRing - a * wIn) * scale
                        }
                    }
                }
            } } } }
        }
        let noise = Double(stats.noise) / range * (1 / Double(inner.count) + 1 / Double(ring.count)).squareRoot()
        return (out, max(noise, 1e-9))
    }

    /// Best path through the score maps (sign applied for the polarity), by dynamic
    /// programming over all pixels of consecutive slices. `anchor`: (slice, pixel) the path
    /// must pass within 3 mm of. Returns the pixel per slice and the path's total objective.
    static func bestPath(_ scores: UnsafeMutableBufferPointer<Float>, sign: Float, stack: AxialStack,
                         anchor: (k: Int, p: SIMD2<Double>)?) -> (path: [Int], objective: Double) {
        let nx = stack.nx, ny = stack.ny, nz = stack.nz, per = nx * ny
        let pix = min(stack.dx, stack.dy)
        let window = max(1, min(24, Int((stack.dz / pix).rounded(.up)) + 1))
        let kappa = Float(slopePenalty / stack.dz)
        let dzf = Float(stack.dz)
        let dxf = Float(stack.dx), dyf = Float(stack.dy)
        var total = [Float](repeating: 0, count: per)
        let back = UnsafeMutableBufferPointer<Int32>.allocate(capacity: per * nz)
        defer { back.deallocate() }
        func unary(_ k: Int, _ p: Int) -> Float {
            var s = sign * scores[per * k + p] * dzf
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

    /// Detects the cord's centre on every slice. `polarity` nil: both are tried and the
    /// one whose best path scores higher is kept.
    static func detect(_ stack: AxialStack, polarity: CordPolarity?, anchor: (k: Int, p: SIMD2<Double>)?) -> AxialCentres {
        let (scores, noise) = scoreMaps(stack)
        defer { scores.deallocate() }
        let candidates = polarity.map { [$0] } ?? CordPolarity.allCases
        var best: (path: [Int], objective: Double, polarity: CordPolarity)?
        for pol in candidates {
            let r = bestPath(scores, sign: pol.sign, stack: stack, anchor: anchor)
            if best == nil || r.objective > best!.objective { best = (r.path, r.objective, pol) }
        }
        let chosen = best!
        let nx = stack.nx, ny = stack.ny, per = nx * ny
        var centres: [SIMD2<Double>?] = []
        var significance: [Double] = []
        for k in 0..<stack.nz {
            let p = chosen.path[k], i = p % nx, j = p / nx
            @inline(__always) func s(_ a: Int, _ b: Int) -> Double {
                Double(chosen.polarity.sign * scores[per * k + min(max(a, 0), nx - 1) + nx * min(max(b, 0), ny - 1)])
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
        return AxialCentres(centres: centres, significance: significance, polarity: chosen.polarity)
    }
}

/// A raw pointer that workers write to at disjoint indices.
struct SendablePointer<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
    init(_ p: UnsafeMutablePointer<T>) { pointer = p }
}
