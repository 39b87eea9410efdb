// `cordq phantom cohort OUTDIR`: a BIDS dataset of phantom volunteers and patients.
import ArgumentParser
import CordCore
import CordPhantom
import CordPipeline

/// `cordq phantom …`: one subject (`cordq phantom OUTDIR`, the default) or a cohort.
public struct PhantomGroupCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "phantom",
        abstract: "Digital cervical cord phantoms with ground truth: one subject (default) or a cohort.",
        discussion: """
        cordq phantom OUTDIR […] writes one subject (see cordq phantom subject --help); \
        cordq phantom cohort OUTDIR […] writes healthy volunteers and compressed patients.
        """,
        subcommands: [PhantomCommand.self, PhantomCohortCommand.self, PhantomKSpaceCommand.self],
        defaultSubcommand: PhantomCommand.self)
    public init() {}
}

/// `cordq phantom cohort OUTDIR --healthy 20 --compressed 5 [--seed 1]`
public struct PhantomCohortCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cohort",
        abstract: "Write a BIDS dataset of phantom volunteers with natural variation and patients with compressions of known severity.",
        discussion: """
        Each subject's cord area per level is drawn around the spine-generic means (203 adults; \
        Cohen-Adad et al. 2021, Sci Data 8:219) with the between-subject spread of that table: a part \
        shared by all levels that depends on sex and height (≈ 0.22 mm² per cm; men ≈ 4.4 mm² larger \
        through height and sex together), an unexplained shared part and a level-specific part; the \
        AP/RL ratio varies likewise, level lengths scale with height. No age effect (none over 19–52 \
        years in that table). Patients come from the same population, older, and carry one focal \
        AP narrowing at a level of --levels with a severity (AP reduction at its centre) drawn \
        uniformly in --severity over 10–14 mm.

        Output: OUTDIR/participants.tsv (participant_id, sex, age in years, height_cm, group healthy \
        or patient); sub-*/anat/*_acq-ax_T2w.nii.gz (axial 2D T2w, 0.5×0.5×3 mm, C1–T1); \
        derivatives/labels/sub-*/anat/*_acq-ax_T2w_labels-disc.nii.gz (disc labels: 3 = C2/C3, where \
        cordq process finds them); derivatives/truth/ with each subject's level map \
        (1 = C1 … 8 = T1), cord mask and parameters, compressions.tsv (participant_id, \
        compressed_level, severity, length_mm, healthy and compressed CSA in mm², MSCC in %) and \
        levels.tsv (each subject's requested CSA, diameters and level lengths).

        Sessions (--sessions N, --interval-days, --atrophy C5:0.08/y, --reposition-mm): each \
        subject is scanned N times; at day t the planted level's CSA is baseline × (1 − rate × t/365.25) \
        (diameters × √factor); between visits the subject moves (S–I uniform in ±--reposition-mm, \
        in-plane SD 1 mm) and, with --reposition-deg D, turns about the grid centre (about R–L \
        uniform in ±D degrees, about A–P and S–I in ±D/2) while the scanner grid stays; every visit \
        has fresh noise. Truth: derivatives/truth/sessions.tsv (days, shift in mm, rotation vector \
        in degrees: scanner point w = c + R(p + shift − c), c the grid centre, p the baseline \
        anatomy) and session_levels.tsv (planted factor, \
        requested and rasterised CSA in mm² per level and session).
        """)

    @Argument(help: "Output folder (created; must not exist or be empty).")
    public var outdir: String
    @Option(help: "Number of healthy volunteers.")
    public var healthy = 20
    @Option(help: "Number of patients with a compression.")
    public var compressed = 5
    @Option(help: "Seed; the same seed gives the same cohort and images.")
    public var seed: UInt64 = 1
    @Option(help: "Signal-to-noise ratio (white matter / σ).")
    public var snr: Double = 20
    @Option(help: "Levels a compression may sit at, comma-separated.")
    public var levels = "C4,C5,C6"
    @Option(help: "Range of the compression severity (AP reduction at its centre), MIN:MAX within (0, 0.8].")
    public var severity = "0.3:0.6"
    @Option(help: "Letters and digits put before the hc/dcm labels (e.g. to tell cohorts apart).")
    public var idPrefix = ""
    @Option(help: "In-plane field of view of the axial images (mm).")
    public var fieldOfView: Double = 32
    @Option(help: "Visits per subject (1 = no session folders). With 2 or more: sub-*/ses-NN/, sub-*_sessions.tsv with acq_time, disc labels for ses-01 only, the subject repositioned between visits.")
    public var sessions = 1
    @Option(help: "Days between visits (with --sessions).")
    public var intervalDays: Double = 91
    @Option(help: "Planted atrophy, LEVEL:FRACTION/y comma-separated, e.g. C5:0.08/y = C5 loses 8 % of its CSA per year (linear; diameters × √factor).")
    public var atrophy = ""
    @Option(help: "Repositioning between visits: the cord moves up to ± this many mm along S–I (uniform) and by a normal in-plane shift of SD 1 mm.")
    public var repositionMm: Double = 6
    @Flag(name: .customLong("dwi-mt"), help: "With --sessions: also a single-shell DWI (1×1×5 mm, 5 b=0 + 30 × b=800 s/mm²) and the MT set (MT-on, MT-off, T1w FLASH, 0.9×0.9×5 mm) at every visit, moved and turned like the T2w; truth FA, MTR and tissue labels per session.")
    public var dwiMt = false
    @Option(help: "With --dwi-mt: demyelination planted in the dorsal columns, fraction per year: MT saturation × (1 − rate·t) and radial diffusivity × (1 + rate·t) at day t (years), so MTR and FA fall there only.")
    public var dorsalDemyelination: Double = 0
    @Option(help: "Head rotation between visits (degrees): about R–L uniform in ± this, about A–P and S–I in ± half of it, about the grid centre (0…10; default 0 = none).")
    public var repositionDeg: Double = 0

    public init() {}

    func cohort() throws -> PhantomCohort {
        var c = PhantomCohort(healthy: healthy, compressed: compressed, seed: seed)
        c.snr = snr
        c.idPrefix = idPrefix
        c.compressionLevels = try levels.split(separator: ",").map { name in
            guard let l = VertebralLevel(name: name.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--levels: \"\(name)\" is not a level; use C1…C7 or T1, comma-separated")
            }
            return l
        }
        let parts = severity.split(separator: ":").compactMap { Double($0) }
        guard parts.count == 2, parts[0] > 0, parts[0] <= parts[1], parts[1] <= 0.8 else {
            throw ValidationError("--severity takes MIN:MAX with 0 < MIN ≤ MAX ≤ 0.8, e.g. 0.3:0.6")
        }
        c.severity = parts[0]...parts[1]
        do { try c.validate() } catch { throw ValidationError("\(error)") }
        return c
    }

    func sessionPlan() throws -> PhantomSessions? {
        guard sessions > 1 || !atrophy.isEmpty || dwiMt else { return nil }
        var plan = PhantomSessions(count: sessions, intervalDays: intervalDays)
        plan.longitudinalShift = repositionMm
        plan.rotationRange = repositionDeg
        plan.diffusionAndMT = dwiMt
        plan.dorsalDemyelinationPerYear = dorsalDemyelination
        plan.atrophy = try atrophy.split(separator: ",").map { item in
            guard let a = PlantedAtrophy(text: String(item)) else {
                throw ValidationError("--atrophy: \"\(item)\" is not LEVEL:FRACTION/y (e.g. C5:0.08/y)")
            }
            return a
        }
        do { try plan.validate() } catch { throw ValidationError("\(error)") }
        return plan
    }

    public func validate() throws {
        guard snr > 0 else { throw ValidationError("--snr must be positive") }
        guard intervalDays > 0, intervalDays <= 3650 else { throw ValidationError("--interval-days must lie within (0, 3650]") }
        if !atrophy.isEmpty && sessions < 2 { throw ValidationError("--atrophy needs --sessions 2 or more (change is seen between visits)") }
        if dwiMt && sessions < 2 { throw ValidationError("--dwi-mt goes with --sessions 2 or more") }
        if dorsalDemyelination != 0 && !dwiMt { throw ValidationError("--dorsal-demyelination needs --dwi-mt (it changes FA and MTR)") }
        _ = try cohort()
        _ = try sessionPlan()
    }

    public func run() throws {
        try runReporting("phantom cohort") {
            let plan = try sessionPlan()
            let s = try PhantomCohortExport.write(try cohort(), to: outdir, fieldOfView: fieldOfView, sessions: plan)
            let patients = s.subjects.filter { $0.group == .patient }.count
            print("wrote \(s.root): \(s.subjects.count - patients) healthy, \(patients) patients in \(formatFixed(s.seconds, 1)) s")
            if let plan {
                print("  \(plan.count) sessions at days \(plan.days.map { formatFixed($0, 0) }.joined(separator: ", ")); planted: "
                      + (plan.atrophy.isEmpty ? "none" : plan.atrophy.map { "\($0.level.name) \(formatFixed($0.fractionPerYear * 100, 1)) %/y" }.joined(separator: ", "))
                      + "; truth in derivatives/truth/sessions.tsv and session_levels.tsv")
            }
            for (sub, t) in zip(s.subjects, s.truth) {
                var line = "  \(sub.id) \(sub.sex) \(formatFixed(sub.age, 0)) y \(formatFixed(sub.height, 0)) cm"
                line += "  C3 \(formatFixed(sub.parameters.levels[2].csa, 1)) mm²"
                if let c = t.compression {
                    line += "  compression \(c.level.name) \(formatFixed(c.fraction * 100, 0))% AP, CSA \(formatFixed(c.healthyCSA, 1)) → \(formatFixed(c.compressedCSA, 1)) mm²"
                }
                print(line)
            }
        }
    }
}
