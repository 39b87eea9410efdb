// Microscopic diffusion of each tissue: the ground truth a DWI simulation starts from.
import CordCore

/// A population of identical axisymmetric microscopic diffusion tensors (λ∥, λ⊥ in
/// µm²/ms) whose symmetry axes follow a Watson distribution p(u) ∝ exp(κ·(u·n)²) about the
/// local fibre direction n (the cord's tangent). κ = 0 spreads them over all directions
/// (isotropic orientation dispersion), a large κ aligns them; `aligned` puts all on n.
public struct MicroscopicPopulation: Codable, Sendable, Equatable {
    /// Signal fraction of the population at b = 0 within its tissue (fractions add to 1).
    public var weight: Double
    public var axial: Double, radial: Double
    /// Watson concentration κ ≥ 0; ignored when `aligned`.
    public var kappa: Double
    public var aligned: Bool

    public init(weight: Double = 1, axial: Double, radial: Double, kappa: Double = 0, aligned: Bool = false) {
        self.weight = weight; self.axial = axial; self.radial = radial; self.kappa = kappa; self.aligned = aligned
    }
    /// An isotropic tensor (free water, CSF).
    public static func isotropic(_ d: Double, weight: Double = 1) -> MicroscopicPopulation {
        MicroscopicPopulation(weight: weight, axial: d, radial: d, aligned: true)
    }
    /// FA of one microscopic tensor.
    public var microscopicFA: Double {
        let n = (axial * axial + 2 * radial * radial).squareRoot()
        return n > 0 ? abs(axial - radial) / n : 0
    }
}

/// The diffusion properties of one tissue: its b = 0 signal and its populations.
public struct TissueDiffusion: Codable, Sendable, Equatable {
    /// b = 0 signal (arbitrary units; white matter 1).
    public var s0: Double
    public var populations: [MicroscopicPopulation]
    public init(s0: Double, populations: [MicroscopicPopulation]) { self.s0 = s0; self.populations = populations }
}

/// Diffusion properties of every tissue class, with orientation sampling and noise.
///
/// Defaults (37 °C, in-vivo-like cord; λ in µm²/ms): white-matter tracts λ∥ = 2.0,
/// λ⊥ = 0.4 (microscopic FA 0.77) with Watson κ = 12 in the dorsal columns, 8 in the
/// lateral funiculi (corticospinal and others) and 6 in the ventral funiculi, so FA ≈
/// 0.62–0.70 while μFA is the same everywhere; grey matter λ∥ = 1.3, λ⊥ = 0.6 with isotropic
/// dispersion (FA ≈ 0, μFA ≈ 0.40); CSF free water 3.0 (s0 2.0 at a DWI echo time);
/// discs 1.3, vertebral bodies 0.4 and background 1.0 (isotropic, dim).
public struct DiffusionPhantomParameters: Codable, Sendable, Equatable {
    /// One entry per `TissueClass`, indexed by raw value.
    public var tissues: [TissueDiffusion]
    /// Orientations used to discretise each dispersed population (Fibonacci sphere); the
    /// truth is computed from the same discrete set, so signals and truth agree exactly.
    public var orientationSamples = 400
    /// SNR = white-matter b = 0 signal / σ (σ per complex channel, Rician magnitude). nil: no noise.
    public var snr: Double? = 50
    public var seed: UInt64 = 1
    /// σ grows linearly across slices by this fraction from the first to the last slice
    /// (0: uniform; 1: the last slice has twice the first one's σ), as multiband g-factors do.
    public var sliceNoiseRamp = 0.0
    /// Simultaneous multi-slice acquisition: `multibandFactor` slices are excited together,
    /// slice k in group k mod (nz / multibandFactor) (groups acquired in ascending order).
    /// 1: single band.
    public var multibandFactor = 1
    /// Noise that differs between slice groups, as multiband g-factors make it: σ of group g
    /// is σ·(1 + spread·frac(g·φ)) (φ the golden ratio, so neighbouring groups differ; 0:
    /// the same σ in every group). Multiplies the slice ramp.
    public var groupNoiseSpread = 0.0

    /// The slice group of each of `slices` slices (throws when the multiband factor does not
    /// divide the slice count).
    public func sliceGroups(slices: Int) throws -> [Int] {
        guard multibandFactor >= 1, slices % multibandFactor == 0 else {
            throw CordError.invalidValue(what: "multiband factor \(multibandFactor)", detail: "must divide the \(slices) slices")
        }
        let groups = slices / multibandFactor
        return (0..<slices).map { $0 % groups }
    }

    /// σ factor of slice group `g` (see `groupNoiseSpread`).
    public func groupNoiseFactor(_ g: Int) -> Double {
        let phi = (5.0.squareRoot() - 1) / 2
        let u = (Double(g) * phi).truncatingRemainder(dividingBy: 1)
        return 1 + groupNoiseSpread * u
    }

    public init() {
        func wm(_ kappa: Double) -> TissueDiffusion {
            TissueDiffusion(s0: 1, populations: [MicroscopicPopulation(axial: 2.0, radial: 0.4, kappa: kappa)])
        }
        tissues = TissueClass.allCases.map { c -> TissueDiffusion in
            switch c {
            case .dorsalColumnLeft, .dorsalColumnRight: wm(12)
            case .lateralCorticospinalLeft, .lateralCorticospinalRight, .lateralFuniculusLeft, .lateralFuniculusRight: wm(8)
            case .ventralFuniculusLeft, .ventralFuniculusRight: wm(6)
            case .csf: TissueDiffusion(s0: 2.0, populations: [.isotropic(3.0)])
            case .intervertebralDisc: TissueDiffusion(s0: 0.5, populations: [.isotropic(1.3)])
            case .vertebralBody: TissueDiffusion(s0: 0.2, populations: [.isotropic(0.4)])
            case .background: TissueDiffusion(s0: 0.15, populations: [.isotropic(1.0)])
            default: TissueDiffusion(s0: 1.1, populations: [MicroscopicPopulation(axial: 1.3, radial: 0.6, kappa: 0)])
            }
        }
    }

    /// Tissue with several compartments, so the diffusivities spread and the signal departs
    /// from the second-order cumulant at b ≤ 2000 s/mm² as in vivo: white matter 55%
    /// intra-axonal (λ∥ 2.2, λ⊥ 0.1), 35% extra-axonal (λ∥ 1.6, λ⊥ 0.7), both with the tract's
    /// Watson κ, and 10% isotropic 1.0 (cell bodies, partial volume); grey matter 50% neurites
    /// (λ∥ 1.8, λ⊥ 0.2) and 30% extracellular (1.1/0.6) with isotropic dispersion, and 20%
    /// isotropic 0.6. The QTI truncation error at b ≤ 2000 is then about 0.01–0.03 in μFA.
    public static func heterogeneous() -> DiffusionPhantomParameters {
        var p = DiffusionPhantomParameters()
        for c in TissueClass.allCases {
            let i = Int(c.rawValue)
            if c.isWhiteMatter {
                let kappa = p.tissues[i].populations.first?.kappa ?? 8
                p.tissues[i].populations = [
                    MicroscopicPopulation(weight: 0.55, axial: 2.2, radial: 0.1, kappa: kappa),
                    MicroscopicPopulation(weight: 0.35, axial: 1.6, radial: 0.7, kappa: kappa),
                    .isotropic(1.0, weight: 0.10),
                ]
            } else if c.isGreyMatter {
                p.tissues[i].populations = [
                    MicroscopicPopulation(weight: 0.5, axial: 1.8, radial: 0.2, kappa: 0),
                    MicroscopicPopulation(weight: 0.3, axial: 1.1, radial: 0.6, kappa: 0),
                    .isotropic(0.6, weight: 0.2),
                ]
            }
        }
        return p
    }

    /// Sets every white-matter tract to `populations` (same s0).
    public mutating func setWhiteMatter(_ populations: [MicroscopicPopulation]) {
        for c in TissueClass.allCases where c.isWhiteMatter { tissues[Int(c.rawValue)].populations = populations }
    }
    /// Sets every grey-matter part to `populations`.
    public mutating func setGreyMatter(_ populations: [MicroscopicPopulation]) {
        for c in TissueClass.allCases where c.isGreyMatter { tissues[Int(c.rawValue)].populations = populations }
    }

    /// Throws when a value is out of range.
    public func validate() throws {
        guard tissues.count == TissueClass.count else {
            throw CordError.invalidValue(what: "diffusion phantom tissues", detail: "need \(TissueClass.count) entries, found \(tissues.count)")
        }
        for (c, t) in zip(TissueClass.allCases, tissues) {
            let total = t.populations.reduce(0) { $0 + $1.weight }
            guard t.s0 >= 0, !t.populations.isEmpty, abs(total - 1) < 1e-6,
                  t.populations.allSatisfy({ $0.axial >= 0 && $0.radial >= 0 && $0.axial <= 4 && $0.radial <= 4 && $0.kappa >= 0 && $0.weight >= 0 }) else {
                throw CordError.invalidValue(what: "diffusion of \(c.name)", detail: "s0 ≥ 0, weights summing to 1 and diffusivities in 0…4 µm²/ms are required")
            }
        }
        guard (1...20000).contains(orientationSamples) else {
            throw CordError.invalidValue(what: "orientation samples", detail: "\(orientationSamples) is outside 1…20000")
        }
        if let s = snr, !(s > 0 && s.isFinite) { throw CordError.invalidValue(what: "DWI SNR", detail: "\(s) must be positive") }
        guard groupNoiseSpread >= 0, groupNoiseSpread.isFinite, (1...16).contains(multibandFactor) else {
            throw CordError.invalidValue(what: "multiband noise", detail: "multiband factor 1…16 and a spread ≥ 0 are required")
        }
    }
}
