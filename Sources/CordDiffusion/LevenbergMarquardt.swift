// A small Levenberg–Marquardt solver for per-voxel models with box constraints.
import CordCore

/// A weighted non-linear least-squares problem: minimise Σ rᵢ² with rᵢ = √wᵢ·(yᵢ − fᵢ(p)).
protocol LeastSquaresProblem: AnyObject {
    var parameterCount: Int { get }
    var residualCount: Int { get }
    /// Writes the weighted residuals and, when `jacobian` is non-nil, the weighted model
    /// derivatives ∂(√wᵢ·fᵢ)/∂pⱼ (row-major, residualCount × parameterCount).
    func evaluate(_ p: UnsafePointer<Double>, residuals: UnsafeMutablePointer<Double>, jacobian: UnsafeMutablePointer<Double>?)
    /// Moves `p` into the feasible box (bounds, positivity).
    func project(_ p: UnsafeMutablePointer<Double>)
}

/// Projected Levenberg–Marquardt (Marquardt 1963, SIAM J Appl Math 11:431) with scratch
/// sized once for at most `maxParameters` unknowns and `maxResiduals` residuals.
final class LevenbergMarquardt {
    let maxP: Int, maxR: Int
    let r, rTrial, jac, jtj, jtr, trial, ones: UnsafeMutablePointer<Double>

    init(maxParameters: Int, maxResiduals: Int) {
        maxP = maxParameters; maxR = maxResiduals
        func buf(_ n: Int) -> UnsafeMutablePointer<Double> { let p = UnsafeMutablePointer<Double>.allocate(capacity: max(n, 1)); p.initialize(repeating: 0, count: max(n, 1)); return p }
        r = buf(maxR); rTrial = buf(maxR); jac = buf(maxR * maxP); jtj = buf(maxP * maxP); jtr = buf(maxP); trial = buf(maxP)
        ones = buf(maxR)
        for i in 0..<maxR { ones[i] = 1 }
    }
    deinit { for p in [r, rTrial, jac, jtj, jtr, trial, ones] { p.deallocate() } }

    /// Minimises from `p` (updated in place); returns the final Σ r².
    @discardableResult
    func minimise<P: LeastSquaresProblem>(_ problem: P, _ p: UnsafeMutablePointer<Double>, iterations: Int = 50,
                                          relativeTolerance: Double = 1e-12) -> Double {
        let np = problem.parameterCount, nr = problem.residualCount
        precondition(np <= maxP && nr <= maxR, "problem larger than the solver's scratch")
        problem.project(p)
        problem.evaluate(p, residuals: r, jacobian: jac)
        var cost = 0.0
        for i in 0..<nr { cost += r[i] * r[i] }
        var lambda = 1e-3
        var recompute = false
        for _ in 0..<iterations {
            if recompute { problem.evaluate(p, residuals: r, jacobian: jac); recompute = false }
            // J·δ ≈ r: the Jacobian rows are model derivatives, the residual is data − model.
            normalEquations(jac, rows: nr, cols: np, weights: ones, values: r, ata: jtj, aty: jtr, damping: lambda)
            for j in 0..<np where jtj[j * np + j] == 0 { jtj[j * np + j] = 1e-30 }
            guard choleskySolve(jtj, jtr, np) else { lambda *= 10; if lambda > 1e10 { break }; continue }
            for j in 0..<np { trial[j] = p[j] + jtr[j] }
            problem.project(trial)
            problem.evaluate(trial, residuals: rTrial, jacobian: nil)
            var c = 0.0
            for i in 0..<nr { c += rTrial[i] * rTrial[i] }
            if c < cost {
                let gain = (cost - c) / max(cost, 1e-300)
                for j in 0..<np { p[j] = trial[j] }
                cost = c
                recompute = true
                lambda = max(lambda / 10, 1e-12)
                if gain < relativeTolerance { break }
            } else {
                lambda *= 10
                if lambda > 1e10 { break }
            }
        }
        return cost
    }
}
