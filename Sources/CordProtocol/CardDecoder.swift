// Card text → ProtocolCard: YAML syntax (Yams), the card subset, keys and types (README §1–5),
// then the card-level rules of README §7 (CardValidation.swift).
import Foundation
import Yams

extension ProtocolCard {
    /// Decodes and validates card text; `path` names it in errors and gives the expected
    /// `name` (the file name without `.yaml`).
    public static func decode(_ text: String, path: String) throws -> ProtocolCard {
        let (root, parser, renamed) = try compose(text, path: path)
        return try withExtendedLifetime(parser) {
            let reader = CardReader(path: path, renamedKeys: renamed)
            guard let root else { throw reader.error(nil, "", "the card is empty") }
            var card = try CardDecoding(reader: reader, expectedName: cardStem(path)).card(root)
            try CardValidation(reader: reader, card: card).validate()
            card.warnings = CardValidation.warnings(card)
            return card
        }
    }

    /// `protocols/spine-generic.yaml` → `spine-generic`.
    static func cardStem(_ path: String) -> String {
        var name = String(path.split(separator: "/").last ?? Substring(path))
        for ext in [".yaml", ".yml"] where name.hasSuffix(ext) { name.removeLast(ext.count) }
        return name
    }

    /// Parses one YAML document. Yams rejects some duplicate keys itself, at their FIRST
    /// occurrence and without the enclosing series; to report the second occurrence in
    /// context, the first is renamed to a same-width placeholder and the text parsed again
    /// (`renamed` maps the placeholder's position back to the key). The parser is returned
    /// because it owns the anchors the nodes point to.
    static func compose(_ text: String, path: String) throws -> (Node?, Parser, [String: String]) {
        let reader = CardReader(path: path, renamedKeys: [:])
        var lines = text.components(separatedBy: "\n")
        for (n, line) in lines.enumerated() {
            let indent = line.prefix { $0 == " " || $0 == "\t" }
            if let tab = indent.firstIndex(of: "\t") {
                throw reader.error(line: n + 1, column: indent.distance(from: indent.startIndex, to: tab) + 1, "",
                                   "tab used for indentation; protocol cards are indented with spaces")
            }
        }
        var renamed: [String: String] = [:]
        for _ in 0..<1000 {
            do {
                let parser = try Parser(yaml: lines.joined(separator: "\n"))
                return (try parser.singleRoot(), parser, renamed)
            } catch let YamlError.duplicatedKeysInMapping(duplicates, context) {
                let mark = context.mark
                guard let key = duplicates.sorted().first, mark.line >= 1, mark.line <= lines.count else {
                    throw reader.error(mark, duplicates.first ?? "", "duplicate key '\(duplicates.first ?? "")'; a key appears at most once per mapping")
                }
                var scalars = Array(lines[mark.line - 1].unicodeScalars)
                var start = mark.column - 1
                if start < scalars.count, scalars[start] == "\"" || scalars[start] == "'" { start += 1 }
                let width = key.unicodeScalars.count
                guard start + width <= scalars.count, String(String.UnicodeScalarView(scalars[start..<start + width])) == key else {
                    throw reader.error(mark, key, "duplicate key '\(key)'; a key appears at most once per mapping")
                }
                scalars.replaceSubrange(start..<start + width, with: Array(repeating: CardReader.placeholder, count: width))
                lines[mark.line - 1] = String(String.UnicodeScalarView(scalars))
                renamed["\(mark.line):\(mark.column)"] = key
            } catch let e as YamlError {
                throw syntaxError(e, reader: reader)
            }
        }
        throw reader.error(nil, "", "too many duplicate keys")
    }

    static func syntaxError(_ e: YamlError, reader: CardReader) -> ProtocolCardError {
        switch e {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _), let .composer(context, problem, mark, _):
            let ctx = context.map { " (\($0.text), line \($0.mark.line))" } ?? ""
            return reader.error(mark, "", "YAML syntax error: \(problem)\(ctx)")
        case let .reader(problem, offset, _, _):
            return reader.error(nil, "", "unreadable text: \(problem)\(offset.map { " at character \($0)" } ?? "")")
        default:
            return reader.error(nil, "", "YAML error: \(e)")
        }
    }
}

/// Decodes the node tree into the model, checking keys, types and per-value rules.
struct CardDecoding {
    let reader: CardReader
    /// The file name stem `name` must equal.
    let expectedName: String
    static let idPattern = "^[a-z0-9][a-z0-9-]*$"
    static let idHelp = "lower-case letters, digits and '-' (starting with a letter or digit)"

    func card(_ root: Node) throws -> ProtocolCard {
        let top = try reader.mapping(root, key: "", context: "at the top level", allowed:
            ["format", "name", "title", "description", "references", "manufacturer", "field_t", "time_budget_min", "series", "maps"])
        let what = "the card"
        guard let format = try top.number("format", expected: "a whole number") else { throw top.missing("format", what: what) }
        guard format == 1 else { throw top.fail("format", "'format' is \(formatCardNumber(format)); this CordQ reads card format 1") }
        let name = try top.requiredString("name", what: what, pattern: "^[a-z0-9-]+$", patternHelp: "lower-case letters, digits and '-'")
        guard name == expectedName else {
            throw top.fail("name", "'name' is '\(name)' but the file is \(expectedName).yaml; they must be equal")
        }
        let title = try top.requiredString("title", what: what)
        var references: [String] = []
        for n in try top.list("references", expected: "a list of strings") ?? [] {
            guard case let .scalar(s) = n, case let .string(t) = CardScalar(s) else {
                throw reader.error(n.mark, "references", "'references' must be a list of strings; found \(reader.describe(n)) (quote it)")
            }
            references.append(t)
        }
        let budget = try top.number("time_budget_min")
        if let b = budget, b <= 0 { throw top.fail("time_budget_min", "'time_budget_min' must be > 0; found \(formatCardNumber(b))") }
        let field = try top.spec("field_t")
        if let f = field, f.value <= 0 { throw top.fail("field_t", "'field_t' must be > 0 T; found \(f)") }
        guard let seriesNodes = try top.list("series", expected: "a list of series") else { throw top.missing("series", what: what) }
        guard !seriesNodes.isEmpty else { throw top.fail("series", "'series' must list at least one series") }
        let series = try seriesNodes.enumerated().map { try self.series($1, number: $0 + 1) }
        if let budget {
            var total = 0.0
            for s in series {
                guard let d = s.duration else {
                    throw reader.error(line: s.location.line, column: s.location.column, "duration_s",
                                       "series '\(s.id)' has no 'duration_s', which 'time_budget_min' (\(formatCardNumber(budget)) min) needs for every series")
                }
                total += d.value
            }
            if total > 60 * budget + 1e-9 {
                throw top.fail("time_budget_min", "the series durations add up to \(formatCardNumber(total)) s, more than 'time_budget_min' \(formatCardNumber(budget)) min (\(formatCardNumber(60 * budget)) s)")
            }
        }
        let maps = try (top.list("maps", expected: "a list of maps") ?? []).enumerated().map { try map($1, number: $0 + 1) }
        return ProtocolCard(path: reader.path, format: 1,  // checked == 1 above
                                  name: name, title: title, description: try top.string("description"),
                            references: references, manufacturer: try top.string("manufacturer"), field: field,
                            timeBudgetMinutes: budget, series: series, maps: maps, warnings: [])
    }

    static let seriesKeys = ["id", "title", "datatype", "suffix", "entities", "required", "sequence", "orientation", "voxel_mm", "slices",
                             "multiband", "tr_s", "te_s", "ti_s", "flip_deg", "mt_pulse", "duration_s", "diffusion", "processing"]

    func series(_ node: Node, number: Int) throws -> SeriesSpec {
        // The id first, so that every later message can name the series.
        var label = "series #\(number)"
        if case let .mapping(m) = node, case let .scalar(s)? = m["id"], case let .string(id) = CardScalar(s) { label = "series '\(id)'" }
        let m = try reader.mapping(node, key: "series", context: "in \(label)", allowed: Self.seriesKeys)
        let id = try m.requiredString("id", what: label, pattern: Self.idPattern, patternHelp: Self.idHelp)
        guard let datatype = try m.enumValue("datatype", SeriesDatatype.self) else { throw m.missing("datatype", what: label) }
        let suffix = try m.requiredString("suffix", what: label, pattern: "^[A-Za-z0-9]+$", patternHelp: "letters and digits (a BIDS suffix such as T2w)")
        guard let required = try m.bool("required") else { throw m.missing("required", what: label) }
        var entities: [String: String] = [:]
        if let en = m.node("entities") {
            let e = try reader.mapping(en, key: "entities", context: "in 'entities' of \(label)",
                                       allowed: ["acq", "ce", "rec", "dir", "echo", "flip", "inv", "mt", "part"])
            for k in e.order { entities[k] = try e.string(k, pattern: "^[A-Za-z0-9]+$", patternHelp: "letters and digits") }
        }
        var sequence: [SequenceFamily]?
        if let sn = m.node("sequence") {
            let items: [Node]
            if case let .sequence(q) = sn { items = Array(q) } else { items = [sn] }
            guard !items.isEmpty else { throw m.fail("sequence", "'sequence' in \(label) must name at least one family") }
            let help = "a sequence family (\(SequenceFamily.allCases.map(\.rawValue).joined(separator: ", "))) or a list of them"
            sequence = try items.map { item in
                guard case let .scalar(s) = item, case let .string(t) = CardScalar(s) else { throw m.wrong("sequence", help, item) }
                guard let f = SequenceFamily(rawValue: t) else { throw reader.error(item.mark, "sequence", "'sequence' in \(label) must be \(help); found \"\(t)\"") }
                return f
            }
        }
        var inPlane: Spec?, slice: Spec?
        if let vn = m.node("voxel_mm") {
            let v = try reader.mapping(vn, key: "voxel_mm", context: "in 'voxel_mm' of \(label)", allowed: ["in_plane", "slice"])
            inPlane = try positive(v, "in_plane"); slice = try positive(v, "slice")
        }
        let slices = try atLeastOne(m, "slices"), multiband = try atLeastOne(m, "multiband")
        let flip = try m.spec("flip_deg")
        if let f = flip, !(f.value > 0 && f.value <= 180) { throw m.fail("flip_deg", "'flip_deg' in \(label) must be > 0 and <= 180 degrees; found \(f)") }
        let mt = try m.bool("mt_pulse")
        if mt != nil && datatype != .anat { throw m.fail("mt_pulse", "'mt_pulse' in \(label) is allowed only on anat series (this one is \(datatype.rawValue))") }
        var diffusion: DiffusionSpec?
        if let dn = m.node("diffusion") {
            guard datatype == .dwi else { throw m.fail("diffusion", "'diffusion' in \(label) is allowed only on dwi series (this one is \(datatype.rawValue))") }
            diffusion = try self.diffusion(dn, label: label)
        }
        var processing = ProcessingSpec()
        if let pn = m.node("processing") {
            let p = try reader.mapping(pn, key: "processing", context: "in 'processing' of \(label)",
                                       allowed: ["denoise", "unring", "motion_correction", "multiband_correction", "distortion_correction"])
            processing.denoise = try p.enumValue("denoise", ProcessingSpec.Denoise.self) ?? .none
            processing.unring = try p.bool("unring") ?? false
            processing.motionCorrection = try p.enumValue("motion_correction", ProcessingSpec.MotionCorrection.self) ?? .none
            processing.multibandCorrection = try p.bool("multiband_correction") ?? false
            processing.distortionCorrection = try p.enumValue("distortion_correction", ProcessingSpec.DistortionCorrection.self)
            if processing.distortionCorrection != nil && datatype != .dwi {
                throw p.fail("distortion_correction", "'distortion_correction' in \(label) is allowed only on dwi series (this one is \(datatype.rawValue))")
            }
            if processing.multibandCorrection && !(multiband.map { $0.value >= 2 } ?? false) {
                throw p.fail("multiband_correction", "'multiband_correction: true' in \(label) needs 'multiband' with a value >= 2 (found \(multiband.map { "\($0)" } ?? "no multiband"))")
            }
        }
        return SeriesSpec(id: id, title: try m.string("title"), datatype: datatype, suffix: suffix, entities: entities, required: required,
                          sequence: sequence, orientation: try m.enumValue("orientation", AcquisitionPlane.self),
                          voxelInPlane: inPlane, voxelSlice: slice, slices: slices, multiband: multiband,
                          tr: try positive(m, "tr_s"), te: try positive(m, "te_s"), ti: try positive(m, "ti_s"), flip: flip,
                          mtPulse: mt, duration: try positive(m, "duration_s"), diffusion: diffusion, processing: processing,
                          location: m.location("id"))
    }

    func positive(_ m: CardMapping, _ key: String) throws -> Spec? {
        guard let s = try m.spec(key) else { return nil }
        if s.value <= 0 { throw m.fail(key, "'\(key)' \(m.context) must be > 0; found \(s)") }
        return s
    }
    func atLeastOne(_ m: CardMapping, _ key: String) throws -> Spec? {
        guard let s = try m.spec(key, integer: true) else { return nil }
        if s.value < 1 { throw m.fail(key, "'\(key)' \(m.context) must be >= 1; found \(s)") }
        return s
    }

    func diffusion(_ node: Node, label: String) throws -> DiffusionSpec {
        let d = try reader.mapping(node, key: "diffusion", context: "in 'diffusion' of \(label)", allowed: ["encoding", "shells"])
        guard let encoding = try d.enumValue("encoding", DiffusionEncoding.self) else { throw d.missing("encoding", what: "'diffusion' of \(label)") }
        guard let shellNodes = try d.list("shells", expected: "a list of shells") else { throw d.missing("shells", what: "'diffusion' of \(label)") }
        guard !shellNodes.isEmpty else { throw d.fail("shells", "'shells' in \(label) must list at least one shell") }
        var shells: [ShellSpec] = []
        for (n, sn) in shellNodes.enumerated() {
            let what = "shell #\(n + 1) of \(label)"
            let s = try reader.mapping(sn, key: "shells", context: "in \(what)", allowed: ["b_s_per_mm2", "volumes", "directions"])
            guard let b = try s.spec("b_s_per_mm2") else { throw s.missing("b_s_per_mm2", what: what) }
            if b.value < 0 { throw s.fail("b_s_per_mm2", "'b_s_per_mm2' in \(what) must be >= 0; found \(b)") }
            let volumes = try atLeastOne(s, "volumes"), directions = try atLeastOne(s, "directions")
            if directions != nil && b.value == 0 { throw s.fail("directions", "'directions' is not allowed on a b = 0 shell (\(what))") }
            if directions != nil && encoding == .spherical {
                throw s.fail("directions", "'directions' is not allowed with spherical encoding (\(what)): isotropic encoding has no direction")
            }
            if let other = shells.firstIndex(where: { $0.b.lower <= b.upper && b.lower <= $0.b.upper }) {
                throw s.fail("b_s_per_mm2", "shell #\(n + 1) of \(label) (b \(b)) overlaps shell #\(other + 1) (b \(shells[other].b)): a volume's b-value must fit one shell")
            }
            shells.append(ShellSpec(b: b, volumes: volumes, directions: directions))
        }
        return DiffusionSpec(encoding: encoding, shells: shells)
    }

    func map(_ node: Node, number: Int) throws -> MapSpec {
        var label = "map #\(number)"
        if case let .mapping(mm) = node, case let .scalar(s)? = mm["id"], case let .string(id) = CardScalar(s) { label = "map '\(id)'" }
        let m = try reader.mapping(node, key: "maps", context: "in \(label)", allowed: ["id", "kind", "inputs", "method", "b1"])
        let id = try m.requiredString("id", what: label, pattern: Self.idPattern, patternHelp: Self.idHelp)
        guard let kind = try m.enumValue("kind", MapSpec.Kind.self) else { throw m.missing("kind", what: label) }
        guard let inputNode = m.node("inputs") else { throw m.missing("inputs", what: label) }
        let roles = ["image", "dwi", "lte", "ste", "pte", "dde", "mt_on", "mt_off", "pd", "t1", "b1map"]
        let inp = try reader.mapping(inputNode, key: "inputs", context: "in 'inputs' of \(label)", allowed: roles)
        var inputs: [String: String] = [:]
        for r in inp.order { inputs[r] = try inp.string(r, pattern: Self.idPattern, patternHelp: "a series id") }
        let method = try m.enumValue("method", MapSpec.MufaMethod.self)
        if method != nil && kind != .mufa { throw m.fail("method", "'method' in \(label) is allowed only on mufa maps") }
        if method == nil && kind == .mufa { throw m.missing("method", what: "\(label) (kind mufa)") }
        let b1 = try m.enumValue("b1", MapSpec.B1Handling.self)
        if b1 != nil && kind != .mtsat && kind != .t1 { throw m.fail("b1", "'b1' in \(label) is allowed only on mtsat and t1 maps") }
        return MapSpec(id: id, kind: kind, inputs: inputs, method: method, b1: b1 ?? .none, location: m.location("id"))
    }
}
