// In-plane GRAPPA along phase encoding (Griswold et al. 2002 MRM 47:1202): each missing ky
// line is a linear combination, over all coils, of the acquired neighbours in a 2 (ky) × 5 (kx)
// kernel; the weights are fitted on the fully sampled calibration (ACS) lines by Tikhonov-
// regularised least squares. The g-factor map comes from pseudo-replicas (Robson et al. 2008
// MRM 60:895): unit white noise on the acquired samples pushed through the same (linear)
// GRAPPA and coil-combination weights; g = σ_R / (√R · σ_full), σ_full = ‖v‖ = 1 for
// unit-norm combination weights on whitened data.
import CordCore
import Foundation

struct GRAPPAKernel {
    let r: Int            // acceleration (missing lines between acquired ones + 1)
    let channels: Int
    let kx: Int           // kernel half-width along kx
    /// weights[offset][source, target]: offset o = 1…r−1 (target row = acquired row + o);
    /// sources: (2 rows: acquired row, acquired row + r) × (2kx+1 columns) × channels.
    let weights: [[ComplexD]]

    var sourceCount: Int { 2 * (2 * kx + 1) * channels }

    /// Fits the kernel on ACS k-space (nx × rows per coil, coil-major, kx along the fast axis).
    static func fit(acs: [ComplexD], nx: Int, rows: Int, channels nc: Int, acceleration r: Int, kernelHalfWidth kx: Int = 2,
                    lambda: Double = 1e-4) throws -> GRAPPAKernel {
        guard rows > r else {
            throw CordError.invalidValue(what: "GRAPPA", detail: "\(rows) calibration lines cannot calibrate R = \(r) (need more than \(r))")
        }
        let ns = 2 * (2 * kx + 1) * nc
        var all: [[ComplexD]] = []
        for o in 1..<r {
            // Normal equations AᴴA W = AᴴB, accumulated over calibration positions.
            var aha = [ComplexD](repeating: .zero, count: ns * ns)
            var ahb = [ComplexD](repeating: .zero, count: ns * nc)
            var src = [ComplexD](repeating: .zero, count: ns)
            var fits = 0
            for y in 0..<(rows - r) {
                for x in kx..<(nx - kx) {
                    var s = 0
                    for dy in [0, r] { for dx in -kx...kx { for c in 0..<nc { src[s] = acs[(c * rows + y + dy) * nx + x + dx]; s += 1 } } }
                    for i in 0..<ns {
                        let ci = src[i].conjugate
                        for j in 0..<ns { aha[i * ns + j] = aha[i * ns + j] + ci * src[j] }
                        for c in 0..<nc { ahb[i * nc + c] = ahb[i * nc + c] + ci * acs[(c * rows + y + o) * nx + x] }
                    }
                    fits += 1
                }
            }
            guard fits >= ns else {
                throw CordError.invalidValue(what: "GRAPPA", detail: "the calibration region (\(rows) lines × \(nx) columns) is too small for a \(ns)-source kernel")
            }
            let trace = (0..<ns).reduce(0.0) { $0 + aha[$1 * ns + $1].real }
            for i in 0..<ns { aha[i * ns + i] = aha[i * ns + i] + ComplexD(lambda * trace / Double(ns), 0) }
            guard let l = SmallLinearAlgebra.cholesky(aha, n: ns) else {
                throw CordError.invalidValue(what: "GRAPPA", detail: "the calibration data do not determine the kernel (no signal in the ACS lines?)")
            }
            all.append(SmallLinearAlgebra.choleskySolve(l, n: ns, ahb, m: nc))
        }
        return GRAPPAKernel(r: r, channels: nc, kx: kx, weights: all)
    }

    /// Fills missing rows of `k` (nx × ny per coil) between acquired rows spaced by r; returns
    /// the rows now filled.
    func apply(_ k: inout [ComplexD], nx: Int, ny: Int, acquired: [Bool]) -> [Bool] {
        let nc = channels, ns = sourceCount
        var filled = acquired
        var src = [ComplexD](repeating: .zero, count: ns)
        let source = k
        for y in 0..<ny where acquired[y] && y + r < ny && acquired[y + r] {
            for o in 1..<r where !acquired[y + o] {
                let w = weights[o - 1]
                for x in 0..<nx {
                    var s = 0
                    for dy in [0, r] {
                        for dx in -kx...kx {
                            let xx = x + dx
                            for c in 0..<nc { src[s] = (xx >= 0 && xx < nx) ? source[(c * ny + y + dy) * nx + xx] : .zero; s += 1 }
                        }
                    }
                    for c in 0..<nc {
                        var v = ComplexD.zero
                        for i in 0..<ns { v = v + src[i] * w[i * nc + c] }
                        k[(c * ny + y + o) * nx + x] = v
                    }
                }
                filled[y + o] = true
            }
        }
        return filled
    }
}

extension SmallLinearAlgebra {
    /// Solves L Lᴴ X = B (B n×m, row-major) given the lower Cholesky factor L.
    static func choleskySolve(_ l: [ComplexD], n: Int, _ b: [ComplexD], m: Int) -> [ComplexD] {
        var x = b
        for c in 0..<m {
            for i in 0..<n {
                var s = x[i * m + c]
                for k in 0..<i { s = s - l[i * n + k] * x[k * m + c] }
                x[i * m + c] = s / l[i * n + i]
            }
            for i in stride(from: n - 1, through: 0, by: -1) {
                var s = x[i * m + c]
                for k in (i + 1)..<max(i + 1, n) { s = s - l[k * n + i].conjugate * x[k * m + c] }
                x[i * m + c] = s / l[i * n + i]
            }
        }
        return x
    }
}
