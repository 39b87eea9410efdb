// Ordinary least squares for a handful of covariates (normative models).
import CordCore

/// A linear model y = β₀ + Σ βⱼ·(xⱼ − cⱼ) fitted by ordinary least squares, with the
/// covariates centred at `centres` so that β₀ is the prediction at those values. Units of
/// each β are the outcome's unit per covariate unit (e.g. mm² per year of age).
public struct LinearFit: Sendable, Equatable {
    /// Covariate names, in the order of `coefficients.dropFirst()`.
    public var covariates: [String]
    /// Centring values subtracted from each covariate (0 for indicator covariates).
    public var centres: [Double]
    /// β₀ (intercept at the centres) then one β per covariate.
    public var coefficients: [Double]
    /// Standard errors of the coefficients: √(σ̂²·[(XᵀX)⁻¹]ⱼⱼ).
    public var standardErrors: [Double]
    /// Residual SD σ̂ = √(RSS/(n − p)), in the outcome's unit.
    public var residualSD: Double
    /// Subjects used (complete cases) and parameters (intercept included).
    public var n: Int, parameters: Int
    /// Coefficient of determination R².
    public var rSquared: Double
    /// Smallest and largest value of each covariate among the subjects fitted (same order as
    /// `covariates`): the range the model has seen.
    public var lower: [Double] = [], upper: [Double] = []

    /// `x` with each covariate moved into the fitted range [`lower`, `upper`]: the model is
    /// not extrapolated (a 65-year-old patient against volunteers of 19–52 is compared with
    /// the prediction at 52).
    public func clamped(_ x: [Double]) -> [Double] {
        guard lower.count == x.count, upper.count == x.count else { return x }
        return x.indices.map { min(upper[$0], max(lower[$0], x[$0])) }
    }

    /// The fitted value at covariate values `x` (same order as `covariates`).
    public func predict(_ x: [Double]) -> Double {
        precondition(x.count == covariates.count, "predict needs \(covariates.count) covariates, got \(x.count)")
        var y = coefficients[0]
        for j in 0..<x.count { y += coefficients[j + 1] * (x[j] - centres[j]) }
        return y
    }

    /// Fits y on the columns of `x` (one row per subject), each covariate centred at its
    /// `centres` value. Throws when there are not more subjects than parameters or XᵀX is
    /// singular (a covariate that does not vary, or two that are collinear).
    public static func fit(y: [Double], x: [[Double]], covariates: [String], centres: [Double]) throws -> LinearFit {
        let n = y.count, p = covariates.count + 1
        guard x.count == n, centres.count == covariates.count, x.allSatisfy({ $0.count == covariates.count }) else {
            throw CordError.countMismatch(what: "linear model", expected: n, found: x.count, detail: "one covariate row per value")
        }
        guard n > p else {
            throw CordError.invalidValue(what: "linear model", detail: "\(n) subjects cannot fit \(p) parameters")
        }
        // Normal equations with the design [1, x − c].
        var xtx = [Double](repeating: 0, count: p * p), xty = [Double](repeating: 0, count: p)
        for i in 0..<n {
            let row = [1.0] + (0..<covariates.count).map { x[i][$0] - centres[$0] }
            for a in 0..<p {
                xty[a] += row[a] * y[i]
                for b in 0..<p { xtx[a * p + b] += row[a] * row[b] }
            }
        }
        guard let inverse = invert(xtx, p) else {
            throw CordError.invalidValue(what: "linear model on \(covariates.joined(separator: ", "))",
                                         detail: "the covariates are constant or collinear in these subjects")
        }
        let beta = (0..<p).map { a in (0..<p).reduce(0.0) { $0 + inverse[a * p + $1] * xty[$1] } }
        let fit0 = LinearFit(covariates: covariates, centres: centres, coefficients: beta,
                             standardErrors: [], residualSD: 0, n: n, parameters: p, rSquared: 0)
        let mean = y.reduce(0, +) / Double(n)
        var rss = 0.0, tss = 0.0
        for i in 0..<n {
            let r = y[i] - fit0.predict(x[i]); rss += r * r
            tss += (y[i] - mean) * (y[i] - mean)
        }
        let sigma2 = rss / Double(n - p)
        var out = fit0
        out.standardErrors = (0..<p).map { (sigma2 * inverse[$0 * p + $0]).squareRoot() }
        out.residualSD = sigma2.squareRoot()
        out.rSquared = tss > 0 ? 1 - rss / tss : 0
        out.lower = (0..<covariates.count).map { j in x.map { $0[j] }.min() ?? 0 }
        out.upper = (0..<covariates.count).map { j in x.map { $0[j] }.max() ?? 0 }
        return out
    }

    /// Inverse of a small symmetric positive-definite p×p matrix (row-major) by Gauss–Jordan
    /// elimination with partial pivoting; nil when a pivot is negligible.
    static func invert(_ m: [Double], _ p: Int) -> [Double]? {
        var a = m, inv = [Double](repeating: 0, count: p * p)
        for i in 0..<p { inv[i * p + i] = 1 }
        let scale = (0..<p).map { abs(m[$0 * p + $0]) }.max() ?? 1
        for col in 0..<p {
            guard let pivot = (col..<p).max(by: { abs(a[$0 * p + col]) < abs(a[$1 * p + col]) }),
                  abs(a[pivot * p + col]) > 1e-12 * max(scale, 1e-300) else { return nil }
            if pivot != col {
                for k in 0..<p { a.swapAt(pivot * p + k, col * p + k); inv.swapAt(pivot * p + k, col * p + k) }
            }
            let d = a[col * p + col]
            for k in 0..<p { a[col * p + k] /= d; inv[col * p + k] /= d }
            for r in 0..<p where r != col {
                let f = a[r * p + col]
                if f == 0 { continue }
                for k in 0..<p { a[r * p + k] -= f * a[col * p + k]; inv[r * p + k] -= f * inv[col * p + k] }
            }
        }
        return inv
    }
}
