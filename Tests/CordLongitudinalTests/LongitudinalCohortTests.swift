import Foundation
import Testing
import CordTestSupport
@testable import CordCore
@testable import CordIO
@testable import CordLongitudinal
@testable import CordPhantom
@testable import CordPipeline

/// `cordq longitudinal cohort` on three phantom subjects with two visits 182 days apart and
/// C5 atrophy of 10 %/year: the planted change recovered per level over the cohort, the
/// reliable-change index's false-positive rate at levels without change, and the
/// baseline-adjusted cohort table.
@Suite struct LongitudinalCohortTests {
    struct Run: Sendable {
        var root: String
        var summary: LongitudinalCohortSummary
    }

    static let cohort: Result<Run, Error> = Result {
        let dir = try Support.temporaryDirectory()
        let root = dir + "/bids"
        let sessions = PhantomSessions(count: 2, intervalDays: 182, atrophy: [PlantedAtrophy(level: .c5, fractionPerYear: 0.1)])
        _ = try PhantomCohortExport.write(PhantomCohort(healthy: 3, compressed: 0, seed: 11), to: root, fieldOfView: 24, sessions: sessions)
        let summary = try LongitudinalCohort.run(root: root, output: dir + "/out", template: LongitudinalRequest(subject: "", output: ""))
        return Run(root: root, summary: summary)
    }

    @Test func plantedChangeRecoveredOverTheCohortAndNoExcessFalsePositives() throws {
        let run = try Self.cohort.get()
        let truth = try LongitudinalPhantomTests.truthCSA(run.root)
        var c5Errors: [Double] = [], stillErrors: [Double] = []
        var stillTests = 0, stillFlagged = 0
        for r in run.summary.subjects.flatMap(\.rows) where r.region == "cord" && r.metric == "csa_mm2" && r.session == "02" {
            guard let t1 = truth[r.subject]?["02"]?[r.level], let t0 = truth[r.subject]?["01"]?[r.level] else { continue }
            let planted = 100 * (t1 - t0) / t0, measured = try #require(r.changePercent)
            if r.level == "C5" { c5Errors.append(measured - planted) }
            if abs(planted) < 0.5 {
                stillErrors.append(measured - planted)
                stillTests += 1
                if r.reliable == true { stillFlagged += 1 }
            }
        }
        func meanSD(_ x: [Double]) -> (Double, Double) {
            let m = x.reduce(0, +) / Double(max(x.count, 1))
            return (m, (x.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(max(x.count - 1, 1))).squareRoot())
        }
        let (c5Mean, c5SD) = meanSD(c5Errors), (stillMean, stillSD) = meanSD(stillErrors)
        print("C5 (planted −5.0 % over 182 days): error \(formatFixed(c5Mean, 2)) ± \(formatFixed(c5SD, 2)) percentage points over \(c5Errors.count) subjects")
        print("levels without planted change: error \(formatFixed(stillMean, 2)) ± \(formatFixed(stillSD, 2)) pp over \(stillTests) level-visits; RCI flagged \(stillFlagged)")
        #expect(c5Errors.count == 3)
        // Tolerance: each subject's C5 change within 1.5 pp of the truth, the cohort's mean within 1 pp.
        for e in c5Errors { #expect(abs(e) < 1.5) }
        #expect(abs(c5Mean) < 1.0)
        // False positives: at most the nominal 5 % … with 3 subjects × ≥ 5 still levels, ≤ 2 flags
        // keeps P(pass | true rate 5 %) above 0.9 (binomial).
        #expect(stillTests >= 15)
        #expect(stillFlagged <= 2)
    }

    @Test func cohortTableHasEverySubjectAndBaselineAdjustedChanges() throws {
        let run = try Self.cohort.get()
        #expect(run.summary.subjects.count == 3)
        #expect(run.summary.skipped.isEmpty)
        let t = try TSVTable.read(run.summary.tablePath)
        #expect(t.rows.count == run.summary.rows)
        #expect(t.columns.contains("change_baseline_adjusted") && t.columns.contains("age") && t.columns.contains("sex"))
        // ANCOVA-style adjustment keeps the group mean: mean(adjusted) = mean(change) per group (exact up to rounding).
        let rec = t.records.filter { $0["level"] == "C5" && $0["metric"] == "csa_mm2" && $0["session"] == "ses-02" }
        #expect(rec.count == 3)
        let change = rec.compactMap { Double($0["change"] ?? "") }, adjusted = rec.compactMap { Double($0["change_baseline_adjusted"] ?? "") }
        #expect(change.count == 3 && adjusted.count == 3)
        #expect(abs(change.reduce(0, +) - adjusted.reduce(0, +)) < 1e-5)   // 6-decimal TSV rounding
        // Age at scan = baseline age + 182 days.
        for r in rec {
            let age = Double(r["age"] ?? ""), atScan = Double(r["age_at_scan"] ?? "")
            #expect(age != nil && atScan != nil && abs((atScan ?? 0) - (age ?? 0) - 182 / 365.25) < 0.006)   // 2 decimals written
        }
    }
}
