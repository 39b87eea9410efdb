// Choosing and running a μFA route from the encodings a series holds.
import CordCore

/// The established routes to microscopic fractional anisotropy.
public enum MicroFAMethod: String, CaseIterable, Sendable {
    /// Pick from the encodings present (see `MicroFA.choose`).
    case auto
    /// Powder-average gamma model over linear + spherical (and planar) shells (Lasič 2014; Szczepankiewicz 2016).
    case gamma
    /// Q-space trajectory imaging (Westin 2016).
    case qti
    /// Spherical mean technique on linear-only multi-shell data (Kaden 2016); model-dependent.
    case smt
    /// Double diffusion encoding, parallel vs orthogonal powder averages (Jespersen 2013).
    case dde

    public var citation: String {
        switch self {
        case .auto: "chosen from the encodings present"
        case .gamma: "Lasič S et al. 2014, Front Phys 2:11; Szczepankiewicz F et al. 2016, NeuroImage 142:522"
        case .qti: "Westin CF et al. 2016, NeuroImage 135:345; positivity as in Herberthson M et al. 2021, NeuroImage 238:118198"
        case .smt: "Kaden E, Kruggel F, Alexander DC 2016, Magn Reson Med 75:1752"
        case .dde: "Jespersen SN et al. 2013, NMR Biomed 26:1647; Shemesh N et al. 2016, Magn Reson Med 75:82; normalised as Lasič S et al. 2014, Front Phys 2:11"
        }
    }
}

/// One output map: file-name key, unit, and the image.
public struct DiffusionMap: Sendable {
    public var name: String
    public var unit: String
    public var description: String
    public var image: Volume<Float>
}

/// The result of a μFA fit: maps and what the reader must know about them.
public struct MicroFAResult: Sendable {
    public var method: MicroFAMethod
    /// Why this method (for `auto`) and on which shells.
    public var explanation: String
    /// True when the μFA value depends on a tissue model beyond the cumulant/gamma
    /// description (SMT: one microscopic tensor per voxel).
    public var modelDependent: Bool
    public var assumptions: [String]
    public var maps: [DiffusionMap]
    public func map(_ name: String) -> Volume<Float>? { maps.first { $0.name == name }?.image }
}

/// μFA method selection and fitting.
public enum MicroFA {
    /// What each method needs, in words, for error messages.
    static func needs(_ m: MicroFAMethod) -> String {
        switch m {
        case .gamma: "b = 0 plus linear-encoding shells and spherical (or planar) shells at b > 0 (e.g. b = 0, LTE and STE at 1000 and 2000 s/mm²)"
        case .qti: "b = 0 plus linear encoding in ≥ 6 directions at ≥ 2 b-values and spherical or planar encoding, ≥ 28 volumes"
        case .smt: "b = 0 plus linear encoding on at least two non-zero shells (e.g. b = 1000 and 2000 s/mm²)"
        case .dde: "b = 0 plus double-diffusion-encoding volumes with parallel and with orthogonal block directions at the same b (given in an encoding table)"
        case .auto: "tensor-valued or double diffusion encoding, or linear encoding on two or more non-zero shells"
        }
    }

    /// Checks that `method` can be fitted to `scheme`; `auto` resolves to a concrete
    /// method. Returns the method and a sentence explaining the choice.
    public static func choose(_ method: MicroFAMethod, for scheme: EncodingScheme) throws -> (MicroFAMethod, String) {
        let kinds = scheme.kinds
        let lte = scheme.shells(.linear).count, ste = scheme.shells(.spherical).count, pte = scheme.shells(.planar).count
        let par = Set(scheme.shells(.ddeParallel).map(\.bSPerMM2)), orth = Set(scheme.shells(.ddeOrthogonal).map(\.bSPerMM2))
        let found = "encodings " + scheme.summary
        func refuse(_ m: MicroFAMethod) -> DiffusionError {
            .missingEncodings(method: m.rawValue, found: found, needed: needs(m))
        }
        if scheme.referenceVolumes.isEmpty && method != .auto { throw DiffusionError.noReferenceVolume(model: method.rawValue) }
        switch method {
        case .gamma:
            guard lte > 0, ste + pte > 0 else { throw refuse(.gamma) }
            return (.gamma, "gamma model on \(lte) linear and \(ste + pte) spherical/planar shells")
        case .qti:
            guard lte > 0, ste + pte > 0 else { throw refuse(.qti) }
            return (.qti, "QTI on \(scheme.count) volumes (\(scheme.summary))")
        case .smt:
            guard lte >= 2 else { throw refuse(.smt) }
            return (.smt, "SMT on \(lte) linear shells" + (kinds.count > 1 ? "; other encodings are ignored" : ""))
        case .dde:
            guard !par.intersection(orth).isEmpty else { throw refuse(.dde) }
            return (.dde, "DDE parallel vs orthogonal powder averages at b = \(par.intersection(orth).sorted().map(String.init).joined(separator: ", ")) s/mm²")
        case .auto:
            if scheme.referenceVolumes.isEmpty { throw DiffusionError.noReferenceVolume(model: "μFA") }
            if !par.intersection(orth).isEmpty {
                return (.dde, "auto: the series has parallel and orthogonal DDE volumes at the same b, so the DDE route (Jespersen 2013) is used")
            }
            if lte > 0 && ste + pte > 0 {
                return (.gamma, "auto: linear and \(ste > 0 ? "spherical" : "planar") encodings are present, so the powder-average gamma model is used (fewest assumptions, least bias at high b); --method qti gives the full covariance (C_c, MK)")
            }
            if lte >= 2 {
                return (.smt, "auto: only linear encoding on \(lte) non-zero shells, so SMT is the only route; its μFA is model-dependent (one microscopic tensor per voxel); add spherical-encoding shells for a model-free μFA")
            }
            throw DiffusionError.missingEncodings(method: "μFA", found: found, needed: needs(.auto) + "; a single linear shell supports DTI only")
        }
    }

    /// Fits `method` (after `choose`) to every voxel of `data`.
    public static func fit(_ data: MaskedSignals, table: GradientTable, method requested: MicroFAMethod,
                           qtiPositivity: QTIPositivity = .isotropic,
                           progress: ProgressReporter? = nil) throws -> MicroFAResult {
        let scheme = try EncodingScheme(table)
        guard data.frames == scheme.count else {
            throw DiffusionError.countMismatch(what: "volumes in the series vs encodings", expected: scheme.count, found: data.frames)
        }
        let (method, why) = try choose(requested, for: scheme)
        func vol(_ v: [Double], _ stride: Int, _ o: Int) -> Volume<Float> { data.volume(from: v, stride: stride, offset: o) }
        switch method {
        case .gamma, .dde:
            let kinds: Set<EncodingKind> = method == .gamma ? [.linear, .planar, .spherical] : [.ddeParallel, .ddeOrthogonal]
            let shells = PowderShells(scheme, kinds: kinds)
            // V_I and V_A separate only with two b_Δ² values; one DDE shell cannot also give V_I.
            let distinctB = Set(shells.b.dropFirst().map { CheckedNumber.clamped($0 * 1000, .toNearestOrAwayFromZero) }).count
            let fixVI = method == .dde && distinctB < 2
            if method == .gamma && distinctB < 2 && shells.count < 4 {
                throw DiffusionError.tooFewMeasurements(model: "the gamma model", unknowns: 4, found: shells.count,
                                                        hint: "it needs b = 0 and at least three shells (e.g. linear at two b-values and spherical at one)")
            }
            let v = fitVoxels(data, outputs: GammaOutput.count, progress: progress) { GammaFitter(shells, fixIsotropicVariance: fixVI) }
            let n = GammaOutput.count
            var maps = [
                DiffusionMap(name: "microFA", unit: "", description: "microscopic fractional anisotropy μFA", image: vol(v, n, GammaOutput.microFA.rawValue)),
                DiffusionMap(name: "MD", unit: "um2/ms", description: "mean diffusivity D̄", image: vol(v, n, GammaOutput.md.rawValue)),
                DiffusionMap(name: "VI", unit: "um4/ms2", description: "isotropic variance V_I", image: vol(v, n, GammaOutput.isotropicVariance.rawValue)),
                DiffusionMap(name: "VA", unit: "um4/ms2", description: "anisotropic variance V_A", image: vol(v, n, GammaOutput.anisotropicVariance.rawValue)),
                DiffusionMap(name: "CMD", unit: "", description: "normalised isotropic variance V_I/D̄²", image: vol(v, n, GammaOutput.cmd.rawValue)),
                DiffusionMap(name: "S0", unit: "signal", description: "non-diffusion-weighted signal", image: vol(v, n, GammaOutput.s0.rawValue)),
            ]
            if method == .dde {
                maps.append(DiffusionMap(name: "logRatio", unit: "", description: "ln(S̄∥/S̄⊥) at the highest DDE b", image: vol(v, n, GammaOutput.logRatio.rawValue)))
            }
            let assumptions = fixVI ? ["one DDE b-value: the isotropic variance V_I is assumed 0 (acquire a second b-value to estimate it)"] : []
            return MicroFAResult(method: method, explanation: why, modelDependent: false, assumptions: assumptions, maps: maps)
        case .qti:
            let v = try QTIModel(scheme, positivity: qtiPositivity).fit(data, progress: progress)
            let n = QTIOutput.count
            let list: [(QTIOutput, String, String, String)] = [
                (.microFA, "microFA", "", "μFA = √C_μ"), (.fa, "FA", "", "FA of the mean tensor ⟨D⟩"),
                (.md, "MD", "um2/ms", "mean diffusivity"), (.cmd, "CMD", "", "C_MD, normalised variance of microscopic MD"),
                (.cm, "CM", "", "C_M, macroscopic anisotropy"), (.cmu, "Cmu", "", "C_μ, microscopic anisotropy"),
                (.cc, "Cc", "", "C_c = C_M/C_μ, orientation coherence"), (.vmd, "VMD", "um4/ms2", "V_MD, variance of microscopic MD"),
                (.kBulk, "Kbulk", "", "bulk kurtosis"), (.kShear, "Kshear", "", "shear kurtosis"), (.mk, "MK", "", "mean kurtosis K_bulk + K_shear"),
                (.kMu, "Kmu", "", "microscopic kurtosis"), (.s0, "S0", "signal", "non-diffusion-weighted signal"),
                (.constrained, "constrained", "", "0 plain fit, 1 variances held at 0 (positivity), 2 full positivity-constrained refit"),
            ]
            var maps = list.map { DiffusionMap(name: $0.1, unit: $0.2, description: $0.3, image: vol(v, n, $0.0.rawValue)) }
            func frames(_ first: Int, _ count: Int) throws -> Volume<Float> { try Volume.stacking((0..<count).map { vol(v, n, first + $0) }) }
            maps.append(DiffusionMap(name: "meanTensor", unit: "um2/ms", description: "⟨D⟩, frames xx yy zz xy xz yz (world RAS+)",
                                     image: try frames(QTIOutput.meanTensor.rawValue, 6)))
            maps.append(DiffusionMap(name: "covariance", unit: "um4/ms2",
                                     description: "ℂ, 21 frames: Mandel upper triangle (1,1) (1,2) … (1,6) (2,2) … (6,6) over xx yy zz √2yz √2xz √2xy (world RAS+); with linear + spherical encoding only its isotropic contractions are determined (minimum-norm rest)",
                                     image: try frames(QTIOutput.covariance.rawValue, 21)))
            return MicroFAResult(method: .qti, explanation: why + "; positivity \(qtiPositivity.rawValue)", modelDependent: false,
                                 assumptions: ["second-order cumulant expansion: μFA is underestimated when b·√V is large (b > 1000 s/mm² in white matter)"],
                                 maps: maps)
        case .smt:
            let shells = PowderShells(scheme, kinds: [.linear])
            let v = fitVoxels(data, outputs: SMTOutput.count, progress: progress) { SMTFitter(shells) }
            let n = SMTOutput.count
            let maps = [
                DiffusionMap(name: "microFA", unit: "", description: "μFA of the SMT microscopic tensor (model-dependent)", image: vol(v, n, SMTOutput.microFA.rawValue)),
                DiffusionMap(name: "lambdaPar", unit: "um2/ms", description: "microscopic axial diffusivity λ∥", image: vol(v, n, SMTOutput.axialDiffusivity.rawValue)),
                DiffusionMap(name: "lambdaPerp", unit: "um2/ms", description: "microscopic radial diffusivity λ⊥", image: vol(v, n, SMTOutput.radialDiffusivity.rawValue)),
                DiffusionMap(name: "MD", unit: "um2/ms", description: "(λ∥ + 2λ⊥)/3", image: vol(v, n, SMTOutput.md.rawValue)),
                DiffusionMap(name: "S0", unit: "signal", description: "mean b = 0 signal", image: vol(v, n, SMTOutput.s0.rawValue)),
            ]
            return MicroFAResult(method: .smt, explanation: why, modelDependent: true,
                                 assumptions: ["model-dependent: one axisymmetric microscopic tensor per voxel with no free water and no spread of diffusivities (Kaden 2016); partial volume with CSF biases μFA"],
                                 maps: maps)
        case .auto:
            fatalError("choose() never returns auto")
        }
    }
}
