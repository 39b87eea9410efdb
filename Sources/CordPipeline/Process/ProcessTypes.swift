// `cordq process`: what one subject's run is asked to do and what it reports back.
import CordDiffusion
import CordMetrics
import CordRegistration

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
    /// A slice of the segmented (first) anatomical image where the cord is visible, as an
    /// index along its voxel axis closest to superior–inferior
    /// (`CordSegmentationOptions.hintSlice`); nil = no hint. Unused with an external segmentation.
    public var hintSlice: Int?
    /// MP-PCA on the DWI series: nil = as the card says, else on when a series has ≥ 15 volumes.
    public var denoise: Bool?
    public var microFAMethod: MicroFAMethod = .auto
    /// Estimator of the per-level, per-region values of DTI, μFA and MT maps.
    public var extraction: ExtractionMethod = .wa
    /// Record a failing step and go on with the others instead of stopping with nothing written.
    public var keepGoing = false
    /// Template registrations add the image-driven in-plane refinement
    /// (`TemplateRegistrationOptions.imageRefinement`; the atlas's T1w/T2w templates are read).
    public var imageRefinement = false
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
}
