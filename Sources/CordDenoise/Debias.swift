// Magnitude (Rician / non-central χ) bias correction from a known noise level σ.
import CordCore

/// How the underlying signal A is recovered from a magnitude M, given σ and N coils.
/// Both return values in the image's units, never negative.
public enum MagnitudeBiasMethod: String, Sendable, CaseIterable {
    /// Method of moments on the squared magnitude (METHODS.md): E[M²] = A² + 2Nσ², so
    ///
    ///     Â = √max(M² − 2Nσ², 0).
    ///
    /// Exact when M is the root-mean-square of repeated magnitudes; on single noisy values
    /// it over-subtracts at low SNR (mean of Â ≈ 0.8·A at A/σ = 1–2 for one coil).
    case moments
    /// Inversion of the mean magnitude (Koay & Basser 2006, JMR 179:317; the fixed point
    /// of Koay, Özarslan & Basser 2009, JMR 197:108, with σ known): Â solves
    ///
    ///     E[M | A, σ, N] = σ·β_N·₁F₁(−½; N; −A²/(2σ²)) = M,
    ///
    /// and is 0 at or below the noise floor β_Nσ (β₁ = √(π/2)). Exact when M estimates the
    /// mean magnitude (denoised or averaged data). On single noisy values it leaves less
    /// bias than `moments` for one coil (mean of Â −1.5% vs −20% of A at A/σ = 1), though not
    /// at every SNR for several coils (+11% vs −1.5% at A/σ = 1, N = 4).
    case koayBasser = "koay-basser"
}

/// Removes the noise floor of magnitude images: the sum-of-squares combination of N coils
/// with complex Gaussian noise of standard deviation σ in each real and imaginary channel
/// makes M non-central χ (Rician for N = 1), biased upward, E[M²] = A² + 2Nσ²
/// (Koay & Basser 2006, JMR 179:317). Use N = 1 for single-channel and adaptively combined
/// (e.g. Siemens ACC) data, the number of receive channels for sum-of-squares data.
public enum MagnitudeBias {
    /// Corrects every value of `magnitude` with one noise level σ (> 0, the image's units).
    public static func correct(_ magnitude: Volume<Float>, sigma: Double, coils: Int,
                               method: MagnitudeBiasMethod = .koayBasser) throws -> Volume<Float> {
        try requireCoils(coils)
        guard sigma.isFinite, sigma > 0 else {
            throw CordError.invalidValue(what: "noise level σ",
                                         detail: "must be a positive number in the image's units, got \(sigma)")
        }
        try magnitude.requireFinite("magnitude image")
        return apply(magnitude, coils: coils, method: method) { _ in sigma }
    }

    /// Corrects `magnitude` with a σ map on the same grid (e.g. MP-PCA's noise map): one
    /// frame (used for every frame) or as many frames as `magnitude`. σ must be ≥ 0; where
    /// it is 0 (outside a denoising mask) values are left unchanged, the σ → 0 limit of
    /// both methods.
    public static func correct(_ magnitude: Volume<Float>, sigma map: Volume<Float>, coils: Int,
                               method: MagnitudeBiasMethod = .koayBasser) throws -> Volume<Float> {
        try requireCoils(coils)
        try magnitude.grid.requireCompatible(with: map.grid, "magnitude image", "σ map")
        guard map.frames == 1 || map.frames == magnitude.frames else {
            throw CordError.countMismatch(what: "σ map volumes", expected: magnitude.frames, found: map.frames,
                                          detail: "give one σ volume for all frames or one per frame")
        }
        try map.requireFinite("σ map")
        let negative = map.data.reduce(0) { $0 + ($1 < 0 ? 1 : 0) }
        guard negative == 0 else {
            throw CordError.invalidValue(what: "σ map",
                                         detail: "\(negative) value\(negative == 1 ? " is" : "s are") negative; σ must be ≥ 0 (0 leaves a voxel unchanged)")
        }
        guard map.data.contains(where: { $0 > 0 }) else {
            throw CordError.invalidValue(what: "σ map", detail: "is zero everywhere, so there is no noise level to correct with")
        }
        try magnitude.requireFinite("magnitude image")
        let sigmas = map.data, mapCount = map.data.count
        return apply(magnitude, coils: coils, method: method) { Double(sigmas[$0 % mapCount]) }
    }

    /// Â for one magnitude `m` with noise level σ (same units); σ = 0 returns m unchanged.
    public static func signal(magnitude m: Double, sigma: Double, coils: Int,
                              method: MagnitudeBiasMethod = .koayBasser) -> Double {
        guard sigma > 0 else { return m }
        guard m > 0 else { return 0 }
        switch method {
        case .moments:
            return max(m * m - 2 * Double(coils) * sigma * sigma, 0).squareRoot()
        case .koayBasser:
            return sigma * NoncentralChi.invertMean(m / sigma, coils: coils)
        }
    }

    /// E[M] for underlying signal A ≥ 0 and noise level σ > 0 (same units):
    /// σ·β_N·₁F₁(−½; N; −A²/(2σ²)).
    public static func meanMagnitude(signal a: Double, sigma: Double, coils: Int) -> Double {
        let theta = a / sigma
        return sigma * NoncentralChi.mean(u: theta * theta, coils: coils).value
    }

    /// The noise floor E[M | A = 0] = β_N·σ, β_N = √2·Γ(N+½)/Γ(N) (√(π/2)·σ for one coil).
    public static func noiseFloor(sigma: Double, coils: Int) -> Double {
        sigma * NoncentralChi.noiseFloor(coils: coils)
    }

    // MARK: - Internals

    private static func requireCoils(_ coils: Int) throws {
        guard coils >= 1 else {
            throw CordError.invalidValue(what: "number of coils N = \(coils)",
                                         detail: "must be at least 1 (1 for single-channel or adaptively combined data, the channel count for sum of squares)")
        }
    }

    /// Applies the per-value correction over all cores; `sigmaAt` maps a value's index in
    /// the buffer to its σ.
    private static func apply(_ magnitude: Volume<Float>, coils: Int, method: MagnitudeBiasMethod,
                              sigmaAt: @escaping @Sendable (Int) -> Double) -> Volume<Float> {
        NumericLibraries.configure()
        let input = magnitude.data
        let output = SharedBuffer<Float>(repeating: 0, count: input.count)
        parallelChunks(input.count, minimumChunk: 4096) { range, _ in
            for i in range {
                let a = signal(magnitude: Double(input[i]), sigma: sigmaAt(i), coils: coils, method: method)
                output[i] = Float(a)
            }
        }
        // Count and grid are those of the input, so this cannot fail.
        return (try? Volume(grid: magnitude.grid, frames: magnitude.frames, data: output.array)) ?? magnitude
    }
}
