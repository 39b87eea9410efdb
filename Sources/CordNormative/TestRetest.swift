// Within-subject (test–retest) variability from subjects scanned more than once.
import CordCore
import CordMetrics

/// The within-subject coefficient of variation of one metric in one region, pooled over
/// levels and subjects with repeat sessions.
public struct TestRetestEstimate: Sendable, Equatable {
    public var metric: String, region: String
    /// Pooled within-subject SD as a fraction of each subject's mean:
    /// √(Σᵢ Σₛ (xᵢₛ/x̄ᵢ − 1)² / Σᵢ (nᵢ − 1)) over subjects i (and levels) with nᵢ ≥ 2 sessions.
    public var cov: Double
    /// Subjects (× levels) with repeats, and the degrees of freedom Σ (nᵢ − 1).
    public var groups: Int, degreesOfFreedom: Int
}

/// Test–retest variability from a long-form table whose subjects have several sessions
/// (Bland & Altman 1996, BMJ 313:744: the within-subject SD from repeated measurements).
public enum TestRetest {
    /// One estimate per metric × region with at least `minimumGroups` subject×level groups
    /// that have two or more sessions; rows without a session label are ignored.
    public static func estimate(_ table: LongFormTable, minimumGroups: Int = 5) -> [TestRetestEstimate] {
        var groups: [String: [String: [Double]]] = [:]   // metric|region → subject|level|method → values
        for r in table.rows where !r.session.isEmpty && r.value.isFinite {
            groups[r.metric + "|" + r.region, default: [:]][r.subject + "|" + r.level + "|" + r.method, default: []].append(r.value)
        }
        var out: [TestRetestEstimate] = []
        for (key, members) in groups {
            var ss = 0.0, df = 0, used = 0
            for (_, v) in members where v.count >= 2 {
                let m = v.reduce(0, +) / Double(v.count)
                guard m != 0 else { continue }
                for x in v { ss += (x / m - 1) * (x / m - 1) }
                df += v.count - 1; used += 1
            }
            guard used >= minimumGroups, df > 0 else { continue }
            let parts = key.split(separator: "|", maxSplits: 1).map(String.init)
            out.append(TestRetestEstimate(metric: parts[0], region: parts.count > 1 ? parts[1] : "", cov: (ss / Double(df)).squareRoot(),
                                          groups: used, degreesOfFreedom: df))
        }
        return out.sorted { ($0.metric, $0.region) < ($1.metric, $1.region) }
    }

    /// The estimate from declared test–retest pairs only: for every pair and every level ×
    /// method both sessions measured, the two values form a group (one degree of freedom), so
    /// s_w² = Σ d² / (2 n) with d the relative difference (Bland & Altman 1996). Sessions that
    /// are not in a pair (follow-ups with real change) do not enter.
    public static func estimate(_ table: LongFormTable, pairs: [RetestPair], minimumGroups: Int = 5) -> [TestRetestEstimate] {
        var bySession: [String: [MetricRow]] = [:]
        for r in table.rows where !r.session.isEmpty && r.value.isFinite {
            bySession[r.subject + "\u{1}" + SessionTables.normalised(r.session), default: []].append(r)
        }
        var rows: [MetricRow] = []
        for (n, pair) in Set(pairs).sorted(by: { ($0.participant, $0.first, $0.second) < ($1.participant, $1.first, $1.second) }).enumerated() {
            for s in [pair.first, pair.second] {
                for var r in bySession[pair.participant + "\u{1}" + SessionTables.normalised(s)] ?? [] {
                    r.subject = pair.participant + "\u{1}pair\(n)"   // one group per pair
                    rows.append(r)
                }
            }
        }
        return estimate(LongFormTable(rows), minimumGroups: minimumGroups)
    }
}
