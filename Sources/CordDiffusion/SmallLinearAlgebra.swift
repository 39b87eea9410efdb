// Small dense linear algebra on raw buffers: per-voxel normal equations without allocation.
import CordCore

/// Solves the symmetric positive definite system A x = b in place by Cholesky
/// factorisation (A is n×n, row-major, overwritten by its factor; b becomes x).
/// Returns false when a pivot is not positive (relative to the largest diagonal entry),
/// i.e. the system is singular or indefinite to working precision.
@inline(__always)
func choleskySolve(_ a: UnsafeMutablePointer<Double>, _ b: UnsafeMutablePointer<Double>, _ n: Int,
                   relativeTolerance: Double = 1e-13) -> Bool {
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
    for i in 0..<n {  // L y = b
        var s = b[i]
        for k in 0..<i { s -= a[i * n + k] * b[k] }
        b[i] = s / a[i * n + i]
    }
    var i = n - 1
    while i >= 0 {  // Lᵀ x = y
        var s = b[i]
        for k in (i + 1)..<max(i + 1, n) { s -= a[k * n + i] * b[k] }
        b[i] = s / a[i * n + i]
        i -= 1
    }
    return true
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
