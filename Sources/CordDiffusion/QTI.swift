// Q-space trajectory imaging: the mean diffusion tensor and its covariance from tensor-
// valued encodings.
import CordCore
#if canImport(Glibc)
import Glibc
#endif

/// Outputs of the QTI fit, per voxel.
public enum QTIOutput: Int, CaseIterable, Sendable {
    /// `constrained`: 0 plain fit, 1 isotropic variances projected onto ≥ 0, 2 full refit.
    /// `meanTensor` starts 6 values ⟨D⟩ xx yy zz xy xz yz (µm²/ms); `covariance` starts the
    /// 21 upper-triangle entries of ℂ in Mandel notation (order (1,1), (1,2) … (1,6), (2,2) …
    /// (6,6) over xx, yy, zz, √2yz, √2xz, √2xy; (µm²/ms)²).
    case s0 = 0, md, fa, microFA, cmd, cm, cmu, cc, vmd, kBulk, kShear, mk, kMu, constrained, meanTensor
    case covariance = 20
    public static let count = 41
}

/// How QTI keeps the fit physical.
public enum QTIPositivity: String, Sendable, CaseIterable {
    /// Plain weighted least squares (DIPY `QtiModel` "WLS").
    case none
    /// Default. V_MD = ℂ:𝔼_bulk and ℂ:𝔼_shear (the contractions every reported metric uses)
    /// held ≥ 0 by an exact equality-constrained step where the plain fit makes them
    /// negative; the factorised refit only where ⟨D⟩ is still not positive semidefinite.
    /// Cheap (a few dot products per voxel) and unbiased where the plain fit is physical.
    /// On the qti286 phantom (LTE/PTE/STE at b = 500–2000 s/mm², 286 volumes) it lowered the
    /// median μFA error of plain WLS by 10% at SNR 50 and 11% at SNR 20
    /// (Benchmarks/microfa/RESULTS.md).
    case isotropic
    /// ⟨D⟩ ⪰ 0 and the whole ℂ ⪰ 0 (QTI+, Herberthson et al. 2021) by the factorised
    /// Levenberg–Marquardt refit wherever the plain fit breaks either. With realistic noise
    /// the refit runs in most voxels (≈ 70× the time of `isotropic`) and biases μFA upward
    /// at low SNR in grey matter (+0.08 at SNR 20 on the phantom): use it for high-SNR data.
    case full
}

/// Q-space trajectory imaging (Westin et al. 2016, NeuroImage 135:345): the cumulant
/// expansion ln S = ln S₀ − ⟨B, ⟨D⟩⟩ + ½⟨B⊗B, ℂ⟩ with the mean tensor ⟨D⟩ (6 unknowns)
/// and the covariance ℂ (21 unknowns) in Mandel notation, 28 unknowns in all, fitted by
/// weighted least squares on ln S (weights: squared signal predicted by an ordinary fit,
/// as DIPY `qti` "WLS").
///
/// Positivity (`QTIPositivity`, default `isotropic`): where the plain fit breaks the physics,
/// V_MD = ℂ:𝔼_bulk and ℂ:𝔼_shear (the contractions every reported metric uses) are first
/// held at 0 by an equality-constrained weighted least-squares step (exact KKT solution,
/// cheap); if ⟨D⟩ (or, with `full` and a full-rank design, ℂ) is still not positive
/// semidefinite, the voxel is refitted with ⟨D⟩ = LLᵀ and ℂ = MMᵀ (lower-triangular L, M) by Levenberg–Marquardt on
/// the same weighted objective, started from the plain fit projected onto the cones —
/// positivity as in QTI+ (Herberthson et al. 2021, NeuroImage 238:118198), reached by a
/// factorised parametrisation instead of semidefinite programming.
///
/// Metrics (Westin 2016; 𝔼_iso = 𝕀/3, 𝔼_bulk = (1/9)·e eᵀ, 𝔼_shear = 𝔼_iso − 𝔼_bulk):
/// MD; FA of ⟨D⟩; C_μ = (3/2)·⟨D⊗D⟩:𝔼_shear / ⟨D⊗D⟩:𝔼_iso and μFA = √C_μ; C_M the same
/// for ⟨D⟩⊗⟨D⟩; C_c = C_M/C_μ; V_MD = ℂ:𝔼_bulk; C_MD = V_MD/⟨D⊗D⟩:𝔼_bulk;
/// K_bulk = 3·ℂ:𝔼_bulk/⟨D⟩⊗⟨D⟩:𝔼_bulk; K_shear = (6/5)·ℂ:𝔼_shear/⟨D⟩⊗⟨D⟩:𝔼_bulk;
/// MK = K_bulk + K_shear; K_μ = (6/5)·⟨D⊗D⟩:𝔼_shear/⟨D⟩⊗⟨D⟩:𝔼_bulk.
/// Note: the expansion is truncated after the second cumulant, so data from a real tensor
/// distribution carry a truncation bias that no fit removes. On the phantom's white matter
/// (Watson κ 6–12) at b ≤ 2000 s/mm²: FA +0.0015…+0.0065, MD −0.0008…−0.0033 µm²/ms, μFA
/// down to −0.003 (grey matter, isotropic dispersion: μFA about −0.016); at b ≤ 500 s/mm²
/// FA and MD errors fall below 10⁻³ (README; QTITruncationTests).
public final class QTIModel: Sendable {
    public let scheme: EncodingScheme
    let design: [Double]
    /// Rank of the design (28 when every element of ℂ is identifiable, 23 for linear + spherical).
    public let rank: Int
    public let positivity: QTIPositivity

    public init(_ scheme: EncodingScheme, positivity: QTIPositivity = .isotropic) throws {
        self.positivity = positivity
        let m = scheme.count
        var x = [Double](repeating: 0, count: m * 28)
        for (r, v) in scheme.volumes.enumerated() {
            let b = Mandel.vector(v.tensor)
            let bv = [b.0, b.1, b.2, b.3, b.4, b.5]
            x[r * 28] = 1
            for i in 0..<6 { x[r * 28 + 1 + i] = -bv[i] }
            var c = 7
            for i in 0..<6 {
                for j in i..<6 { x[r * 28 + c] = (i == j ? 0.5 : 1) * bv[i] * bv[j]; c += 1 }
            }
        }
        var ata = [Double](repeating: 0, count: 28 * 28), rhs = [Double](repeating: 0, count: 28)
        let ones = [Double](repeating: 1, count: m)
        x.withUnsafeBufferPointer { normalEquations($0.baseAddress!, rows: m, cols: 28, weights: ones, values: ones, ata: &ata, aty: &rhs) }
        // Rank of the design: eigenvalues of the unit-diagonal-scaled XᵀX above 1e-10.
        var scaled = ata
        for i in 0..<28 { for j in 0..<28 { let d = (ata[i * 29] * ata[j * 29]).squareRoot(); scaled[i * 28 + j] = d > 0 ? ata[i * 28 + j] / d : 0 } }
        let solver = SymmetricEigenSolver(size: 28)
        _ = scaled.withUnsafeMutableBufferPointer { solver.decompose($0.baseAddress!) }
        let top = solver.values.last ?? 0
        let rank = solver.values.filter { $0 > 1e-10 * top }.count
        // Linear + spherical (or planar) in one orientation set gives rank 23: the mean tensor
        // and the isotropic contractions of ℂ (all reported metrics) are identifiable; the
        // rest of ℂ is set by a minimum-norm (ridge) solution, as DIPY's pseudo-inverse does.
        guard rank >= 23 else {
            throw DiffusionError.tooFewMeasurements(
                model: "QTI", unknowns: 28, found: rank,
                hint: "the series has \(scheme.summary); QTI needs b = 0 plus linear encoding in at least 6 directions at two or more b-values and a second b-tensor shape (spherical or planar)")
        }
        self.rank = rank
        self.scheme = scheme
        design = x
    }

    public func fit(_ data: MaskedSignals, progress: ProgressReporter? = nil) throws -> [Double] {
        guard data.frames == scheme.count else {
            throw DiffusionError.countMismatch(what: "volumes in the series vs encodings", expected: scheme.count, found: data.frames)
        }
        return fitVoxels(data, outputs: QTIOutput.count, progress: progress) { QTIFitter(self) }
    }
}

/// One worker's QTI fitter.
final class QTIFitter: VoxelFitter {
    let m: Int
    let x, y, w, sw, ata, aty, beta, mat, tmp, ub, cpb, cons, ninv, betaHat: UnsafeMutablePointer<Double>
    let eigen = SymmetricEigenSolver(size: 6)
    let lm: LevenbergMarquardt

    let ridge: Double
    let fullRank: Bool
    let positivity: QTIPositivity

    init(_ model: QTIModel) {
        positivity = model.positivity
        m = model.scheme.count
        ridge = model.rank < 28 ? 1e-9 : 0
        fullRank = model.rank == 28
        func buf(_ n: Int) -> UnsafeMutablePointer<Double> { let p = UnsafeMutablePointer<Double>.allocate(capacity: max(n, 1)); p.initialize(repeating: 0, count: max(n, 1)); return p }
        x = buf(m * 28); x.update(from: model.design, count: m * 28)
        y = buf(m); w = buf(m); sw = buf(m); ata = buf(28 * 28); aty = buf(28); beta = buf(28); mat = buf(36); tmp = buf(28); ub = buf(6); cpb = buf(36)
        cons = buf(56); ninv = buf(56); betaHat = buf(28)
        // Constraint rows: a₀·β = ℂ:𝔼_bulk, a₁·β = ℂ:𝔼_shear (ℂ's upper triangle from β₇).
        var idx = 7
        for i in 0..<6 {
            for j in i..<6 {
                let bulk = i < 3 && j < 3 ? (i == j ? 1.0 : 2.0) / 9 : 0
                cons[idx] = bulk
                cons[28 + idx] = (i == j ? 1.0 / 3 : 0) - bulk
                idx += 1
            }
        }
        lm = LevenbergMarquardt(maxParameters: 28, maxResiduals: m)
        gram = WeightedGram(design: x, rows: m, cols: 28)
        // Factor of XᵀX (unit weights, same ridge) for the ordinary pass.
        let ones = UnsafeMutablePointer<Double>.allocate(capacity: m); ones.initialize(repeating: 1, count: m)
        gram.accumulate(weights: ones, values: ones, ata: ata, aty: aty, damping: ridge)
        ones.deallocate()
        if choleskyFactor(ata, 28, relativeTolerance: 1e-15) {
            let f = UnsafeMutablePointer<Double>.allocate(capacity: 28 * 28); f.initialize(from: ata, count: 28 * 28)
            olsFactor = f
        } else {
            olsFactor = nil
        }
    }
    let olsFactor: UnsafeMutablePointer<Double>?
    let gram: WeightedGram
    deinit { for p in [x, y, w, sw, ata, aty, beta, mat, tmp, ub, cpb, cons, ninv, betaHat] { p.deallocate() }; olsFactor?.deallocate() }

    func linearFit() -> Bool {
        gram.accumulate(weights: w, values: y, ata: ata, aty: aty, damping: ridge)
        guard choleskySolve(ata, aty, 28, relativeTolerance: 1e-15) else { return false }
        for i in 0..<28 { beta[i] = aty[i] }
        return true
    }

    func fit(_ signal: UnsafePointer<Double>, _ out: UnsafeMutablePointer<Double>) {
        for o in 0..<QTIOutput.count { out[o] = 0 }
        var smax = 0.0
        for i in 0..<m { smax = max(smax, signal[i]) }
        guard smax > 0 else { return }
        var allPositive = true
        for i in 0..<m {
            y[i] = log(max(signal[i], smax * 1e-6)); w[i] = signal[i] > 0 ? 1 : 0
            if signal[i] <= 0 { allPositive = false }
        }
        if allPositive, let factor = olsFactor {  // ordinary pass with the precomputed factor
            for j in 0..<28 { beta[j] = gram.dotColumn(j, y) }
            choleskySubstitute(factor, beta, 28)
        } else {
            guard linearFit() else { return }
        }
        for r in 0..<m where w[r] > 0 {
            var v = 0.0
            for j in 0..<28 { v += x[r * 28 + j] * beta[j] }
            w[r] = fastExp(2 * v)
        }
        guard linearFit() else { return }
        var constrained = 0.0
        if positivity != .none && !isPhysical(covariance: positivity == .full) {
            // The normal matrix's factor from the last pass is still in `ata`.
            constrained = projectIsotropicVariances() ? 1 : 0
            if !isPhysical(tolerance: 0, covariance: positivity == .full) {
                constrainedRefit()
                constrained = 2
            }
        }
        metrics(out)
        out[QTIOutput.constrained.rawValue] = constrained
        let t = QTIOutput.meanTensor.rawValue, r2 = 1 / Mandel.root2
        out[t] = beta[1]; out[t + 1] = beta[2]; out[t + 2] = beta[3]
        out[t + 3] = beta[6] * r2; out[t + 4] = beta[5] * r2; out[t + 5] = beta[4] * r2
        for k in 0..<21 { out[QTIOutput.covariance.rawValue + k] = beta[7 + k] }
    }

    /// ⟨D⟩ positive semidefinite and ℂ:𝔼_bulk, ℂ:𝔼_shear ≥ −0.01·MD² (necessary for ℂ ⪰ 0,
    /// identifiable from any design QTI accepts; the margin keeps round-off and cumulant
    /// truncation from triggering a refit); with `covariance` and a full-rank design also ℂ ⪰ 0.
    func isPhysical(tolerance: Double = 0.01, covariance: Bool) -> Bool {
        let (_, _, l3, _) = symmetricEigen3(beta[1], beta[2], beta[3], beta[6] / Mandel.root2, beta[5] / Mandel.root2, beta[4] / Mandel.root2)
        guard l3 >= 0 else { return false }
        var trC = 0.0, bulkC = 0.0, k = 7
        for i in 0..<6 {
            for j in i..<6 {
                if i == j { trC += beta[k] }
                if i < 3 && j < 3 { bulkC += (i == j ? 1 : 2) * beta[k] }
                k += 1
            }
        }
        bulkC /= 9
        let md = (beta[1] + beta[2] + beta[3]) / 3, tol = -tolerance * md * md - 1e-12
        guard bulkC >= tol, trC / 3 - bulkC >= tol else { return false }
        guard fullRank, covariance else { return true }
        unpackC(beta + 7)
        guard eigen.decompose(mat) else { return false }
        let vals = eigen.values
        return vals[0] >= -1e-9 * max(abs(vals[5]), 1e-12)
    }

    /// Full 6×6 symmetric matrix from its 21 upper-triangle entries (row-wise) into `mat`.
    @inline(__always) func unpackC(_ c: UnsafePointer<Double>) {
        var k = 0
        for i in 0..<6 { for j in i..<6 { mat[i * 6 + j] = c[k]; mat[j * 6 + i] = c[k]; k += 1 } }
    }

    // MARK: Metrics

    /// Writes the QTI metrics of (β₀ = ln S₀, β₁…₆ = ⟨D⟩, β₇…₂₇ = ℂ) to `out`.
    func metrics(_ out: UnsafeMutablePointer<Double>) {
        let d = beta + 1
        let c = beta + 7
        // Contractions with 𝔼_iso = 𝕀/3 and 𝔼_bulk = e eᵀ/9 (e = (1,1,1,0,0,0)).
        var trC = 0.0, bulkC = 0.0, normD2 = 0.0
        var k = 0
        for i in 0..<6 {
            for j in i..<6 {
                let v = c[k]; k += 1
                if i == j { trC += v }
                if i < 3 && j < 3 { bulkC += (i == j ? 1 : 2) * v }
            }
        }
        bulkC /= 9
        let isoC = trC / 3
        for i in 0..<6 { normD2 += d[i] * d[i] }
        let md = (d[0] + d[1] + d[2]) / 3
        let dd = (isoD2: normD2 / 3, bulkD2: md * md)
        let shearD2 = dd.isoD2 - dd.bulkD2
        let shearC = isoC - bulkC
        // ⟨D⊗D⟩ = ℂ + ⟨D⟩⊗⟨D⟩
        let isoM = isoC + dd.isoD2, bulkM = bulkC + dd.bulkD2, shearM = shearC + shearD2
        let (l1, l2, l3, _) = symmetricEigen3(d[0], d[1], d[2], d[5] / Mandel.root2, d[4] / Mandel.root2, d[3] / Mandel.root2)
        let cmu = isoM > 0 ? 1.5 * shearM / isoM : 0
        let cm = dd.isoD2 > 0 ? 1.5 * shearD2 / dd.isoD2 : 0
        out[0] = exp(beta[0])
        out[1] = md
        out[2] = TensorInvariants(eigenvalues: SIMD3(l1, l2, l3)).fa
        out[3] = max(cmu, 0).squareRoot()
        out[4] = bulkM > 0 ? bulkC / bulkM : 0
        out[5] = cm
        out[6] = cmu
        out[7] = cmu > 0 ? cm / cmu : 0
        out[8] = bulkC
        out[9] = dd.bulkD2 > 0 ? 3 * bulkC / dd.bulkD2 : 0
        out[10] = dd.bulkD2 > 0 ? 1.2 * shearC / dd.bulkD2 : 0
        out[11] = out[9] + out[10]
        out[12] = dd.bulkD2 > 0 ? 1.2 * shearM / dd.bulkD2 : 0
    }

}
