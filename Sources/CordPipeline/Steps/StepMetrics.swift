// Typed numbers a step reports: what tests and the provenance record read instead of prose.
import CordCore
import CordIO

/// What one step measured. Every field is optional: a step fills the ones it has.
public struct StepMetrics: Sendable, Equatable {
    /// Dice of the warped atlas cord (≥ 0.5) with the space's cord segmentation, over the
    /// axial slices holding segmentation.
    public var dice: Double?
    /// The image-refinement guard: Dice without the refinement, and whether the refined
    /// registration was kept (`TemplateRegistrationOptions.imageRefinementMaximumDiceLoss`).
    public var diceWithoutRefinement: Double?
    public var refinementKept: Bool?
    /// Mean slice NCC of the moving image with the fixed one, before and after slice-wise
    /// alignment, and whether the alignment was kept (`SliceRegistrationOptions.keepOnlyIfBetter`).
    public var nccBefore: Double?, nccAfter: Double?
    public var alignmentKept: Bool?
    /// The same for a second aligned image (the T1-weighted FLASH in MTsat).
    public var secondNCCBefore: Double?, secondNCCAfter: Double?
    public var secondAlignmentKept: Bool?
    /// MP-PCA: medians of σ (input units) and of the signal rank over the processed voxels.
    public var sigmaMedian: Double?, rankMedian: Double?
    /// MP-PCA of a multiband series: σ of each slice group (input units), by group index.
    public var sliceGroupSigma: [Double]?
    /// Volumes of the series the step worked on.
    public var volumes: Int?
    /// Voxels a model was fitted in.
    public var voxelsFitted: Int?
    /// Voxels where a map could not be computed (set to 0 and counted).
    public var invalidVoxels: Int?
    /// Slices holding cord.
    public var slices: Int?
    /// Cord volume of the segmentation (mm³).
    public var cordVolumeMM3: Double?
    /// Vertebral labels used.
    public var labels: Int?
    /// Table rows the step added.
    public var rows: Int?
    /// Multiband correction: factor and slice groups, mean and largest per-volume displacement
    /// (mm, `sct_dmri_moco` moco_params convention), outlier slice groups and their fraction,
    /// banding index (%), relative tensor residual in the cord before and after.
    public var multibandFactor: Int?, sliceGroups: Int?
    public var meanDisplacementMM: Double?, maxDisplacementMM: Double?
    public var outlierGroups: Int?, outlierFraction: Double?
    public var bandingIndexPercent: Double?
    public var residualBefore: Double?, residualAfter: Double?
    /// Distortion correction: smallest Jacobian of the pair's unwarps (> 0: invertible), the
    /// pair's mismatch (RMS difference / RMS mean) before and after, and the largest
    /// displacement of the series (voxels along phase encoding).
    public var minimumJacobian: Double?, pairMismatchBefore: Double?, pairMismatchAfter: Double?
    public var maxDisplacementVoxels: Double?
    /// What the step wants a reader to know (also collected in the run's warnings).
    public var warnings: [String] = []

    public init() {}

    /// The metrics as a JSON object with snake_case keys; absent fields are left out.
    public var json: JSONValue {
        var o: [String: JSONValue] = [:]
        func put(_ k: String, _ v: Double?) { if let v, v.isFinite { o[k] = .number(v) } }
        func put(_ k: String, _ v: Int?) { if let v { o[k] = .number(Double(v)) } }
        func put(_ k: String, _ v: Bool?) { if let v { o[k] = .bool(v) } }
        put("dice", dice); put("dice_without_refinement", diceWithoutRefinement); put("refinement_kept", refinementKept)
        put("ncc_before", nccBefore); put("ncc_after", nccAfter); put("alignment_kept", alignmentKept)
        put("second_ncc_before", secondNCCBefore); put("second_ncc_after", secondNCCAfter)
        put("second_alignment_kept", secondAlignmentKept)
        put("sigma_median", sigmaMedian); put("rank_median", rankMedian); put("volumes", volumes)
        put("voxels_fitted", voxelsFitted); put("invalid_voxels", invalidVoxels); put("slices", slices)
        put("cord_volume_mm3", cordVolumeMM3); put("labels", labels); put("rows", rows)
        if let g = sliceGroupSigma { o["slice_group_sigma"] = .array(g.map { $0.isFinite ? .number($0) : .null }) }
        put("multiband_factor", multibandFactor); put("slice_groups", sliceGroups)
        put("mean_displacement_mm", meanDisplacementMM); put("max_displacement_mm", maxDisplacementMM)
        put("outlier_groups", outlierGroups); put("outlier_fraction", outlierFraction)
        put("banding_index_percent", bandingIndexPercent)
        put("residual_before", residualBefore); put("residual_after", residualAfter)
        put("minimum_jacobian", minimumJacobian); put("pair_mismatch_before", pairMismatchBefore)
        put("pair_mismatch_after", pairMismatchAfter); put("max_displacement_voxels", maxDisplacementVoxels)
        if !warnings.isEmpty { o["warnings"] = .array(warnings.map { .string($0) }) }
        return .object(o)
    }
}
