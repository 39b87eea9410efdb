// QTI's positivity: the exact projection of the isotropic variances and the factorised refit.
import CordCore
#if canImport(Glibc)
import Glibc
#endif

extension QTIFitter: LeastSquaresProblem {
    var parameterCount: Int { 28 }
    var residualCount: Int { m }

    /// Enforces V_MD = ℂ:𝔼_bulk ≥ 0 and ℂ:𝔼_shear ≥ 0 — the contractions every reported
    /// metric uses — by the weighted least-squares solution with the violated constraints
    /// held at 0 (KKT: β = β̂ − N⁻¹A(AᵀN⁻¹A)⁻¹Aᵀβ̂, N the normal matrix whose Cholesky factor
    /// the last pass left in `ata`). Returns true when it changed the fit.
    func projectIsotropicVariances() -> Bool {
        @inline(__always) func value(_ k: Int, _ b: UnsafePointer<Double>) -> Double {
            var s = 0.0
            for i in 0..<28 { s += cons[k * 28 + i] * b[i] }
            return s
        }
        var active = (value(0, beta) < 0, value(1, beta) < 0)
        guard active.0 || active.1 else { return false }
        for i in 0..<28 { betaHat[i] = beta[i] }
        for k in 0..<2 {  // N⁻¹aₖ
            for i in 0..<28 { ninv[k * 28 + i] = cons[k * 28 + i] }
            choleskySubstitute(ata, ninv + k * 28, 28)
        }
        @inline(__always) func g(_ k: Int, _ l: Int) -> Double {
            var s = 0.0
            for i in 0..<28 { s += cons[k * 28 + i] * ninv[l * 28 + i] }
            return s
        }
        for _ in 0..<3 {
            var l0 = 0.0, l1 = 0.0
            let r0 = value(0, betaHat), r1 = value(1, betaHat)
            if active.0 && active.1 {
                let g00 = g(0, 0), g01 = g(0, 1), g10 = g(1, 0), g11 = g(1, 1)
                let det = g00 * g11 - g01 * g10
                guard abs(det) > 1e-300 else { return false }
                l0 = (g11 * r0 - g01 * r1) / det
                l1 = (g00 * r1 - g10 * r0) / det
            } else if active.0 {
                let g00 = g(0, 0)
                l0 = g00 > 0 ? r0 / g00 : 0
            } else {
                let g11 = g(1, 1)
                l1 = g11 > 0 ? r1 / g11 : 0
            }
            for i in 0..<28 { beta[i] = betaHat[i] - l0 * ninv[i] - l1 * ninv[28 + i] }
            let v0 = !active.0 && value(0, beta) < -1e-12, v1 = !active.1 && value(1, beta) < -1e-12
            if !v0 && !v1 { return true }
            active = (active.0 || v0, active.1 || v1)
        }
        return true
    }

    // MARK: Factorised refit: p = (ln S₀, L (6, row-wise lower), M (21, row-wise lower))


    func constrainedRefit() {
        let p = tmp
        p[0] = beta[0]
        // ⟨D⟩ = LLᵀ from the projected mean tensor.
        let d = Mandel.tensor(beta + 1)
        let dp = projectPSD3(d)
        let l = cholesky3(dp)
        for i in 0..<6 { p[1 + i] = l[i] }
        // ℂ = MMᵀ from the projected covariance: clip eigenvalues, rebuild, factor.
        unpackC(beta + 7)
        _ = eigen.decompose(mat)
        let vals = eigen.values
        let cp = cpb
        for i in 0..<36 { cp[i] = 0 }
        let floor = 1e-6 * max(vals[5], 1e-8)
        for k in 0..<6 {
            let lam = max(vals[k], floor)
            for i in 0..<6 { for j in 0..<6 { cp[i * 6 + j] += lam * mat[k * 6 + i] * mat[k * 6 + j] } }
        }
        var q = 7
        for i in 0..<6 {
            for j in 0...i {
                var s = cp[i * 6 + j]
                for k in 0..<j { s -= p[7 + i * (i + 1) / 2 + k] * p[7 + j * (j + 1) / 2 + k] }
                p[q] = i == j ? max(s, 1e-300).squareRoot() : s / p[7 + j * (j + 1) / 2 + j]
                q += 1
            }
        }
        for i in 0..<m { sw[i] = w[i].squareRoot() }
        lm.minimise(self, p, iterations: 60)
        // Back to (ln S₀, ⟨D⟩ Mandel, ℂ upper triangle).
        beta[0] = p[0]
        let l0 = p[1], l1 = p[2], l2 = p[3], l3 = p[4], l4 = p[5], l5 = p[6]
        // L = [[l0,0,0],[l1,l2,0],[l3,l4,l5]], D = LLᵀ
        let dxx = l0 * l0, dyy = l1 * l1 + l2 * l2, dzz = l3 * l3 + l4 * l4 + l5 * l5
        let dxy = l0 * l1, dxz = l0 * l3, dyz = l1 * l3 + l2 * l4
        beta[1] = dxx; beta[2] = dyy; beta[3] = dzz
        beta[4] = Mandel.root2 * dyz; beta[5] = Mandel.root2 * dxz; beta[6] = Mandel.root2 * dxy
        var k = 7
        for i in 0..<6 {
            for j in i..<6 {
                var s = 0.0
                for t in 0...min(i, j) { s += p[7 + i * (i + 1) / 2 + t] * p[7 + j * (j + 1) / 2 + t] }
                beta[k] = s; k += 1
            }
        }
    }

    func project(_ p: UnsafeMutablePointer<Double>) {}

    func evaluate(_ p: UnsafePointer<Double>, residuals: UnsafeMutablePointer<Double>, jacobian: UnsafeMutablePointer<Double>?) {
        let l0 = p[1], l1 = p[2], l2 = p[3], l3 = p[4], l4 = p[5], l5 = p[6]
        for r in 0..<m {
            let row = x + r * 28
            // b-tensor back from the design row: Mandel b = −row[1...6].
            let bxx = -row[1], byy = -row[2], bzz = -row[3]
            let byz = -row[4] / Mandel.root2, bxz = -row[5] / Mandel.root2, bxy = -row[6] / Mandel.root2
            // BL (3×3) for ⟨B, LLᵀ⟩ = Σ (BL)∘L and its gradient 2·BL.
            let bl00 = bxx * l0 + bxy * l1 + bxz * l3
            let bl10 = bxy * l0 + byy * l1 + byz * l3, bl11 = byy * l2 + byz * l4
            let bl20 = bxz * l0 + byz * l1 + bzz * l3, bl21 = byz * l2 + bzz * l4, bl22 = bzz * l5
            let bd = bl00 * l0 + bl10 * l1 + bl11 * l2 + bl20 * l3 + bl21 * l4 + bl22 * l5
            // u = Mᵀ b (Mandel b), ½|u|² = ½ bᵀℂb.
            let bv0 = -row[1], bv1 = -row[2], bv2 = -row[3], bv3 = -row[4], bv4 = -row[5], bv5 = -row[6]
            let bv = (bv0, bv1, bv2, bv3, bv4, bv5)
            var half = 0.0
            for t in 0..<6 {
                var u = 0.0
                for i in t..<6 { u += p[7 + i * (i + 1) / 2 + t] * component(bv, i) }
                ub[t] = u
                half += 0.5 * u * u
            }
            let f = p[0] - bd + half
            residuals[r] = sw[r] * (y[r] - f)
            guard let j = jacobian else { continue }
            let jr = j + r * 28
            let s = sw[r]
            jr[0] = s
            jr[1] = -s * 2 * bl00; jr[2] = -s * 2 * bl10; jr[3] = -s * 2 * bl11
            jr[4] = -s * 2 * bl20; jr[5] = -s * 2 * bl21; jr[6] = -s * 2 * bl22
            for i in 0..<6 {
                let bi = component(bv, i)
                for t in 0...i { jr[7 + i * (i + 1) / 2 + t] = s * bi * ub[t] }
            }
        }
    }

    @inline(__always) func component(_ v: (Double, Double, Double, Double, Double, Double), _ i: Int) -> Double {
        switch i { case 0: v.0; case 1: v.1; case 2: v.2; case 3: v.3; case 4: v.4; default: v.5 }
    }
}

/// The nearest positive semidefinite 3×3 tensor (eigenvalues clipped at a small floor).
func projectPSD3(_ t: Mat3) -> Mat3 {
    let e = SymmetricEigen3(t)
    let floor = 1e-6 * max(e.values.x, 1e-3)
    var out = Mat3.zero
    for k in 0..<3 {
        let v = e.vectors.column(k)
        out = out + max(e.values[k], floor) * Mat3.outer(v, v)
    }
    return out
}

/// Lower Cholesky factor of a positive definite 3×3 tensor, row-wise (l00, l10, l11, l20, l21, l22).
func cholesky3(_ a: Mat3) -> [Double] {
    let l00 = max(a[0, 0], 1e-300).squareRoot()
    let l10 = a[1, 0] / l00, l20 = a[2, 0] / l00
    let l11 = max(a[1, 1] - l10 * l10, 1e-300).squareRoot()
    let l21 = (a[2, 1] - l20 * l10) / l11
    let l22 = max(a[2, 2] - l20 * l20 - l21 * l21, 1e-300).squareRoot()
    return [l00, l10, l11, l20, l21, l22]
}
