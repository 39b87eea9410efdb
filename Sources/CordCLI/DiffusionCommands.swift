// `cordq dwi dti|microfa|simulate`: diffusion maps from one or more series.
import ArgumentParser
import CordCore
import CordDiffusion
import CordIO
import CordPipeline

/// `cordq dwi`
public struct DWICommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dwi",
        abstract: "Diffusion MRI: DTI and microscopic anisotropy (μFA) maps.",
        discussion: """
        Units: b-values in s/mm² (bval files), diffusivities in µm²/ms (= 10⁻³ mm²/s), variances \
        in (µm²/ms)². Encodings: FSL bval/bvec beside each image (dwi.bval/dwi.bvec or \
        bvals.txt/bvecs.txt) plus, for tensor-valued or double diffusion encoding, an encoding \
        table <stem>_encoding.tsv beside the image (README, "Diffusion encodings").
        """,
        subcommands: [DTICommand.self, MicroFACommand.self, DWICorrectCommand.self, DWISimulateCommand.self])
    public init() {}
}

/// Gradient files given on the command line instead of beside the image: FSL's `--bval`/`--bvec`
/// or MRtrix3's `--fslgrad BVECS BVALS` (same files, MRtrix3's order), one pair per series.
public struct GradientFileOptions: ParsableArguments {
    @Option(name: .customLong("bval"), help: ArgumentHelp("FSL b-values file (s/mm²) of each series in order; default: <stem>.bval (or bvals.txt) beside the image.", valueName: "file"))
    public var bvals: [String] = []
    @Option(name: .customLong("bvec"), help: ArgumentHelp("FSL b-vectors file (image frame, 3×N or N×3) of each series in order; default: <stem>.bvec (or bvecs.txt) beside the image.", valueName: "file"))
    public var bvecs: [String] = []
    @Option(name: .customLong("fslgrad"), parsing: .upToNextOption,
            help: ArgumentHelp("MRtrix3-style: the b-vectors then the b-values file of a series (repeat for several series).", valueName: "bvecs bvals"))
    public var fslgrad: [String] = []
    public init() {}

    /// The (bval, bvec) files of each of `count` series, nil where none was given.
    func pairs(count: Int) throws -> [(bval: String, bvec: String)?] {
        if !fslgrad.isEmpty && (!bvals.isEmpty || !bvecs.isEmpty) { throw ValidationError("give --fslgrad or --bval/--bvec, not both") }
        if !fslgrad.isEmpty {
            guard fslgrad.count % 2 == 0, fslgrad.count / 2 <= count else {
                throw ValidationError("--fslgrad takes two files per series (b-vectors, then b-values): \(fslgrad.count) file(s) for \(count) series")
            }
            return (0..<count).map { i in 2 * i + 1 < fslgrad.count ? (bval: fslgrad[2 * i + 1], bvec: fslgrad[2 * i]) : nil }
        }
        guard bvals.count == bvecs.count else {
            throw ValidationError("\(bvals.count) --bval and \(bvecs.count) --bvec files: give them in pairs, one pair per series")
        }
        guard bvals.count <= count else { throw ValidationError("\(bvals.count) --bval/--bvec pairs for \(count) series: give at most one per series") }
        return (0..<count).map { i in i < bvals.count ? (bval: bvals[i], bvec: bvecs[i]) : nil }
    }
}

/// Options shared by the fitting commands.
public struct DWIInputOptions: ParsableArguments {
    @Option(name: .customLong("dwi"), help: "Diffusion series (.nii/.nii.gz); repeat for several series (e.g. linear and spherical encoding), concatenated in order.")
    public var images: [String] = []
    @Option(name: .customLong("encoding"), help: ArgumentHelp("b-tensor shape of each --dwi series in order: linear, planar, spherical, or a path to an encoding TSV. Default: <stem>_encoding.tsv beside the image if present, else linear.", valueName: "shape|tsv"))
    public var encodings: [String] = []
    @Option(help: "Mask (non-zero = fit), 'auto' (mean b=0 above 5% of its 99th percentile) or 'all'.")
    public var mask = "auto"
    @Flag(help: "Write uncompressed .nii files.")
    public var noCompress = false
    @Flag(help: "Replace an existing output folder (the old one stays until the new output is complete).")
    public var overwrite = false
    @OptionGroup public var gradients: GradientFileOptions
    public init() {}

    public func validate() throws {
        if images.isEmpty { throw ValidationError("give at least one --dwi series") }
        _ = try gradients.pairs(count: images.count)
        if encodings.count > images.count { throw ValidationError("\(encodings.count) --encoding values for \(images.count) --dwi series: give at most one per series") }
        for e in encodings { _ = try Self.source(e) }
    }
    static func source(_ text: String) throws -> EncodingSource {
        switch text.lowercased() {
        case "linear", "lte": return .shape(.linear)
        case "planar", "pte": return .shape(.planar)
        case "spherical", "ste": return .shape(.spherical)
        case "dde": throw ValidationError("a DDE series needs its second block directions: give an encoding TSV (README, \"Diffusion encodings\")")
        default:
            guard text.hasSuffix(".tsv") else { throw ValidationError("--encoding \(text): use linear, planar, spherical or a .tsv encoding table") }
            return .table(text)
        }
    }
    var inputs: [DWIInput] {
        get throws {
            let files = try gradients.pairs(count: images.count)
            return try images.enumerated().map { i, f in
                DWIInput(image: f, bval: files[i]?.bval, bvec: files[i]?.bvec, encoding: i < encodings.count ? try Self.source(encodings[i]) : nil)
            }
        }
    }
    var maskChoice: MaskChoice { mask == "auto" ? .automatic : mask == "all" ? .all : .file(mask) }
}

/// `cordq dwi dti`
public struct DTICommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dti",
        abstract: "Fit the diffusion tensor: FA, MD, AD, RD (µm²/ms), S0, principal eigenvector.",
        discussion: """
        ln S = ln S₀ − ⟨B, D⟩ (Basser, Mattiello & Le Bihan 1994, Biophys J 66:259) fitted by \
        weighted least squares with weights from the predicted signal (Salvador et al. 2005, Hum \
        Brain Mapp 24:144; --wls-iterations passes, 2 as MRtrix3 dwi2tensor). --nonlinear refines \
        by Levenberg-Marquardt on the signal; --robust finds outlying volumes by \
        Geman-McClure reweighting, excludes those beyond 3σ and refits (RESTORE, Chang et al. 2005, \
        MRM 53:1088), writing the excluded count per voxel (outliers). Needs b=0 and ≥ 6 non-collinear directions. Outputs in OUTDIR: FA, MD, \
        AD, RD, S0, V1 (world RAS+), tensor (xx yy zz xy xz yz), mask (or those named by --maps), \
        dti.json. Both cores.
        """)
    @OptionGroup public var input: DWIInputOptions
    @Option(name: .shortAndLong, help: "Output folder (created; must not exist or be empty).")
    public var output: String
    @Option(help: "Reweighting passes after the ordinary least-squares fit.")
    public var wlsIterations = 2
    @Flag(help: "Refine by non-linear least squares on the signal.")
    public var nonlinear = false
    @Flag(help: "Exclude outlying volumes (robust IRLS, then refit without them).")
    public var robust = false
    @Option(help: "Maps to write, comma-separated, from FA, MD, AD, RD, S0, V1, tensor, mask (default: all).")
    public var maps = DiffusionProcessing.dtiMaps.joined(separator: ",")
    public init() {}

    public func validate() throws {
        let list = maps.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        if let bad = list.first(where: { !DiffusionProcessing.dtiMaps.contains($0) }) {
            throw ValidationError("--maps: unknown map \(bad); choose from \(DiffusionProcessing.dtiMaps.joined(separator: ", "))")
        }
    }

    public func run() throws {
        var o = DTIOptions()
        o.wlsIterations = max(0, wlsIterations); o.nonlinear = nonlinear; o.robust = robust
        let list = Set(maps.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) })
        let s = try DiffusionProcessing.dti(inputs: try input.inputs, mask: input.maskChoice, output: output, options: o,
                                            compress: !input.noCompress, maps: list, overwrite: input.overwrite)
        print("wrote \(s.output): \(s.files.joined(separator: ", "))")
        print("  \(s.voxels) voxels, encodings \(s.encodings), \(s.method), fit \(formatFixed(s.fitSeconds, 2)) s")
    }
}

/// `cordq dwi microfa`
public struct MicroFACommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "microfa",
        abstract: "Microscopic fractional anisotropy (μFA) by the route the encodings support.",
        discussion: """
        μFA = √(3/2)·√(V_λ/(V_λ + V_I + D̄²)): the FA the tissue would have without orientation \
        dispersion. Methods: gamma — powder-average gamma model over linear + spherical (+ planar) \
        shells (Lasič et al. 2014, Front Phys 2:11; Szczepankiewicz et al. 2016, NeuroImage \
        142:522): μFA, MD, V_I, V_A, C_MD. qti — Q-space trajectory imaging (Westin et al. 2016, \
        NeuroImage 135:345), weighted least squares with positivity per --qti-positivity \
        (isotropic, default: V_MD and the shear contraction of ℂ held ≥ 0 by an exact constrained \
        step; full: ⟨D⟩ ⪰ 0 and ℂ ⪰ 0 by a factorised refit, QTI+, slower and biased upward at \
        low SNR; none: plain WLS as DIPY): mean \
        tensor, covariance tensor, μFA, FA, MD, C_MD, C_M, C_μ, C_c, K_bulk, K_shear, MK. smt — spherical mean technique for \
        linear-only multi-shell data (Kaden et al. 2016, MRM 75:1752): μFA, λ∥, λ⊥; \
        MODEL-DEPENDENT (one microscopic tensor per voxel), flagged in microfa.json. dde — double \
        diffusion encoding, parallel vs orthogonal powder averages (Jespersen et al. 2013, NMR \
        Biomed 26:1647). auto picks DDE, then gamma, then SMT from the encodings present and says \
        why; a method the data cannot support is refused with the encodings it would need. \
        Diffusivities µm²/ms, variances (µm²/ms)². Magnitude data carry a noise floor that \
        lifts high-b signals and biases μFA; after MP-PCA (whose output estimates the mean \
        magnitude) give --noise-sigma with its σ map to remove it first (process does this \
        by default after its MP-PCA step).
        """)
    @OptionGroup public var input: DWIInputOptions
    @Option(name: .shortAndLong, help: "Output folder (created; must not exist or be empty).")
    public var output: String
    @Option(help: "auto, gamma, qti, smt or dde.")
    public var method = "auto"
    @Option(help: "QTI positivity: isotropic (default), full or none.")
    public var qtiPositivity = "isotropic"
    @Option(help: ArgumentHelp("Remove the magnitude (Rician / non-central χ) bias before fitting, with this noise σ per real/imaginary channel: a number in image units or a σ map (e.g. denoise mppca's --noise output). Koay & Basser 2006, JMR 179:317; best after MP-PCA.", valueName: "sigma|map"))
    public var noiseSigma: String?
    @Option(help: "Receive channels combined by sum of squares, for --noise-sigma (1 = Rician: single-channel or adaptive combination).")
    public var coils = 1
    @Option(help: ArgumentHelp("Fit only b = 0 and the volumes with b ≤ this (s/mm²): less truncation error of QTI's cumulant expansion and of the gamma model's shape, fewer measurements (README: accuracy limits).", valueName: "b"))
    public var maxB: Double?
    public init() {}

    public func validate() throws {
        if MicroFAMethod(rawValue: method) == nil { throw ValidationError("--method \(method): use auto, gamma, qti, smt or dde") }
        if QTIPositivity(rawValue: qtiPositivity) == nil { throw ValidationError("--qti-positivity \(qtiPositivity): use isotropic, full or none") }
    }
    public func run() throws {
        let m = MicroFAMethod(rawValue: method) ?? .auto
        let s = try DiffusionProcessing.microFA(inputs: try input.inputs, mask: input.maskChoice, output: output, method: m,
                                                qtiPositivity: QTIPositivity(rawValue: qtiPositivity) ?? .isotropic,
                                                noise: noiseSigma.map(NoiseSigmaChoice.init), coils: coils, maximumB: maxB, compress: !input.noCompress,
                                                overwrite: input.overwrite)
        print("wrote \(s.output): \(s.files.joined(separator: ", "))")
        print("  method \(s.method): \(s.explanation)")
        print("  \(s.voxels) voxels, encodings \(s.encodings), fit \(formatFixed(s.fitSeconds, 2)) s")
    }
}

/// `cordq dwi simulate`
public struct DWISimulateCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Simulate a phantom diffusion series (any b-tensor) with its ground-truth FA, MD and μFA.",
        discussion: """
        The cord phantom's tissues are populations of microscopic tensors (white matter λ∥ 2.0, \
        λ⊥ 0.4 µm²/ms with Watson dispersion about the cord; grey matter 1.3/0.6 with isotropic \
        dispersion; CSF 3.0), partial volume per voxel, Rician noise with SNR = white-matter b=0 \
        signal / σ. Schemes: dti (5 b=0 + 30 × b=800), dti66 (6 b=0 + 60 × b=1000), lte-ste, lte-pte-ste, multishell, dde. Writes dwi.nii.gz, \
        dwi.bval, dwi.bvec, dwi_encoding.tsv, cord and white-matter masks, truth maps.
        """)
    @Argument(help: "Output folder (created; must not exist or be empty).")
    public var output: String
    @Option(help: "Encoding scheme.")
    public var scheme = "lte-ste"
    @Option(help: "SNR (white-matter b=0 / σ); 0 for noise-free.")
    public var snr: Double = 50
    @Option(help: "Noise seed.")
    public var seed: UInt64 = 1
    @Option(help: "In-plane voxel size (mm).")
    public var inPlane = 0.8
    @Option(help: "Slice thickness (mm).")
    public var sliceThickness = 3.0
    @Option(help: "Square field of view (mm).")
    public var fieldOfView = 20.0
    @Option(help: "Inferior and superior world z of the slab (mm), e.g. --z-range=-45,-5 for about C3–C5.")
    public var zRange = "-45,-5"
    public init() {}

    @Option(help: "Noise σ grows linearly across slices by this fraction (0 = uniform; 1 = last slice twice the first), as multiband g-factors make it.")
    public var sliceNoiseRamp: Double = 0
    @Option(help: "Multiband factor: slices excited together (slice k in group k mod (slices/MB)); written to dwi.json with SliceTiming.")
    public var multiband = 1
    @Option(help: "Noise σ differs between slice groups by up to this fraction (group g: 1 + spread·frac(0.618·g)), as multiband g-factors make it.")
    public var groupNoiseSpread: Double = 0
    @Option(help: "Tissue model: standard (one population of microscopic tensors per tissue) or heterogeneous (intra/extra-axonal and isotropic compartments; larger departure from the cumulant expansion).")
    public var tissue = "standard"
    public func run() throws {
        var o = DWISimulationOptions()
        o.tissue = tissue
        o.sliceNoiseRamp = sliceNoiseRamp; o.multibandFactor = multiband; o.groupNoiseSpread = groupNoiseSpread
        o.scheme = scheme; o.snr = snr == 0 ? nil : snr; o.seed = seed  // NaN and negatives reach the plausibility check
        o.inPlane = inPlane; o.sliceThickness = sliceThickness; o.fieldOfView = fieldOfView
        let z = zRange.split(separator: ",").compactMap { Double($0) }
        guard z.count == 2, z[0] < z[1] else { throw ValidationError("--z-range takes INFERIOR,SUPERIOR in mm, e.g. -45,-5") }
        o.inferior = z[0]; o.superior = z[1]
        let files = try DiffusionSimulationExport.write(to: output, options: o)
        print("wrote \(output): \(files.joined(separator: ", "))")
    }
}
