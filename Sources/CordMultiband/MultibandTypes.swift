// Options and results of multiband slice correction.
import CordAlign
import CordCore

/// Options of `MultibandCorrection.correct`.
public struct MultibandCorrectionOptions: Sendable {
    /// Slice-group motion correction.
    public var motion = true
    /// Keep the motion correction only when it lowers the tensor residual in the cord region
    /// (needs ≥ 10 volumes; otherwise always kept). Resampling blurs, so a still series is left
    /// as acquired, with a warning.
    public var keepMotionOnlyIfBetter = true
    /// Outlier detection per (volume, slice group).
    public var outliers = true
    /// Outliers replaced by the tensor prediction (true) or only reported (false: the data are
    /// kept and the outlier table says `replaced` 0).
    public var replaceOutliers = true
    /// Slice-group gain (banding) correction.
    public var banding = true
    /// In-plane search per group: translation ± 5 mm; rotation (± 5°) only when
    /// `registration.rigid` is set. Translation is the default, as in SCT's `sct_dmri_moco`:
    /// on the phantom, a cord cross-section in a diffusion-weighted image is nearly round and
    /// featureless, so in-plane rotation of DW volumes was not identifiable (RMSE > planted).
    public var registration: SliceGroupRegistrationOptions = {
        var r = SliceGroupRegistrationOptions(); r.rigid = false; return r
    }()
    /// λ of the temporal regularisation of the motion parameters over the acquisition sequence
    /// (volume by volume, groups in acquisition order): minimises Σ wᵢ(xᵢ − yᵢ)² + λ Σ (xᵢ₊₁ − xᵢ)²
    /// with wᵢ the squared correlation reached. 0 turns it off.
    public var temporalRegularisation = 0.05
    /// Robust z-score (median/MAD of ln(observed/predicted) over all diffusion-weighted slice
    /// groups) below which a group is an outlier, as eddy's `--ol_nstd` (default 4).
    public var outlierThreshold = 4.0
    /// An outlier must also have lost at least this fraction of its predicted signal.
    public var minimumSignalLoss = 0.1
    /// The outlier fraction above which the quality record warns (5 %).
    public var outlierWarningFraction = 0.05
    /// Half-width (mm) of the automatic cord box when no mask is given.
    public var cordBoxRadius = 8.0
    /// Draw a progress bar (when standard error is a terminal).
    public var progress = true
    public init() {}
}

/// One row of the motion table: the estimated motion of one slice group in one volume.
///
/// `tx`, `ty` (mm) are the displacement of the group's rotation centre (the cord box centre)
/// along the canonical in-plane axes (x toward the subject's left, y toward anterior), `rz`
/// (degrees) the in-plane turn (counter-clockwise from x to y) — the motion, whose inverse
/// was applied to correct it.
public struct MotionRow: Sendable, Equatable {
    public var volume: Int
    public var group: Int
    /// Slice indices (voxel axis k of the input).
    public var slices: [Int]
    public var tx: Double, ty: Double, rz: Double
    /// Pooled correlation with the target after correction (nil: no usable region).
    public var score: Double?
    /// The correction applied (maps the group's content back onto the target).
    public var correction: SliceTransform
}

/// One (volume, slice group) judged by the outlier detection.
public struct OutlierRow: Sendable, Equatable {
    public var volume: Int
    public var group: Int
    public var slices: [Int]
    /// Robust z-score of ln(observed / predicted) (negative: signal lost).
    public var score: Double
    /// Median observed / predicted signal in the cord region of the group's slices.
    public var ratio: Double
    public var outlier: Bool
    public var replaced: Bool
}

/// Multiband quality numbers (also the provenance and QC record).
public struct MultibandQuality: Sendable, Equatable {
    public var factor: Int
    public var groups: Int
    public var groupSource: String
    /// tSNR (mean/SD over the b = 0 volumes, averaged over the cord region) per group, input
    /// and corrected; nil when there are fewer than 3 b = 0 volumes.
    public var b0TSNRBefore: [Double]?, b0TSNRAfter: [Double]?
    /// Banding index (%): RMS over (volume, group) of the relative gain (per-volume × static)
    /// found in the input, and the static part left in the output.
    public var bandingIndexPercent: Double?, residualBandingPercent: Double?
    /// Mean displacement per volume (mm) in `sct_dmri_moco`'s moco_params convention: mean
    /// over slices of √(tx² + ty²); its mean and maximum over volumes; largest |rz| (degrees).
    public var meanDisplacementPerVolume: [Double]
    public var meanDisplacement: Double, maxDisplacement: Double, maxRotationDegrees: Double
    /// Outlier (volume, group) pairs among the scored diffusion-weighted ones.
    public var outliers: Int, scoredGroups: Int
    /// Normalised RMS residual of the tensor fit in the cord region (RMS(observed − predicted)
    /// / mean predicted over the diffusion-weighted volumes; outlier groups excluded in both),
    /// before and after correction.
    public var residualBefore: Double?, residualAfter: Double?
    /// Voxels of the cord region the numbers were computed in.
    public var regionVoxels: Int
    public var warnings: [String]

    public var outlierFraction: Double { scoredGroups > 0 ? Double(outliers) / Double(scoredGroups) : 0 }
}

/// The corrected series with everything that was estimated.
public struct MultibandCorrectionResult: Sendable {
    /// Corrected series, on the input grid.
    public var corrected: Volume<Float>
    /// Gradient table with the directions turned by each volume's estimated rotation.
    public var table: GradientTable
    public var groups: SliceGroups
    public var motion: [MotionRow]
    public var outliers: [OutlierRow]
    /// Gain removed per volume and group (1 where banding correction was off).
    public var gains: [[Double]]
    /// The region (cord box or the given mask, input grid) that drove the metric.
    public var region: Mask
    public var quality: MultibandQuality
    /// Which steps ran and why others did not.
    public var steps: [String]
}
