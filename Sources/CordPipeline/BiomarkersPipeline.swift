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
///
/// A re-run resumes: a patient whose row in the existing OUT has status ok and the same
/// `input_sha256` — the SHA-256 of its list entry, its rows, the normative models and the
/// CordQ version — is
/// copied from OUT and OUT_values rather than recomputed (its clinical columns are taken
/// from the current list); failed, new and changed patients are computed.
public enum BiomarkersPipeline {
    public static let patientColumns = ["participant_id", "status", "error", "compressed_level", "level_source", "csa_mm2",
                                        "csa_expected_mm2", "csa_sd_mm2", "csa_z", "csa_adjusted_for", "csa_ratio",
                                        "csa_min_mm2", "csa_min_expected_mm2", "csa_min_sd_mm2", "csa_min_z", "csa_min_ratio",
                                        "mscc_percent", "compression_ratio_ap_rl", "input_sha256"]
    public static let valueColumns = ["participant_id", "compressed_level", "position", "level", "region", "metric", "method",
                                      "value", "expected", "sd", "z", "adjusted_for", "ratio_to_c2"]

    public struct Outcome: Sendable {
        public var output: String, valuesOutput: String
        public var succeeded: [String]
        /// Of the succeeded, those copied from the previous run (inputs unchanged).
        public var reused: [String]
        /// Failed patients with the reason.
        public var failed: [(subject: String, reason: String)]
        /// Patients left out by the reviewer's QC verdicts (fail or artefact), with the verdict.
        public var excluded: [(subject: String, reason: String)] = []
    }

    /// The values table's path: `OUT.tsv` → `OUT_values.tsv`.
    public static func valuesPath(_ output: String) -> String {
        output.hasSuffix(".tsv") ? String(output.dropLast(4)) + "_values.tsv" : output + "_values.tsv"
    }

    /// `qcVerdicts`: a QC verdict file (`QCVerdicts`); patients with a fail or artefact verdict
    /// get status `excluded` with the verdict in the summary table and no values.
    public static func run(database: String, patients: String, tables: [String], output: String,
                           qcVerdicts: String? = nil) throws -> Outcome {
        let tableFiles = try NormativePipeline.tableFiles(tables)
        try InputGuard.refuse(outputs: [output, valuesPath(output)], inputs: [patients, database] + tableFiles + [qcVerdicts].compactMap { $0 })
        let verdicts = try qcVerdicts.map { try QCVerdicts.read($0) }
        let list = try TSVTable.read(patients)
        let entries = try PatientEntry.parseList(columns: list.columns, rows: list.rows, source: patients)
        guard !entries.isEmpty else { throw CordError.invalidValue(what: patients, detail: "lists no patient") }
        var rows: [String: [MetricRow]] = [:]
        // An implausible value fails its patient only (the others finish, as documented).
        var unusable: [String: String] = [:]
        for f in tableFiles {
            let t = try TSVTable.read(f)
            let parsed = try LongFormTable.parse(columns: t.columns, rows: t.rows, source: f, implausible: .collect)
            for r in parsed.table.rows { rows[r.subject, default: []].append(r) }
            for (subject, problem) in parsed.problems where unusable[subject] == nil { unusable[subject] = problem }
        }
        for s in unusable.keys { rows[s] = nil }
        let models = try NormativePipeline.open(database).models()
        let modelPrint = fingerprint(models)
        let inputs = entries.map { inputFingerprint($0, rows: rows[$0.participant.id] ?? [], models: modelPrint) }
        let previous = try PreviousRun(output: output, valuesOutput: valuesPath(output))
        let excluded = Dictionary(entries.compactMap { e in verdicts?.exclusion(of: e.participant.id).map { (e.participant.id, $0) } },
                                  uniquingKeysWith: { a, _ in a })
        let todo = entries.indices.filter {
            excluded[entries[$0].participant.id] == nil && !previous.canReuse(entries[$0].participant.id, input: inputs[$0])
        }
        var computed = Biomarkers.computeAll(todo.map { entries[$0] }, rows: rows, models: models)
        for (k, n) in todo.enumerated() {
            if let problem = unusable[entries[n].participant.id] { computed[k] = .failure(CordError.invalidValue(what: "patient \(entries[n].participant.id)", detail: problem)) }
        }
        let resultOf = Dictionary(uniqueKeysWithValues: zip(todo, computed))

        let clinical = entries.first?.clinical.map(\.0) ?? []
        var summary = TSVTable(columns: patientColumns + clinical), values = TSVTable(columns: valueColumns)
        var outcome = Outcome(output: output, valuesOutput: valuesPath(output), succeeded: [], reused: [], failed: [])
        for (n, entry) in entries.enumerated() {
            let id = entry.participant.id, scores = entry.clinical.map(\.1)
            if let why = excluded[id] {
                outcome.excluded.append((id, why))
                summary.append([id, "excluded", why] + Array(repeating: "", count: patientColumns.count - 4) + [inputs[n]] + scores)
                continue
            }
            guard let result = resultOf[n] else {
                summary.append(previous.summaryRow(id) + scores)
                for r in previous.valueRows(id) { values.append(r) }
                outcome.succeeded.append(id); outcome.reused.append(id)
                continue
            }
            switch result {
            case let .failure(error):
                outcome.failed.append((id, "\(error)"))
                summary.append([id, "failed", "\(error)"] + Array(repeating: "", count: patientColumns.count - 4) + [inputs[n]] + scores)
            case let .success(b):
                outcome.succeeded.append(id)
                let source = b.levelGiven ? "given" : "lowest \(b.levelMetric ?? "csa_mm2") z"
                let m = b.csaMin
                summary.append([id, "ok", "", b.compressedLevel, source, f(b.csa.value), f(b.csa.expected), f(b.csa.sd), f(b.csa.z, 2),
                                b.csa.adjustedFor.joined(separator: "+"), f(b.csaRatio, 4),
                                m.map { f($0.value) } ?? "", m.map { f($0.expected) } ?? "", m.map { f($0.sd) } ?? "",
                                m.map { f($0.z, 2) } ?? "", b.csaMinRatio.map { f($0, 4) } ?? "",
                                b.mscc.map { f($0, 2) } ?? "", b.compressionRatio.map { f($0, 4) } ?? "", inputs[n]] + scores)
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

    // MARK: - Resuming

    /// SHA-256 of the CordQ version and the models' keys and numbers (what every z-score depends on).
    static func fingerprint(_ models: [NormativeModel]) -> String {
        var text = "cordq \(CordQVersion.string)\n"
        for m in models {
            text += "\(m.key.metric)|\(m.key.region)|\(m.key.level)|\(m.key.method)|\(m.n)|\(m.mean)|\(m.sd)"
            if let fit = m.fit { text += "|\(fit.covariates)|\(fit.centres)|\(fit.coefficients)|\(fit.residualSD)|\(fit.lower)|\(fit.upper)" }
            text += "\n"
        }
        return FileChecksum.sha256(text: text)
    }

    /// SHA-256 of what one patient's result depends on: its demographics and given level,
    /// its rows (in a fixed order) and the models' fingerprint.
    static func inputFingerprint(_ e: PatientEntry, rows: [MetricRow], models: String) -> String {
        let p = e.participant
        var text = "\(p.id)|\(p.sex ?? "")|\(p.age.map { "\($0)" } ?? "")|\(p.height.map { "\($0)" } ?? "")|\(e.compressedLevel ?? "")\n\(models)\n"
        for r in rows.sorted(by: { ($0.session, $0.level, $0.region, $0.metric, $0.method) < ($1.session, $1.level, $1.region, $1.metric, $1.method) }) {
            text += "\(r.session)|\(r.level)|\(r.region)|\(r.metric)|\(r.method)|\(r.value)|\(r.count)\n"
        }
        return FileChecksum.sha256(text: text)
    }

    /// The outputs of an earlier run (empty when absent, or written without `input_sha256`).
    struct PreviousRun {
        var summary: [String: [String: String]] = [:]
        var values: [String: [[String: String]]] = [:]

        init(output: String, valuesOutput: String) throws {
            guard TextFile.exists(output), TextFile.exists(valuesOutput) else { return }
            // The previous outputs are read to be replaced: not recorded as inputs.
            let s = try InputGuard.withoutRecording { try TSVTable.read(output) }
            guard Set(BiomarkersPipeline.patientColumns).isSubset(of: s.columns) else { return }
            let v = try InputGuard.withoutRecording { try TSVTable.read(valuesOutput) }
            guard Set(BiomarkersPipeline.valueColumns).isSubset(of: v.columns) else { return }
            for r in s.records { if let id = r["participant_id"] { summary[id] = r } }
            for r in v.records { if let id = r["participant_id"] { values[id, default: []].append(r) } }
        }
        func canReuse(_ id: String, input: String) -> Bool {
            guard let r = summary[id] else { return false }
            return r["status"] == "ok" && r["input_sha256"] == input
        }
        func summaryRow(_ id: String) -> [String] { BiomarkersPipeline.patientColumns.map { summary[id]?[$0] ?? "" } }
        func valueRows(_ id: String) -> [[String]] {
            (values[id] ?? []).map { r in BiomarkersPipeline.valueColumns.map { r[$0] ?? "" } }
        }
    }
}
