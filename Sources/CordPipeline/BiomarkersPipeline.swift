// `cordq biomarkers`: myelopathy biomarkers for a list of patients against the database.
import CordBiomarkers
import CordCore
import CordIO
import CordMetrics
import CordNormative

/// Biomarkers for a patient list: reads the list and the long-form tables, builds the
/// normative models from the database, computes every patient in parallel and writes two
/// tables at once (atomically): OUT (one row per patient, with `status` and `error`) and
/// OUT with `_values` before the extension (one row per patient × level × region × metric
/// at, above and below the compressed level, with z-scores and ratios to C2).
public enum BiomarkersPipeline {
    public static let patientColumns = ["participant_id", "status", "error", "compressed_level", "level_source", "csa_mm2",
                                        "csa_expected_mm2", "csa_sd_mm2", "csa_z", "csa_adjusted_for", "csa_ratio",
                                        "mscc_percent", "compression_ratio_ap_rl"]
    public static let valueColumns = ["participant_id", "compressed_level", "position", "level", "region", "metric", "method",
                                      "value", "expected", "sd", "z", "adjusted_for", "ratio_to_c2"]

    public struct Outcome: Sendable {
        public var output: String, valuesOutput: String
        public var succeeded: [String]
        /// Failed patients with the reason.
        public var failed: [(subject: String, reason: String)]
    }

    /// The values table's path: `OUT.tsv` → `OUT_values.tsv`.
    public static func valuesPath(_ output: String) -> String {
        output.hasSuffix(".tsv") ? String(output.dropLast(4)) + "_values.tsv" : output + "_values.tsv"
    }

    public static func run(database: String, patients: String, tables: [String], output: String) throws -> Outcome {
        let list = try TSVTable.read(patients)
        let entries = try PatientEntry.parseList(columns: list.columns, rows: list.rows, source: patients)
        guard !entries.isEmpty else { throw CordError.invalidValue(what: patients, detail: "lists no patient") }
        var rows: [String: [MetricRow]] = [:]
        for f in try NormativePipeline.tableFiles(tables) {
            let t = try TSVTable.read(f)
            for r in try LongFormTable.parse(columns: t.columns, rows: t.rows, source: f).rows { rows[r.subject, default: []].append(r) }
        }
        let models = try NormativePipeline.open(database).models()
        let results = Biomarkers.computeAll(entries, rows: rows, models: models)

        let clinical = entries.first?.clinical.map(\.0) ?? []
        var summary = TSVTable(columns: patientColumns + clinical), values = TSVTable(columns: valueColumns)
        var outcome = Outcome(output: output, valuesOutput: valuesPath(output), succeeded: [], failed: [])
        for (entry, result) in zip(entries, results) {
            let id = entry.participant.id, scores = entry.clinical.map(\.1)
            switch result {
            case let .failure(error):
                outcome.failed.append((id, "\(error)"))
                summary.append([id, "failed", "\(error)"] + Array(repeating: "", count: patientColumns.count - 3) + scores)
            case let .success(b):
                outcome.succeeded.append(id)
                summary.append([id, "ok", "", b.compressedLevel, b.levelGiven ? "given" : "lowest CSA z", f(b.csa.value),
                                f(b.csa.expected), f(b.csa.sd), f(b.csa.z, 2), b.csa.adjustedFor.joined(separator: "+"),
                                f(b.csaRatio, 4), b.mscc.map { f($0, 2) } ?? "", b.compressionRatio.map { f($0, 4) } ?? ""] + scores)
                for v in b.values {
                    values.append([id, b.compressedLevel, v.position.rawValue, v.row.level, v.row.region, v.row.metric, v.row.method,
                                   f(v.row.value, 6), v.z.map { f($0.expected, 6) } ?? "", v.z.map { f($0.sd, 6) } ?? "",
                                   v.z.map { f($0.z, 3) } ?? "", v.z?.adjustedFor.joined(separator: "+") ?? "",
                                   v.ratioToC2.map { f($0, 4) } ?? ""])
                }
            }
        }
        let files = OutputFiles()
        try summary.write(to: try files.stage(output))
        try values.write(to: try files.stage(outcome.valuesOutput))
        try files.commit()
        return outcome
    }

    static func f(_ x: Double, _ digits: Int = 3) -> String { x.isFinite ? formatFixed(x, digits) : "" }
}
