// LAPACK eigensolvers with reusable workspaces: symmetric, top-k symmetric, Hermitian.
import CLAPACK

// MARK: - Symmetric eigendecomposition (LAPACK dsyevd)

/// Eigendecomposition of real symmetric n×n matrices with LAPACK `dsyevd`, reusing its
/// workspace across calls (one instance per worker; not shared between threads).
public final class SymmetricEigenSolver {
    public let n: Int
    private var work: [Double]
    private var iwork: [Int32]
    /// Eigenvalues of the last call, ascending.
    public private(set) var values: [Double]

    public init(size n: Int) {
        NumericLibraries.configure()
        self.n = n
        values = [Double](repeating: 0, count: n)
        // Query the optimal workspace once.
        var a = [Double](repeating: 0, count: max(n * n, 1)), w = [Double](repeating: 0, count: max(n, 1))
        var lwork = 0.0, liwork: Int32 = 0
        _ = LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "V")), CChar(UInt8(ascii: "L")),
                                Int32(n), &a, Int32(max(n, 1)), &w, &lwork, -1, &liwork, -1)
        work = [Double](repeating: 0, count: max(CheckedNumber.clamped(lwork, to: 0...(1 << 40)), 1 + 6 * n + 2 * n * n))
        iwork = [Int32](repeating: 0, count: max(Int(liwork), 3 + 5 * n))
    }

    /// Replaces `matrix` (n×n, column-major; only the lower triangle is read) by its
    /// eigenvectors as columns, ordered like `values` (ascending). Returns false when LAPACK
    /// reports a failure (non-convergence).
    @discardableResult
    public func decompose(_ matrix: UnsafeMutablePointer<Double>) -> Bool {
        let info = values.withUnsafeMutableBufferPointer { w in
            LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "V")), CChar(UInt8(ascii: "L")),
                                Int32(n), matrix, Int32(n), w.baseAddress, &work, Int32(work.count),
                                &iwork, Int32(iwork.count))
        }
        return info == 0
    }
}

/// All eigenvalues of a real symmetric matrix but eigenvectors for only the k largest, with
/// one Householder tridiagonalisation (`dsytrd`): eigenvalues by `dsterf`, the selected
/// eigenvalues by bisection (`dstebz`), their tridiagonal eigenvectors by inverse iteration
/// (`dstein`) and the back-transformation (`dormtr`). Much cheaper than a full `dsyevd` when
/// k ≪ n, as in MP-PCA where the noise components are discarded. One instance per worker.
public final class TopEigenSolver {
    public let n: Int
    /// All eigenvalues of the last call, ascending.
    public private(set) var values: [Double]
    private var d: [Double], e: [Double], dCopy: [Double], eCopy: [Double], tau: [Double]
    private var work: [Double], iwork: [Int32], w: [Double], iblock: [Int32], isplit: [Int32], ifail: [Int32]

    public init(size n: Int) {
        NumericLibraries.configure()
        self.n = n
        values = [Double](repeating: 0, count: n)
        d = values; dCopy = values; w = values
        e = [Double](repeating: 0, count: max(n - 1, 1)); eCopy = e; tau = e
        var a = [Double](repeating: 0, count: max(n * n, 1)), q = 0.0
        _ = LAPACKE_dsytrd_work(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "L")), Int32(n), &a, Int32(max(n, 1)), &d, &e, &tau, &q, -1)
        work = [Double](repeating: 0, count: max(CheckedNumber.clamped(q, to: 0...(1 << 40)), 5 * n, n * 64, 1))
        iwork = [Int32](repeating: 0, count: max(3 * n, 1))
        iblock = [Int32](repeating: 0, count: max(n, 1)); isplit = iblock; ifail = iblock
    }

    /// Step 1: reduces `a` (n×n column-major, lower triangle read; overwritten) and computes
    /// all eigenvalues into `values`. False when LAPACK fails.
    public func eigenvalues(_ a: UnsafeMutablePointer<Double>) -> Bool {
        let lw = Int32(work.count)
        guard LAPACKE_dsytrd_work(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "L")), Int32(n), a, Int32(n), &d, &e, &tau, &work, lw) == 0 else { return false }
        for i in 0..<n { dCopy[i] = d[i] }
        for i in 0..<(n - 1) { eCopy[i] = e[i] }
        guard LAPACKE_dsterf_work(Int32(n), &dCopy, &eCopy) == 0 else { return false }
        for i in 0..<n { values[i] = dCopy[i] }
        return true
    }

    /// Step 2 (after `eigenvalues` on the same `a`): eigenvectors of the k largest eigenvalues
    /// into `vectors` (n×k column-major, ascending order like `values`).
    public func topVectors(_ a: UnsafeMutablePointer<Double>, count k: Int, into vectors: UnsafeMutablePointer<Double>) -> Bool {
        guard k > 0 else { return true }
        var m: Int32 = 0, nsplit: Int32 = 0
        guard LAPACKE_dstebz_work(CChar(UInt8(ascii: "I")), CChar(UInt8(ascii: "B")), Int32(n), 0, 0, Int32(n - k + 1), Int32(n),
                                  0, d, e, &m, &nsplit, &w, &iblock, &isplit, &work, &iwork) == 0, Int(m) == k else { return false }
        guard LAPACKE_dstein_work(LAPACK_COL_MAJOR, Int32(n), d, e, m, w, iblock, isplit, vectors, Int32(n), &work, &iwork, &ifail) == 0 else { return false }
        let lw = Int32(work.count)
        return LAPACKE_dormtr_work(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "L")), CChar(UInt8(ascii: "L")), CChar(UInt8(ascii: "N")),
                                   Int32(n), m, a, Int32(n), tau, vectors, Int32(n), &work, lw) == 0
    }
}

// MARK: - Hermitian eigendecomposition (LAPACK zheevd)

/// Eigendecomposition of complex Hermitian n×n matrices with LAPACK `zheevd`, reusing its
/// workspace (one instance per worker).
public final class HermitianEigenSolver {
    public let n: Int
    private var work: [Complex<Double>]
    private var rwork: [Double]
    private var iwork: [Int32]
    /// Eigenvalues of the last call, ascending (real).
    public private(set) var values: [Double]

    public init(size n: Int) {
        NumericLibraries.configure()
        self.n = n
        values = [Double](repeating: 0, count: n)
        // Workspace sizes from LAPACK's documentation for JOBZ = 'V'.
        work = [Complex<Double>](repeating: .zero, count: max(1, 2 * n + n * n))
        rwork = [Double](repeating: 0, count: max(1, 1 + 5 * n + 2 * n * n))
        iwork = [Int32](repeating: 0, count: max(1, 3 + 5 * n))
    }

    /// Replaces `matrix` (n×n, column-major, interleaved real/imaginary; lower triangle read)
    /// by its eigenvectors as columns, ascending like `values`. False when LAPACK fails.
    @discardableResult
    public func decompose(_ matrix: UnsafeMutablePointer<Complex<Double>>) -> Bool {
        let (lw, lr, li) = (Int32(work.count), Int32(rwork.count), Int32(iwork.count))
        let info = values.withUnsafeMutableBufferPointer { w in
            work.withUnsafeMutableBufferPointer { wk in
                LAPACKE_zheevd_work(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "V")), CChar(UInt8(ascii: "L")), Int32(n),
                                    OpaquePointer(matrix), Int32(n), w.baseAddress,
                                    OpaquePointer(wk.baseAddress), lw, &rwork, lr, &iwork, li)
            }
        }
        return info == 0
    }
}
