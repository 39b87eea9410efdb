import Foundation
import Testing
import CordTestSupport
@testable import CordCore
@testable import CordIO
@testable import CordLongitudinal
@testable import CordMetrics
@testable import CordNormative
@testable import CordPipeline

/// The normative database stores sessions with the age at each scan, and `db build --retest`
/// declares test–retest pairs from which the within-subject SD of the reliable-change index
/// is estimated (issue 21).
@Suite struct DatabaseSessionsTests {
    /// 16 volunteers × 3 levels: ses-01 and ses-02 the same day (true within-subject COV 2 %),
    /// ses-03 a year later with a real change (−4 % ± 3 % between subjects).
    static func write(_ dir: String) throws -> (table: String, sessions: String, pairs: String) {
        var rng = SeededRNG(seed: 21)
        var rows: [[String]] = []
        var sessions = TSVTable(columns: ["participant_id", "session_id", "age", "acq_time"])
        var pairs = TSVTable(columns: ["participant_id", "session_a", "session_b"])
        for s in 0..<16 {
            let id = "sub-\(s < 10 ? "0" : "")\(s)", mean = 72 + 7 * rng.normal(), age = 25 + Double(s)
            let drift = -0.04 + 0.03 * rng.normal()
            for level in ["C2", "C3", "C4"] {
                for (ses, factor) in [("ses-01", 1.0), ("ses-02", 1.0), ("ses-03", 1 + drift)] {
                    rows.append([id, ses, level, "cord", "csa_mm2", LongFormTable.format(mean * factor * (1 + 0.02 * rng.normal())), "morphometry", "5"])
                }
            }
            sessions.append([id, "ses-01", formatFixed(age, 2), "2025-03-01T09:00:00"])
            sessions.append([id, "ses-02", formatFixed(age, 2), "2025-03-01T10:00:00"])
            sessions.append([id, "ses-03", formatFixed(age + 1, 2), "2026-03-01T09:00:00"])
            pairs.append([id, "ses-01", "ses-02"])
        }
        let paths = (dir + "/metrics.tsv", dir + "/sessions.tsv", dir + "/retest.tsv")
        try TSVTable(columns: LongFormTable.columns, rows: rows).write(to: paths.0)
        try sessions.write(to: paths.1)
        try pairs.write(to: paths.2)
        return paths
    }

    @Test func sessionsKeepAgeAtScanAndRetestPairsGiveTheWithinSubjectSD() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let f = try Self.write(dir)
        let summary = try NormativePipeline.build(database: dir + "/n.sqlite", tables: [f.table], participants: nil, sessions: f.sessions, retest: f.pairs)
        #expect(summary.subjects.count == 16)
        let db = try NormativeDatabase(path: dir + "/n.sqlite", readOnly: true)
        #expect(try db.storedSchemaVersion() == 2)
        let stored = try db.sessions()
        #expect(stored.count == 16)
        #expect(stored["sub-03"]?.map(\.session) == ["ses-01", "ses-02", "ses-03"])
        #expect(stored["sub-03"]?.map(\.ageYears) == [28, 28, 29])
        #expect(stored["sub-03"]?.last?.acquired == "2026-03-01T09:00:00")
        let pairs = try db.retestPairs()
        #expect(pairs.count == 16)
        let rows = try db.rows()
        let fromPairs = try #require(TestRetest.estimate(rows, pairs: pairs).first)
        let fromAll = try #require(TestRetest.estimate(rows).first)
        print("within-subject COV: declared pairs \(formatFixed(100 * fromPairs.cov, 2)) % (\(fromPairs.degreesOfFreedom) df), every repeat session \(formatFixed(100 * fromAll.cov, 2)) % (truth 2 %)")
        // 48 pair × level groups, 1 df each: relative SE of the SD ≈ 1/√96 ≈ 10 %; tolerance 25 %.
        #expect(fromPairs.degreesOfFreedom == 48)
        #expect(abs(fromPairs.cov / 0.02 - 1) < 0.25)
        // The follow-up's real change inflates an estimate from every repeat session.
        #expect(fromAll.cov > 1.3 * fromPairs.cov)

        // The RCI of `cordq longitudinal --db` uses the pairs' SD.
        var sd = WithinSubjectSDTable()
        sd.addDatabase([fromPairs], fromPairs: true)
        let used = try #require(sd.sd(metric: "csa_mm2", region: "cord"))
        #expect(used.source.label.contains("test–retest pairs"))
        let base = [MetricRow(subject: "p", session: "01", level: "C5", region: "cord", metric: "csa_mm2", value: 70, method: "morphometry")]
        let follow = [MetricRow(subject: "p", session: "02", level: "C5", region: "cord", metric: "csa_mm2", value: 66, method: "morphometry")]
        let change = ChangeTable.compute(subject: "p", sessions: [SessionMeasurements(label: "01", day: 0, rows: base),
                                                                  SessionMeasurements(label: "02", day: 365, rows: follow)], withinSD: sd)
        let rci = try #require(change.last?.rci)
        #expect(abs(rci - (-4 / (2.0.squareRoot() * fromPairs.cov * 70))) < 1e-9)
    }

    @Test func badSessionAndPairTablesAreRefusedBeforeWriting() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let f = try Self.write(dir)
        // A pair naming a session the tables do not hold.
        try "participant_id\tsession_a\tsession_b\nsub-01\tses-01\tses-07\n".write(toFile: dir + "/bad-pairs.tsv", atomically: true, encoding: .utf8)
        do {
            _ = try NormativePipeline.build(database: dir + "/a.sqlite", tables: [f.table], participants: nil, retest: dir + "/bad-pairs.tsv")
            Issue.record("a pair with a missing session was accepted")
        } catch {
            let text = "\(error)"
            #expect(text.contains("bad-pairs.tsv") && text.contains("ses-07"), "\(text)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/a.sqlite"))
        // An age in months.
        try "participant_id\tsession_id\tage\nsub-01\tses-01\t340\n".write(toFile: dir + "/bad-sessions.tsv", atomically: true, encoding: .utf8)
        do {
            _ = try NormativePipeline.build(database: dir + "/b.sqlite", tables: [f.table], participants: nil, sessions: dir + "/bad-sessions.tsv")
            Issue.record("an age of 340 years was accepted")
        } catch {
            let text = "\(error)"
            #expect(text.contains("bad-sessions.tsv") && text.contains("age"), "\(text)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/b.sqlite"))
    }
}
