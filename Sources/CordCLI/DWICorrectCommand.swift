// `cordq dwi correct`: slice-group motion, outlier groups and banding of a (multiband) DWI series.
import ArgumentParser
import CordCore
import CordMultiband
import CordPipeline

/// `cordq dwi correct`
public struct DWICorrectCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "correct",
        abstract: "Multiband slice correction: slice-group motion, outlier slice groups, banding.",
        discussion: """
        Slice groups come from the BIDS sidecar beside DWI (<stem>.json: SliceTiming, \
        MultibandAccelerationFactor); without them the series is taken as single-band (MB 1) \
        with a warning, or give --slice-groups MB. Motion: one in-plane translation (rigid with \
        --rigid) per volume and slice group, targets built like sct_dmri_moco (b=0 mean, shell \
        means) then each volume's tensor prediction (FSL eddy's model-based targets, Andersson & \
        Sotiropoulos 2016, NeuroImage 125:1063), metric: correlation in the cord region (--mask, \
        else an automatic box of ±8 mm around the cord), regularised over time. Outliers: robust \
        z < −4 of ln(observed/predicted) per (volume, group), the prediction from a tensor fitted \
        without that group, replaced by it (Andersson et al. 2016, NeuroImage 141:556; \
        --flag-outliers only reports them). Banding: per-volume and static slice-group gains \
        divided out. Writes OUT.nii.gz, OUT.bval, OUT.bvec (b-vectors turned by the estimated \
        rotations), OUT_motion.tsv (volume, group, slices, tx_mm, ty_mm, rz_deg, ncc), \
        OUT_outliers.tsv (volume, slice, group, score, ratio, outlier, replaced) and OUT.json \
        (quality: per-group b=0 tSNR, banding index %, mean displacement per volume in \
        sct_dmri_moco's moco_params convention, outlier counts, tensor residual in the cord \
        before/after, warnings: MB ≥ 4, outliers > 5 %). All files or none. Both cores.
        """)
    @Argument(help: "Diffusion series (4D .nii/.nii.gz) with its bval/bvec beside it (or given with --bval/--bvec or --fslgrad).")
    public var dwi: String
    @Argument(help: "Corrected series (.nii.gz or .nii); the other outputs take its stem.")
    public var output: String
    @Option(help: "Cord mask on the DWI grid (non-zero = cord) to drive the metric; default: automatic cord box.")
    public var mask: String?
    @Flag(help: "No motion correction.")
    public var noMotion = false
    @Flag(help: "No outlier detection.")
    public var noOutliers = false
    @Flag(help: "No banding (slice-group gain) correction.")
    public var noBanding = false
    @Flag(help: "Report outliers without replacing them.")
    public var flagOutliers = false
    @Flag(help: "Estimate an in-plane rotation per group too (b-vectors are turned by it).")
    public var rigid = false
    @Option(help: ArgumentHelp("auto (from the sidecar) or the multiband factor.", valueName: "auto|MB"))
    public var sliceGroups = "auto"
    @Option(help: "Robust z-score below which a slice group is an outlier.")
    public var outlierThreshold = 4.0
    @Flag(help: "Replace existing outputs.")
    public var overwrite = false
    @OptionGroup public var gradients: GradientFileOptions
    public init() {}

    public func validate() throws {
        if sliceGroups != "auto" && (Int(sliceGroups).map { $0 < 1 } ?? true) {
            throw ValidationError("--slice-groups \(sliceGroups): use auto or a multiband factor (1, 2, 3, …)")
        }
        if !(outlierThreshold > 0) { throw ValidationError("--outlier-threshold must be positive") }
        _ = try gradients.pairs(count: 1)
    }

    public func run() throws {
        var o = MultibandCorrectionOptions()
        o.motion = !noMotion; o.outliers = !noOutliers; o.banding = !noBanding; o.replaceOutliers = !flagOutliers
        o.registration.rigid = rigid; o.outlierThreshold = outlierThreshold
        let groups: SliceGroupChoice = Int(sliceGroups).map { .factor($0) } ?? .auto
        let files = try gradients.pairs(count: 1)[0]
        let s = try DWICorrection.run(dwi: dwi, output: output, mask: mask, groups: groups, options: o, overwrite: overwrite,
                                      bval: files?.bval, bvec: files?.bvec)
        print("wrote \(s.files.joined(separator: ", "))")
        print("  \(s.summary) [\(formatFixed(s.seconds, 1)) s]")
        for w in s.result.quality.warnings { print("  warning: \(w)") }
    }
}
