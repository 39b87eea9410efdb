// The spherical mean technique for linear-encoding multi-shell data.
import CordCore
#if canImport(Glibc)
import Glibc
#endif

/// Outputs of the SMT fit, per voxel.
public enum SMTOutput: Int, CaseIterable, Sendable {
    case s0 = 0, axialDiffusivity, radialDiffusivity, microFA, md
    public static let count = 5
}

/// The spherical mean technique (Kaden, Kruggel & Alexander 2016, MRM 75:1752): the
/// direction-averaged linear-encoding signal of one axisymmetric microscopic tensor
/// (λ∥, λ⊥) with any orientation distribution,
///
///   S̄(b)/S₀ = e^(−bλ⊥)·√π·erf(√(b(λ∥−λ⊥)))/(2√(b(λ∥−λ⊥))),
///
/// fitted to the shell means normalised by the mean b = 0 signal, with
/// 0 ≤ λ⊥ ≤ λ∥ ≤ 3.05 µm²/ms (free water at 37 °C bounds both). μFA is the FA of
/// (λ∥, λ⊥, λ⊥). Model-dependent: it assumes a single microscopic tensor per voxel (no
/// free water, no spread of diffusivities), so partial volume with CSF lowers μFA.
final class SMTFitter: VoxelFitter, LeastSquaresProblem {
    let shells: PowderShells
    let mean, weight: UnsafeMutablePointer<Double>
    let params: UnsafeMutablePointer<Double>
    let lm: LevenbergMarquardt
    var parameterCount: Int { 2 }
    var residualCount: Int { shells.count - 1 }
    static let maximumDiffusivity = 3.05

    init(_ shells: PowderShells) {
        self.shells = shells
        let k = shells.count
        mean = .allocate(capacity: k); mean.initialize(repeating: 0, count: k)
        weight = .allocate(capacity: k); weight.initialize(repeating: 0, count: k)
        for i in 0..<k { weight[i] = Double(shells.size(i)).squareRoot() }
        params = .allocate(capacity: 2); params.initialize(repeating: 0, count: 2)
        lm = LevenbergMarquardt(maxParameters: 2, maxResiduals: k)
    }
    deinit { mean.deallocate(); weight.deallocate(); params.deallocate() }

    /// g(z) = √π·erf(√z)/(2√z) and g′(z) = (e^(−z) − g)/(2z), with series near 0.
    @inline(__always) static func kernel(_ z: Double) -> (g: Double, dg: Double) {
        if z < 1e-4 { return (1 - z / 3 + z * z / 10, -1.0 / 3 + z / 5) }
        let u = z.squareRoot()
        let g = Double.pi.squareRoot() * erf(u) / (2 * u)
        return (g, (exp(-z) - g) / (2 * z))
    }

    /// Parameters: p₀ = λ⊥, p₁ = λ∥ − λ⊥.
    func project(_ p: UnsafeMutablePointer<Double>) {
        p[0] = min(max(p[0], 0), SMTFitter.maximumDiffusivity)
        p[1] = min(max(p[1], 0), SMTFitter.maximumDiffusivity - p[0])
    }
    func evaluate(_ p: UnsafePointer<Double>, residuals: UnsafeMutablePointer<Double>, jacobian: UnsafeMutablePointer<Double>?) {
        for k in 1..<shells.count {
            let b = shells.b[k]
            let e = exp(-b * p[0])
            let (g, dg) = SMTFitter.kernel(b * p[1])
            let f = e * g
            residuals[k - 1] = weight[k] * (mean[k] - f)
            if let j = jacobian {
                j[(k - 1) * 2] = weight[k] * (-b * f)
                j[(k - 1) * 2 + 1] = weight[k] * e * b * dg
            }
        }
    }

    func fit(_ signal: UnsafePointer<Double>, _ out: UnsafeMutablePointer<Double>) {
        for o in 0..<SMTOutput.count { out[o] = 0 }
        shells.average(signal, into: mean)
        let s0 = mean[0]
        guard s0 > 0 else { return }
        for k in 0..<shells.count { mean[k] /= s0 }
        // Coarse grid for a start inside the right basin, then Levenberg–Marquardt.
        var best = Double.infinity, bestP = (0.5, 1.0)
        let r = lm.r
        for i in 0..<16 {
            for j in 0..<16 {
                params[0] = Double(i) * 0.1; params[1] = Double(j) * 0.2
                project(params)
                evaluate(params, residuals: r, jacobian: nil)
                var c = 0.0
                for q in 0..<residualCount { c += r[q] * r[q] }
                if c < best { best = c; bestP = (params[0], params[1]) }
            }
        }
        params[0] = bestP.0; params[1] = bestP.1
        lm.minimise(self, params, iterations: 100)
        let perp = params[0], par = params[0] + params[1]
        out[0] = s0; out[1] = par; out[2] = perp
        let norm = (par * par + 2 * perp * perp).squareRoot()
        out[3] = norm > 0 ? (par - perp) / norm : 0
        out[4] = (par + 2 * perp) / 3
    }
}
