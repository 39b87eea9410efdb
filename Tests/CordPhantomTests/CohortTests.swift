import Testing
import CordTestSupport
@testable import CordCore
@testable import CordPhantom

/// The cohort generator draws subjects whose cord sizes follow the spine-generic population
/// (level means and SDs, the sex difference, the height effect), reproducibly.
@Suite struct CohortTests {
    static func mean(_ v: [Double]) -> Double { v.reduce(0, +) / Double(v.count) }
    static func sd(_ v: [Double]) -> Double {
        let m = mean(v)
        return (v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(v.count - 1)).squareRoot()
    }

    @Test func healthyPopulationMatchesTheSpineGenericTable() throws {
        // 1000 healthy subjects (parameters only, no images).
        let subjects = try PhantomCohort(healthy: 1000, compressed: 0, seed: 11).subjects()
        #expect(subjects.count == 1000 && subjects.allSatisfy { $0.group == .healthy && $0.parameters.compression == nil })
        for (i, level) in HealthyCervicalCord.levels.enumerated() where i < 7 {
            let csa = subjects.map { $0.parameters.levels[i].csa }
            let published = HealthyCervicalCord.csaSD[level.level] ?? 0
            // SE of the mean ≈ 7.5/√1000 = 0.24 mm²: tolerance 1 mm² (> 4 SE).
            #expect(abs(Self.mean(csa) - level.csa) < 1.0, "\(level.level) mean \(Self.mean(csa)) vs \(level.csa)")
            // SE of an SD over 1000 draws ≈ 2.2 %: tolerance 12 %.
            #expect(abs(Self.sd(csa) / published - 1) < 0.12, "\(level.level) SD \(Self.sd(csa)) vs \(published)")
            // The ellipse keeps its area: π·AP·RL/4 = CSA.
            for s in subjects.prefix(20) {
                let l = s.parameters.levels[i]
                #expect(abs(Double.pi * l.apDiameter * l.rlDiameter / 4 - l.csa) < 0.02)   // 0.02 mm² (values rounded to 0.01 mm², 1 µm)
            }
        }
        // Men's cords larger by ≈ 4.4 mm² on C2–C5 (METHODS.md: ≈ 5 mm²), heights per sex.
        let men = subjects.filter { $0.sex == "M" }, women = subjects.filter { $0.sex == "F" }
        #expect(abs(Double(men.count) / 1000 - 0.5) < 0.05)        // 5 % (≈ 3 SE of a proportion)
        func c2c5(_ s: CohortSubject) -> Double { (1...4).map { s.parameters.levels[$0].csa }.reduce(0, +) / 4 }
        let difference = Self.mean(men.map(c2c5)) - Self.mean(women.map(c2c5))
        print("cohort sex difference C2–C5: \(formatFixed(difference, 2)) mm²")
        #expect(difference > 2.5 && difference < 6.5)               // ±2 mm² around 4.4 (SE ≈ 0.45)
        #expect(abs(Self.mean(men.map(\.height)) - 179.3) < 1.5 && abs(Self.mean(women.map(\.height)) - 165.4) < 1.5)  // cm
        // Within one sex, taller subjects have larger cords: slope ≈ 0.00296·75 ≈ 0.22 mm²/cm.
        let h = women.map(\.height), c = women.map(c2c5)
        let mh = Self.mean(h), mc = Self.mean(c)
        let slope = zip(h, c).reduce(0) { $0 + ($1.0 - mh) * ($1.1 - mc) } / h.reduce(0) { $0 + ($1 - mh) * ($1 - mh) }
        #expect(slope > 0.05 && slope < 0.45)                       // mm² per cm (SE ≈ 0.06)
        // Ages of healthy volunteers within the spine-generic range.
        #expect(subjects.allSatisfy { (19...60).contains($0.age) })
        // Level lengths vary and scale with height; C1–T1 stays centred on z = 0.
        let spans = subjects.map { $0.parameters.levels.reduce(0) { $0 + $1.length } }
        #expect(abs(Self.mean(spans) - 146) < 2 && Self.sd(spans) > 4)   // mm
        #expect(subjects.allSatisfy { abs($0.parameters.topOfC1 - $0.parameters.levels.reduce(0) { $0 + $1.length } / 2) < 0.01 })
    }

    @Test func patientsCarryOneCompressionInRangeAndCohortsAreReproducible() throws {
        var cohort = PhantomCohort(healthy: 4, compressed: 30, seed: 3)
        cohort.idPrefix = "x"
        let a = try cohort.subjects(), b = try cohort.subjects()
        #expect(a.map(\.id) == b.map(\.id) && a.map(\.parameters) == b.map(\.parameters))
        #expect(a.prefix(4).map(\.id) == ["sub-xhc01", "sub-xhc02", "sub-xhc03", "sub-xhc04"])
        #expect(a[4].id == "sub-xdcm01" && a.last?.id == "sub-xdcm30")
        let patients = a.filter { $0.group == .patient }
        #expect(patients.count == 30)
        for p in patients {
            let c = try #require(p.parameters.compression)
            #expect([VertebralLevel.c4, .c5, .c6].contains(c.level))
            #expect(c.fraction >= 0.3 && c.fraction <= 0.6 && c.length >= 10 && c.length <= 14)
            #expect((35...80).contains(p.age))
        }
        #expect(Set(patients.compactMap { $0.parameters.compression?.level }).count == 3)
        // Noise seeds differ between subjects; another seed gives another cohort.
        #expect(Set(a.map(\.parameters.seed)).count == a.count)
        let other = try PhantomCohort(healthy: 4, compressed: 30, seed: 4).subjects()
        #expect(other[0].parameters.levels != a[0].parameters.levels)
        // Adding subjects leaves the first ones unchanged (one random stream per subject).
        let more = try PhantomCohort(healthy: 6, compressed: 0, seed: 3).subjects()
        #expect(more[1].parameters.levels == a[1].parameters.levels)
        var bad = PhantomCohort(healthy: 1, compressed: 1)
        bad.severity = 0.5...0.9
        #expect(throws: CordError.self) { try bad.subjects() }
    }
}
