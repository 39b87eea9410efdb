// The long-form table every per-level result is written in, and read back from.
import CordCore

/// One value: a subject × session × level × region × metric.
///
/// `metric` names the quantity and its unit the way column names do elsewhere in CordQ:
/// `csa_mm2`, `ap_mm`, `rl_mm`, `fa`, `md_um2_per_ms`, `ad_um2_per_ms`, `rd_um2_per_ms`,
/// `mufa`, `mtr_pu`, `mtsat_pu`, `t1_s`, … `level` is a vertebral level name (`C1` … `C7`,
/// `T1`, `T2`) or `all`; `region` a region name (`cord`, `white matter`, `grey matter`,
/// `dorsal columns`, `lateral funiculi`, `ventral funiculi`, a tract name, …).
public struct MetricRow: Sendable, Equatable, Hashable {
    public var subject: String
    public var session: String
    public var level: String
    public var region: String
    public var metric: String
    public var value: Double
    /// How the value was obtained (`wa`, `bin`, `median`, `ml`, `map`, `morphometry`, …).
    public var method: String
    /// Slices (or voxels) the value summarises; 0 when not applicable.
    public var count: Int

    public init(subject: String, session: String = "", level: String, region: String, metric: String,
                value: Double, method: String = "", count: Int = 0) {
        self.subject = subject; self.session = session; self.level = level; self.region = region
        self.metric = metric; self.value = value; self.method = method; self.count = count
    }
}

/// A long-form table: one `MetricRow` per line. Its TSV columns, in order, are
/// `participant_id session level region metric value method count`.
public struct LongFormTable: Sendable, Equatable {
    public static let columns = ["participant_id", "session", "level", "region", "metric", "value", "method", "count"]
    public var rows: [MetricRow]
    public init(_ rows: [MetricRow] = []) { self.rows = rows }

    /// Values of one metric in one region and level across subjects.
    public func values(metric: String, region: String, level: String) -> [Double] {
        rows.filter { $0.metric == metric && $0.region == region && $0.level == level }.map(\.value)
    }
    public var subjects: [String] { Array(Set(rows.map(\.subject))).sorted() }

    /// Rows as strings for a TSV writer (numbers with up to 6 significant decimals).
    public var stringRows: [[String]] {
        rows.map { r in [r.subject, r.session, r.level, r.region, r.metric, LongFormTable.format(r.value), r.method, String(r.count)] }
    }
    /// What `parse` does with a row whose value is outside its metric's plausible range.
    public enum ImplausibleValues: Sendable { case refuse, collect }

    /// Builds a table from TSV columns and rows; errors name the file, the line (1 = header)
    /// and the field. A value `n/a` is a missing value: the row is left out (never read as 0).
    public static func parse(columns: [String], rows: [[String]], source: String) throws -> LongFormTable {
        try parse(columns: columns, rows: rows, source: source, implausible: .refuse).table
    }

    /// As `parse`, but with `.collect` a row whose value is implausible for its metric (see
    /// `MetricPlausibility`) is left out and reported per subject instead of failing the
    /// whole file (a batch of patients where one table is wrong).
    public static func parse(columns: [String], rows: [[String]], source: String, implausible: ImplausibleValues)
        throws -> (table: LongFormTable, problems: [(subject: String, problem: String)]) {
        func index(_ name: String) throws -> Int {
            guard let i = columns.firstIndex(of: name) else {
                throw CordError.invalidValue(what: source, detail: "has no \"\(name)\" column (a long-form table has \(LongFormTable.columns.joined(separator: ", ")))")
            }
            return i
        }
        let (s, l, rg, m, v) = (try index("participant_id"), try index("level"), try index("region"), try index("metric"), try index("value"))
        let ses = columns.firstIndex(of: "session"), me = columns.firstIndex(of: "method"), c = columns.firstIndex(of: "count")
        var out: [MetricRow] = [], problems: [(subject: String, problem: String)] = []
        for (n, r) in rows.enumerated() {
            let text = trimmed(r[v])
            if text == "n/a" || text.isEmpty { continue }
            guard let value = Double(text), value.isFinite else {
                throw CordError.invalidValue(what: source, detail: "line \(n + 2), column value: \"\(r[v])\" is not a finite number (write n/a for a missing value)")
            }
            if let problem = MetricPlausibility.problem(metric: r[m], value: value) {
                let message = "\(source) line \(n + 2), column value: \(problem)"
                if implausible == .refuse { throw CordError.invalidValue(what: source, detail: "line \(n + 2), column value: \(problem)") }
                problems.append((r[s], message))
                continue
            }
            func opt(_ i: Int?) -> String { i.map { r[$0] == "n/a" ? "" : r[$0] } ?? "" }
            let countText = trimmed(opt(c))
            var count = 0
            if !countText.isEmpty {
                guard let k = Int(countText), k >= 0 else {
                    throw CordError.invalidValue(what: source, detail: "line \(n + 2), column count: \"\(countText)\" is not a whole number ≥ 0")
                }
                count = k
            }
            out.append(MetricRow(subject: r[s], session: opt(ses), level: r[l], region: r[rg], metric: r[m], value: value,
                                 method: opt(me), count: count))
        }
        return (LongFormTable(out), problems)
    }

    private static func trimmed(_ s: String) -> String {
        String(s.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" || $0 == "\r" }.reversed())
    }

    /// Up to 6 decimals; `n/a` for a missing (NaN) value, an exponent beyond ±1e15.
    public static func format(_ x: Double) -> String {
        guard x.isFinite else { return "n/a" }
        var s = formatFixed(x, 6)
        if s.contains(".") && !s.contains("e") { while s.hasSuffix("0") { s.removeLast() }; if s.hasSuffix(".") { s.removeLast() } }
        return s
    }
}

/// Plausible ranges of the metrics CordQ writes, from their names and units: a value outside
/// is a wrong unit or a corrupt table, never a real measurement (one CSA of 1e30 mm² used to
/// crash `db summary` and every biomarkers patient after it).
public enum MetricPlausibility {
    /// The range for `metric` (by its name's unit suffix) and the unit's name.
    public static func range(metric: String) -> (ClosedRange<Double>, String) {
        let m = metric.lowercased()
        if m.hasSuffix("_mm2") { return (0...5_000, "mm²") }
        if m.hasSuffix("_mm3") { return (0...1e7, "mm³") }
        if m.hasSuffix("_mm") { return (-1_000...1_000, "mm") }
        if m.hasSuffix("_um2_per_ms") { return (-10...10, "µm²/ms") }
        if m.hasSuffix("_pu") || m.hasSuffix("_percent") { return (-1_000...1_000, "p.u.") }
        if m.hasSuffix("_s") { return (-100...100, "s") }
        if m.hasSuffix("_deg") { return (-360...360, "degrees") }
        if ["fa", "mufa", "ufa", "mu_fa", "op", "c_md", "c_mu", "c_m", "c_c"].contains(m) { return (-0.5...1.5, "") }
        return (-1e9...1e9, "")
    }

    /// Why `value` is implausible for `metric`, or nil when it is plausible.
    public static func problem(metric: String, value: Double) -> String? {
        let (r, unit) = range(metric: metric)
        guard !r.contains(value) else { return nil }
        let u = unit.isEmpty ? "" : " " + unit
        return "\(metric) = \(formatSignificantCore(value))\(u) is outside the plausible \(formatSignificantCore(r.lowerBound))–\(formatSignificantCore(r.upperBound))\(u)"
    }
}
