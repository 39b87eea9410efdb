import Testing
@testable import CordCore
@testable import CordLongitudinal
@testable import CordMetrics

/// Change tables and the reliable-change index on hand-made numbers (exact answers).
@Suite struct ChangeTableTests {
    @Test func changeRateAndRCIFollowJacobsonTruax() throws {
        let rows0 = [MetricRow(subject: "sub-1", level: "C5", region: "cord", metric: "csa_mm2", value: 80, method: "morphometry")]
        let rows1 = [MetricRow(subject: "sub-1", level: "C5", region: "cord", metric: "csa_mm2", value: 76, method: "morphometry")]
        let day0 = try #require(SessionDate.parse("2026-01-05T10:00:00")), day1 = try #require(SessionDate.parse("2026-07-06"))
        let t = ChangeTable.compute(subject: "sub-1", sessions: [
            SessionMeasurements(label: "02", day: day1, scores: ["mjoa": "15"], rows: rows1),
            SessionMeasurements(label: "01", day: day0, scores: ["mjoa": "16"], rows: rows0),
        ])
        #expect(t.count == 2)
        let follow = try #require(t.last)
        #expect(follow.session == "02" && t[0].session == "01")      // baseline = earliest date
        #expect(abs(follow.change - -4) < 1e-12)                     // exact arithmetic
        #expect(abs((follow.changePercent ?? 0) - -5) < 1e-12)
        let years = (day1 - day0) / 365.25
        #expect(abs((follow.ratePerYear ?? 0) - -4 / years) < 1e-9)
        // s_w = 2.5 % of 80 = 2 mm²; RCI = −4 / (√2 · 2) = −1.414…
        #expect(abs((follow.withinSD ?? 0) - 2) < 1e-12)
        #expect(abs((follow.rci ?? 0) - -4 / (2.0.squareRoot() * 2)) < 1e-12)
        #expect(follow.reliable == false)
        #expect(follow.scores["mjoa"] == "15" && t[0].scores["mjoa"] == "16")
        #expect(t[0].change == 0 && t[0].ratePerYear == nil)
    }

    @Test func missingDatesLeaveRatesEmptyAndOrderByLabel() {
        let r = { (v: Double) in [MetricRow(subject: "s", level: "C3", region: "cord", metric: "csa_mm2", value: v, method: "m")] }
        let t = ChangeTable.compute(subject: "s", sessions: [
            SessionMeasurements(label: "b", day: 100, rows: r(70)), SessionMeasurements(label: "a", day: nil, rows: r(72)),
        ])
        #expect(t.map(\.session) == ["a", "b"])
        #expect(t.allSatisfy { $0.ratePerYear == nil && $0.days == nil })
        #expect(abs(t[1].change - -2) < 1e-12)
    }

    @Test func userWithinSDOverridesLiteratureAndBadItemsAreNamed() {
        var sd = WithinSubjectSDTable()
        #expect(sd.addUser("fa@white matter=0.02") == nil)
        #expect(sd.addUser("csa_mm2=1%") == nil)
        #expect(sd.addUser("csa_mm2=-3") == "csa_mm2=-3")
        #expect(sd.addUser("nonsense") == "nonsense")
        #expect(sd.sd(metric: "fa", region: "white matter")?.sd(baseline: 0.7) == 0.02)
        #expect(abs((sd.sd(metric: "csa_mm2", region: "cord")?.sd(baseline: 80) ?? 0) - 0.8) < 1e-12)
        #expect(sd.sd(metric: "fa", region: "grey matter")?.cov == 0.066)   // literature (Xu 2013)
        #expect(sd.sd(metric: "diameter_ap_mm", region: "cord") == nil)
    }

    @Test func sessionDatesParseAndRoundTrip() {
        #expect(SessionDate.parse("2026-01-05") == 20458)
        #expect(SessionDate.format(day: 20458) == "2026-01-05")
        #expect(SessionDate.parse("2024-02-30") == nil)
        #expect(SessionDate.parse("05/01/2026") == nil)
        #expect(abs((SessionDate.parse("2026-01-05T12:00:00") ?? 0) - 20458.5) < 1e-9)
    }
}
