// Operators on volumes stored as flat Double buffers: derivatives along the phase-encoding
// lines, the smoothness (Laplacian) operator, Gaussian smoothing, line sampling. Each fans
// out over lines or voxel chunks on both cores; none allocates per voxel.
import CordCore
#if canImport(Glibc)
import Glibc
#endif

/// A buffer of `count` values filled by `body` over `units` work items on all workers.
func parallelFill(_ count: Int, units: Int, minimumChunk: Int = 16,
                  _ body: @Sendable (Range<Int>, UnsafeMutableBufferPointer<Double>) -> Void) -> [Double] {
    let out = SharedBuffer<Double>(repeating: 0, count: count)
    parallelChunks(units, minimumChunk: minimumChunk) { r, _ in body(r, out.pointer) }
    return out.array
}

enum LineOps {
    /// Central difference along the lines (voxel units), one-sided at both ends: D_c v.
    static func derivative(_ v: [Double], _ lines: AxisLines) -> [Double] {
        let n = lines.length, s = lines.stride
        return parallelFill(v.count, units: lines.count) { range, out in
            v.withUnsafeBufferPointer { p in
                for l in range {
                    let o = lines.start(l)
                    out[o] = p[o + s] - p[o]
                    for k in 1..<(n - 1) { out[o + k * s] = 0.5 * (p[o + (k + 1) * s] - p[o + (k - 1) * s]) }
                    out[o + (n - 1) * s] = p[o + (n - 1) * s] - p[o + (n - 2) * s]
                }
            }
        }
    }

    /// The transpose of `derivative`: D_cᵀ u.
    static func derivativeTranspose(_ u: [Double], _ lines: AxisLines) -> [Double] {
        let n = lines.length, s = lines.stride
        return parallelFill(u.count, units: lines.count) { range, out in
            u.withUnsafeBufferPointer { p in
                for l in range {
                    let o = lines.start(l)
                    @inline(__always) func at(_ k: Int) -> Int { o + k * s }
                    // Row 0: −u0 at 0, +u0 at 1. Rows 1…n−2: −½u_k at k−1, +½u_k at k+1. Row n−1: −u at n−2, +u at n−1.
                    for k in 0..<n { out[at(k)] = 0 }
                    out[at(0)] -= p[at(0)]; out[at(1)] += p[at(0)]
                    for k in 1..<(n - 1) {
                        let h = 0.5 * p[at(k)]
                        out[at(k - 1)] -= h; out[at(k + 1)] += h
                    }
                    out[at(n - 2)] -= p[at(n - 1)]; out[at(n - 1)] += p[at(n - 1)]
                }
            }
        }
    }

    /// The first-order smoothness operator Σ_axes w_a D_aᵀ D_a (forward differences,
    /// Neumann boundary), with `weights` = 1/h² per axis (mm⁻²).
    static func laplacian(_ v: [Double], _ grid: Grid, weights: SIMD3<Double>) -> [Double] {
        let nx = grid.nx, ny = grid.ny, nz = grid.nz, plane = nx * ny
        return parallelFill(v.count, units: nz * ny, minimumChunk: 4) { range, out in
            v.withUnsafeBufferPointer { p in
                for row in range {
                    let j = row % ny, k = row / ny
                    let base = row * nx
                    for i in 0..<nx {
                        let c = base + i, x = p[c]
                        var s = 0.0
                        if i > 0 { s += weights.x * (x - p[c - 1]) }
                        if i < nx - 1 { s += weights.x * (x - p[c + 1]) }
                        if j > 0 { s += weights.y * (x - p[c - nx]) }
                        if j < ny - 1 { s += weights.y * (x - p[c + nx]) }
                        if k > 0 { s += weights.z * (x - p[c - plane]) }
                        if k < nz - 1 { s += weights.z * (x - p[c + plane]) }
                        out[c] = s
                    }
                }
            }
        }
    }

    /// ½ Σ_axes w_a |D_a v|²: the smoothness energy matching `laplacian`.
    static func smoothnessEnergy(_ v: [Double], _ grid: Grid, weights: SIMD3<Double>) -> Double {
        let nx = grid.nx, ny = grid.ny, nz = grid.nz, plane = nx * ny
        let partial = parallelFill(nz, units: nz, minimumChunk: 1) { range, out in
            v.withUnsafeBufferPointer { p in
                for k in range {
                    var e = 0.0
                    for j in 0..<ny { for i in 0..<nx {
                        let c = i + nx * j + plane * k, x = p[c]
                        if i < nx - 1 { let d = p[c + 1] - x; e += weights.x * d * d }
                        if j < ny - 1 { let d = p[c + nx] - x; e += weights.y * d * d }
                        if k < nz - 1 { let d = p[c + plane] - x; e += weights.z * d * d }
                    } }
                    out[k] = 0.5 * e
                }
            }
        }
        return partial.reduce(0, +)
    }

    /// Separable Gaussian smoothing with standard deviation `sigma` (voxels per axis; 0 leaves
    /// an axis alone), weights renormalised at the borders.
    static func gaussian(_ v: [Double], _ grid: Grid, sigma: SIMD3<Double>) -> [Double] {
        var cur = v
        for axis in 0..<3 where sigma[axis] > 0.05 {
            let lines = AxisLines(grid, axis: axis)
            let radius = CheckedNumber.clamped(3 * sigma[axis], .up, to: 1...64)
            let kernel = (-radius...radius).map { exp(-0.5 * Double($0 * $0) / (sigma[axis] * sigma[axis])) }
            let n = lines.length, s = lines.stride, input = cur
            cur = parallelFill(v.count, units: lines.count) { range, out in
                input.withUnsafeBufferPointer { p in
                    for l in range {
                        let o = lines.start(l)
                        for k in 0..<n {
                            var acc = 0.0, w = 0.0
                            for t in max(-radius, -k)...min(radius, n - 1 - k) {
                                let kw = kernel[t + radius]
                                acc += kw * p[o + (k + t) * s]; w += kw
                            }
                            out[o + k * s] = acc / w
                        }
                    }
                }
            }
        }
        return cur
    }

    /// Linear interpolation of one line at the continuous voxel position `y` (clamped to the
    /// line: the signal beyond the field of view is taken as the edge voxel's).
    @inline(__always)
    static func sample(_ p: UnsafeBufferPointer<Double>, _ o: Int, _ s: Int, _ n: Int, _ y: Double) -> Double {
        if !(y > 0) { return p[o] }
        if y >= Double(n - 1) { return p[o + (n - 1) * s] }
        let k = CheckedNumber.clamped(y, .down, to: 0...(n - 2))
        let t = y - Double(k)
        return p[o + k * s] * (1 - t) + p[o + (k + 1) * s] * t
    }
}

/// The HySCO barrier ψ(v) = v⁴ / (1 − v²) on the displacement derivative v (Ruthotto et al.
/// 2012, Phys Med Biol 57:5715): zero cost for small v, +∞ as |v| → 1, so both Jacobians
/// 1 ± v stay positive. With its first and second derivatives.
@inline(__always) func barrier(_ v: Double) -> (value: Double, first: Double, second: Double) {
    let v2 = v * v, q = 1 - v2
    guard q > 1e-12 else { return (.infinity, 0, 0) }
    return (v2 * v2 / q, (4 * v2 * v - 2 * v2 * v2 * v) / (q * q), (12 * v2 - 6 * v2 * v2 + 2 * v2 * v2 * v2) / (q * q * q))
}
