// The spine-generic per-level morphometry table (wide: one row per subject × level) as
// long-form rows plus participants.
import CordCore
import CordMetrics

/// Reader of the spine-generic multi-subject per-level table (PAM50-normalized-metrics,
/// `spine-generic_T2w_cord_morphometry_per_level.tsv`; Cohen-Adad et al. 2021, Sci Data
/// 8:219): columns `participant_id sex age height_cm weight_kg site manufacturer pathology
/// level n_slices` and one column per shape metric. Each metric cell becomes a long-form row
/// (region "cord", method "morphometry", count = `n_slices`), named like the column
/// (`csa_mm2` in mm², `diameter_ap_mm`/`diameter_rl_mm` in mm, `eccentricity` and
/// `solidity` unitless). Empty, "n/a" or "NaN" cells are skipped.
public enum SpineGenericTable {
    /// Metric columns read, when present.
    public static let metrics = ["csa_mm2", "diameter_ap_mm", "diameter_rl_mm", "eccentricity", "solidity"]

    /// Participants (one per id, from the first row naming it) and long-form rows.
    public static func parse(columns: [String], rows: [[String]], source: String) throws -> (participants: [Participant], rows: LongFormTable) {
        guard let id = columns.firstIndex(of: "participant_id"), let level = columns.firstIndex(of: "level") else {
            throw CordError.invalidValue(what: source, detail: "is not a spine-generic per-level table (needs participant_id and level columns)")
        }
        let metricColumns = metrics.compactMap { m in columns.firstIndex(of: m).map { (m, $0) } }
        guard !metricColumns.isEmpty else {
            throw CordError.invalidValue(what: source, detail: "has none of the metric columns \(metrics.joined(separator: ", "))")
        }
        let slices = columns.firstIndex(of: "n_slices")
        var out: [MetricRow] = []
        for (n, r) in rows.enumerated() {
            let count = slices.flatMap { Int(r[$0]) } ?? 0
            for (metric, c) in metricColumns {
                let text = r[c]
                if text.isEmpty || text == "n/a" || text.lowercased() == "nan" { continue }
                guard let v = Double(text), v.isFinite else {
                    throw CordError.invalidValue(what: source, detail: "line \(n + 2): \(metric) \"\(text)\" is not a number")
                }
                if let problem = MetricPlausibility.problem(metric: metric, value: v) {
                    throw CordError.invalidValue(what: source, detail: "line \(n + 2), column \(metric): \(problem)")
                }
                out.append(MetricRow(subject: r[id], level: r[level], region: "cord", metric: metric, value: v,
                                     method: "morphometry", count: count))
            }
        }
        return (try Participant.parseTable(columns: columns, rows: rows, source: source), LongFormTable(out))
    }
}
