// `cordq biomarkers`: myelopathy biomarkers for a patient list.
import ArgumentParser
import CordCore
import CordPipeline

/// `cordq biomarkers --db DB --patients LIST.tsv --tables DIR OUT.tsv`
public struct BiomarkersCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "biomarkers",
        abstract: "Myelopathy biomarkers for a patient list: compressed level, CSA, MSCC, compression ratio, z-scores.",
        discussion: """
        The patient list has participant_id, optionally compressed_level (e.g. C5) and demographics \
        (sex, age, height_cm) used to adjust z-scores; other columns (mJOA, JOA, …) are copied to the \
        output. --tables gives the patients' long-form per-level tables (files, folders, or a \
        derivatives folder with sub-*/*_metrics.tsv). Without a given level, the compressed level is \
        the one whose smallest slice CSA (csa_min_mm2; the level mean csa_mm2 when absent) has the \
        lowest z-score against the database; both z-scores are reported. \
        MSCC = (1 − d_i/((d_a + d_b)/2))·100 on per-level AP diameters (Fehlings et al. 1999, Spine \
        24:605); compression ratio AP/RL; CSA ratio = CSA / normative expectation. OUT holds one row \
        per patient (status ok or failed, with the reason); OUT_values.tsv every metric at, above \
        and below the compressed level with z-scores and ratios to C2. A failing patient is reported \
        and the others finish; the exit code is 1 when any failed. A re-run into the same OUT resumes: \
        patients with status ok whose inputs are unchanged (input_sha256: list entry, rows, models) \
        are copied, the others computed.
        """)
    @Option(help: "Normative database.") public var db: String
    @Option(help: "Patient list (TSV).") public var patients: String
    @Option(help: "A long-form table or a folder of them (repeat for several).") public var tables: [String] = []
    @Option(help: "QC verdicts saved from the dataset QC page (cordq qc dataset): patients marked fail or artefact are listed as excluded, with no values.")
    public var qcVerdicts: String?
    @Argument(help: "Output TSV (one row per patient).") public var output: String
    public init() {}
    public func validate() throws { if tables.isEmpty { throw ValidationError("--tables needs a table or folder") } }
    public func run() throws {
        let outcome: BiomarkersPipeline.Outcome
        do {
            outcome = try BiomarkersPipeline.run(database: db, patients: patients, tables: tables, output: output, qcVerdicts: qcVerdicts)
        } catch {
            writeStandardError("cordq biomarkers: \(error)\n")
            throw ExitCode(1)
        }
        let reused = outcome.reused.isEmpty ? "" : " (\(outcome.reused.count) unchanged since the last run, not recomputed)"
        for (id, why) in outcome.excluded { print("excluded \(id): \(why)") }
        print("\(outcome.succeeded.count) patient\(outcome.succeeded.count == 1 ? "" : "s") done\(reused), \(outcome.failed.count) failed\n  \(outcome.output)\n  \(outcome.valuesOutput)")
        for (_, reason) in outcome.failed { writeStandardError("cordq biomarkers: failed: \(reason)\n") }
        if !outcome.failed.isEmpty { throw ExitCode(1) }
    }
}
