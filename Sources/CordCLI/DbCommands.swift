// `cordq db …`: the normative database of healthy volunteers.
import ArgumentParser
import CordCore
import CordNormative
import CordPipeline

/// `cordq db`
public struct DbCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Normative database of healthy volunteers: ingest per-level tables, model them, export.",
        discussion: """
        The database is one SQLite file (WAL journal, versioned schema) holding every subject's \
        long-form rows (participant_id, session, level, region, metric, value, method, count) with \
        demographics (sex, age in years, height in cm, weight in kg, site, manufacturer, scanner, \
        protocol) and provenance (source files with SHA-256, CordQ version, time). Each subject is \
        written in one transaction: re-adding replaces it, and an interrupted build keeps only \
        complete subjects. Models per metric × region × level × method: mean and SD, and a linear \
        model on age and sex (plus height for metrics ending _mm2 or _mm) when there are at least 10 \
        subjects per parameter.
        """,
        subcommands: [DbBuildCommand.self, DbAddCommand.self, DbImportSpineGenericCommand.self,
                      DbSummaryCommand.self, DbExportCommand.self])
    public init() {}
}

/// Runs a pipeline call, turning failures into a message and exit code 1.
func runReporting(_ name: String, _ body: () throws -> Void) throws {
    do { try body() } catch {
        writeStandardError("cordq \(name): \(error)\n")
        throw ExitCode(1)
    }
}

func report(_ s: NormativePipeline.IngestSummary) {
    print("\(s.database): wrote \(s.subjects.count) subject\(s.subjects.count == 1 ? "" : "s"), \(s.rows) rows")
    if !s.withoutDemographics.isEmpty {
        print("  without demographics (not in the participants table): \(s.withoutDemographics.joined(separator: ", "))")
    }
}

/// `cordq db build DB (--tables DIR_OR_FILES… | --bids ROOT) [--participants TSV]`
public struct DbBuildCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Create or extend a database from pre-computed long-form tables or from a BIDS dataset of healthy volunteers.",
        discussion: """
        --tables takes long-form TSV files or folders (their .tsv files, participants.tsv excepted, \
        and the sub-*/*_metrics.tsv tables of a derivatives folder). All tables are read before \
        anything is written, so a malformed table stops the run with the database unchanged.

        --bids ROOT takes every sub-* of a BIDS dataset whose group (or pathology) in \
        participants.tsv is empty or healthy (HC, control); patients are skipped. Each subject's \
        table is ROOT/derivatives/cordq/<sub>/<sub>_metrics.tsv; a subject with ses-* folders is \
        stored with every session's table (<sub>/ses-<label>/<sub>_ses-<label>_metrics.tsv, as cordq \
        batch writes it, or <sub>/<sub>_ses-<label>_metrics.tsv) and the ages (age, years) or \
        acq_time of its BIDS <sub>/<sub>_sessions.tsv. A subject or session without a table is \
        processed first (cordq process with its defaults, into that folder; --no-process: it fails \
        instead). A failing subject is reported and the others go on (exit code 1 at the end). \
        Subjects are stored one transaction each, so a killed build keeps only complete subjects, and \
        a re-run reuses the tables already made and completes it.

        --participants is a BIDS participants.tsv (participant_id, sex, age, height_cm, weight_kg, \
        site, manufacturer, scanner, protocol, group; any subset); with --bids it defaults to \
        ROOT/participants.tsv.

        Sessions (with --tables): --sessions FILE stores each session's age at scan (participant_id, \
        session_id, age in years, acq_time; BIDS sessions.tsv columns with participant_id added). \
        --retest FILE declares test–retest pairs (participant_id, session_a, session_b: two scans \
        of one volunteer with no change expected between them, e.g. same day, repositioned); the \
        within-subject SD per metric and region is then estimated from those pairs only \
        (s_w² = Σd²/2n on relative differences, Bland & Altman 1996 BMJ 313:744) and used by \
        cordq longitudinal --db for the reliable-change index. A pair naming a session the tables \
        do not hold stops the build before anything is written.
        """)
    @Argument(help: "Database file (created when absent).") public var database: String
    @Option(parsing: .upToNextOption, help: "Long-form tables or folders of them.") public var tables: [String] = []
    @Option(help: "A BIDS dataset of healthy volunteers (tables from derivatives/cordq).") public var bids: String?
    @Option(help: "Participants table with demographics.") public var participants: String?
    @Option(help: "With --bids: QC verdicts from the dataset QC page (default ROOT/derivatives/cordq/qc/verdicts.json when present); subjects marked fail or artefact are excluded and listed.")
    public var qcVerdicts: String?
    @Flag(help: "With --bids: do not run cordq process on subjects without a table (they fail).") public var noProcess = false
    @Option(help: "With --tables: sessions table (participant_id, session_id, age at scan in years, acq_time) stored per session.")
    public var sessions: String?
    @Option(help: "With --tables: test–retest pairs (participant_id, session_a, session_b) for the within-subject SD of the reliable-change index.")
    public var retest: String?
    public init() {}
    public func validate() throws {
        if (sessions != nil || retest != nil) && bids != nil { throw ValidationError("--sessions and --retest go with --tables") }
        if noProcess && bids == nil { throw ValidationError("--no-process goes with --bids") }
        if tables.isEmpty && bids == nil { throw ValidationError("give --tables (files or folders) or --bids ROOT") }
        if !tables.isEmpty && bids != nil { throw ValidationError("give --tables or --bids, not both") }
    }
    public func run() throws {
        if let root = bids {
            var s: NormativePipeline.BIDSBuildSummary?
            try runReporting("db build") {
                s = try NormativePipeline.buildFromBIDS(database: database, root: root, participants: participants, qcVerdicts: qcVerdicts,
                                                        process: noProcess ? nil : NormativePipeline.standardProcessor) { n, total, id in
                    print("[\(n)/\(total)] \(id)")
                }
            }
            guard let s else { return }
            print("\(s.database): wrote \(s.ingested.count) subject\(s.ingested.count == 1 ? "" : "s"), \(s.rows) rows"
                  + (s.processed.isEmpty ? "" : " (\(s.processed.count) processed now)"))
            let notHealthy = s.skipped.filter { !$0.reason.hasPrefix("QC verdict") }, byQC = s.skipped.filter { $0.reason.hasPrefix("QC verdict") }
            if !notHealthy.isEmpty { print("  skipped (not healthy): \(notHealthy.map(\.subject).joined(separator: ", "))") }
            for (id, why) in byQC { print("  excluded by QC: \(id): \(why)") }
            if !s.withoutDemographics.isEmpty {
                print("  without demographics (not in the participants table): \(s.withoutDemographics.joined(separator: ", "))")
            }
            for (_, reason) in s.failed { writeStandardError("cordq db build: failed: \(reason)\n") }
            if !s.failed.isEmpty { throw ExitCode(1) }
            return
        }
        try runReporting("db build") {
            report(try NormativePipeline.build(database: database, tables: tables, participants: participants, sessions: sessions, retest: retest))
        }
    }
}

/// `cordq db add DB TABLE… [--participant ID --sex … | --participants TSV]`
public struct DbAddCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add subjects to a database, replacing any stored subject of the same id.",
        discussion: """
        With --participant, only that subject's rows are taken from the tables and stored with the \
        demographics given here; otherwise every subject in the tables, with demographics from \
        --participants.
        """)
    @Argument(help: "Database file.") public var database: String
    @Argument(help: "Long-form tables or folders.") public var tables: [String]
    @Option(help: "Participants table with demographics.") public var participants: String?
    @Option(help: "Add only this participant, with the demographics below.") public var participant: String?
    @Option(help: "M or F.") public var sex: String?
    @Option(help: "Age in years.") public var age: Double?
    @Option(help: "Height in cm.") public var height: Double?
    @Option(help: "Weight in kg.") public var weight: Double?
    @Option(help: "Site name.") public var site: String = ""
    @Option(help: "Scanner manufacturer.") public var manufacturer: String = ""
    @Option(help: "Scanner model.") public var scanner: String = ""
    @Option(name: .customLong("protocol"), help: "Acquisition protocol.") public var protocolName: String = ""
    public init() {}
    public func validate() throws {
        if participant != nil && participants != nil { throw ValidationError("give --participant or --participants, not both") }
        if participant == nil && (sex != nil || age != nil || height != nil || weight != nil) {
            throw ValidationError("--sex/--age/--height/--weight describe one subject: give --participant too")
        }
        if let s = sex { do { _ = try Participant.normaliseSex(s, source: "--sex") } catch { throw ValidationError("--sex takes M or F") } }
    }
    public func run() throws {
        try runReporting("db add") {
            let one = try participant.map {
                Participant(id: $0, sex: try sex.flatMap { try Participant.normaliseSex($0, source: "--sex") }, age: age,
                            height: height, weight: weight, site: site, manufacturer: manufacturer, scanner: scanner,
                            protocolName: protocolName)
            }
            report(try NormativePipeline.add(database: database, tables: tables, participants: participants, participant: one))
        }
    }
}

/// `cordq db import-spine-generic DB FILE`
public struct DbImportSpineGenericCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "import-spine-generic",
        abstract: "Import the spine-generic per-level morphometry table (one row per subject × level) as long-form rows.",
        discussion: """
        Reads spine-generic_T2w_cord_morphometry_per_level.tsv (PAM50-normalized-metrics; Cohen-Adad \
        et al. 2021, Sci Data 8:219): csa_mm2, diameter_ap_mm, diameter_rl_mm, eccentricity and \
        solidity become rows with region "cord" and method "morphometry"; sex, age, height_cm, \
        weight_kg, site and manufacturer become the subjects' demographics.
        """)
    @Argument(help: "Database file (created when absent).") public var database: String
    @Argument(help: "The spine-generic per-level TSV.") public var file: String
    public init() {}
    public func run() throws {
        try runReporting("db import-spine-generic") {
            report(try NormativePipeline.importSpineGeneric(database: database, file: file))
        }
    }
}

/// `cordq db summary DB [--metric csa_mm2]`
public struct DbSummaryCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "Print the subjects and the normative models (mean ± SD and the linear model per level).")
    @Argument(help: "Database file.") public var database: String
    @Option(help: "Only this metric (e.g. csa_mm2).") public var metric: String?
    public init() {}
    public func run() throws {
        try runReporting("db summary") { print(try NormativePipeline.summary(database: database, metric: metric), terminator: "") }
    }
}

/// `cordq db export DB OUT.tsv [--models]`
public struct DbExportCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write every stored row with its subject's demographics (or, with --models, the models) as TSV.")
    @Argument(help: "Database file.") public var database: String
    @Argument(help: "Output TSV.") public var output: String
    @Flag(help: "Export the models (mean, SD, coefficients with standard errors) instead of the rows.") public var models = false
    public init() {}
    public func run() throws {
        try runReporting("db export") {
            let n = try NormativePipeline.export(database: database, output: output, models: models)
            print("wrote \(output) (\(n) \(models ? "models" : "rows"))")
        }
    }
}
