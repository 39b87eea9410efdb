import Testing
@testable import CordCore
@testable import CordMetrics
@testable import CordNormative

/// Synthetic cohorts with a known generating model (seeded, so failures reproduce).
enum Cohort {
    /// `n` subjects: csa = 70 + 0.05·(age − 40) + 5·male + 0.3·(height − 170) + N(0, σ²) mm² at
    /// C3, alternate sexes, ages 20–60, heights 150–190 cm.
    static func make(_ n: Int, sigma: Double = 3, seed: UInt64 = 7) -> (participants: [Participant], rows: [MetricRow]) {
        var rng = SeededRNG(seed: seed)
        var people: [Participant] = [], rows: [MetricRow] = []
        for i in 0..<n {
            let male = i % 2 == 0
            let age = Double.random(in: 20...60, using: &rng), height = Double.random(in: 150...190, using: &rng)
            let noise = sigma * rng.normal()
            let csa = 70 + 0.05 * (age - 40) + (male ? 5 : 0) + 0.3 * (height - 170) + noise
            let id = "sub-" + format3(i)
            people.append(Participant(id: id, sex: male ? "M" : "F", age: age, height: height, site: "s\(i % 3)"))
            rows.append(MetricRow(subject: id, level: "C3", region: "cord", metric: "csa_mm2", value: csa, method: "morphometry", count: 10))
            rows.append(MetricRow(subject: id, level: "C3", region: "white matter", metric: "fa", value: 0.7 + 0.01 * noise, method: "wa"))
        }
        return (people, rows)
    }
    static func format3(_ i: Int) -> String { let s = String(i); return String(repeating: "0", count: max(0, 3 - s.count)) + s }
}

@Suite struct NormativeModelTests {
    @Test func linearFitRecoversTheGeneratingModel() throws {
        let c = Cohort.make(400)
        let model = try #require(NormativeModels.build(rows: c.rows, participants: c.participants)
            .first { $0.key == ModelKey(metric: "csa_mm2", region: "cord", level: "C3", method: "morphometry") })
        let f = try #require(model.fit)
        #expect(f.covariates == [NormativeModels.age, NormativeModels.male, NormativeModels.height])
        #expect(f.n == 400 && f.parameters == 4)
        // Truth: β_age 0.05, β_male 5, β_height 0.3, σ 3. Tolerance: 4 standard errors.
        #expect(abs(f.coefficients[1] - 0.05) < 4 * f.standardErrors[1])
        #expect(abs(f.coefficients[2] - 5) < 4 * f.standardErrors[2])
        #expect(abs(f.coefficients[3] - 0.3) < 4 * f.standardErrors[3])
        #expect(f.standardErrors[2] < 0.5)                 // n = 400, σ = 3: SE(β_male) ≈ 0.3
        #expect(abs(f.residualSD - 3) < 0.3)                // σ̂ within 10% of 3 mm²
        // FA is not morphometry: no height in its model.
        let fa = try #require(NormativeModels.build(rows: c.rows, participants: c.participants).first { $0.key.metric == "fa" })
        #expect(fa.fit?.covariates == [NormativeModels.age, NormativeModels.male])
    }

    @Test func sexOnlyModelAndZScoresMatchAHandComputation() throws {
        // 20 subjects without age: {age, sex} is impossible, {sex} needs 20 → chosen.
        let women = [60.0, 62, 64, 66, 68, 61, 63, 65, 67, 69], men = [70.0, 71, 72, 73, 74, 75, 76, 77, 78, 79]
        var people: [Participant] = [], values: [(subject: String, value: Double)] = []
        for (i, v) in (women + men).enumerated() {
            let id = "sub-\(i)"
            people.append(Participant(id: id, sex: i < 10 ? "F" : "M"))
            values.append((id, v))
        }
        let key = ModelKey(metric: "csa_mm2", region: "cord", level: "C5")
        let m = NormativeModels.model(key, values: values, participants: Dictionary(uniqueKeysWithValues: people.map { ($0.id, $0) }))
        let f = try #require(m.fit)
        #expect(f.covariates == [NormativeModels.male])
        // Hand computation: mean(F) = 64.5, mean(M) = 74.5, SS_F = SS_M = 82.5,
        // σ̂ = √((82.5 + 82.5)/18) = 3.0277, SE(β) = σ̂·√(1/10 + 1/10).
        #expect(abs(f.coefficients[0] - 64.5) < 1e-9)
        #expect(abs(f.coefficients[1] - 10) < 1e-9)
        let sigma = (165.0 / 18).squareRoot()
        #expect(abs(f.residualSD - sigma) < 1e-9)
        #expect(abs(f.standardErrors[1] - sigma * 0.2.squareRoot()) < 1e-9)
        // A man with CSA 65 mm²: z = (65 − 74.5)/σ̂ = −3.1377.
        let z = m.zScore(65, for: Participant(id: "patient", sex: "M"))
        #expect(abs(z.z - (65 - 74.5) / sigma) < 1e-9)
        #expect(abs(z.z - -3.1377) < 1e-3)
        #expect(z.adjustedFor == [NormativeModels.male])
        // Sex unknown: plain mean/SD, mean 69.5, SD √(Σ(v − 69.5)²/19).
        let all = women + men
        let sd = (all.reduce(0) { $0 + ($1 - 69.5) * ($1 - 69.5) } / 19).squareRoot()
        #expect(abs(m.mean - 69.5) < 1e-12 && abs(m.sd - sd) < 1e-12)
        let plain = m.zScore(65, for: Participant(id: "patient"))
        #expect(plain.adjustedFor.isEmpty && abs(plain.z - (65 - 69.5) / sd) < 1e-12)
    }

    @Test func adjustedZScoreUsesPredictionAndResidualSD() throws {
        let c = Cohort.make(60, seed: 3)
        let m = try #require(NormativeModels.build(rows: c.rows, participants: c.participants).first { $0.key.metric == "csa_mm2" })
        let f = try #require(m.fit)
        let patient = Participant(id: "p", sex: "F", age: 55, height: 160)
        // By hand from the coefficients: ŷ = β₀ + β_age·(55 − c_age) + β_height·(160 − c_height).
        let expected = f.coefficients[0] + f.coefficients[1] * (55 - f.centres[0]) + f.coefficients[3] * (160 - f.centres[2])
        let z = m.zScore(50, for: patient)
        #expect(abs(z.expected - expected) < 1e-9)
        #expect(abs(z.z - (50 - expected) / f.residualSD) < 1e-9)
        // Missing height: the model cannot be applied, mean/SD is used instead.
        #expect(m.zScore(50, for: Participant(id: "p", sex: "F", age: 55)).adjustedFor.isEmpty)
        // Outside the volunteers' ages (20–60) and heights the model is not extrapolated: an
        // 80-year-old, 200 cm tall, is compared with the prediction at the oldest and tallest.
        let ages = c.participants.compactMap(\.age), heights = c.participants.compactMap(\.height)
        #expect(f.lower == [ages.min() ?? 0, 0, heights.min() ?? 0] && f.upper == [ages.max() ?? 0, 1, heights.max() ?? 0])
        let old = m.zScore(50, for: Participant(id: "q", sex: "F", age: 80, height: 200))
        let edge = f.coefficients[0] + f.coefficients[1] * ((ages.max() ?? 0) - f.centres[0]) + f.coefficients[3] * ((heights.max() ?? 0) - f.centres[2])
        #expect(abs(old.expected - edge) < 1e-9)
    }

    @Test func subjectsPerParameterRule() {
        #expect(NormativeModels.build(rows: Cohort.make(25).rows, participants: Cohort.make(25).participants)
            .first { $0.key.metric == "csa_mm2" }?.fit?.covariates == [NormativeModels.male])    // 25: only {sex} (20)
        #expect(NormativeModels.build(rows: Cohort.make(35).rows, participants: Cohort.make(35).participants)
            .first { $0.key.metric == "csa_mm2" }?.fit?.covariates == [NormativeModels.age, NormativeModels.male])  // 35 ≥ 30
        #expect(NormativeModels.build(rows: Cohort.make(15).rows, participants: Cohort.make(15).participants)
            .first { $0.key.metric == "csa_mm2" }?.fit == nil)                                  // 15 < 20: mean/SD only
        let c = Cohort.make(40)
        let noDemographics = NormativeModels.build(rows: c.rows, participants: [])
        #expect(noDemographics.allSatisfy { $0.fit == nil && $0.n == 40 })
    }

    @Test func sessionsOfOneSubjectAreAveraged() {
        let rows = [MetricRow(subject: "a", session: "1", level: "C2", region: "cord", metric: "csa_mm2", value: 70),
                    MetricRow(subject: "a", session: "2", level: "C2", region: "cord", metric: "csa_mm2", value: 74),
                    MetricRow(subject: "b", level: "C2", region: "cord", metric: "csa_mm2", value: 80)]
        let m = NormativeModels.build(rows: rows, participants: [])
        #expect(m.count == 1 && m[0].n == 2 && abs(m[0].mean - 76) < 1e-12)   // (72 + 80)/2
    }
}
