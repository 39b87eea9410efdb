// Centred 1D FFTs along one axis of a 2D complex array (FFTW, double precision), and the small
// complex linear algebra the EPI chain needs (Cholesky, Hermitian power iteration).
@preconcurrency import CFFTW
import CordCore
import Foundation

public typealias ComplexD = Complex<Double>

/// Centred discrete Fourier transforms: k-space index N/2 ↔ image index N/2 (ISMRMRD's
/// convention: the FOV centre is voxel N/2). `inverse` is k-space → image, scaled by 1/√N
/// in both directions so that white noise keeps its variance.
enum CentredFFT {
    /// Transforms `rows` arrays of `n` points stored contiguously (axis 0) or `n` points with
    /// stride `rows` (axis 1) in an `n × rows` / `rows × n` layout.
    static func transform(_ data: inout [ComplexD], n: Int, count: Int, stride: Int, distance: Int, inverse: Bool) {
        guard n > 1, count > 0 else { return }
        NumericLibraries.configure()
        // Centring: multiply by (−1)^index before and after (exact for even n); for odd n shift explicitly.
        if n % 2 == 0 {
            data.withUnsafeMutableBufferPointer { p in
                for c in 0..<count {
                    for i in Swift.stride(from: 1, to: n, by: 2) { let o = c * distance + i * stride; p[o] = -p[o] }
                }
            }
        } else {
            shift(&data, n: n, count: count, stride: stride, distance: distance, by: -(n / 2))
        }
        data.withUnsafeMutableBytes { raw in
            let p = raw.baseAddress!.assumingMemoryBound(to: fftw_complex.self)
            var dims = [Int32(n)]
            let plan = fftw_plan_many_dft(1, &dims, Int32(count), p, nil, Int32(stride), Int32(distance),
                                          p, nil, Int32(stride), Int32(distance),
                                          inverse ? FFTW_BACKWARD : FFTW_FORWARD, UInt32(FFTW_ESTIMATE))
            if let plan { fftw_execute(plan); fftw_destroy_plan(plan) }
        }
        let s = 1 / Double(n).squareRoot()
        if n % 2 == 0 {
            // (−1)^(k+N/2) after the transform, with the 1/√N scale.
            let sign = (n / 2) % 2 == 0 ? 1.0 : -1.0
            data.withUnsafeMutableBufferPointer { p in
                for c in 0..<count {
                    for i in 0..<n {
                        let o = c * distance + i * stride
                        let f = (i % 2 == 0 ? sign : -sign) * s
                        p[o] = ComplexD(p[o].real * f, p[o].imaginary * f)
                    }
                }
            }
        } else {
            shift(&data, n: n, count: count, stride: stride, distance: distance, by: n / 2)
            for i in data.indices { data[i] = ComplexD(data[i].real * s, data[i].imaginary * s) }
        }
    }

    private static func shift(_ data: inout [ComplexD], n: Int, count: Int, stride: Int, distance: Int, by k: Int) {
        var tmp = [ComplexD](repeating: .zero, count: n)
        for c in 0..<count {
            for i in 0..<n { tmp[((i + k) % n + n) % n] = data[c * distance + i * stride] }
            for i in 0..<n { data[c * distance + i * stride] = tmp[i] }
        }
    }

    /// Along x (contiguous) of an nx × ny array.
    static func alongX(_ d: inout [ComplexD], nx: Int, ny: Int, inverse: Bool) {
        transform(&d, n: nx, count: ny, stride: 1, distance: nx, inverse: inverse)
    }
    /// Along y (stride nx) of an nx × ny array.
    static func alongY(_ d: inout [ComplexD], nx: Int, ny: Int, inverse: Bool) {
        transform(&d, n: ny, count: nx, stride: nx, distance: 1, inverse: inverse)
    }
}

// MARK: - Small dense linear algebra

enum SmallLinearAlgebra {
    /// Lower Cholesky factor of a Hermitian positive-definite n×n matrix (row-major), or nil.
    static func cholesky(_ a: [ComplexD], n: Int) -> [ComplexD]? {
        var l = [ComplexD](repeating: .zero, count: n * n)
        for j in 0..<n {
            var d = a[j * n + j].real
            for k in 0..<j { d -= l[j * n + k].lengthSquared }
            guard d > 0, d.isFinite else { return nil }
            let ljj = d.squareRoot()
            l[j * n + j] = ComplexD(ljj, 0)
            for i in (j + 1)..<max(j + 1, n) {
                var s = a[i * n + j]
                for k in 0..<j { s = s - l[i * n + k] * l[j * n + k].conjugate }
                l[i * n + j] = ComplexD(s.real / ljj, s.imaginary / ljj)
            }
        }
        return l
    }

    /// Inverse of a lower-triangular n×n matrix (row-major).
    static func invertLower(_ l: [ComplexD], n: Int) -> [ComplexD] {
        var inv = [ComplexD](repeating: .zero, count: n * n)
        for i in 0..<n {
            inv[i * n + i] = ComplexD(1, 0) / l[i * n + i]
            for j in 0..<i {
                var s = ComplexD.zero
                for k in j..<i { s = s + l[i * n + k] * inv[k * n + j] }
                inv[i * n + j] = -(s / l[i * n + i])
            }
        }
        return inv
    }

    /// Solves the real symmetric positive-definite system A x = B for several right-hand sides
    /// (A n×n, B n×m, row-major) by Cholesky; nil when A is not positive definite.
    static func solveSPD(_ a: [Double], n: Int, _ b: [Double], m: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: n * n)
        for j in 0..<n {
            var d = a[j * n + j]
            for k in 0..<j { d -= l[j * n + k] * l[j * n + k] }
            guard d > 0 else { return nil }
            let ljj = d.squareRoot(); l[j * n + j] = ljj
            for i in (j + 1)..<max(j + 1, n) {
                var s = a[i * n + j]
                for k in 0..<j { s -= l[i * n + k] * l[j * n + k] }
                l[i * n + j] = s / ljj
            }
        }
        var x = b
        for c in 0..<m {
            for i in 0..<n {
                var s = x[i * m + c]
                for k in 0..<i { s -= l[i * n + k] * x[k * m + c] }
                x[i * m + c] = s / l[i * n + i]
            }
            for i in stride(from: n - 1, through: 0, by: -1) {
                var s = x[i * m + c]
                for k in (i + 1)..<max(i + 1, n) { s -= l[k * n + i] * x[k * m + c] }
                x[i * m + c] = s / l[i * n + i]
            }
        }
        return x
    }

    /// Dominant eigenvector of a Hermitian n×n matrix by power iteration (unit norm).
    static func dominantEigenvector(_ a: [ComplexD], n: Int, iterations: Int = 12, start: [ComplexD]) -> [ComplexD] {
        var v = start
        var w = [ComplexD](repeating: .zero, count: n)
        for _ in 0..<iterations {
            for i in 0..<n {
                var s = ComplexD.zero
                for k in 0..<n { s = s + a[i * n + k] * v[k] }
                w[i] = s
            }
            let norm = w.reduce(0) { $0 + $1.lengthSquared }.squareRoot()
            guard norm > 0 else { return v }
            for i in 0..<n { v[i] = ComplexD(w[i].real / norm, w[i].imaginary / norm) }
        }
        return v
    }
}
