// Small dense linear algebra on raw buffers: per-voxel normal equations without allocation.
import CordCore

/// Solves the symmetric positive definite system A x = b in place by Cholesky
/// factorisation (A is n×n, row-major, overwritten by its lower factor L, which
/// `choleskySubstitute` can reuse; b becomes x). Returns false when a pivot is not positive
/// (relative to the largest diagonal entry), i.e. the system is singular or indefinite to
/// working precision.
@inline(__always)
func choleskySolve(_ a: UnsafeMutablePointer<Double>, _ b: UnsafeMutablePointer<Double>, _ n: Int,
                   relativeTolerance: Double = 1e-13) -> Bool {
    guard choleskyFactor(a, n, relativeTolerance: relativeTolerance) else { return false }
    choleskySubstitute(a, b, n)
    return true
}

/// Overwrites the lower triangle of A (n×n, row-major) by its Cholesky factor L.
@inline(__always)
func choleskyFactor(_ a: UnsafeMutablePointer<Double>, _ n: Int, relativeTolerance: Double = 1e-13) -> Bool {
    var maxDiag = 0.0
    for i in 0..<n { maxDiag = max(maxDiag, a[i * n + i]) }
    guard maxDiag > 0 else { return false }
    let floor = maxDiag * relativeTolerance
    for j in 0..<n {
        var d = a[j * n + j]
        for k in 0..<j { d -= a[j * n + k] * a[j * n + k] }
        guard d > floor else { return false }
        let l = d.squareRoot()
        a[j * n + j] = l
        for i in (j + 1)..<max(j + 1, n) {
            var s = a[i * n + j]
            for k in 0..<j { s -= a[i * n + k] * a[j * n + k] }
            a[i * n + j] = s / l
        }
    }
    return true
}

/// Solves L Lᵀ x = b in place with a factor from `choleskyFactor`.
@inline(__always)
func choleskySubstitute(_ l: UnsafePointer<Double>, _ b: UnsafeMutablePointer<Double>, _ n: Int) {
    for i in 0..<n {
        var s = b[i]
        for k in 0..<i { s -= l[i * n + k] * b[k] }
        b[i] = s / l[i * n + i]
    }
    var i = n - 1
    while i >= 0 {
        var s = b[i]
        for k in (i + 1)..<max(i + 1, n) { s -= l[k * n + i] * b[k] }
        b[i] = s / l[i * n + i]
        i -= 1
    }
}

/// Accumulates the weighted normal equations XᵀWX β = XᵀWy for a design X (m×p,
/// row-major) into `ata` (p×p) and `aty` (p), with optional Levenberg–Marquardt damping λ
/// on the diagonal (multiplicative, Marquardt 1963).
@inline(__always)
func normalEquations(_ x: UnsafePointer<Double>, rows m: Int, cols p: Int,
                     weights w: UnsafePointer<Double>, values y: UnsafePointer<Double>,
                     ata: UnsafeMutablePointer<Double>, aty: UnsafeMutablePointer<Double>, damping: Double = 0) {
    for i in 0..<(p * p) { ata[i] = 0 }
    for i in 0..<p { aty[i] = 0 }
    for r in 0..<m {
        let wr = w[r]
        if wr == 0 { continue }
        let row = x + r * p
        let wy = wr * y[r]
        for i in 0..<p {
            let wi = wr * row[i]
            aty[i] += row[i] * wy
            for j in 0...i { ata[i * p + j] += wi * row[j] }
        }
    }
    for i in 0..<p {
        for j in 0..<i { ata[j * p + i] = ata[i * p + j] }
        ata[i * p + i] *= 1 + damping
    }
}

// MARK: - Symmetric tensors in Mandel notation

/// Mandel 6-vector of a symmetric 3×3 tensor: (xx, yy, zz, √2·yz, √2·xz, √2·xy). The
/// Euclidean inner product of two such vectors equals the Frobenius product ⟨A, B⟩
/// (Westin et al. 2016, NeuroImage 135:345, appendix).
public enum Mandel {
    public static let root2 = 2.0.squareRoot()
    @inline(__always) public static func vector(_ m: Mat3) -> (Double, Double, Double, Double, Double, Double) {
        (m[0, 0], m[1, 1], m[2, 2], root2 * m[1, 2], root2 * m[0, 2], root2 * m[0, 1])
    }
    @inline(__always) public static func tensor(_ v: UnsafePointer<Double>) -> Mat3 {
        let s = 1 / root2
        return Mat3(rows: SIMD3(v[0], s * v[5], s * v[4]), SIMD3(s * v[5], v[1], s * v[3]), SIMD3(s * v[4], s * v[3], v[2]))
    }
}

/// Scalar invariants of a diffusion tensor (µm²/ms) from its eigenvalues (Basser &
/// Pierpaoli 1996, J Magn Reson B 111:209).
public struct TensorInvariants: Sendable, Equatable {
    public var md: Double, fa: Double, ad: Double, rd: Double
    public init(eigenvalues e: SIMD3<Double>) {
        md = e.sum() / 3
        ad = e.x
        rd = (e.y + e.z) / 2
        let dev = e - SIMD3(repeating: md)
        let norm = (e * e).sum()
        fa = norm > 0 ? min(1, (1.5 * (dev * dev).sum() / norm).squareRoot()) : 0
    }
}

/// Σᵣ aᵣbᵣ over `n` values with four SIMD accumulators (the reduction is reassociated, so
/// results can differ from a sequential sum in the last bits).
@inline(__always)
func dotProduct(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ n: Int) -> Double {
    var acc0 = SIMD4<Double>(), acc1 = SIMD4<Double>()
    var r = 0
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    while r + 8 <= n {
        acc0 += ra.loadUnaligned(fromByteOffset: r * 8, as: SIMD4<Double>.self) * rb.loadUnaligned(fromByteOffset: r * 8, as: SIMD4<Double>.self)
        acc1 += ra.loadUnaligned(fromByteOffset: r * 8 + 32, as: SIMD4<Double>.self) * rb.loadUnaligned(fromByteOffset: r * 8 + 32, as: SIMD4<Double>.self)
        r += 8
    }
    var s = (acc0 + acc1).sum()
    while r < n { s += a[r] * b[r]; r += 1 }
    return s
}

/// The weighted normal equations of a fixed design X (m×p), fast: the products xᵣᵢxᵣⱼ of
/// every lower-triangle pair are precomputed, pair-major, so XᵀWX is p(p+1)/2 dot products
/// of length m with the weights, and XᵀWy is p dot products with w∘y. One per worker.
final class WeightedGram {
    let m: Int, p: Int
    let pairs: UnsafeMutablePointer<Double>   // p(p+1)/2 × m
    let columns: UnsafeMutablePointer<Double> // p × m (Xᵀ)
    let wy: UnsafeMutablePointer<Double>

    init(design x: UnsafePointer<Double>, rows m: Int, cols p: Int) {
        self.m = m; self.p = p
        let np = p * (p + 1) / 2
        pairs = .allocate(capacity: np * m); columns = .allocate(capacity: p * m); wy = .allocate(capacity: m)
        wy.initialize(repeating: 0, count: m)
        var k = 0
        for i in 0..<p {
            for j in 0...i {
                for r in 0..<m { (pairs + k * m + r).initialize(to: x[r * p + i] * x[r * p + j]) }
                k += 1
            }
            for r in 0..<m { (columns + i * m + r).initialize(to: x[r * p + i]) }
        }
    }
    deinit { pairs.deallocate(); columns.deallocate(); wy.deallocate() }

    /// Column i of X dotted with v (Xᵀv)ᵢ.
    @inline(__always) func dotColumn(_ i: Int, _ v: UnsafePointer<Double>) -> Double { dotProduct(columns + i * m, v, m) }

    /// Writes XᵀWX (p×p, full, row-major, diagonal × (1 + damping)) and XᵀWy.
    @inline(__always)
    func accumulate(weights w: UnsafePointer<Double>, values y: UnsafePointer<Double>,
                    ata: UnsafeMutablePointer<Double>, aty: UnsafeMutablePointer<Double>, damping: Double = 0) {
        var k = 0
        for i in 0..<p {
            for j in 0...i {
                let v = dotProduct(pairs + k * m, w, m)
                ata[i * p + j] = v; ata[j * p + i] = v
                k += 1
            }
            ata[i * p + i] *= 1 + damping
        }
        for r in 0..<m { wy[r] = w[r] * y[r] }
        for i in 0..<p { aty[i] = dotProduct(columns + i * m, wy, m) }
    }
}

/// e^x to about 2·10⁻¹⁰ relative error, for fit weights and predicted signals in per-voxel
/// loops: x = n·ln 2 + r with |r| ≤ ln2/2, e^r by its degree-9 Taylor polynomial, 2ⁿ
/// through the exponent bits. Clamped to [e^−700, e^700].
@inline(__always)
func fastExp(_ x: Double) -> Double {
    let xc = min(max(x, -700), 700)
    let n = (xc * 1.4426950408889634).rounded(.toNearestOrEven)
    let r = xc - n * 0.6931471805599453
    var p = 1.0 / 362880
    p = p * r + 1.0 / 40320; p = p * r + 1.0 / 5040; p = p * r + 1.0 / 720; p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24; p = p * r + 1.0 / 6; p = p * r + 0.5; p = p * r + 1; p = p * r + 1
    return p * Double(bitPattern: UInt64(Int64(n) + 1023) << 52)
}
