// `cordq process SUBJECT_DIR OUT`: the single-subject pipeline.
import ArgumentParser
import CordCore
import CordDiffusion
import CordMetrics
import CordPipeline
import CordRegistration

/// `cordq process`
public struct ProcessCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "process",
        abstract: "Process one BIDS subject: cord, levels, atlas in every contrast, DTI/μFA, MTR/MTsat, per-level tables.",
        discussion: """
        Reads SUBJECT_DIR (sub-XX, with anat/ and dwi/), writes OUT (new or empty; e.g. \
        derivatives/cordq/sub-XX), all or nothing. Series are taken by their BIDS names: \
        anat/*_T2w (axial preferred for cord area; T1w or T2starw when there is no T2w), \
        dwi/*_dwi with .bval/.bvec (and <stem>_encoding.tsv for b-tensor shapes), anat/*_MTS \
        (flip-1_mt-on, flip-1_mt-off, flip-2_mt-off, or acq-MTon/MToff/T1w). Each input image is \
        decoded once and each output written once. The protocol card (--protocol, or inferred) \
        is checked and its findings recorded, and its processing: block decides the DWI \
        preprocessing (denoise, unring; motion and multiband correction are reported as not \
        available yet) and its μFA map the method, and its distortion_correction whether the DWI is unwarped \
        (reverse-pe pair, or the anat T2w fallback); --denoise, --unring, --distortion-correction \
        and --microfa override it, \
        and the provenance records each decision with its source. A step the card asks for that \
        the data cannot support is a warning, not a silent skip. A missing contrast is named in \
        the log and the provenance, and the rest is processed; without vertebral labels the \
        maps are reported for the whole cord (level `all`) and per slice.

        Steps: cord segmentation (or the segmentation in derivatives/labels/…_label-SC_seg); \
        vertebral labels (--labels, or derivatives/labels/<sub>/anat/<image>_labels-disc*.nii.gz, \
        values n = disc above vertebra n as PAM50/SCT, or _labels-body for mid-body labels; \
        else the discs found automatically on the T2w images, a single given label numbering \
        them); \
        atlas registration (levels along the cord, then per-slice in-plane affine of the cord \
        cross-section; De Leener et al. 2018 NeuroImage 165:170) in the anatomical, DWI and MT \
        spaces, each with its own cord segmentation and the session's labels; MP-PCA (Veraart \
        2016) then DTI (WLS) and μFA (route from the encodings); MTR and MTsat (Helms 2008); \
        morphometry (SCT conventions). Values per level and region use --extraction (default wa, \
        the partial-volume weighted average, bounded by the voxel values; ml and map unmix the \
        tracts jointly, Lévy et al. 2015 NeuroImage 119:262, and can leave the physical range on \
        noisy data with few directions).

        Output: OUT/<sub>_metrics.tsv (long form: participant_id session level region metric \
        value method count; metric names carry units: csa_mm2, csa_min_mm2, diameter_ap_mm, \
        fa, md_um2_per_ms, ufa, mtr_pu, mtsat_pu, t1_s), OUT/<sub>_provenance.json (inputs' \
        SHA-256, version, options, each step, missing parts), and the maps, masks, warps \
        (ITK/ANTs convention) and warped atlases under anat/ and dwi/, and the QC page \
        OUT/qc/index.html (protocol check, cord outline on every contrast, levels on a sagittal \
        view, registered atlas, maps, step metrics and warnings, per-level plots with the normal \
        band of --db; --no-qc skips it).
        Decisions shared with the single commands (same defaults): MP-PCA refuses a series with \
        fewer than --min-volumes volumes (15); MT-off and T1w are aligned to MT-on slice by slice \
        and the alignment is kept only when it raises the mean slice NCC (as mt mtr --register); \
        --image-refinement is kept in a space only when the cord Dice falls by ≤ \
        --refinement-max-dice-loss (0.01, as reg to-template).
        Exit status: 0 = done (missing contrasts allowed), 1 = a step failed (nothing written).
        """)
    @Argument(help: "BIDS subject folder (sub-XX).") public var subject: String
    @Argument(help: "Output folder for this subject (new or empty).") public var output: String
    @Option(help: "Protocol card name or YAML path; default: inferred and recorded.") public var `protocol`: String?
    @Option(help: "Session label (without ses-) when the subject has several.") public var session: String?
    @Option(help: "Atlas folder (CordQ or PAM50 layout); default: the project's atlas/CordQ.") public var atlas: String?
    @Option(help: "Vertebral label image on one of the subject's anatomical images.") public var labels: String?
    @Option(help: "What --labels values mean: disc (n = disc above vertebra n) or body (mid-vertebral body, in the cord).")
    public var labelKind: LabelKind = .disc
    @Option(help: "Axial slice of the segmented anatomical image where the cord is visible (index along its voxel axis closest to S–I), as for seg cord --hint-slice.")
    public var hintSlice: Int?
    @Option(help: "MP-PCA before DTI: auto (as the protocol card's processing.denoise says; without a card, when a series has ≥ --min-volumes volumes), on or off.")
    public var denoise: String = "auto"
    @Option(help: "MP-PCA needs at least this many volumes (fewer: not denoised, with a warning when asked for).")
    public var minVolumes: Int = 15
    @Option(help: "Gibbs unringing after denoising (Kellner et al. 2016): auto (as the card's processing.unring says; off without a card), on or off.")
    public var unring: String = "auto"
    @Option(name: .customLong("distortion-correction"), help: "Susceptibility distortion correction of the DWI: card (the card's processing.distortion_correction; without one, the reverse phase-encoding pair when the subject has one), reverse-pe, anat (the pair when present, else the weaker registration of the b = 0 to the T2w along phase encoding) or none.")
    public var distortionCorrection: String = "card"
    @Option(help: "μFA route: card (the card's μFA map method, else auto), auto, gamma, qti, smt or dde (auto skips μFA when the encodings allow only DTI).")
    public var microfa: String = "card"
    @Option(help: "Estimator per level and region: wa, bin, median, ml or map.") public var extraction: String = "wa"
    @Flag(help: "Record a failing step and go on with the others (default: stop and write nothing).") public var keepGoing = false
    @Flag(help: ArgumentHelp("Add the image-driven in-plane refinement to every template registration (see `cordq reg to-template --help`).",
                             discussion: "Per axial slice, demons on the image vs the atlas's T1w/T2w template near the cord (cord + 2 mm fading over 6 mm, σ 3 mm). Off by default."))
    public var imageRefinement = false
    @Option(help: "Guard of --image-refinement: largest fall of a space's cord Dice (0–1) it may cause, else that space keeps the registration without it; 'none' keeps it unchecked.")
    public var refinementMaxDiceLoss = "0.01"
    @Flag(help: "Replace an existing OUT (the old folder stays until the new output is complete).") public var overwrite = false
    @Flag(help: "Do not write the maps in template space (written by default beside each space's transforms: <folder>/<entities>_space-CordQ_<map> on the atlas grid).")
    public var noTemplateSpace = false
    @Flag(help: "Also write SCT's CSV layouts for scripts written for SCT: <anat>_sct-process-segmentation.csv (sct_process_segmentation -perlevel 1: MEAN(area), STD(area)…, VertLevel 1 = C1, Slice (I->S)) and, per contrast space, <space>_sct-extract-metric.csv (sct_extract_metric: Label, Size [vox], WA(), STD()).")
    public var sctCsv = false
    @Flag(help: "Fit μFA on the MP-PCA output as it is, without removing its magnitude (Rician) bias with the MP-PCA σ map first (removed by default; Koay & Basser 2006).")
    public var noMicrofaDebias = false
    @Flag(help: "Do not write the QC page OUT/qc/index.html (written by default: pictures of every step, metrics, per-level plots).")
    public var noQc = false
    @Option(help: "Normative database (cordq db build) whose mean ± 1/2 SD per level the QC plots show.") public var db: String?
    public init() {}

    /// The refinement guard as a number (nil for `none`).
    func diceLoss() throws -> Double? {
        if refinementMaxDiceLoss == "none" { return nil }
        guard let v = Double(refinementMaxDiceLoss), v >= 0, v <= 1 else {
            throw ValidationError("--refinement-max-dice-loss takes a number in 0…1 or none")
        }
        return v
    }

    public func validate() throws {
        guard ["auto", "on", "off"].contains(denoise) else { throw ValidationError("--denoise takes auto, on or off") }
        guard ["auto", "on", "off"].contains(unring) else { throw ValidationError("--unring takes auto, on or off") }
        guard distortionCorrection == "card" || ProcessingSpec.DistortionCorrection(rawValue: distortionCorrection) != nil else {
            throw ValidationError("--distortion-correction takes card, \(ProcessingSpec.DistortionCorrection.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard minVolumes >= 2 else { throw ValidationError("--min-volumes must be at least 2") }
        guard microfa == "card" || MicroFAMethod(rawValue: microfa) != nil else {
            throw ValidationError("--microfa takes card, \(MicroFAMethod.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        _ = try diceLoss()
        guard ExtractionMethod(rawValue: extraction) != nil else {
            throw ValidationError("--extraction takes \(ExtractionMethod.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    public func run() throws {
        var r = ProcessRequest(subject: subject, output: output)
        r.protocolName = `protocol`; r.session = session; r.atlas = atlas; r.labels = labels; r.labelKind = labelKind
        r.hintSlice = hintSlice
        r.denoise = denoise == "auto" ? nil : denoise == "on"
        r.denoiseOptions.minimumVolumes = minVolumes
        r.unring = unring == "auto" ? nil : unring == "on"
        r.microFAMethod = MicroFAMethod(rawValue: microfa)
        r.distortionCorrection = ProcessingSpec.DistortionCorrection(rawValue: distortionCorrection)
        r.extraction = ExtractionMethod(rawValue: extraction) ?? .wa
        r.keepGoing = keepGoing; r.imageRefinement = imageRefinement
        r.imageRefinementMaximumDiceLoss = try diceLoss(); r.overwrite = overwrite
        r.qc = !noQc; r.normativeDatabase = db; r.microFADebias = !noMicrofaDebias; r.templateSpace = !noTemplateSpace; r.sctCSV = sctCsv
        do {
            let s = try ProcessPipeline.run(r) { writeStandardError("cordq process: " + $0 + "\n") }
            print("\(s.participant): \(s.rows) rows in \(s.tablePath)")
            print("provenance: \(s.provenancePath)")
            if let qc = s.qcPath { print("qc: \(qc)") }
            for m in s.missing { print("missing: \(m)") }
            for w in s.warnings { print("warning: \(w)") }
            for f in s.steps where f.status == .failed { print("failed: \(f.name): \(f.detail)") }
            print("time: \(formatFixed(s.seconds, 1)) s")
        } catch {
            writeStandardError("cordq process: \(error)\n")
            throw ExitCode(1)
        }
    }
}
