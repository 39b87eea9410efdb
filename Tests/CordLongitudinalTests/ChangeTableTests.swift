import Foundation
import Testing
@testable import CordCore
@testable import CordLongitudinal
@testable import CordMetrics
@testable import CordNormative

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

/// Change maps in the halfway space on synthetic volumes with known noise and a planted change.
@Suite struct ChangeMapTests {
    @Test func noiseFloorAndPlantedChangeAreRecovered() throws {
        let g = Grid(nx: 32, ny: 32, nz: 12, spacing: [1, 1, 2])
        let sigma = 0.02
        // A smooth "FA" pattern in world coordinates; session B is the subject moved by d and
        // a 4×4×2-voxel block whose value fell by 0.15 (≈ 7 σ√2).
        let d = SIMD3<Double>(1.5, -0.5, 2.0)
        func pattern(_ w: SIMD3<Double>) -> Double { 0.6 + 0.1 * sin(w.x / 5) * cos(w.y / 7) + 0.05 * sin(w.z / 6) }
        var rngA = SeededRNG(seed: 4, stream: 1), rngB = SeededRNG(seed: 4, stream: 2)
        var a = Volume<Float>(grid: g, repeating: 0), b = Volume<Float>(grid: g, repeating: 0)
        let block = (12..<16, 12..<16, 5..<7)
        for k in 0..<g.nz { for j in 0..<g.ny { for i in 0..<g.nx {
            let w = g.world(SIMD3(i, j, k))
            a.data[g.index(i, j, k)] = Float(pattern(w) + sigma * rngA.normal())
            let subjectPoint = w - d   // where this voxel of session B sits on the subject
            var v = pattern(subjectPoint)
            let hv = g.voxel(ofWorld: subjectPoint)
            if block.0.contains(Int(hv.x.rounded())) && block.1.contains(Int(hv.y.rounded())) && block.2.contains(Int(hv.z.rounded())) { v -= 0.15 }
            b.data[g.index(i, j, k)] = Float(v + sigma * rngB.normal())
        }}}
        let mask = Mask(grid: g, repeating: 1)
        // Halfway: offsets ±d/2 (sum zero).
        let m = try ChangeMap.compute(grid: g, baseline: a, baselineMapping: SessionMapping(rigid: RigidTransform(rotation: .identity, translation: -d / 2)), baselineCord: mask, follow: b, followMapping: SessionMapping(rigid: RigidTransform(rotation: .identity, translation: d / 2)), followCord: mask)
        // Trilinear interpolation at sub-voxel fraction f per axis scales white noise's variance by
        // Π((1−f)² + f²): here f = 0.75, 0.25 (x, y: 0.75 and 0.25 mm of 1 mm) and 0.5 (z: 1 mm of
        // 2 mm) for both sessions, so the difference's SD is √2 σ · √(0.625 · 0.625 · 0.5).
        let expected = 2.0.squareRoot() * sigma * (0.625 * 0.625 * 0.5).squareRoot()
        print("noise floor \(m.noiseFloor) (expected after interpolation \(expected), √2σ = \(2.0.squareRoot() * sigma)); above floor \(m.fractionAbove) of \(m.voxels)")
        // Tolerance: 10 % (9600 voxels give the MAD-based SD to ≈ 1.2 %; the pattern's curvature adds a little).
        #expect(abs(m.noiseFloor / expected - 1) < 0.1)
        // The planted block (in halfway coordinates: subject point s ↔ h = s + d/2 − … ) is found.
        var inBlock = 0, flagged = 0
        for k in 0..<g.nz { for j in 0..<g.ny { for i in 0..<g.nx {
            let s = g.world(SIMD3(i, j, k)) + (-d / 2)   // the baseline's (subject's) position of this halfway voxel
            let hv = g.voxel(ofWorld: s)
            guard block.0.contains(Int(hv.x.rounded())), block.1.contains(Int(hv.y.rounded())), block.2.contains(Int(hv.z.rounded())),
                  m.cord.data[g.index(i, j, k)] != 0 else { continue }
            inBlock += 1
            if m.aboveFloor.data[g.index(i, j, k)] != 0 { flagged += 1 }
        }}}
        #expect(inBlock >= 16)
        // Tolerance: ≥ 75 % of the planted voxels above 1.96 × floor (edges are partial-volumed),
        // and at most 8 % of all cord voxels (nominal 5 % + the block's ~1 %).
        #expect(Double(flagged) >= 0.75 * Double(inBlock), "\(flagged) of \(inBlock)")
        #expect(m.fractionAbove < 0.08)
    }
}

/// Test–retest SD from a table with repeat sessions (known within-subject COV).
@Suite struct TestRetestTests {
    @Test func pooledWithinSubjectCOVIsRecovered() {
        var rng = SeededRNG(seed: 9)
        var rows: [MetricRow] = []
        // 40 subjects × 3 levels, 2 sessions each, true within-subject COV 2 %.
        for s in 0..<40 {
            let subjectMean = 70 + 8 * rng.normal()
            for level in ["C2", "C3", "C4"] {
                for ses in ["1", "2"] {
                    rows.append(MetricRow(subject: "sub-\(s)", session: ses, level: level, region: "cord", metric: "csa_mm2",
                                          value: subjectMean * (1 + 0.02 * rng.normal()), method: "morphometry"))
                }
            }
        }
        // One subject without repeats and rows without sessions are ignored.
        rows.append(MetricRow(subject: "sub-x", session: "", level: "C2", region: "cord", metric: "csa_mm2", value: 90, method: "morphometry"))
        let e = TestRetest.estimate(LongFormTable(rows))
        #expect(e.count == 1)
        // 120 groups × 1 df: the SD estimate's relative SE ≈ 1/√(2·120) ≈ 6.5 %; tolerance 20 %.
        #expect(abs((e.first?.cov ?? 0) / 0.02 - 1) < 0.2, "\(e)")
        #expect(e.first?.degreesOfFreedom == 120)
        var table = WithinSubjectSDTable()
        table.addDatabase(e)
        if case .database(120, false)? = table.sd(metric: "csa_mm2", region: "cord")?.source {} else { Issue.record("database SD not preferred over the literature") }
    }
}
