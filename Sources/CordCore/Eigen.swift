// Eigendecomposition of symmetric 3×3 matrices (diffusion tensors, structure tensors).

/// Eigenvalues (descending) and unit eigenvectors of a symmetric 3×3 matrix.
public struct SymmetricEigen3: Sendable {
    public let values: SIMD3<Double>
    /// Eigenvectors matching `values`, as columns 0, 1, 2.
    public let vectors: Mat3

    /// Cyclic Jacobi rotations (Golub & Van Loan, Matrix Computations, §8.5); converges to
    /// machine precision in a few sweeps for 3×3 matrices. Only the upper triangle is read.
    public init(_ m: Mat3) {
        var a = m
        a[1, 0] = a[0, 1]; a[2, 0] = a[0, 2]; a[2, 1] = a[1, 2]
        var v = Mat3.identity
        for _ in 0..<50 {
            let off = a[0, 1] * a[0, 1] + a[0, 2] * a[0, 2] + a[1, 2] * a[1, 2]
            if off < 1e-30 * max(1e-300, a.inner(a)) { break }
            for (p, q) in [(0, 1), (0, 2), (1, 2)] where a[p, q] != 0 {
                let theta = (a[q, q] - a[p, p]) / (2 * a[p, q])
                let t = (theta >= 0 ? 1 : -1) / (abs(theta) + (theta * theta + 1).squareRoot())
                let c = 1 / (t * t + 1).squareRoot(), s = t * c
                for k in 0..<3 {  // A ← Jᵀ A J
                    let akp = a[k, p], akq = a[k, q]
                    a[k, p] = c * akp - s * akq; a[k, q] = s * akp + c * akq
                }
                for k in 0..<3 {
                    let apk = a[p, k], aqk = a[q, k]
                    a[p, k] = c * apk - s * aqk; a[q, k] = s * apk + c * aqk
                }
                for k in 0..<3 {
                    let vkp = v[k, p], vkq = v[k, q]
                    v[k, p] = c * vkp - s * vkq; v[k, q] = s * vkp + c * vkq
                }
            }
        }
        let order = [0, 1, 2].sorted { a[$0, $0] > a[$1, $1] }
        values = SIMD3(a[order[0], order[0]], a[order[1], order[1]], a[order[2], order[2]])
        vectors = Mat3(columns: v.column(order[0]), v.column(order[1]), v.column(order[2]))
    }
}
