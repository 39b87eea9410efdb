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
    /// Builds a table from TSV columns and rows; errors name the line (1 = header).
    public static func parse(columns: [String], rows: [[String]], source: String) throws -> LongFormTable {
        func index(_ name: String) throws -> Int {
            guard let i = columns.firstIndex(of: name) else {
                throw CordError.invalidValue(what: source, detail: "has no \"\(name)\" column (a long-form table has \(LongFormTable.columns.joined(separator: ", ")))")
            }
            return i
        }
        let (s, l, rg, m, v) = (try index("participant_id"), try index("level"), try index("region"), try index("metric"), try index("value"))
        let ses = columns.firstIndex(of: "session"), me = columns.firstIndex(of: "method"), c = columns.firstIndex(of: "count")
        var out: [MetricRow] = []
        for (n, r) in rows.enumerated() {
            guard let value = Double(r[v]), value.isFinite else {
                throw CordError.invalidValue(what: source, detail: "line \(n + 2): value \"\(r[v])\" is not a finite number")
            }
            func opt(_ i: Int?) -> String { i.map { r[$0] == "n/a" ? "" : r[$0] } ?? "" }
            out.append(MetricRow(subject: r[s], session: opt(ses), level: r[l], region: r[rg], metric: r[m], value: value,
                                 method: opt(me), count: Int(opt(c)) ?? 0))
        }
        return LongFormTable(out)
    }

    static func format(_ x: Double) -> String {
        var s = formatFixed(x, 6)
        if s.contains(".") { while s.hasSuffix("0") { s.removeLast() }; if s.hasSuffix(".") { s.removeLast() } }
        return s
    }
}
