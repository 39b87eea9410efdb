// Powder averages (direction averages per shell) and the gamma-distribution model.
import CordCore
#if canImport(Glibc)
import Glibc
#endif

/// The shells a powder-average model uses, flattened for per-voxel loops: shell k holds
/// volumes `indices[offsets[k]..<offsets[k+1]]`, with b (ms/µm²) and b_Δ. Shell 0 is the
/// b = 0 shell.
struct PowderShells: Sendable {
    var b: [Double] = [0], bDelta: [Double] = [0], offsets: [Int] = [0], indices: [Int] = []
    var kinds: [EncodingKind] = [.none]

    init(_ scheme: EncodingScheme, kinds accepted: Set<EncodingKind>) {
        indices = scheme.referenceVolumes
        offsets.append(indices.count)
        for s in scheme.shells where s.kind != .none && accepted.contains(s.kind) {
            b.append(s.b); bDelta.append(s.bDelta); kinds.append(s.kind)
            indices += s.volumes
            offsets.append(indices.count)
        }
    }
    var count: Int { b.count }
    func size(_ k: Int) -> Int { offsets[k + 1] - offsets[k] }

    /// Writes the mean signal of each shell.
    @inline(__always)
    func average(_ signal: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) {
        indices.withUnsafeBufferPointer { ix in
            offsets.withUnsafeBufferPointer { off in
                for k in 0..<(off.count - 1) {
                    var s = 0.0
                    for i in off[k]..<off[k + 1] { s += signal[ix[i]] }
                    out[k] = off[k + 1] > off[k] ? s / Double(off[k + 1] - off[k]) : 0
                }
            }
        }
    }
}

/// Outputs of the powder-average gamma model, per voxel.
public enum GammaOutput: Int, CaseIterable, Sendable {
    case s0 = 0, md, isotropicVariance, anisotropicVariance, microFA, cmd, logRatio
    public static let count = 7
}

/// The gamma-distribution model of the powder-averaged signal (Lasič et al. 2014,
/// Front Phys 2:11; Szczepankiewicz et al. 2016, NeuroImage 142:522):
///
///   S̄(b, b_Δ) = S₀·(1 + b·μ₂/D̄)^(−D̄²/μ₂),  μ₂ = V_I + b_Δ²·V_A,
///
/// fitted jointly over all shells by weighted non-linear least squares on the signal
/// (weights = volumes per shell). V_I is the variance of isotropic diffusivities, V_A the
/// anisotropic variance (V_A = (2/5)·V_λ, V_λ the mean variance of the microscopic
/// eigenvalues), so μFA = √(3/2)·√(V_λ/(V_λ + V_I + D̄²)) and C_MD = V_I/D̄².
/// Diffusivities in µm²/ms, variances in (µm²/ms)².
final class GammaFitter: VoxelFitter, LeastSquaresProblem {
    let shells: PowderShells
    let fixIsotropicVariance: Bool
    let mean, weight, bs, d2: UnsafeMutablePointer<Double>
    let params: UnsafeMutablePointer<Double>
    let lm: LevenbergMarquardt
    /// Shells (indices) of DDE parallel and orthogonal encodings at the highest common b.
    let ratioShells: (Int, Int)?
    var parameterCount: Int { 4 }
    var residualCount: Int { shells.count }

    init(_ shells: PowderShells, fixIsotropicVariance: Bool) {
        self.shells = shells
        self.fixIsotropicVariance = fixIsotropicVariance
        let k = shells.count
        func buf(_ n: Int) -> UnsafeMutablePointer<Double> { let p = UnsafeMutablePointer<Double>.allocate(capacity: n); p.initialize(repeating: 0, count: n); return p }
        mean = buf(k); weight = buf(k); bs = buf(k); d2 = buf(k); params = buf(4)
        for i in 0..<k { weight[i] = Double(shells.size(i)).squareRoot(); bs[i] = shells.b[i]; d2[i] = shells.bDelta[i] * shells.bDelta[i] }
        lm = LevenbergMarquardt(maxParameters: 4, maxResiduals: k)
        var best: (Int, Int)?
        for i in 0..<k where shells.kinds[i] == .ddeParallel {
            for j in 0..<k where shells.kinds[j] == .ddeOrthogonal && abs(shells.b[i] - shells.b[j]) < 0.05 {
                if best.map({ shells.b[i] > shells.b[$0.0] }) ?? true { best = (i, j) }
            }
        }
        ratioShells = best
    }
    deinit { for p in [mean, weight, bs, d2, params] { p.deallocate() } }

    func project(_ p: UnsafeMutablePointer<Double>) {
        p[0] = max(p[0], 1e-12)
        p[1] = min(max(p[1], 1e-4), 5)
        p[2] = fixIsotropicVariance ? 0 : min(max(p[2], 0), 25)
        p[3] = min(max(p[3], 0), 25)
    }

    func evaluate(_ p: UnsafePointer<Double>, residuals: UnsafeMutablePointer<Double>, jacobian: UnsafeMutablePointer<Double>?) {
        let s0 = p[0], d = p[1], vi = p[2], va = p[3]
        for k in 0..<shells.count {
            let b = bs[k], mu = vi + va * d2[k]
            let x = b * mu / d
            var lnS: Double, dD: Double, dMu: Double
            if x < 1e-6 {  // series: ln S/S₀ = −bD + b²μ/2 − b³μ²/(3D)
                lnS = -b * d + b * b * mu / 2 - b * b * b * mu * mu / (3 * d)
                dD = -b + b * b * b * mu * mu / (3 * d * d)
                dMu = b * b / 2 - 2 * b * b * b * mu / (3 * d)
            } else {
                let l = log1p(x)
                lnS = -(d * d / mu) * l
                dD = -(2 * d / mu) * l + b / (1 + x)
                dMu = (d * d / (mu * mu)) * l - (d * b / mu) / (1 + x)
            }
            let s = s0 * exp(lnS)
            residuals[k] = weight[k] * (mean[k] - s)
            if let j = jacobian {
                let ws = weight[k] * s
                j[k * 4] = weight[k] * exp(lnS)
                j[k * 4 + 1] = ws * dD
                j[k * 4 + 2] = fixIsotropicVariance ? 0 : ws * dMu
                j[k * 4 + 3] = ws * dMu * d2[k]
            }
        }
    }

    func fit(_ signal: UnsafePointer<Double>, _ out: UnsafeMutablePointer<Double>) {
        for o in 0..<GammaOutput.count { out[o] = 0 }
        shells.average(signal, into: mean)
        let s0 = mean[0]
        guard s0 > 0 else { return }
        // Start: mono-exponential D from the shells, small variances.
        var num = 0.0, den = 0.0
        for k in 1..<shells.count where mean[k] > 0 {
            let w = mean[k] * mean[k]
            num += w * bs[k] * log(s0 / mean[k]); den += w * bs[k] * bs[k]
        }
        params[0] = s0
        params[1] = den > 0 ? max(num / den, 0.05) : 1
        params[2] = fixIsotropicVariance ? 0 : 0.05 * params[1] * params[1]
        params[3] = 0.2 * params[1] * params[1]
        lm.minimise(self, params, iterations: 100)
        let d = params[1], vi = params[2], va = params[3]
        let vl = 2.5 * va
        let denom = vl + vi + d * d
        out[0] = params[0]; out[1] = d; out[2] = vi; out[3] = va
        out[4] = denom > 0 ? (1.5 * vl / denom).squareRoot() : 0
        out[5] = vi / (d * d)
        if let (i, j) = ratioShells, mean[i] > 0, mean[j] > 0 { out[6] = log(mean[i] / mean[j]) }
    }
}
