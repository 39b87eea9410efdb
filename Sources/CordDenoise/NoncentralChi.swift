// The mean of a non-central χ magnitude (Rician for one coil) and its inverse.
import CordCore

/// Moments of the magnitude M of a sum-of-squares combination of N coils,
///
///     M = √(Σ_{c=1…N} |A_c + ε_c|²),  ε_c complex Gaussian with standard deviation σ in
///     each of the real and imaginary parts, A² = Σ_c |A_c|²,
///
/// so M/σ is non-central χ with 2N degrees of freedom and non-centrality θ = A/σ (Rician for
/// N = 1); Constantinides, Atalar & McVeigh 1997, MRM 38:852; Koay & Basser 2006, JMR
/// 179:317. Everything here is in units of σ: y = M/σ, θ = A/σ, u = θ², z = θ²/2.
///
/// - E[M²]/σ² = θ² + 2N.
/// - E[M]/σ = β_N · ₁F₁(−½; N; −θ²/2), β_N = √(π/2)·(2N−1)!!/(2^{N−1}(N−1)!)
///   = √2·Γ(N+½)/Γ(N) (Koay & Basser 2006), the noise floor E[M | A = 0]/σ.
enum NoncentralChi {
    /// β_N = √2·Γ(N+½)/Γ(N): √(π/2) ≈ 1.2533 for one coil.
    static func noiseFloor(coils n: Int) -> Double {
        2.0.squareRoot() * Double.exp(Double.logGamma(Double(n) + 0.5) - Double.logGamma(Double(n)))
    }

    /// E[M]/σ and its slope d(E[M]/σ)/du at u = θ² ≥ 0. One coil: the Rician closed form
    /// with scaled Bessel functions,
    ///
    ///     E[M]/σ = √(π/2)·e^{−z/2}·[(1 + z)·I₀(z/2) + z·I₁(z/2)],
    ///     d/du   = (√(π/2)/4)·e^{−z/2}·[I₀(z/2) + I₁(z/2)];
    ///
    /// more coils: `seriesMean`.
    static func mean(u: Double, coils n: Int) -> (value: Double, slope: Double) {
        guard n == 1 else { return seriesMean(u: u, coils: n) }
        let z = u / 2, c = (Double.pi / 2).squareRoot()
        let i0 = SpecialFunctions.besselI0Scaled(z / 2), i1 = SpecialFunctions.besselI1Scaled(z / 2)
        return (c * ((1 + z) * i0 + z * i1), c / 4 * (i0 + i1))
    }

    /// E[M]/σ and d/du for any N from series. For z = θ²/2 ≥ 20 the asymptotic expansion of
    /// ₁F₁ for large negative argument,
    ///
    ///     E[M]/σ ≈ θ · Σ_n (−½)_n (½ − N)_n / (n! zⁿ)  (= θ + (2N − 1)/(2θ) + …),
    ///
    /// summed while its terms shrink to 10⁻¹⁶; otherwise (or when they stop shrinking) the
    /// exact Poisson mixture: M²/σ² is central χ² with 2N + 2K degrees of freedom, K ~
    /// Poisson(z), and the mean of χ_ν is √2·Γ((ν+1)/2)/Γ(ν/2), so
    ///
    ///     E[M]/σ = Σ_k e^{−z} zᵏ/k! · g_k,  g_k = √2·Γ(N+k+½)/Γ(N+k),
    ///     d/dz   = Σ_k e^{−z} zᵏ/k! · (g_{k+1} − g_k),  g_{k+1}/g_k = (N+k+½)/(N+k),
    ///
    /// summed outward from the Poisson mode over ±(8√z + 12) terms.
    static func seriesMean(u: Double, coils n: Int) -> (value: Double, slope: Double) {
        let z = u / 2, nn = Double(n)
        guard z > 0 else {
            let b = noiseFloor(coils: n)
            return (b, b / (4 * nn))   // ₁F₁(−½; N; −z) = 1 + z/(2N) + O(z²)
        }
        if z >= 20, let a = asymptoticMean(u: u, coils: n) { return a }
        let mode = CheckedNumber.clamped(z), width = CheckedNumber.clamped(8 * z.squareRoot()) + 12
        let p0 = Double.exp(-z + Double(mode) * Double.log(z) - Double.logGamma(Double(mode + 1)))
        let g0 = 2.0.squareRoot() * Double.exp(Double.logGamma(nn + Double(mode) + 0.5) - Double.logGamma(nn + Double(mode)))
        var value = p0 * g0, dz = p0 * g0 / (2 * (nn + Double(mode)))
        var p = p0, g = g0
        for k in mode..<(mode + width) {            // upward: k → k + 1
            p *= z / Double(k + 1)
            g *= (nn + Double(k) + 0.5) / (nn + Double(k))
            value += p * g
            dz += p * g / (2 * (nn + Double(k + 1)))
        }
        p = p0; g = g0
        var k = mode
        while k > 0 && k > mode - width {           // downward: k → k − 1
            p *= Double(k) / z
            g *= (nn + Double(k) - 1) / (nn + Double(k) - 0.5)
            k -= 1
            value += p * g
            dz += p * g / (2 * (nn + Double(k)))
        }
        return (value, dz / 2)
    }

    /// The large-z expansion above, or nil when its terms stop shrinking before 10⁻¹⁶.
    static func asymptoticMean(u: Double, coils n: Int) -> (value: Double, slope: Double)? {
        let z = u / 2, theta = u.squareRoot(), nn = Double(n)
        var term = 1.0, sum = 1.0, dsum = 1.0      // Σ tₙ and Σ tₙ(1 − 2n): E = θΣtₙ, dE/dθ = Σtₙ(1−2n)
        for i in 0..<60 {
            let k = Double(i)
            let next = term * (k - 0.5) * (k + 0.5 - nn) / ((k + 1) * z)
            guard abs(next) < abs(term) else { return nil }
            term = next
            sum += term
            dsum += term * (1 - 2 * (k + 1))
            if abs(term) <= 1e-16 * abs(sum) { return (theta * sum, dsum / (2 * theta)) }
        }
        return nil
    }

    /// θ ≥ 0 with E[M]/σ = y (Koay & Basser 2006): 0 when y is at or below the noise floor
    /// β_N. Newton's method in u = θ² from u₀ = max(y² − 2N, 0), which lies below the root
    /// because E[M]² ≤ E[M²] = (u + 2N)σ². E[M] is increasing and (checked numerically for
    /// N ≤ 32) concave in u, so the iterates rise monotonically to the root; 3–6 steps
    /// reach 10⁻¹² relative.
    static func invertMean(_ y: Double, coils n: Int) -> Double {
        guard y > noiseFloor(coils: n) else { return 0 }
        var u = max(y * y - 2 * Double(n), 0)
        for _ in 0..<60 {
            let (f, slope) = mean(u: u, coils: n)
            guard f.isFinite, slope > 0 else { break }
            let step = (y - f) / slope
            u = max(u + step, 0)
            if abs(step) <= 1e-12 * max(u, 1) { break }
        }
        return u.squareRoot()
    }
}
