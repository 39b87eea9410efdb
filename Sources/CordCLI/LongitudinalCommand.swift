// `cordq longitudinal SUBJECT_DIR OUT` and `cordq longitudinal cohort BIDS_ROOT [OUT]`.
import ArgumentParser
import CordCore
import CordPipeline

/// `cordq longitudinal …`: one subject's sessions (default) or a cohort.
public struct LongitudinalGroupCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "longitudinal",
        abstract: "Change between sessions per level, region and metric, with annualised rates and the reliable-change index.",
        discussion: """
        cordq longitudinal SUBJECT_DIR OUT […] analyses one subject's ses-* folders (see \
        cordq longitudinal subject --help); cordq longitudinal cohort BIDS_ROOT [OUT] every subject \
        with two or more sessions, in one table.
        """,
        subcommands: [LongitudinalSubjectCommand.self, LongitudinalCohortCommand.self],
        defaultSubcommand: LongitudinalSubjectCommand.self)
    public init() {}
}

/// Options shared by the subject and cohort commands.
public struct LongitudinalOptions: ParsableArguments {
    @Option(help: "Protocol card name or YAML path for every session; default: inferred per session.")
    public var `protocol`: String?
    @Option(help: "Atlas folder; default: the project's atlas/CordQ.")
    public var atlas: String?
    @Option(parsing: .singleValue,
            help: "Within-subject SD for the reliable-change index, METRIC=VALUE (metric's unit) or METRIC=VALUE% (coefficient of variation), optionally METRIC@REGION=…; repeatable. Overrides the literature value.")
    public var withinSd: [String] = []
    @Option(help: "Normative database (cordq db build): its subjects with repeat sessions give the within-subject SDs (≥ 5 subject×level groups per metric and region), before the literature values.")
    public var db: String?
    @Option(help: "A previous cordq longitudinal output of the same subject: sessions whose inputs (SHA-256), options and shared labels are unchanged are copied from it instead of processed again (e.g. after adding a visit).")
    public var reuse: String?
    @Flag(help: "Write each session's QC page (off by default).") public var qc = false
    @Flag(help: "Replace an existing OUT (the old folder stays until the new one is complete).") public var overwrite = false
    public init() {}

    func request(subject: String, output: String) throws -> LongitudinalRequest {
        var r = LongitudinalRequest(subject: subject, output: output)
        r.protocolName = `protocol`; r.atlas = atlas; r.qc = qc; r.overwrite = overwrite; r.normativeDatabase = db; r.reuse = reuse
        for item in withinSd {
            if let bad = r.withinSD.addUser(item) {
                throw ValidationError("--within-sd \"\(bad)\": use METRIC=VALUE or METRIC=VALUE% with a positive value (e.g. csa_mm2=2.5% or fa@white matter=0.02)")
            }
        }
        return r
    }

    static let methodText = """
    Method: every session is processed as cordq process does, with one vertebral labelling for \
    the subject so that levels cannot drift between visits. The sessions' anatomical images are \
    aligned pairwise, rigidly (3 rotations + 3 translations, mm and degrees; Levenberg–Marquardt \
    on the intensity-fitted SSD, i.e. maximising the normalised cross-correlation, over the cord, \
    CSF and front of the spine within 10 mm of each slice's cord centre, on images smoothed \
    with σ = 2, 1, 0 mm), the transforms are combined into a halfway space (SE(3) mean; for two \
    sessions each moves by half the relative transform, so no session is the reference, cf. \
    Reuter et al. 2010 NeuroImage 53:1181 and 2012 61:1402), then per-slice in-plane shifts \
    (mm, regularised by a first-difference penalty along S–I) are estimated pairwise in that \
    space and averaged likewise. Change maps (FA, MD, MTR) are computed there. Labels under \
    derivatives/labels/<sub>/ses-*/anat/ (any session; else discs found automatically in every \
    session) are averaged there and propagated to every session.

    Change table OUT/<sub>_longitudinal.tsv, one row per level × region × metric × method × \
    session (baseline = earliest session, change 0): value, baseline_value, change (metric's \
    unit: csa_mm2 in mm², fa unitless, md in µm²/ms, mtr_pu in p.u.), change_percent (% of \
    baseline), rate_per_year and rate_percent_per_year (change ÷ years since baseline, from \
    sessions.tsv acq_time or the sidecars' AcquisitionDateTime; n/a without dates), \
    days_from_baseline, within_sd (metric's unit), rci = change / (√2 · within_sd) \
    (Jacobson & Truax 1991, J Consult Clin Psychol 59:12), reliable_change (|rci| > 1.96), \
    within_sd_source, then every other sessions.tsv column (ASIA motor, SCIM-III, mJOA, …). \
    Within-subject SDs: --within-sd, else the --db database's repeat sessions (pooled \
    within-subject COV, Bland & Altman 1996 BMJ 313:744), else literature: csa_mm2 2.5 % (Papinutto et al. 2019, J Magn \
    Reson Imaging 49:1078), fa 3.6 % white matter / 2.8 % cord / 6.6 % grey matter and \
    md 5.9 / 6.8 / 7.5 % (Xu et al. 2013, NeuroImage 67:64); other metrics: rci n/a.
    """
}

/// `cordq longitudinal subject SUBJECT_DIR OUT` (the default: `cordq longitudinal SUBJECT_DIR OUT`).
public struct LongitudinalSubjectCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "subject",
        abstract: "All sessions of one subject: shared levels, change per level/region/metric, annualised rate, reliable change.",
        discussion: LongitudinalOptions.methodText + """


        Also written: OUT/ses-*/ (each session's process output), OUT/<sub>_longitudinal.json \
        (dates and their source, offsets, pairwise alignments with NCC, the shared labels, the \
        within-SD sources, warnings). Refused: a subject with fewer than two sessions, a session \
        without an anatomical image, an unusable sessions.tsv. Warned: sessions with different \
        contrasts or voxel sizes (compared where both have the metric), missing dates (rates n/a).
        """)
    @Argument(help: "BIDS subject folder with two or more ses-* folders.") public var subject: String
    @Argument(help: "Output folder (new or empty).") public var output: String
    @OptionGroup public var options: LongitudinalOptions
    public init() {}

    public func validate() throws { _ = try options.request(subject: subject, output: output) }

    public func run() throws {
        try runReporting("longitudinal") {
            let s = try LongitudinalPipeline.run(try options.request(subject: subject, output: output)) {
                writeStandardError("cordq longitudinal: " + $0 + "\n")
            }
            print("\(s.participant): \(s.sessions.count) sessions, \(s.rows.count) rows in \(s.tablePath)")
            print("labels: \(s.labelSource)")
            let flagged = s.rows.filter { $0.reliable == true }
            print("reliable changes (|RCI| > 1.96): \(flagged.count)")
            for r in flagged.prefix(20) {
                print("  ses-\(r.session) \(r.level) \(r.region) \(r.metric): \(formatFixed(r.changePercent ?? 0, 1)) %, RCI \(formatFixed(r.rci ?? 0, 2))")
            }
            for w in s.warnings { print("warning: \(w)") }
            print("time: \(formatFixed(s.seconds, 1)) s")
        }
    }
}

/// `cordq longitudinal cohort BIDS_ROOT [OUT]`
public struct LongitudinalCohortCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cohort",
        abstract: "Every subject with two or more sessions; one table with baseline-adjusted changes.",
        discussion: LongitudinalOptions.methodText + """


        OUT (default BIDS_ROOT/derivatives/cordq-longitudinal) holds each subject's folder and \
        cohort_longitudinal.tsv: the subjects' change rows, change_baseline_adjusted (change − b·(baseline − \
        cohort mean baseline), b the slope of change on baseline across subjects per level × \
        region × metric × session; Vickers & Altman 2001, BMJ 323:1123; n/a with < 3 subjects), \
        and the participants.tsv columns. Subjects with one session are listed and left out.
        """)
    @Argument(help: "BIDS dataset folder (sub-*/ses-*).") public var root: String
    @Argument(help: "Output folder (new or empty); default BIDS_ROOT/derivatives/cordq-longitudinal.") public var output: String?
    @OptionGroup public var options: LongitudinalOptions
    public init() {}

    public func validate() throws { _ = try options.request(subject: root, output: output ?? "") }

    public func run() throws {
        try runReporting("longitudinal cohort") {
            let out = output ?? root + "/derivatives/cordq-longitudinal"
            let s = try LongitudinalCohort.run(root: root, output: out, template: try options.request(subject: "", output: "")) {
                writeStandardError("cordq longitudinal cohort: " + $0 + "\n")
            }
            print("\(s.subjects.count) subjects, \(s.rows) rows in \(s.tablePath)")
            for (sub, why) in s.skipped { print("left out: \(sub): \(why)") }
            print("time: \(formatFixed(s.seconds, 1)) s")
        }
    }
}
