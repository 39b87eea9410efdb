// Normative models per metric × region × level (× method): mean/SD and, with enough
// subjects, a linear model on age, sex and (for morphometry) height.
import CordCore
import CordMetrics

/// What a normative model describes: one metric in one region at one level, obtained by one
/// method (so that `wa` and `map` values of the same metric are never pooled).
public struct ModelKey: Sendable, Hashable, Comparable {
    public var metric: String, region: String, level: String, method: String
    public init(metric: String, region: String, level: String, method: String = "") {
        self.metric = metric; self.region = region; self.level = level; self.method = method
    }
    public static func < (a: ModelKey, b: ModelKey) -> Bool {
        (a.metric, a.region, LevelOrder.rank(a.level), a.level, a.method) < (b.metric, b.region, LevelOrder.rank(b.level), b.level, b.method)
    }
}

/// Vertebral levels in anatomical order (C1 … C7, T1 …, then anything else).
public enum LevelOrder {
    public static func rank(_ level: String) -> Int {
        let u = level.uppercased()
        guard let n = Int(u.dropFirst()) else { return 1000 }
        switch u.first {
        case "C": return n
        case "T": return 7 + n
        case "L": return 19 + n
        default: return 1000
        }
    }
}

/// The healthy distribution of one metric: mean and SD over subjects (one value per subject:
/// sessions are averaged), and a covariate-adjusted linear model when enough subjects exist.
/// Values are in the metric's own unit (mm² for `csa_mm2`, …).
public struct NormativeModel: Sendable, Equatable {
    public var key: ModelKey
    /// Subjects with a value.
    public var n: Int
    /// Mean and sample SD (n − 1) over subjects.
    public var mean: Double, sd: Double
    /// Linear model on age (years, centred), sex (male = 1, female = 0) and height (cm,
    /// centred; morphometry only), or nil when the subjects are too few (see
    /// `NormativeModels.subjectsPerParameter`).
    public var fit: LinearFit?

    /// z-score of `value` for `participant`: against the linear model's prediction and
    /// residual SD when the model exists and the participant has every covariate it uses,
    /// else against mean and SD. Covariates outside the range of the normative subjects are
    /// clamped to it (`LinearFit.clamped`): the model is never extrapolated.
    public func zScore(_ value: Double, for participant: Participant?) -> ZScore {
        if let f = fit, let p = participant, let x = NormativeModels.covariateValues(f.covariates, of: p), f.residualSD > 0 {
            let expected = f.predict(f.clamped(x))
            return ZScore(value: value, expected: expected, sd: f.residualSD, z: (value - expected) / f.residualSD,
                          adjustedFor: f.covariates)
        }
        return ZScore(value: value, expected: mean, sd: sd, z: sd > 0 ? (value - mean) / sd : .nan, adjustedFor: [])
    }
}

/// A value compared with a normative model: z = (value − expected)/sd, with the covariates the
/// expectation was adjusted for (empty: plain mean/SD). `expected` and `sd` in the metric's unit.
public struct ZScore: Sendable, Equatable {
    public var value: Double, expected: Double, sd: Double, z: Double
    public var adjustedFor: [String]
}

/// Building normative models from long-form rows and participants.
///
/// Rule for the linear model: the candidate covariate sets are tried in order — for
/// morphometry (metrics ending `_mm2` or `_mm`) {age, sex, height}, {age, sex}, {sex}, {age};
/// for other metrics {age, sex}, {sex}, {age} — and the first is used whose complete cases
/// (subjects with the value and every covariate) number at least `subjectsPerParameter` (10)
/// per parameter, intercept included (so 40 subjects for age + sex + height, 30 for age +
/// sex), in which every covariate varies and, when sex is used, each sex has at least
/// `minimumPerSex` (3) subjects. With none, the model is mean/SD only.
public enum NormativeModels {
    public static let subjectsPerParameter = 10
    public static let minimumPerSex = 3
    /// Covariate names as stored in a `LinearFit`.
    public static let age = "age_years", male = "sex_male", height = "height_cm"

    /// True for shape metrics, whose models may adjust for height.
    public static func isMorphometry(_ metric: String) -> Bool { metric.hasSuffix("_mm2") || metric.hasSuffix("_mm") }

    /// Candidate covariate sets for `metric`, in the order they are tried.
    public static func candidates(for metric: String) -> [[String]] {
        (isMorphometry(metric) ? [[age, male, height]] : []) + [[age, male], [male], [age]]
    }

    /// Values of the named covariates for a participant, nil when any is missing.
    public static func covariateValues(_ names: [String], of p: Participant) -> [Double]? {
        var out: [Double] = []
        for n in names {
            switch n {
            case age: guard let a = p.age else { return nil }; out.append(a)
            case male: guard let s = p.sex else { return nil }; out.append(s == "M" ? 1 : 0)
            case height: guard let h = p.height else { return nil }; out.append(h)
            default: return nil
            }
        }
        return out
    }

    /// One model per metric × region × level × method present in `rows`, sorted. Subjects
    /// without a participant entry count for mean/SD but not for the linear model.
    public static func build(rows: [MetricRow], participants: [Participant]) -> [NormativeModel] {
        let people = Dictionary(participants.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        // key → subject → (sum, count): sessions of one subject are averaged.
        var groups: [ModelKey: [String: (Double, Int)]] = [:]
        for r in rows {
            let k = ModelKey(metric: r.metric, region: r.region, level: r.level, method: r.method)
            let s = groups[k, default: [:]][r.subject] ?? (0, 0)
            groups[k, default: [:]][r.subject] = (s.0 + r.value, s.1 + 1)
        }
        return groups.keys.sorted().compactMap { k in
            guard let perSubject = groups[k] else { return nil }
            let values = perSubject.keys.sorted().map { s in (s, perSubject[s].map { $0.0 / Double($0.1) } ?? 0) }
            return model(k, values: values, participants: people)
        }
    }

    /// The model of one key from one value per subject.
    public static func model(_ key: ModelKey, values: [(subject: String, value: Double)],
                             participants: [String: Participant]) -> NormativeModel {
        let v = values.map(\.value)
        let n = v.count
        let mean = v.reduce(0, +) / Double(max(n, 1))
        let sd = n > 1 ? (v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)).squareRoot() : .nan
        var fit: LinearFit?
        for names in candidates(for: key.metric) {
            if let f = try? fitModel(names, values: values, participants: participants) { fit = f; break }
        }
        return NormativeModel(key: key, n: n, mean: mean, sd: sd, fit: fit)
    }

    /// Fits the linear model on `names` to the complete cases of `values`, applying the
    /// subjects-per-parameter and per-sex rules; throws when a rule is not met.
    public static func fitModel(_ names: [String], values: [(subject: String, value: Double)],
                                participants: [String: Participant]) throws -> LinearFit {
        var y: [Double] = [], x: [[Double]] = []
        for (s, value) in values {
            guard let p = participants[s], let c = covariateValues(names, of: p) else { continue }
            y.append(value); x.append(c)
        }
        let needed = subjectsPerParameter * (names.count + 1)
        guard y.count >= needed else {
            throw CordError.invalidValue(what: "model on \(names.joined(separator: ", "))", detail: "\(y.count) complete subjects, \(needed) needed")
        }
        if let j = names.firstIndex(of: male) {
            let men = x.filter { $0[j] == 1 }.count
            guard min(men, x.count - men) >= minimumPerSex else {
                throw CordError.invalidValue(what: "model on sex", detail: "\(men) men and \(x.count - men) women")
            }
        }
        // Age and height are centred at the complete cases' means; sex stays 0/1, so the
        // intercept is a woman of mean age (and height).
        let centres = names.indices.map { j in names[j] == male ? 0 : x.reduce(0) { $0 + $1[j] } / Double(x.count) }
        return try LinearFit.fit(y: y, x: x, covariates: names, centres: centres)
    }
}
