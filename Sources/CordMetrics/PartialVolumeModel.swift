// Maximum-likelihood and maximum-a-posteriori tract values under the linear partial-volume
// model of Lévy et al. 2015 (NeuroImage 119:262).
import CordAtlas

/// Per-tract values of one voxel set, jointly estimated.
struct TractEstimate {
    /// Value per tract (index into the atlas's tracts); nil for tracts absent from the set.
    var values: [Double?]
    /// Σᵥ pₜ(v): each tract's volume in voxels, the weights of combined regions.
    var volumes: [Double]

    /// Volume-weighted mean of the tracts' values (a combined region), nil when none present.
    func region(_ tracts: [Int]) -> Double? {
        var sw = 0.0, sx = 0.0
        for t in tracts { if let x = values[t] { sw += volumes[t]; sx += volumes[t] * x } }
        return sw > 0 ? sx / sw : nil
    }
}

/// The linear mixing model xᵥ = Σₜ pₜ(v) βₜ + r(v) β_rest + εᵥ, with r(v) = 1 − Σₜ pₜ(v)
/// (tissue outside the atlas) and Gaussian noise ε of SD σ_n.
enum PartialVolumeModel {
    /// Tracts whose total weight in the set is below this (voxels) are left out.
    static let minimumVolume = 1e-3

    /// Maximum likelihood (least squares): β = (PᵀP)⁻¹ Pᵀx over all present tracts
    /// (Lévy 2015, eq. 4). Returns nil when no tract is present.
    static func ml(_ s: VoxelSet) -> TractEstimate? {
        fit(s, kinds: nil)
    }

    /// Maximum a posteriori (Lévy 2015, eq. 6): β = (PᵀP + σ_n² Σ⁻¹)⁻¹ (Pᵀx + σ_n² Σ⁻¹ μ).
    ///
    /// The prior, estimated from the same voxels (empirical Bayes):
    /// - μ_c: ML value of cluster c (white matter, grey matter, CSF), fitted with the summed
    ///   cluster maps as regressors (the first step of Lévy 2015 and of SCT's MAPLabels);
    /// - σ_n²: residual variance of the tract-level ML fit, RSS / (N − number of columns);
    /// - σ_c²: spread of the tract-level ML values inside cluster c around μ_c minus their
    ///   mean sampling variance σ_n²[(PᵀP)⁻¹]ₜₜ (method of moments), floored at
    ///   (0.01·|μ_c|)² + 10⁻¹² so a cluster of equal tracts still gets a finite prior.
    static func map(_ s: VoxelSet, kinds: [TissueKind]) -> TractEstimate? {
        fit(s, kinds: kinds)
    }

    private static func fit(_ s: VoxelSet, kinds: [TissueKind]?) -> TractEstimate? {
        let T = s.tractCount
        var volumes = [Double](repeating: 0, count: T)
        var rest = 0.0
        for v in 0..<s.count {
            var sum = 0.0
            for t in 0..<T { volumes[t] += s.p(v, t); sum += s.p(v, t) }
            rest += max(0, 1 - sum)
        }
        let columns = (0..<T).filter { volumes[$0] >= minimumVolume }
        guard !columns.isEmpty else { return nil }
        let useRest = rest >= minimumVolume
        // Design row of voxel v over the kept columns (+ rest).
        func row(_ v: Int, _ cols: [Int], _ groups: [[Int]]?) -> [Double] {
            var r: [Double]
            if let groups { r = groups.map { g in g.reduce(0) { $0 + s.p(v, $1) } } } else { r = cols.map { s.p(v, $0) } }
            if useRest { r.append(max(0, 1 - (0..<T).reduce(0) { $0 + s.p(v, $1) })) }
            return r
        }
        func normal(_ cols: [Int], _ groups: [[Int]]?) -> (a: [[Double]], b: [Double]) {
            let m = (groups?.count ?? cols.count) + (useRest ? 1 : 0)
            var a = [[Double]](repeating: [Double](repeating: 0, count: m), count: m), b = [Double](repeating: 0, count: m)
            for v in 0..<s.count {
                let r = row(v, cols, groups)
                for i in 0..<m where r[i] != 0 {
                    b[i] += r[i] * s.values[v]
                    for j in 0..<m { a[i][j] += r[i] * r[j] }
                }
            }
            return (a, b)
        }
        let (a, b) = normal(columns, nil)
        guard let beta = LinearSolve.solve(a, b) else { return nil }
        var estimate = TractEstimate(values: [Double?](repeating: nil, count: T), volumes: volumes)
        for (n, t) in columns.enumerated() { estimate.values[t] = beta[n] }
        guard let kinds else { return estimate }

        // MARK: MAP
        var rss = 0.0
        for v in 0..<s.count {
            let r = row(v, columns, nil)
            var fitted = 0.0
            for i in 0..<r.count { fitted += r[i] * beta[i] }
            rss += (s.values[v] - fitted) * (s.values[v] - fitted)
        }
        let dof = max(1, s.count - beta.count)
        let noiseVariance = rss / Double(dof)
        let clusters = TissueKind.allCases.map { k in columns.filter { kinds[$0] == k } }.filter { !$0.isEmpty }
        let (ca, cb) = normal(columns, clusters)
        guard let clusterMeans = LinearSolve.solve(ca, cb), let inverse = LinearSolve.inverseDiagonal(a) else { return estimate }
        var priorMean = [Double](repeating: 0, count: a.count), priorPrecision = [Double](repeating: 0, count: a.count)
        for (c, members) in clusters.enumerated() {
            let mu = clusterMeans[c]
            var spread = 0.0, sampling = 0.0
            for t in members {
                let n = columns.firstIndex(of: t) ?? 0
                spread += (beta[n] - mu) * (beta[n] - mu); sampling += noiseVariance * inverse[n]
            }
            let floor = (0.01 * abs(mu)) * (0.01 * abs(mu)) + 1e-12
            let variance = max((spread - sampling) / Double(members.count), floor)
            for t in members {
                let n = columns.firstIndex(of: t) ?? 0
                priorMean[n] = mu; priorPrecision[n] = 1 / variance
            }
        }
        var ap = a, bp = b
        for i in 0..<columns.count {
            ap[i][i] += noiseVariance * priorPrecision[i]
            bp[i] += noiseVariance * priorPrecision[i] * priorMean[i]
        }
        guard let posterior = LinearSolve.solve(ap, bp) else { return estimate }
        for (n, t) in columns.enumerated() { estimate.values[t] = posterior[n] }
        return estimate
    }
}

/// Small dense solvers for the normal equations (at most a few dozen unknowns).
enum LinearSolve {
    /// Solves A x = b by Gaussian elimination with partial pivoting; nil when A is singular
    /// (a pivot below 10⁻¹² of the largest diagonal entry).
    static func solve(_ a: [[Double]], _ b: [Double]) -> [Double]? {
        let n = b.count
        var m = a, x = b
        let scale = max(a.indices.map { abs(a[$0][$0]) }.max() ?? 0, 1e-300)
        for c in 0..<n {
            guard let p = (c..<n).max(by: { abs(m[$0][c]) < abs(m[$1][c]) }), abs(m[p][c]) > 1e-12 * scale else { return nil }
            if p != c { m.swapAt(p, c); x.swapAt(p, c) }
            for r in (c + 1)..<n where m[r][c] != 0 {
                let f = m[r][c] / m[c][c]
                for k in c..<n { m[r][k] -= f * m[c][k] }
                x[r] -= f * x[c]
            }
        }
        for c in stride(from: n - 1, through: 0, by: -1) {
            var s = x[c]
            for k in (c + 1)..<n { s -= m[c][k] * x[k] }
            x[c] = s / m[c][c]
        }
        return x
    }

    /// Diagonal of A⁻¹ (column by column), nil when A is singular.
    static func inverseDiagonal(_ a: [[Double]]) -> [Double]? {
        var out: [Double] = []
        for i in 0..<a.count {
            var e = [Double](repeating: 0, count: a.count); e[i] = 1
            guard let col = solve(a, e) else { return nil }
            out.append(col[i])
        }
        return out
    }
}
