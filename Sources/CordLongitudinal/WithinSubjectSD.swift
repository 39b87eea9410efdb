import CordNormative
// Within-subject (test–retest) SDs for the reliable-change index: the normative database's
// repeat scans when it has them, else documented literature values.

/// Where a within-subject SD came from.
public enum WithinSubjectSDSource: Sendable, Equatable {
    /// A coefficient of variation (fraction of the value) from a publication.
    case literature(citation: String)
    /// Repeat scans of healthy volunteers in a normative database (degrees of freedom);
    /// `declaredPairs` when only the sessions `db build --retest` declared were used.
    case database(pairs: Int, declaredPairs: Bool = false)
    /// Given by the user (`--within-sd`).
    case user

    public var label: String {
        switch self {
        case let .literature(c): return "literature: " + c
        case let .database(n, declared):
            return declared ? "normative database test–retest pairs (\(n) pair × level values; Bland & Altman 1996)"
                : "normative database repeat scans (\(n) degrees of freedom; Bland & Altman 1996)"
        case .user: return "given with --within-sd"
        }
    }
}

/// A within-subject SD: either relative (coefficient of variation × the baseline value) or
/// absolute (in the metric's unit).
public struct WithinSubjectSD: Sendable, Equatable {
    /// Coefficient of variation (fraction), nil when `absolute` is set.
    public var cov: Double?
    /// SD in the metric's unit, nil when `cov` is set.
    public var absolute: Double?
    public var source: WithinSubjectSDSource
    public init(cov: Double, source: WithinSubjectSDSource) { self.cov = cov; absolute = nil; self.source = source }
    public init(absolute: Double, source: WithinSubjectSDSource) { cov = nil; self.absolute = absolute; self.source = source }

    /// The SD in the metric's unit for a subject whose baseline value is `baseline`.
    public func sd(baseline: Double) -> Double? {
        if let a = absolute { return a }
        if let c = cov { return c * abs(baseline) }
        return nil
    }
}

/// The within-subject SDs a change table uses: per metric and region, the user's values
/// first, then the database's, then the literature's.
public struct WithinSubjectSDTable: Sendable {
    /// metric → region (`*` for any) → SD.
    public var user: [String: WithinSubjectSD] = [:]
    /// "metric|region" → SD from the normative database's repeat scans.
    public var database: [String: WithinSubjectSD] = [:]

    public init() {}

    static let papinutto = "Papinutto et al. 2019, J Magn Reson Imaging 49:1078 (PMID 30198209): median intra-scanner COV of total cord area with SCT on T2w 2.2–2.75 %; 2.5 % used"
    static let xu = "Xu et al. 2013, NeuroImage 67:64–76, Table 3: cervical cord DTI test–retest COV"

    /// Literature coefficients of variation, by metric then region (`*` = any region).
    ///
    /// - `csa_mm2` (cord): 2.5 % — Papinutto et al. 2019 (PMID 30198209), SCT on T2w, median
    ///   intra-scanner COV 2.2–2.75 %.
    /// - `fa`: white matter and its tracts 3.6 %, whole cord 2.8 %, grey matter 6.6 %;
    ///   `md_um2_per_ms`: 5.9 %, 6.8 %, 7.5 % — Xu et al. 2013, NeuroImage 67:64–76, Table 3.
    /// Other metrics (diameters, minimum-slice areas, MTR, MTsat, μFA) have no value here: their
    /// reliable-change index is left empty unless the database or `--within-sd` gives one.
    public static func literature(metric: String, region: String) -> WithinSubjectSD? {
        switch metric {
        case "csa_mm2":
            return region == "cord" ? WithinSubjectSD(cov: 0.025, source: .literature(citation: papinutto)) : nil
        case "fa", "md_um2_per_ms":
            let fa = metric == "fa"
            let cov: Double
            switch region {
            case "cord": cov = fa ? 0.028 : 0.068
            case "grey matter": cov = fa ? 0.066 : 0.075
            default: cov = fa ? 0.036 : 0.059   // white matter and its tracts
            }
            let which = region == "cord" ? "whole cord" : region == "grey matter" ? "grey matter" : "white matter (used for every white-matter region)"
            return WithinSubjectSD(cov: cov, source: .literature(citation: xu + ", \(metric) \(which) \(formatPercent(cov))"))
        default:
            return nil
        }
    }

    /// Uses a normative database's test–retest estimates (`TestRetest.estimate`) before the literature's.
    public mutating func addDatabase(_ estimates: [TestRetestEstimate], fromPairs: Bool = false) {
        for e in estimates {
            database[e.metric + "|" + e.region] = WithinSubjectSD(cov: e.cov, source: .database(pairs: e.degreesOfFreedom, declaredPairs: fromPairs))
        }
    }

    /// The SD for one metric in one region, or nil.
    public func sd(metric: String, region: String) -> WithinSubjectSD? {
        user[metric + "|" + region] ?? user[metric + "|*"] ?? database[metric + "|" + region] ?? Self.literature(metric: metric, region: region)
    }

    /// Parses `--within-sd` items: `METRIC=VALUE` (absolute, metric's unit) or `METRIC=VALUE%`
    /// (coefficient of variation), optionally `METRIC@REGION=…`; nil with the bad item.
    public mutating func addUser(_ item: String) -> String? {
        func trim(_ t: Substring) -> String { String(t.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()) }
        let kv = item.split(separator: "=", maxSplits: 1).map(trim)
        guard kv.count == 2, !kv[0].isEmpty else { return item }
        let key = kv[0].contains("@") ? kv[0].split(separator: "@", maxSplits: 1).joined(separator: "|") : kv[0] + "|*"
        var text = kv[1]
        let percent = text.hasSuffix("%")
        if percent { text.removeLast() }
        guard let v = Double(text), v.isFinite, v > 0, !percent || v < 100 else { return item }
        user[key] = percent ? WithinSubjectSD(cov: v / 100, source: .user) : WithinSubjectSD(absolute: v, source: .user)
        return nil
    }
}

func formatPercent(_ x: Double) -> String {
    let v = (x * 1000).rounded() / 10
    return "\(v) %"
}
