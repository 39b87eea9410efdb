// Who a subject is: the demographics stored beside every subject's long-form rows.
import CordCore
import Foundation

/// Demographics and acquisition context of one subject, as BIDS `participants.tsv` holds
/// them. Age in years, height in cm, weight in kg; `sex` is "M" or "F" (nil when unknown).
public struct Participant: Sendable, Equatable {
    public var id: String
    public var sex: String?
    public var age: Double?
    public var height: Double?
    public var weight: Double?
    public var site: String
    /// Scanner vendor (Siemens, GE, Philips, …).
    public var manufacturer: String
    /// Scanner model (e.g. "Prisma", "Discovery MR750w").
    public var scanner: String
    /// Acquisition protocol (a protocol card name, or free text).
    public var protocolName: String
    /// Cohort label (BIDS `pathology`, e.g. "HC" for healthy controls).
    public var pathology: String

    public init(id: String, sex: String? = nil, age: Double? = nil, height: Double? = nil, weight: Double? = nil,
                site: String = "", manufacturer: String = "", scanner: String = "", protocolName: String = "",
                pathology: String = "") {
        self.id = id; self.sex = sex; self.age = age; self.height = height; self.weight = weight; self.site = site
        self.manufacturer = manufacturer; self.scanner = scanner; self.protocolName = protocolName; self.pathology = pathology
    }

    /// Reads "M"/"male"/"F"/"female" (any case) as "M" or "F"; nil for empty or "n/a".
    /// Anything else is an error naming `source`.
    public static func normaliseSex(_ text: String, source: String) throws -> String? {
        switch text.trimmingCharacters(in: .whitespaces).lowercased() {
        case "", "n/a", "na": return nil
        case "m", "male": return "M"
        case "f", "female": return "F"
        default: throw CordError.invalidValue(what: source, detail: "sex \"\(text)\" is not M or F")
        }
    }

    /// Plausible demographics: age 0–120 years, height 40–250 cm, weight 2–400 kg.
    public static let plausibleAge: ClosedRange<Double> = 0...120
    public static let plausibleHeight: ClosedRange<Double> = 40...250
    public static let plausibleWeight: ClosedRange<Double> = 2...400

    /// Throws when a demographic value is outside its plausible range (with the unit, and
    /// the likely unit mistake: heights in metres or inches, ages in months or days), since
    /// it would shift every age- or height-adjusted z-score without any other sign.
    public func checkPlausible(source: String) throws {
        let who = "\(source) (\(id))"
        if let a = age {
            try CheckedNumber.plausible(a, field: "age", in: who, unit: "years", range: Self.plausibleAge,
                                        hint: a > 120 ? "ages are in years (months or days given?)" : "")
        }
        if let h = height {
            try CheckedNumber.plausible(h, field: "height", in: who, unit: "cm", range: Self.plausibleHeight,
                                        hint: h < 3 ? "heights are in cm (metres given?)" : (h < 40 ? "heights are in cm" : "heights are in cm (mm given?)"))
        }
        if let w = weight {
            try CheckedNumber.plausible(w, field: "weight", in: who, unit: "kg", range: Self.plausibleWeight)
        }
    }

    /// Column names accepted for each field (first match wins). BIDS participants.tsv and the
    /// spine-generic tables use the first spellings.
    public static let aliases: [String: [String]] = [
        "sex": ["sex", "gender"], "age": ["age", "age_years"], "height": ["height_cm", "height"],
        "weight": ["weight_kg", "weight"], "site": ["site", "institution"],
        "manufacturer": ["manufacturer", "Manufacturer"],
        "scanner": ["scanner", "manufacturers_model_name", "ManufacturersModelName", "model"],
        "protocol": ["protocol"], "pathology": ["pathology", "group"],
    ]

    /// Participants from a table with a `participant_id` column and any of the columns in
    /// `aliases`; numbers that are empty or "n/a" become nil. Errors name `source` and the line.
    public static func parseTable(columns: [String], rows: [[String]], source: String) throws -> [Participant] {
        guard let idColumn = columns.firstIndex(of: "participant_id") else {
            throw CordError.invalidValue(what: source, detail: "has no \"participant_id\" column")
        }
        func column(_ field: String) -> Int? { aliases[field]?.lazy.compactMap { columns.firstIndex(of: $0) }.first }
        let c = (sex: column("sex"), age: column("age"), height: column("height"), weight: column("weight"),
                 site: column("site"), manufacturer: column("manufacturer"), scanner: column("scanner"),
                 protocolName: column("protocol"), pathology: column("pathology"))
        var seen = Set<String>()
        var out: [Participant] = []
        for (n, r) in rows.enumerated() {
            let line = "\(source) line \(n + 2)"
            func text(_ i: Int?) -> String { i.map { r[$0] == "n/a" ? "" : r[$0] } ?? "" }
            func number(_ i: Int?, _ name: String) throws -> Double? {
                let t = text(i).trimmingCharacters(in: .whitespaces)
                if t.isEmpty || t.lowercased() == "nan" { return nil }
                guard let v = Double(t), v.isFinite else { throw CordError.invalidValue(what: line, detail: "\(name) \"\(t)\" is not a number") }
                return v
            }
            let id = r[idColumn]
            guard !id.isEmpty else { throw CordError.invalidValue(what: line, detail: "participant_id is empty") }
            guard seen.insert(id).inserted else { continue }  // per-level tables repeat the subject on every row
            let p = Participant(id: id, sex: try normaliseSex(text(c.sex), source: line), age: try number(c.age, "age"),
                                height: try number(c.height, "height"), weight: try number(c.weight, "weight"),
                                site: text(c.site), manufacturer: text(c.manufacturer), scanner: text(c.scanner),
                                protocolName: text(c.protocolName), pathology: text(c.pathology))
            try p.checkPlausible(source: line)
            out.append(p)
        }
        return out
    }
}
