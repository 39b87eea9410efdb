// Change from baseline per level × region × metric × session: absolute, %, annualised, and
// the reliable-change index (Jacobson & Truax 1991).
import CordCore
import CordMetrics

/// What one session contributes: its label, its day (days since 1970-01-01; nil when no
/// date is known), its `sessions.tsv` columns and its long-form rows.
public struct SessionMeasurements: Sendable {
    public var label: String
    public var day: Double?
    public var scores: [String: String]
    public var rows: [MetricRow]
    public init(label: String, day: Double?, scores: [String: String] = [:], rows: [MetricRow]) {
        self.label = label; self.day = day; self.scores = scores; self.rows = rows
    }
}

/// One line of the change table.
public struct ChangeRow: Sendable, Equatable {
    public var subject: String, session: String
    /// Days since the baseline session; nil without dates.
    public var days: Double?
    public var level: String, region: String, metric: String, method: String
    public var value: Double, baseline: Double
    /// value − baseline (metric's unit) and 100 × change / baseline.
    public var change: Double, changePercent: Double?
    /// change / years since baseline, absolute and in % of baseline per year; nil at baseline or without dates.
    public var ratePerYear: Double?, ratePercentPerYear: Double?
    /// The within-subject SD used (metric's unit) and where it came from.
    public var withinSD: Double?, withinSDSource: String?
    /// RCI = change / (√2 · s_w); `reliable` when |RCI| > `ChangeTable.criticalRCI`.
    public var rci: Double?
    public var reliable: Bool?
    public var scores: [String: String]
}

/// Change tables of one subject's sessions.
///
/// Baseline is the earliest session (by date when every session has one, else by label).
/// For every level × region × metric × method measured at baseline, each session that has
/// it gets a row (baseline included, change 0): its value, change from baseline, change in %,
/// annualised rate (change ÷ years since baseline, 365.25-day years) and the reliable-change
/// index of Jacobson & Truax (1991, J Consult Clin Psychol 59:12): RCI = (x₂ − x₁) / S_diff,
/// S_diff = √2 · s_w with s_w the within-subject (test–retest) SD of the measurement; |RCI| > 1.96
/// is a change unlikely (p < 0.05, two-sided) under measurement error alone.
public enum ChangeTable {
    public static let criticalRCI = 1.96
    public static let baseColumns = ["participant_id", "session", "days_from_baseline", "level", "region", "metric", "method",
                                     "value", "baseline_value", "change", "change_percent", "rate_per_year",
                                     "rate_percent_per_year", "within_sd", "rci", "reliable_change", "within_sd_source"]

    /// The sessions in analysis order: by day when all have one, else by label.
    public static func ordered(_ sessions: [SessionMeasurements]) -> [SessionMeasurements] {
        if sessions.allSatisfy({ $0.day != nil }) {
            return sessions.sorted { ($0.day ?? 0, $0.label) < ($1.day ?? 0, $1.label) }
        }
        return sessions.sorted { $0.label < $1.label }
    }

    /// The change rows, ordered by level, region, metric, method, then session.
    public static func compute(subject: String, sessions input: [SessionMeasurements],
                               withinSD: WithinSubjectSDTable = WithinSubjectSDTable()) -> [ChangeRow] {
        let sessions = ordered(input)
        guard let base = sessions.first else { return [] }
        func key(_ r: MetricRow) -> String { [r.level, r.region, r.metric, r.method].joined(separator: "\u{1}") }
        var baseline: [String: MetricRow] = [:]
        for r in base.rows where r.value.isFinite { baseline[key(r)] = r }
        let datesKnown = sessions.allSatisfy { $0.day != nil }
        var out: [ChangeRow] = []
        for s in sessions {
            let days = datesKnown ? (s.day ?? 0) - (base.day ?? 0) : nil
            for r in s.rows where r.value.isFinite {
                guard let b = baseline[key(r)] else { continue }
                let change = r.value - b.value
                let percent = b.value != 0 ? 100 * change / b.value : nil
                var rate: Double?, ratePercent: Double?
                if let d = days, d > 0 {
                    let years = d / 365.25
                    rate = change / years
                    ratePercent = percent.map { $0 / years }
                }
                let sd = withinSD.sd(metric: r.metric, region: r.region)
                let sw = sd?.sd(baseline: b.value)
                var rci: Double?
                if let sw, sw > 0 { rci = change / (2.0.squareRoot() * sw) }
                out.append(ChangeRow(subject: subject, session: s.label, days: days, level: r.level, region: r.region, metric: r.metric,
                                     method: r.method, value: r.value, baseline: b.value, change: change, changePercent: percent,
                                     ratePerYear: rate, ratePercentPerYear: ratePercent, withinSD: sw, withinSDSource: sd?.source.label,
                                     rci: rci, reliable: rci.map { abs($0) > criticalRCI }, scores: s.scores))
            }
        }
        let order = Dictionary(uniqueKeysWithValues: sessions.enumerated().map { ($1.label, $0) })
        return out.sorted {
            let a = (levelOrder($0.level), $0.region, $0.metric, $0.method), b = (levelOrder($1.level), $1.region, $1.metric, $1.method)
            if a != b { return a < b }
            return (order[$0.session] ?? 0) < (order[$1.session] ?? 0)
        }
    }

    /// C1 … C7, T1 … T12, then anything else (`all`).
    static func levelOrder(_ name: String) -> Int {
        if name.hasPrefix("C"), let n = Int(name.dropFirst()) { return n }
        if name.hasPrefix("T"), let n = Int(name.dropFirst()) { return 7 + n }
        if name.hasPrefix("L"), let n = Int(name.dropFirst()) { return 19 + n }
        return 100
    }

    /// Score column names of the sessions (sorted).
    public static func scoreColumns(_ rows: [ChangeRow]) -> [String] {
        Array(Set(rows.flatMap { $0.scores.keys })).sorted()
    }

    /// Rows as TSV fields under `baseColumns + scoreColumns` (`n/a` for a missing value).
    public static func stringRows(_ rows: [ChangeRow], scoreColumns: [String]) -> [[String]] {
        func f(_ x: Double?) -> String { x.map { LongFormTable.format($0) } ?? "n/a" }
        return rows.map { r in
            [r.subject, "ses-" + r.session, r.days.map { formatFixed($0, 2) } ?? "n/a", r.level, r.region, r.metric, r.method,
             f(r.value), f(r.baseline), f(r.change), f(r.changePercent), f(r.ratePerYear), f(r.ratePercentPerYear),
             f(r.withinSD), f(r.rci), r.reliable.map { $0 ? "yes" : "no" } ?? "n/a", r.withinSDSource ?? "n/a"]
            + scoreColumns.map { r.scores[$0] ?? "n/a" }
        }
    }
}
