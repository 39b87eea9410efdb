// `cordq epi field` and `cordq epi unwarp`: susceptibility distortion correction of EPI
// from a reverse phase-encoding pair.
import ArgumentParser
import CordCore
import CordDistortion
import CordPipeline

/// `cordq epi`
public struct EPICommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "epi",
        abstract: "EPI susceptibility distortion: field from a reverse phase-encoding pair, unwarping.",
        discussion: """
        Units: the field in Hz; TotalReadoutTime in seconds (BIDS); displacement in voxels \
        along the phase-encoding axis = field × TotalReadoutTime, towards the positive end of \
        the series' PhaseEncodingDirection (BIDS/FSL topup sign convention). Phase-encoding \
        direction and readout time come from each image's BIDS sidecar (<stem>.json) unless \
        given as options. Method: HySCO (Ruthotto et al. 2012, Phys Med Biol 57:5715), started \
        by per-line optimal transport (Julian & Ruthotto 2024, Front Neurosci 18:1406821).
        """,
        subcommands: [EPIFieldCommand.self, EPIUnwarpCommand.self])
    public init() {}
}

/// Phase-encoding and readout overrides shared by both commands.
public struct EPIReadoutOptions: ParsableArguments {
    @Option(name: .customLong("pe-dir"), help: ArgumentHelp("Phase-encoding direction of the (first) image when its sidecar has none: i, i-, j, j-, k, k- (voxel axes of the file).", valueName: "dir"))
    public var peDir: String?
    @Option(name: .customLong("total-readout-time"), help: ArgumentHelp("TotalReadoutTime in seconds (e.g. 0.04) when the sidecar has none.", valueName: "s"))
    public var totalReadoutTime: Double?
    public init() {}

    public func validate() throws {
        if let p = peDir, EPIDistortion.parsePhaseEncoding(p) == nil {
            throw ValidationError("--pe-dir \(p): use i, i-, j, j-, k or k- (BIDS PhaseEncodingDirection)")
        }
        if let t = totalReadoutTime, !(t >= 0.001 && t <= 0.5) {
            throw ValidationError("--total-readout-time \(t): give seconds between 0.001 and 0.5 (EPI readouts last tens of milliseconds)")
        }
    }
    var phaseEncoding: PhaseEncoding? { peDir.flatMap(EPIDistortion.parsePhaseEncoding) }
}

/// `cordq epi field`
public struct EPIFieldCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "field",
        abstract: "Susceptibility field (Hz) from a blip-up/blip-down pair (or, weaker, from the anatomical T2w), and the b = 0 unwarped.",
        discussion: """
        The two images (b = 0 EPI read out with opposite phase-encoding polarity, e.g. BIDS \
        fmap/*_epi or dwi dir-AP/dir-PA; with a .bval beside a series, its b ≤ 50 s/mm² volumes \
        are averaged, else all volumes) must share the grid, the phase-encoding axis and the \
        readout. The displacement d along phase encoding minimises \
        ½‖A(x+d)(1+∂d) − B(x−d)(1−∂d)‖² + ½α‖∇d‖² + βΣψ(∂d), ψ(v) = v⁴/(1−v²) (HySCO, Ruthotto \
        et al. 2012, Phys Med Biol 57:5715): Jacobian-modulated images agree, the field is smooth \
        (α per mm², intensities normalised to 1) and the barrier keeps both Jacobians 1 ± ∂d > 0 \
        (the warp invertible). It starts from per-line 1D optimal transport (Julian & Ruthotto \
        2024, Front Neurosci 18:1406821) and is refined by Gauss–Newton (conjugate gradients, \
        Armijo line search) coarse to fine: the optimal-transport start and the first \
        iterations on the grid halved in plane (--coarsenings, --coarse-iterations), then a fixed \
        number of iterations on the acquired grid (--fine-iterations). Writes OUTDIR/field_hz.nii.gz \
        (Hz), pe_corrected.nii.gz and pe-reverse_corrected.nii.gz (each unwarped, \
        Jacobian-modulated), b0_corrected.nii.gz (the two combined, each weighted by its \
        Jacobian, i.e. its local sampling density), jacobian.nii.gz (of the --pe image's \
        unwarp) and field.json (readout, sign convention, pair mismatch before/after, minimum \
        Jacobian, reading/estimation seconds). All files or none. Both cores.

        Without a reverse phase-encoding pair: --anat T2W (and preferably --anat-mask, the \
        cord mask on T2W) instead of --pe-reverse. The weaker fallback: the b = 0 (--pe) is \
        registered to the anatomical image, resampled onto the EPI grid through both files' \
        world coordinates, by a smooth displacement along phase encoding only, with Jacobian \
        modulation, maximising the mean squared local correlation in the cord + 5 mm (robust \
        to the two contrasts differing, including inverted; Avants et al. 2008, Med Image Anal \
        12:26). It assumes the anatomical image is undistorted and aligned with the EPI (same \
        session, no motion between them); check the corrected b = 0. Writes field_hz.nii.gz, \
        pe_corrected.nii.gz, jacobian.nii.gz, anat_on_epi.nii.gz and field.json.
        """)
    @Option(help: ArgumentHelp("Image read out with phase-encoding direction P (its sidecar gives P and TotalReadoutTime).", valueName: "A.nii.gz"))
    public var pe: String
    @Option(name: .customLong("pe-reverse"), help: ArgumentHelp("Image read out with the reverse direction (P-).", valueName: "B.nii.gz"))
    public var peReverse: String?
    @Option(help: ArgumentHelp("Without a reverse pair: the anatomical image (T2w, undistorted, same session) to register the --pe b = 0 to, along phase encoding only.", valueName: "T2W.nii.gz"))
    public var anat: String?
    @Option(name: .customLong("anat-mask"), help: ArgumentHelp("With --anat: the cord mask on the anatomical image (the cost is taken in the cord + 5 mm; without it, wherever both images have signal).", valueName: "M.nii.gz"))
    public var anatMask: String?
    @Argument(help: "Output folder (new or empty).")
    public var outdir: String
    @OptionGroup public var readout: EPIReadoutOptions
    @Option(help: "Smoothness weight α (per mm², intensities normalised to 1).")
    public var smoothness = FieldEstimationOptions().smoothness
    @Option(help: "Gauss–Newton iterations per level (at most).")
    public var iterations = FieldEstimationOptions().iterations
    @Option(help: "Coarse-to-fine levels: how many times the grid is halved in plane (axes of 32 voxels or more) before the acquired grid; 0 = acquired grid only.")
    public var coarsenings = FieldEstimationOptions().coarsenings
    @Option(name: .customLong("coarse-iterations"), help: "Gauss–Newton iterations (at most) on each coarser level.")
    public var coarseIterations = FieldEstimationOptions().coarseIterations
    @Option(name: .customLong("fine-iterations"), help: "Gauss–Newton iterations (at most) on the acquired grid after coarser levels (a fixed amount of fine work).")
    public var fineIterations = FieldEstimationOptions().fineIterations
    @Flag(help: "Replace an existing output folder once the new one is complete.")
    public var overwrite = false
    public init() {}

    public func validate() throws {
        if (peReverse == nil) == (anat == nil) { throw ValidationError("give either --pe-reverse (a reverse phase-encoding pair) or --anat (the anatomical fallback), not both or neither") }
        if anatMask != nil && anat == nil { throw ValidationError("--anat-mask needs --anat") }
        if !(smoothness > 0 && smoothness < 1e6) { throw ValidationError("--smoothness must be positive (and below 1e6)") }
        if !(1...200).contains(iterations) { throw ValidationError("--iterations must be 1 to 200") }
        if !(0...4).contains(coarsenings) { throw ValidationError("--coarsenings must be 0 to 4") }
        if !(1...200).contains(coarseIterations) { throw ValidationError("--coarse-iterations must be 1 to 200") }
        if !(1...200).contains(fineIterations) { throw ValidationError("--fine-iterations must be 1 to 200") }
    }

    public func run() throws {
        if let anat {
            let s = try EPIDistortion.fieldFromAnatomical(pe: pe, anat: anat, anatMask: anatMask, outdir: outdir,
                                                          options: AnatomicalFallbackOptions(), phaseEncoding: readout.phaseEncoding,
                                                          totalReadoutTime: readout.totalReadoutTime, overwrite: overwrite)
            print("wrote \(s.files.joined(separator: ", "))")
            print("  \(s.summary) [\(formatFixed(s.seconds, 2)) s: reading \(formatFixed(s.readSeconds, 3)) s, estimation \(formatFixed(s.computeSeconds, 3)) s, writing \(formatFixed(s.writeSeconds, 3)) s]")
            return
        }
        guard let peReverse else { return }
        var o = FieldEstimationOptions()
        o.smoothness = smoothness; o.iterations = iterations
        o.coarsenings = coarsenings; o.coarseIterations = coarseIterations; o.fineIterations = fineIterations
        let s = try EPIDistortion.field(pe: pe, peReverse: peReverse, outdir: outdir, options: o,
                                        phaseEncoding: readout.phaseEncoding, totalReadoutTime: readout.totalReadoutTime, overwrite: overwrite)
        print("wrote \(s.files.joined(separator: ", "))")
        print("  \(s.summary) [\(formatFixed(s.seconds, 2)) s: reading \(formatFixed(s.readSeconds, 3)) s, estimation \(formatFixed(s.computeSeconds, 3)) s, writing \(formatFixed(s.writeSeconds, 3)) s]")
    }
}

/// `cordq epi unwarp`
public struct EPIUnwarpCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "unwarp",
        abstract: "Unwarp an EPI series (e.g. the DWI) with a field map in Hz.",
        discussion: """
        Every volume of IMAGE is resampled along its phase-encoding axis at x + d(x), d = field \
        (Hz) × TotalReadoutTime (s) voxels towards the positive end of IMAGE's \
        PhaseEncodingDirection, and multiplied by the Jacobian 1 + ∂d (signal conservation, \
        Chang & Fitzpatrick 1992, IEEE TMI 11:319; --no-jacobian for masks). The field must be on \
        IMAGE's grid (as written by `cordq epi field` from b = 0 images of the same acquisition). \
        The .bval/.bvec beside IMAGE are copied beside OUT (the warp is along phase encoding only \
        and does not turn b-vectors).
        """)
    @Argument(help: "EPI image or series to unwarp (its sidecar gives PhaseEncodingDirection and TotalReadoutTime).")
    public var image: String
    @Option(help: ArgumentHelp("Field map in Hz (field_hz.nii.gz of `cordq epi field`).", valueName: "F.nii.gz"))
    public var field: String
    @Argument(help: "Unwarped image (.nii.gz or .nii).")
    public var output: String
    @OptionGroup public var readout: EPIReadoutOptions
    @Flag(help: "Resample without Jacobian modulation (masks, labels).")
    public var noJacobian = false
    @Flag(help: "Replace an existing output.")
    public var overwrite = false
    public init() {}

    public func run() throws {
        let s = try EPIDistortion.unwarp(image: image, field: field, output: output, phaseEncoding: readout.phaseEncoding,
                                         totalReadoutTime: readout.totalReadoutTime, modulate: !noJacobian, overwrite: overwrite)
        print("wrote \(s.files.joined(separator: ", "))")
        print("  \(s.result.corrected.frames) volume(s); largest displacement \(formatFixed(s.result.maximumDisplacement, 2)) voxels; minimum Jacobian \(formatFixed(s.result.minimumJacobian, 3)) [\(formatFixed(s.seconds, 2)) s]")
    }
}
