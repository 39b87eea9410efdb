// `cordq process`: what one subject's run is asked to do and what it reports back.
import CordDenoise
import CordDiffusion
import CordMetrics
import CordRegistration
import CordSegmentation

/// Inputs and options of processing one BIDS subject.
public struct ProcessRequest: Sendable {
    /// The subject folder (`…/sub-01`, or a session-less copy of one).
    public var subject: String
    /// The output folder for this subject (new or empty), e.g. `derivatives/cordq/sub-01`.
    public var output: String
    /// Which session (label without `ses-`) when the subject has several.
    public var session: String?
    /// Protocol card name or path; nil = the card is inferred for the record and the
    /// series are taken by their BIDS names.
    public var protocolName: String?
    /// Atlas folder (CordQ or PAM50 layout); nil = the project's atlas (`atlas/CordQ`).
    public var atlas: String?
    /// A label image on one of the subject's anatomical images (the grid decides which);
    /// nil = labels from `derivatives/labels/`, else the automatic attempt.
    public var labels: String?
    public var labelKind: LabelKind = .disc
    /// Vertebral labels already placed (world positions), used before `labels` and anything
    /// under `derivatives/labels/`: `cordq longitudinal` passes the subject's one labelling,
    /// propagated to this session, so levels cannot drift between visits.
    public var vertebralLabels: VertebralLabels?
    /// Where `vertebralLabels` came from, for the log and the provenance.
    public var vertebralLabelsOrigin = "given by the caller"
    /// Cord segmentations CordQ already computed (same options as `process`), by image path:
    /// used instead of segmenting that image again (`cordq longitudinal` segments every
    /// session once to align them).
    public var segmentations: [String: CordSegmentation] = [:]
    /// A slice of the segmented (first) anatomical image where the cord is visible, as an
    /// index along its voxel axis closest to superior–inferior
    /// (`CordSegmentationOptions.hintSlice`); nil = no hint. Unused with an external segmentation.
    public var hintSlice: Int?
    /// MP-PCA on the DWI series: nil = as the protocol card's `processing.denoise` says for
    /// the series (given or inferred card), else on when the series has at least
    /// `denoiseOptions.minimumVolumes` volumes. true/false override the card.
    public var denoise: Bool?
    /// MP-PCA options (window, estimator, `minimumVolumes` = 15 by default), as `cordq denoise mppca` takes them.
    public var denoiseOptions = MPPCAOptions()
    /// Gibbs unringing of the DWI series after denoising (Kellner et al. 2016): nil = as the
    /// card's `processing.unring` says, else off.
    public var unring: Bool?
    /// μFA route: nil = the card's μFA map `method` for the series, else `auto`.
    public var microFAMethod: MicroFAMethod?
    /// Estimator of the per-level, per-region values of DTI, μFA and MT maps.
    public var extraction: ExtractionMethod = .wa
    /// Record a failing step and go on with the others instead of stopping with nothing written.
    public var keepGoing = false
    /// Template registrations add the image-driven in-plane refinement
    /// (`TemplateRegistrationOptions.imageRefinement`; the atlas's T1w/T2w templates are read).
    public var imageRefinement = false
    /// The refinement's guard (`TemplateRegistrationOptions.imageRefinementMaximumDiceLoss`, default 0.01).
    public var imageRefinementMaximumDiceLoss: Double? = 0.01
    /// MT-off → MT-on and T1w → MT-on slice-wise alignment (`SliceRegistrationOptions`, as
    /// `cordq mt mtr --register` takes them; `keepOnlyIfBetter` on by default).
    public var alignment = SliceRegistrationOptions()
    /// Replace an existing output folder (atomically: the old one stays until the new one is complete).
    public var overwrite = false
    /// Remove the magnitude (Rician) bias with the MP-PCA σ map before μFA fits
    /// (`MagnitudeNoiseLevel`); only where MP-PCA ran.
    /// Susceptibility distortion correction of the DWI (overrides the card's
    /// `processing.distortion_correction`); nil: the card, else the pair when present.
    public var distortionCorrection: ProcessingSpec.DistortionCorrection?
    public var microFADebias = true
    /// Write each contrast space's maps resampled into template space (the cropped atlas grid)
    /// beside the warps, for group analysis.
    public var templateSpace = true
    /// Also write SCT's CSV layouts: `sct_process_segmentation -perlevel 1` beside the
    /// morphometry, `sct_extract_metric` per contrast space (`SCTTables`).
    public var sctCSV = false
    /// Write the QC page `qc/index.html` (pictures of every step, metrics, per-level plots).
    public var qc = true
    /// A normative database (`cordq db build`) whose mean ± SD per level the QC plots draw; nil = values only.
    public var normativeDatabase: String?
    public init(subject: String, output: String) { self.subject = subject; self.output = output }
}

/// How one step ended.
public enum StepStatus: String, Sendable {
    case done, skipped, failed
}

/// One step of the run, for the log and the provenance record.
public struct StepRecord: Sendable {
    public var name: String
    public var status: StepStatus
    /// What was used and found, or why the step was skipped or failed.
    public var detail: String
    public var seconds: Double
    /// Files written by the step (relative to the output folder).
    public var outputs: [String]
    /// What the step measured (Dice, NCC, σ, voxels, …).
    public var metrics = StepMetrics()
}

/// What `ProcessPipeline.run` wrote.
public struct ProcessSummary: Sendable {
    public var output: String
    public var participant: String
    /// The long-form table (`<sub>_metrics.tsv`) and the provenance record (`<sub>_provenance.json`).
    public var tablePath: String, provenancePath: String
    public var steps: [StepRecord]
    public var rows: Int
    /// Contrasts or maps the subject could not give, with the reason.
    public var missing: [String]
    public var warnings: [String]
    public var seconds: Double
    /// The QC page (`OUT/qc/index.html`), nil when it was not asked for or could not be made.
    public var qcPath: String? = nil
}
