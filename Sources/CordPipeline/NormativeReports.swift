// `cordq db summary` and `cordq db export`: the database's models and rows as text and TSV.
import CordCore
import CordIO
import CordMetrics
import CordNormative

extension NormativePipeline {
    /// Columns of the models table (`db export --models`): mean/SD, then the linear model's
    /// coefficients (intercept = a woman at the centre age and height), their standard
    /// errors, centres and residual SD, all in the metric's unit (per year, per cm).
    public static let modelColumns = ["metric", "region", "level", "method", "n", "mean", "sd", "model_covariates", "model_n",
                                      "intercept", "intercept_se", "beta_age_per_year", "beta_age_se", "age_centre_years",
                                      "beta_male", "beta_male_se", "beta_height_per_cm", "beta_height_se", "height_centre_cm",
                                      "residual_sd", "r_squared"]

    /// The models of `metric` (all when nil) as a table with `modelColumns`.
    public static func modelTable(database: String, metric: String? = nil) throws -> TSVTable {
        let models = try open(database).models(metric: metric)
        var t = TSVTable(columns: modelColumns)
        for m in models {
            var row = [m.key.metric, m.key.region, m.key.level, m.key.method, String(m.n), f(m.mean), f(m.sd)]
            guard let fit = m.fit else {
                t.append(row + ["", ""] + Array(repeating: "", count: modelColumns.count - row.count - 2)); continue
            }
            func term(_ name: String) -> [String] {
                guard let j = fit.covariates.firstIndex(of: name) else { return ["", ""] }
                return [f(fit.coefficients[j + 1]), f(fit.standardErrors[j + 1])]
            }
            func centre(_ name: String) -> String { fit.covariates.firstIndex(of: name).map { f(fit.centres[$0]) } ?? "" }
            row += [fit.covariates.joined(separator: "+"), String(fit.n), f(fit.coefficients[0]), f(fit.standardErrors[0])]
            row += term(NormativeModels.age) + [centre(NormativeModels.age)] + term(NormativeModels.male)
            row += term(NormativeModels.height) + [centre(NormativeModels.height), f(fit.residualSD), f(fit.rSquared)]
            t.append(row)
        }
        return t
    }

    /// `cordq db summary`: subjects and demographics, then each model on one line.
    public static func summary(database: String, metric: String? = nil) throws -> String {
        let db = try open(database)
        let subjects = try db.subjects().map(\.participant)
        let (_, rowCount) = try db.counts()
        let ages = subjects.compactMap(\.age)
        var out = "\(database): \(subjects.count) subjects (\(subjects.filter { $0.sex == "M" }.count) M, \(subjects.filter { $0.sex == "F" }.count) F"
        if let lo = ages.min(), let hi = ages.max() { out += ", age \(f(lo, 0))–\(f(hi, 0)) years" }
        let sites = Set(subjects.map(\.site).filter { !$0.isEmpty })
        out += "\(sites.isEmpty ? "" : ", \(sites.count) sites")), \(rowCount) rows, schema \(try db.storedSchemaVersion())\n"
        out += "Linear model when ≥ \(NormativeModels.subjectsPerParameter) subjects per parameter; intercept = woman at the centre age (and height); "
        out += "β per year (age), for men (male), per cm (height); SE in brackets.\n"
        let t = try modelTable(database: database, metric: metric)
        guard !t.rows.isEmpty else { return out + (metric.map { "no rows of metric \($0)\n" } ?? "no rows\n") }
        var group = ""
        for r in t.records {
            let head = "\(r["metric"] ?? "") · \(r["region"] ?? "")\((r["method"] ?? "").isEmpty ? "" : " · " + (r["method"] ?? ""))"
            if head != group { out += "\n\(head)\n"; group = head }
            var line = "  \((r["level"] ?? "").padding(toLength: 5, withPad: " ", startingAt: 0)) n \(r["n"] ?? "")  \(r["mean"] ?? "") ± \(r["sd"] ?? "")"
            if let cov = r["model_covariates"], !cov.isEmpty {
                line += "  | \(cov) (n \(r["model_n"] ?? "")): \(r["intercept"] ?? "")"
                for (name, column) in [("age", "beta_age_per_year"), ("male", "beta_male"), ("height", "beta_height_per_cm")] {
                    if let b = r[column], !b.isEmpty {
                        let se = r[column == "beta_age_per_year" ? "beta_age_se" : column == "beta_male" ? "beta_male_se" : "beta_height_se"] ?? ""
                        line += ", \(name) \(b) (\(se))"
                    }
                }
                line += ", residual SD \(r["residual_sd"] ?? "")"
            } else { line += "  | mean/SD only" }
            out += line + "\n"
        }
        return out
    }

    /// Columns of the exported rows: the long-form columns, then the subject's demographics.
    public static let exportColumns = LongFormTable.columns + ["sex", "age", "height_cm", "weight_kg", "site", "manufacturer",
                                                               "scanner", "protocol", "pathology"]

    /// `cordq db export`: every stored row with its subject's demographics (or, with `models`,
    /// the models table), written atomically. Returns the number of rows written.
    @discardableResult
    public static func export(database: String, output: String, models: Bool = false) throws -> Int {
        try InputGuard.refuse(outputs: [output], inputs: [database])
        if models {
            let t = try modelTable(database: database)
            try t.write(to: output)
            return t.rows.count
        }
        let db = try open(database)
        let people = Dictionary(uniqueKeysWithValues: try db.subjects().map { ($0.participant.id, $0.participant) })
        let rows = try db.rows()
        var t = TSVTable(columns: exportColumns)
        for (row, strings) in zip(rows.rows, rows.stringRows) {
            let p = people[row.subject] ?? Participant(id: row.subject)
            t.append(strings + [p.sex ?? "", p.age.map { plain($0) } ?? "", p.height.map { plain($0) } ?? "",
                                p.weight.map { plain($0) } ?? "", p.site, p.manufacturer, p.scanner, p.protocolName, p.pathology])
        }
        try t.write(to: output)
        return t.rows.count
    }

    static func f(_ x: Double, _ digits: Int = 3) -> String { x.isFinite ? formatFixed(x, digits) : "" }
    /// Up to three decimals without trailing zeros (28 for 28.0, 27.5 for 27.5).
    static func plain(_ x: Double) -> String {
        var s = f(x)
        if s.contains(".") && !s.contains("e") { while s.hasSuffix("0") { s.removeLast() }; if s.hasSuffix(".") { s.removeLast() } }
        return s
    }
}
