// `cordq denoise …`
import ArgumentParser
import CordCore
import CordDenoise
import CordPipeline

/// `cordq denoise`: noise removal before any model fitting.
public struct DenoiseCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "denoise",
        abstract: "Denoising: MP-PCA, magnitude bias correction, Gibbs unringing.",
        subcommands: [MPPCACommand.self, DegibbsCommand.self, DebiasCommand.self])
    public init() {}
}

/// `cordq denoise mppca`
public struct MPPCACommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "mppca",
        abstract: "Marchenko–Pastur PCA denoising of a 4D series, with noise σ and rank maps.",
        discussion: """
        Veraart J, Novikov DS, Christiaens D, et al. Denoising of diffusion MRI using random matrix \
        theory. NeuroImage 2016;142:394–406. Each window of N voxels × M volumes is decomposed \
        (double precision, LAPACK); eigenvalues under the Marchenko–Pastur edge are noise, σ² \
        follows from them, and the signal components are kept. Estimators: exp1 (Veraart 2016), \
        exp2 (Cordero-Grande et al. 2019, NeuroImage 200:391; default, as MRtrix3), olesen2023 \
        (Olesen et al. 2023, MRM 89:1160; symmetric in M and N).

        Denoise before any interpolation (motion correction, registration). σ is in the input's \
        units (per real/imaginary channel for complex64 input, which is denoised as complex, slice groups included). \
        The default window is the smallest odd cube with at least M voxels; thick axial slices \
        favour in-plane windows such as 9,9,1. At the image edge the window is moved inward (all \
        its voxels distinct); --edges mirror reflects it instead, as MRtrix3 3.0 does, which \
        repeats voxels and biases σ low near the edge. --reconstruction centre keeps only each \
        window's centre voxel (one window per voxel, as dwidenoise); overcomplete (default) \
        averages every window's estimate of a voxel with weights 1/(1+M−P) (as DIPY), windows \
        centred every --stride voxels. Voxels outside --mask keep their input values; σ and rank \
        are 0 there.

        Multiband series: the noise σ differs between slice groups (g-factor). With \
        --slice-groups auto (default) the groups are read from SliceTiming in the input's JSON \
        sidecar (<stem>.json); σ is then estimated per group with in-plane windows, each slice \
        is divided by its group's σ before the 3D windows run, and the result is scaled back. \
        --slice-groups none treats the series as single-band; a number (e.g. 2) gives the \
        multiband factor without a sidecar (slice k in group k mod (slices/MB)).

        The σ map of a magnitude series is the Gaussian σ of each real and imaginary channel: \
        the spread MP-PCA measures is corrected for the Rician (non-central χ) compression of \
        low signals (Koay & Basser 2006, JMR 179:317), which otherwise leaves σ 5-10% low in \
        diffusion-weighted cord data at SNR 20. --noise-model measured reports the raw spread.
        """)
    @Argument(help: "Input 4D series (.nii/.nii.gz; real or complex64).") public var input: String
    @Argument(help: "Output denoised series.") public var output: String
    @Option(help: "Mask: denoise inside only.") public var mask: String?
    @Option(help: "Write the noise σ map here (input units).") public var noise: String?
    @Option(help: "Write the signal-rank map here.") public var rank: String?
    @Option(help: "Window size in voxels, odd: one number (cube) or three (i,j,k), e.g. 5 or 9,9,1.") public var extent: String?
    @Option(help: "Estimator: olesen2023 (default; σ closest to the truth on the phantoms of Benchmarks/denoise), exp2 (MRtrix3's) or exp1.") public var estimator: String = "olesen2023"
    @Option(help: "Reconstruction: overcomplete or centre.") public var reconstruction: String = "overcomplete"
    @Option(help: "Overcomplete: spacing of window centres (voxels); 1 = every voxel.") public var stride: Int = 2
    @Option(help: "Edges: shift (default) or mirror.") public var edges: String = "shift"
    @Option(help: "Refuse series with fewer volumes than this (MP-PCA cannot separate signal from noise in few volumes; cordq process uses the same rule).")
    public var minVolumes: Int = 15
    @Option(help: "Slice groups with their own noise level: auto (SliceTiming in <stem>.json, if present), none, or a multiband factor.")
    public var sliceGroups: String = "auto"
    @Option(help: "What the σ map reports: magnitude (default; the Gaussian σ per real/imaginary channel behind Rician or non-central χ magnitudes, Koay & Basser 2006) or measured (the spread of the data, as dwidenoise and DIPY).")
    public var noiseModel: String = "magnitude"
    @Option(help: "Receive channels combined by sum of squares, for --noise-model magnitude (1 for single-channel or adaptively combined data).")
    public var coils: Int = 1
    @Flag(help: "Do not subtract each volume's window mean before the PCA (MRtrix3 dwidenoise's behaviour; the default centres as DIPY does).")
    public var noDemean = false
    public init() {}

    func parsedExtent() throws -> SIMD3<Int>? {
        guard let e = extent else { return nil }
        let parts = e.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.allSatisfy({ $0 != nil && $0! >= 1 && $0! % 2 == 1 }), parts.count == 1 || parts.count == 3 else {
            throw ValidationError("--extent takes one odd number or three (e.g. 5 or 9,9,1)")
        }
        let v = parts.compactMap { $0 }
        return v.count == 1 ? SIMD3(v[0], v[0], v[0]) : SIMD3(v[0], v[1], v[2])
    }
    public func validate() throws {
        _ = try parsedExtent()
        guard MPEstimator(rawValue: estimator) != nil else { throw ValidationError("--estimator takes exp1, exp2 or olesen2023") }
        guard ["overcomplete", "centre", "center"].contains(reconstruction) else { throw ValidationError("--reconstruction takes overcomplete or centre") }
        guard MPEdgeHandling(rawValue: edges) != nil else { throw ValidationError("--edges takes shift or mirror") }
        guard stride >= 1 else { throw ValidationError("--stride must be at least 1") }
        guard minVolumes >= 2 else { throw ValidationError("--min-volumes must be at least 2") }
        guard ["magnitude", "measured"].contains(noiseModel) else { throw ValidationError("--noise-model takes magnitude or measured") }
        guard (1...64).contains(coils) else { throw ValidationError("--coils takes 1…64") }
        guard SliceGroupSource(sliceGroups) != nil else { throw ValidationError("--slice-groups takes auto, none or a multiband factor 1…16") }
    }
    public func run() throws {
        var r = MPPCARequest(input: input, output: output)
        r.mask = mask; r.noiseOutput = noise; r.rankOutput = rank
        r.options.extent = try parsedExtent()
        r.options.estimator = MPEstimator(rawValue: estimator) ?? .exp2
        r.options.reconstruction = reconstruction == "overcomplete" ? .overcomplete(stride: stride) : .centre
        r.options.edges = MPEdgeHandling(rawValue: edges) ?? .shift
        r.options.minimumVolumes = minVolumes
        r.sliceGroups = SliceGroupSource(sliceGroups) ?? .auto
        r.options.noiseModel = noiseModel == "measured" ? .asMeasured : .magnitude(coils: coils)
        r.options.demean = !noDemean
        let s = try DenoisePipeline.mppca(r)
        for o in s.outputs { print("wrote \(o)") }
        print("  \(s.volumes) volumes\(s.complexInput ? " (complex)" : ""), window \(s.window.x)×\(s.window.y)×\(s.window.z)")
        if let g = s.groupSigma {
            print("  σ per slice group (\(s.groupSource)): " + g.map { $0.isFinite ? formatSignificant($0) : "n/a" }.joined(separator: " "))
        }
        print("  median σ \(formatSignificant(s.medianSigma)), median rank \(formatSignificant(s.medianRank)), \(formatFixed(s.seconds, 2)) s")
    }
}

/// `cordq denoise degibbs`
public struct DegibbsCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "degibbs",
        abstract: "Gibbs-ringing removal by local sub-voxel shifts (Kellner et al. 2016, MRM 76:1574).",
        discussion: """
        Each 2D slice (default: the plane of the two finest voxel axes) is shifted by sub-voxel \
        amounts with FFT phase ramps; per voxel the shift with the least local total variation is \
        chosen and interpolated, along x and y, combined with the paper's k-space weights. Run it \
        on fully sampled k-space data after MP-PCA and before any interpolation; partial-Fourier \
        acquisitions ring differently and are not corrected properly. Matches MRtrix3 mrdegibbs.
        """)
    @Argument(help: "Input image (3D or 4D).") public var input: String
    @Argument(help: "Output image.") public var output: String
    @Option(help: "In-plane voxel axes, e.g. 0,1 (default: the two finest).") public var axes: String?
    @Option(help: "Number of sub-voxel shifts.") public var shifts = 20
    @Option(help: "Smallest neighbourhood half-width for the total variation.") public var minW = 1
    @Option(help: "Largest neighbourhood half-width for the total variation.") public var maxW = 3
    public init() {}
    func options() throws -> GibbsOptions {
        var o = GibbsOptions(shifts: shifts, minW: minW, maxW: maxW)
        if let a = axes {
            let p = a.split(separator: ",").compactMap { Int($0) }
            guard p.count == 2 else { throw ValidationError("--axes takes two axis numbers, e.g. 0,1") }
            o.axes = SIMD2(p[0], p[1])
        }
        return o
    }
    public func validate() throws { _ = try options() }
    public func run() throws {
        let axes = try DenoisePipeline.degibbs(input: input, output: output, options: try options())
        print("wrote \(output) (unringing in the plane of voxel axes \(axes.x) and \(axes.y))")
    }
}

/// `cordq denoise debias`
public struct DebiasCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "debias",
        abstract: "Magnitude bias (Rician / non-central χ) correction from a noise σ.",
        discussion: """
        Magnitude images of N-coil sum-of-squares data follow a non-central χ distribution with \
        E[M²] = A² + 2Nσ² (N = 1: Rician). --method moments: A = √max(M² − 2Nσ², 0). --method \
        koay-basser (default): A solving E[M | A, σ, N] = M (Koay & Basser 2006, JMR 179:317). σ is \
        the per-channel noise SD in image units: a number, or a map such as the --noise output of \
        cordq denoise mppca (voxels with σ = 0 are left unchanged).
        """)
    @Argument(help: "Input magnitude image (3D or 4D).") public var input: String
    @Argument(help: "Output image.") public var output: String
    @Option(help: "Noise σ (image units).") public var sigma: Double?
    @Option(help: "Noise σ map (one frame, or one per frame).") public var sigmaMap: String?
    @Option(help: "Receive channels combined by sum of squares (1 = Rician).") public var coils = 1
    @Option(help: "moments or koay-basser.") public var method = "koay-basser"
    public init() {}
    public func validate() throws {
        guard (sigma == nil) != (sigmaMap == nil) else { throw ValidationError("give exactly one of --sigma and --sigma-map") }
        guard MagnitudeBiasMethod(rawValue: method) != nil else { throw ValidationError("--method takes moments or koay-basser") }
        guard coils >= 1 else { throw ValidationError("--coils must be at least 1") }
    }
    public func run() throws {
        try DenoisePipeline.debias(input: input, output: output, sigma: sigma, sigmaMap: sigmaMap, coils: coils,
                                   method: MagnitudeBiasMethod(rawValue: method) ?? .koayBasser)
        print("wrote \(output)")
    }
}
