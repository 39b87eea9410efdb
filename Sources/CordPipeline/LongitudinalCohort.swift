// `cordq longitudinal cohort BIDS_ROOT [OUT]`: every subject with two or more sessions, and
// one table for all of them with baseline-adjusted changes, ready for statistics.
import CordCore
import CordIO
import CordLongitudinal
import CordMetrics
import Foundation

/// What `LongitudinalCohort.run` wrote.
public struct LongitudinalCohortSummary: Sendable {
    public var output: String
    /// `cohort_longitudinal.tsv`.
    public var tablePath: String
    public var subjects: [LongitudinalSummary]
    /// Subjects left out, with the reason (one session, a failing step).
    public var skipped: [(subject: String, reason: String)]
    public var rows: Int
    public var seconds: Double
}

/// The cohort table: every subject's change rows, the `participants.tsv` columns,
/// `change_baseline_adjusted`, and `age_at_scan` (participants.tsv `age`, read as the age at
/// the baseline visit, plus the years since it; n/a without an age or dates).
///
/// Baseline adjustment (ANCOVA-style; Vickers & Altman 2001, BMJ 323:1123): within each
/// level × region × metric × method × session, the change is regressed on the baseline
/// value across subjects, and each subject's change is moved to the cohort's mean baseline:
/// change − b · (baseline − mean baseline). With fewer than 3 subjects, or no spread of
/// baselines, the column is n/a.
public enum LongitudinalCohort {
    public static func run(root: String, output: String, template: LongitudinalRequest,
                           log: @escaping @Sendable (String) -> Void = { _ in }) throws -> LongitudinalCohortSummary {
        let started = ContinuousClock.now
        let dataset = try BIDSDataset.load(root)
        guard !dataset.subjects.isEmpty else { throw CordError.invalidValue(what: root, detail: "holds no sub-* folders") }
        try PipelineInputs.refuseOverwrite(output, inputs: [root])
        let out = try OutputFolder(output, overwrite: template.overwrite)
        var done: [LongitudinalSummary] = [], skipped: [(String, String)] = []
        for s in dataset.subjects {
            guard s.sessions.count >= 2 else {
                skipped.append((s.id, s.sessions.isEmpty ? "no ses-* folders" : "one session only (ses-\(s.sessions[0]))"))
                log("\(s.id): skipped (\(skipped.last?.1 ?? ""))")
                continue
            }
            var r = template
            r.subject = s.path; r.output = out.staging + "/" + s.id; r.overwrite = false
            r.reuse = template.reuse.map { $0 + "/" + s.id }
            do {
                var summary = try LongitudinalPipeline.run(r) { log("\(s.id): " + $0) }
                summary.output = out.destination + "/" + s.id
                done.append(summary)
            } catch {
                skipped.append((s.id, "\(error)"))
                log("\(s.id): FAILED, left out: \(error)")
            }
        }
        guard !done.isEmpty else {
            throw CordError.invalidValue(what: root, detail: "no subject could be analysed: " + skipped.map { "\($0.0): \($0.1)" }.joined(separator: "; "))
        }
        let rows = done.flatMap(\.rows)
        let adjusted = baselineAdjusted(rows)
        let participantColumns = Array(Set(dataset.participants.values.flatMap { $0.keys })).filter { $0 != "participant_id" }.sorted()
        let scores = ChangeTable.scoreColumns(rows)
        // Age at each scan: participants.tsv `age` (taken as the age at baseline) + years since baseline.
        var table = TSVTable(columns: ChangeTable.baseColumns + ["change_baseline_adjusted", "age_at_scan"] + participantColumns + scores)
        let base = ChangeTable.stringRows(rows, scoreColumns: [])
        for (n, r) in rows.enumerated() {
            let p = dataset.participants[r.subject] ?? [:]
            let ageAtScan = p["age"].flatMap(Double.init).flatMap { age in r.days.map { age + $0 / 365.25 } }
            table.append(base[n] + [adjusted[n].map { LongFormTable.format($0) } ?? "n/a", ageAtScan.map { formatFixed($0, 2) } ?? "n/a"]
                         + participantColumns.map { p[$0].flatMap { $0.isEmpty ? nil : $0 } ?? "n/a" }
                         + scores.map { r.scores[$0] ?? "n/a" })
        }
        let name = "cohort_longitudinal.tsv"
        try table.write(to: out.path(name))
        try out.commit()
        return LongitudinalCohortSummary(output: out.destination, tablePath: out.destination + "/" + name, subjects: done,
                                         skipped: skipped, rows: rows.count, seconds: (ContinuousClock.now - started).seconds)
    }

    /// change − b·(baseline − mean baseline) per level × region × metric × method × session, b the
    /// least-squares slope of change on baseline across subjects; nil where it cannot be estimated.
    public static func baselineAdjusted(_ rows: [ChangeRow]) -> [Double?] {
        var groups: [String: [Int]] = [:]
        for (n, r) in rows.enumerated() { groups[[r.level, r.region, r.metric, r.method, r.session].joined(separator: "\u{1}"), default: []].append(n) }
        var out = [Double?](repeating: nil, count: rows.count)
        for (_, members) in groups where members.count >= 3 {
            let x = members.map { rows[$0].baseline }, y = members.map { rows[$0].change }
            let mx = x.reduce(0, +) / Double(x.count), my = y.reduce(0, +) / Double(y.count)
            var sxx = 0.0, sxy = 0.0
            for i in x.indices { sxx += (x[i] - mx) * (x[i] - mx); sxy += (x[i] - mx) * (y[i] - my) }
            guard sxx > 1e-12 * max(1, mx * mx) else { continue }
            let b = sxy / sxx
            for (i, n) in members.enumerated() { out[n] = y[i] - b * (x[i] - mx) }
        }
        return out
    }
}
