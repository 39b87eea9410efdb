// Myelopathy biomarkers of one patient from its long-form rows and the normative models.
import CordCore
import CordMetrics
import CordNormative
import Foundation

/// One line of a patient list: who, optionally the compressed level (e.g. "C5"), and any
/// other columns (clinical scores such as mJOA/JOA) passed through to the output.
public struct PatientEntry: Sendable {
    public var participant: Participant
    public var compressedLevel: String?
    /// Extra columns in input order (name, text).
    public var clinical: [(String, String)]

    /// Column names read as demographics or the level; the rest is clinical.
    static let known = Set(["participant_id", "compressed_level", "level"] + Participant.aliases.values.flatMap { $0 })

    /// Parses a patient list (`participant_id`, optional `compressed_level`, demographics).
    public static func parseList(columns: [String], rows: [[String]], source: String) throws -> [PatientEntry] {
        let people = try Participant.parseTable(columns: columns, rows: rows, source: source)
        let levelColumn = columns.firstIndex(of: "compressed_level") ?? columns.firstIndex(of: "level")
        let extra = columns.indices.filter { !known.contains(columns[$0]) }
        guard let id = columns.firstIndex(of: "participant_id") else { return [] }
        var firstRow: [String: [String]] = [:]
        for r in rows where firstRow[r[id]] == nil { firstRow[r[id]] = r }
        return people.map { p in
            let r = firstRow[p.id] ?? []
            let level = levelColumn.flatMap { r.isEmpty || r[$0].isEmpty || r[$0] == "n/a" ? nil : r[$0].uppercased() }
            return PatientEntry(participant: p, compressedLevel: level, clinical: extra.map { (columns[$0], r.isEmpty ? "" : r[$0]) })
        }
    }
}

/// A patient's value of one metric in one region at a level at, above or below the
/// compressed level, with its z-score and its ratio to the same metric at C2.
public struct BiomarkerValue: Sendable {
    public enum Position: String, Sendable { case at, above, below }
    public var position: Position
    public var row: MetricRow
    /// nil when the database has no model for this metric, region, level and method.
    public var z: ZScore?
    /// value / value at C2 (same metric, region, method); nil at C2 itself or without C2.
    public var ratioToC2: Double?
}

/// The biomarkers of one patient. Areas in mm², lengths in mm, MSCC in %.
public struct PatientBiomarkers: Sendable {
    public var subject: String
    public var compressedLevel: String
    /// True when the level came from the patient list, false when found from the rows.
    public var levelGiven: Bool
    /// The metric whose lowest z-score chose the level (`csa_min_mm2` or `csa_mm2`); nil when given.
    public var levelMetric: String?
    /// CSA at the compressed level (`csa_mm2`, the level mean), its normative expectation,
    /// z-score and ratio (CSA over expected: the normalised CSA).
    public var csa: ZScore
    public var csaRatio: Double
    /// The smallest slice CSA in the level (`csa_min_mm2`) against its own model, and its
    /// ratio to the expectation; nil when the tables or the database lack it.
    public var csaMin: ZScore?
    public var csaMinRatio: Double? { csaMin.map { $0.value / $0.expected } }
    /// MSCC on AP diameter (%), compression ratio AP/RL; nil when the diameters are missing.
    public var mscc: Double?, compressionRatio: Double?
    public var values: [BiomarkerValue]
}

/// Myelopathy biomarkers from per-level long-form rows (Martin et al. 2017, AJNR 38:1266;
/// Iwama et al. 2020, Spine J 20:417): the maximally compressed level is the one whose
/// smallest slice CSA (`csa_min_mm2`, region "cord") has the lowest z-score against the
/// normative models (covariate-adjusted when the model allows), unless the list gives it. A
/// focal compression a few mm long is diluted in the level mean (`csa_mm2`), which is used
/// only when the tables or the database have no `csa_min_mm2`; both z-scores are reported. MSCC follows
/// Fehlings et al. 1999 (Spine 24:605) on per-level mean AP diameters: (1 − d_i/((d_a + d_b)/2))·100
/// with d_a, d_b at the levels above and below (one of them when the other is absent); on
/// level means it is smaller than on the narrowest slice.
public enum Biomarkers {
    public static let levels = (1...7).map { "C\($0)" } + (1...12).map { "T\($0)" }
    static let apMetrics = ["diameter_ap_mm", "ap_mm"], rlMetrics = ["diameter_rl_mm", "rl_mm"]

    /// The level above (rostral) or below (caudal) `level`, nil at the ends.
    public static func neighbour(_ level: String, above: Bool) -> String? {
        guard let i = levels.firstIndex(of: level) else { return nil }
        let j = above ? i - 1 : i + 1
        return levels.indices.contains(j) ? levels[j] : nil
    }

    /// The biomarkers of one patient; throws, naming the patient, when its rows cannot
    /// give them (no rows, no cord CSA, a compressed level without CSA).
    public static func compute(_ patient: PatientEntry, rows: [MetricRow], models: [ModelKey: NormativeModel]) throws -> PatientBiomarkers {
        let id = patient.participant.id
        guard !rows.isEmpty else { throw CordError.invalidValue(what: id, detail: "has no rows in the tables") }
        func model(_ r: MetricRow) -> NormativeModel? { models[ModelKey(metric: r.metric, region: r.region, level: r.level, method: r.method)] }
        let csaRows = rows.filter { $0.metric == "csa_mm2" && $0.region == "cord" }
        guard !csaRows.isEmpty else { throw CordError.invalidValue(what: id, detail: "has no csa_mm2 row in region cord") }
        let minRows = rows.filter { $0.metric == "csa_min_mm2" && $0.region == "cord" }
        func lowestZ(_ candidates: [MetricRow]) -> String? {
            let scored = candidates.compactMap { r in model(r).map { (r.level, $0.zScore(r.value, for: patient.participant).z) } }
            return scored.filter { $0.1.isFinite }.min(by: { $0.1 < $1.1 })?.0
        }
        let level: String
        var levelMetric: String?
        if let given = patient.compressedLevel {
            guard csaRows.contains(where: { $0.level == given }) else {
                throw CordError.invalidValue(what: id, detail: "has no cord CSA at the given level \(given)")
            }
            level = given
        } else if let lowest = lowestZ(minRows) {
            level = lowest; levelMetric = "csa_min_mm2"
        } else if let lowest = lowestZ(csaRows) {
            level = lowest; levelMetric = "csa_mm2"
        } else {
            throw CordError.invalidValue(what: id, detail: "the database has no csa_mm2 model at the patient's levels (\(csaRows.map(\.level).joined(separator: ", ")))")
        }
        guard let csaRow = csaRows.first(where: { $0.level == level }), let csaModel = model(csaRow) else {
            throw CordError.invalidValue(what: id, detail: "the database has no csa_mm2 model at \(level)")
        }
        let csa = csaModel.zScore(csaRow.value, for: patient.participant)
        let csaMin = minRows.first { $0.level == level }.flatMap { r in model(r).map { $0.zScore(r.value, for: patient.participant) } }
        func cord(_ names: [String], _ l: String?) -> Double? {
            guard let l else { return nil }
            return rows.first { $0.region == "cord" && $0.level == l && names.contains($0.metric) }?.value
        }
        let above = neighbour(level, above: true), below = neighbour(level, above: false)
        var mscc: Double?
        // d_i at the narrowest slice of the level when the table has it (`cordq process` writes
        // `diameter_ap_min_mm`), else the level mean; the references are level means above and below.
        let site = cord(["diameter_ap_min_mm"], level) != nil && cord(["diameter_rl_min_mm"], level) != nil
        let apAtSite = site ? cord(["diameter_ap_min_mm"], level) : cord(apMetrics, level)
        let rlAtSite = site ? cord(["diameter_rl_min_mm"], level) : cord(rlMetrics, level)
        if let di = apAtSite {
            let refs = [cord(apMetrics, above), cord(apMetrics, below)].compactMap { $0 }
            if !refs.isEmpty { mscc = (1 - di / (refs.reduce(0, +) / Double(refs.count))) * 100 }
        }
        let ratio = apAtSite.flatMap { ap in rlAtSite.map { ap / $0 } }
        var values: [BiomarkerValue] = []
        for (position, l) in [(BiomarkerValue.Position.above, above), (.at, level), (.below, below)] {
            guard let l else { continue }
            for r in rows.filter({ $0.level == l }).sorted(by: { ($0.metric, $0.region, $0.method) < ($1.metric, $1.region, $1.method) }) {
                let c2 = rows.first { $0.level == "C2" && $0.metric == r.metric && $0.region == r.region && $0.method == r.method }
                values.append(BiomarkerValue(position: position, row: r, z: model(r)?.zScore(r.value, for: patient.participant),
                                             ratioToC2: l == "C2" ? nil : c2.flatMap { $0.value != 0 ? r.value / $0.value : nil }))
            }
        }
        return PatientBiomarkers(subject: id, compressedLevel: level, levelGiven: patient.compressedLevel != nil,
                                 levelMetric: levelMetric, csa: csa, csaRatio: csa.value / csa.expected, csaMin: csaMin,
                                 mscc: mscc, compressionRatio: ratio, values: values)
    }

    /// Every patient, in parallel over the cores; a failing patient gives its error and the
    /// others finish. Results are in the order of `patients`.
    public static func computeAll(_ patients: [PatientEntry], rows: [String: [MetricRow]],
                                  models: [NormativeModel]) -> [Result<PatientBiomarkers, any Error>] {
        let byKey = Dictionary(models.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        let results = ResultSlots<PatientBiomarkers>(patients.count)
        parallelChunks(patients.count) { range, _ in
            for i in range {
                results.set(i, Result { try compute(patients[i], rows: rows[patients[i].participant.id] ?? [], models: byKey) })
            }
        }
        return results.results("patient")
    }
}
