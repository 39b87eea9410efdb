// The YAML subset of protocol cards (README §1) on top of Yams' Node tree: typed access to
// mappings with unknown-key, duplicate-key, wrong-type and missing-key errors that name the
// file, line, column and key.
import Foundation
import Yams

/// A card that cannot be used: the file, 1-based line and column, and what is wrong.
public struct ProtocolCardError: Error, Equatable, Sendable, CustomStringConvertible {
    public var path: String
    public var line: Int
    public var column: Int
    /// The card key concerned ("" when the problem is not about one key).
    public var key: String
    public var message: String
    public var description: String { "\(path):\(line):\(column): \(message)" }
}

/// How a scalar reads under the card rules (plain scalars are typed the YAML 1.1 way, as
/// Yams' default resolver and PyYAML do, so that a card means the same to every reader).
enum CardScalar: Equatable {
    case string(String)
    case bool(Bool)
    case number(Double)
    /// `on`, `off`, `yes`, `no`, `True`, … : a boolean to YAML 1.1 readers, not allowed.
    case yaml11Bool(String)
    case null
    /// A number YAML readers disagree on (exponent, leading zero, .inf, hex, …), and why.
    case badNumber(String, String)
    /// A plain scalar YAML 1.1 reads as a date.
    case timestamp(String)

    init(_ s: Node.Scalar) {
        guard s.style == .plain || s.style == .any else { self = .string(s.string); return }
        let t = s.string
        if t == "true" { self = .bool(true); return }
        if t == "false" { self = .bool(false); return }
        if CardScalar.matches(t, #"^(y|Y|yes|Yes|YES|n|N|no|No|NO|True|TRUE|False|FALSE|on|On|ON|off|Off|OFF)$"#) {
            self = .yaml11Bool(t); return
        }
        if CardScalar.matches(t, #"^(~|null|Null|NULL|)$"#) { self = .null; return }
        if CardScalar.matches(t, #"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$"#), let d = Double(t) { self = .number(d); return }
        if CardScalar.matches(t, #"^[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)[eE][-+]?[0-9]+$"#) {
            self = .badNumber(t, "exponent notation is not allowed (PyYAML reads \(t) as a string); write it as a plain decimal"); return
        }
        if CardScalar.matches(t, #"^[-+]?0[0-9_]+(\.[0-9_]*)?$"#) {
            self = .badNumber(t, "leading zeros are not allowed (YAML 1.1 reads 010 as octal)"); return
        }
        if CardScalar.matches(t, #"^[-+]?\.(inf|Inf|INF|nan|NaN|NAN)$"#) {
            self = .badNumber(t, ".inf and .nan are not allowed"); return
        }
        if CardScalar.matches(t, #"^([-+]?(0b[01_]+|0o?[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?|\.[0-9_]+|[0-9][0-9_]*\.?[0-9_]*))$"#) {
            self = .badNumber(t, "numbers are plain decimals such as 0.0035, 800 or -1"); return
        }
        if CardScalar.matches(t, #"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(([Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(\.[0-9]*)?[ \t]*(Z|[-+][0-9]{1,2}(:[0-9]{2})?)?)?$"#) { self = .timestamp(t); return }
        self = .string(t)
    }

    /// Compiled patterns, shared (NSRegularExpression matching is thread-safe).
    nonisolated(unsafe) private static var compiled: [String: NSRegularExpression] = [:]
    private static let lock = NSLock()
    static func matches(_ s: String, _ pattern: String) -> Bool {
        lock.lock()
        let re = compiled[pattern] ?? (try? NSRegularExpression(pattern: pattern))
        if let re { compiled[pattern] = re }
        lock.unlock()
        guard let re else { return false }
        return re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil
    }

    /// "the string \"nine\"", "the number 3", … for messages.
    var found: String {
        switch self {
        case let .string(s): "the string \"\(s)\""
        case let .bool(b): "the boolean \(b)"
        case let .number(d): "the number \(formatCardNumber(d))"
        case let .yaml11Bool(s): "\(s), which YAML reads as a boolean"
        case .null: "null"
        case let .badNumber(s, _): "the number \(s)"
        case let .timestamp(s): "\(s), which YAML reads as a date"
        }
    }
}

/// Reads typed values from the nodes of one card, throwing `ProtocolCardError`s.
struct CardReader {
    let path: String
    /// Keys renamed by `ProtocolCard.compose` to get past Yams' own duplicate check:
    /// "line:column" of the placeholder → the key as written.
    var renamedKeys: [String: String] = [:]
    static let placeholder: Unicode.Scalar = "\u{00A7}"

    func error(_ mark: Mark?, _ key: String, _ message: String) -> ProtocolCardError {
        ProtocolCardError(path: path, line: mark?.line ?? 1, column: mark?.column ?? 1, key: key, message: message)
    }
    func error(line: Int, column: Int, _ key: String, _ message: String) -> ProtocolCardError {
        ProtocolCardError(path: path, line: line, column: column, key: key, message: message)
    }

    /// Anchors, aliases and explicit tags are outside the card subset.
    func checkPlainNode(_ node: Node, key: String) throws {
        if node.anchor != nil {
            throw error(node.mark, key, "anchors (&) and aliases (*) are not allowed in protocol cards; write the value out")
        }
        let tag = rawTag(node)
        let implicit: Bool
        switch node {
        case let .scalar(s): implicit = tag.isEmpty || (s.style != .plain && tag == Tag.Name.str.rawValue)
        default: implicit = tag.isEmpty
        }
        if !implicit { throw error(node.mark, key, "tags (\(tag)) are not allowed in protocol cards") }
    }

    /// The tag as written (before Yams resolves it).
    private func rawTag(_ node: Node) -> String {
        switch node {
        case let .scalar(s): s.tag.description
        case let .mapping(m): m.tag.description
        case let .sequence(q): q.tag.description
        case let .alias(a): a.tag.description
        }
    }

    func describe(_ node: Node) -> String {
        switch node {
        case let .scalar(s): CardScalar(s).found
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    /// A mapping's entries after checking the allowed keys (unknown keys, duplicates, merge
    /// keys and non-string keys are errors). `context` reads like "in series 'dwi'".
    func mapping(_ node: Node, key: String, context: String, allowed: [String]) throws -> CardMapping {
        try checkPlainNode(node, key: key)
        guard case let .mapping(m) = node else {
            throw error(node.mark, key, "'\(key)' \(context) must be a mapping (key: value); found \(describe(node))")
        }
        var entries: [String: (key: Node, value: Node)] = [:]
        var order: [String] = []
        for (k, v) in m {
            guard case let .scalar(ks) = k else { throw error(k.mark, key, "keys must be plain words \(context); found \(describe(k))") }
            var name = ks.string
            if let m = k.mark, let original = renamedKeys["\(m.line):\(m.column)"],
               name.unicodeScalars.allSatisfy({ $0 == CardReader.placeholder }) { name = original }
            if name == "<<" { throw error(k.mark, name, "merge keys (<<) are not allowed in protocol cards \(context)") }
            if let first = entries[name] {
                throw error(k.mark, name, "duplicate key '\(name)' \(context) (first at line \(first.key.mark?.line ?? 0)); a key appears at most once per mapping")
            }
            guard allowed.contains(name) else {
                throw error(k.mark, name, "unknown key '\(name)' \(context) (allowed: \(allowed.joined(separator: ", ")))")
            }
            try checkPlainNode(v, key: name)
            entries[name] = (k, v)
            order.append(name)
        }
        let first = m.first.flatMap { $0.key.mark } ?? node.mark
        return CardMapping(reader: self, context: context, mark: first, entries: entries, order: order)
    }
}

/// One mapping of a card, with typed getters. Missing required keys are reported at the
/// mapping's first key; wrong types at the offending value.
struct CardMapping {
    let reader: CardReader
    let context: String
    let mark: Mark?
    let entries: [String: (key: Node, value: Node)]
    let order: [String]

    func has(_ key: String) -> Bool { entries[key] != nil }
    func node(_ key: String) -> Node? { entries[key]?.value }
    func keyMark(_ key: String) -> Mark? { entries[key]?.key.mark ?? mark }
    func location(_ key: String) -> CardLocation {
        let m = keyMark(key)
        return CardLocation(line: m?.line ?? 1, column: m?.column ?? 1)
    }
    func fail(_ key: String, _ message: String) -> ProtocolCardError { reader.error(keyMark(key), key, message) }
    func missing(_ key: String, what: String) -> ProtocolCardError { reader.error(mark, key, "\(what) has no '\(key)'") }
    func wrong(_ key: String, _ expected: String, _ node: Node) -> ProtocolCardError {
        reader.error(node.mark, key, "'\(key)' \(context) must be \(expected); found \(reader.describe(node))")
    }

    private func scalar(_ key: String, _ expected: String) throws -> CardScalar? {
        guard let n = node(key) else { return nil }
        guard case let .scalar(s) = n else { throw wrong(key, expected, n) }
        return CardScalar(s)
    }

    func string(_ key: String, pattern: String? = nil, patternHelp: String = "") throws -> String? {
        guard let n = node(key), let s = try scalar(key, "a string") else { return nil }
        switch s {
        case let .string(t):
            if let p = pattern, !CardScalar.matches(t, p) {
                throw reader.error(n.mark, key, "'\(key)' \(context) must be \(patternHelp); found \"\(t)\"")
            }
            return t
        case let .yaml11Bool(t), let .badNumber(t, _), let .timestamp(t):
            throw reader.error(n.mark, key, "'\(key)' \(context) must be a string; found \(s.found): quote it (\"\(t)\")")
        case let .bool(b):
            throw reader.error(n.mark, key, "'\(key)' \(context) must be a string; found the boolean \(b): quote it (\"\(b)\")")
        case let .number(d):
            throw reader.error(n.mark, key, "'\(key)' \(context) must be a string; found the number \(formatCardNumber(d)): quote it (\"\(formatCardNumber(d))\")")
        case .null:
            throw reader.error(n.mark, key, "'\(key)' \(context) is empty (null); give a value or leave the key out")
        }
    }

    func requiredString(_ key: String, what: String, pattern: String? = nil, patternHelp: String = "") throws -> String {
        guard let s = try string(key, pattern: pattern, patternHelp: patternHelp) else { throw missing(key, what: what) }
        return s
    }

    func bool(_ key: String) throws -> Bool? {
        guard let n = node(key), let s = try scalar(key, "true or false") else { return nil }
        switch s {
        case let .bool(b): return b
        case let .yaml11Bool(t): throw reader.error(n.mark, key, "'\(key)' \(context) must be true or false; found \(t) (booleans are written true or false only)")
        default: throw wrong(key, "true or false", n)
        }
    }

    func number(_ key: String, expected: String = "a number") throws -> Double? {
        guard let n = node(key) else { return nil }
        guard case let .scalar(sc) = n else { throw wrong(key, expected, n) }
        return try reader.number(CardScalar(sc), node: n, key: key, context: context, expected: expected)
    }

    func enumValue<E: RawRepresentable & CaseIterable>(_ key: String, _ type: E.Type) throws -> E? where E.RawValue == String {
        let names = E.allCases.map(\.rawValue)
        let help = "one of " + names.joined(separator: ", ")
        guard let n = node(key), let s = try string(key) else { return nil }
        guard let v = E(rawValue: s) else { throw reader.error(n.mark, key, "'\(key)' \(context) must be \(help); found \"\(s)\"") }
        return v
    }

    func list(_ key: String, expected: String) throws -> [Node]? {
        guard let n = node(key) else { return nil }
        guard case let .sequence(q) = n else { throw wrong(key, expected, n) }
        for item in q { try reader.checkPlainNode(item, key: key) }
        return Array(q)
    }

    /// A spec: a bare number, or a mapping with exactly `value` and `tolerance`.
    func spec(_ key: String, integer: Bool = false) throws -> Spec? {
        guard let n = node(key) else { return nil }
        let expected = integer ? "a whole number or {value, tolerance} of whole numbers" : "a number or {value, tolerance}"
        let spec: Spec
        switch n {
        case let .scalar(sc):
            spec = Spec(try reader.number(CardScalar(sc), node: n, key: key, context: context, expected: expected))
        case .mapping:
            let m = try reader.mapping(n, key: key, context: "in '\(key)' \(context)", allowed: ["value", "tolerance"])
            guard let v = try m.number("value") else { throw m.missing("value", what: "'\(key)' \(context)") }
            guard let t = try m.number("tolerance") else { throw m.missing("tolerance", what: "'\(key)' \(context)") }
            if t < 0 { throw reader.error(m.node("tolerance")?.mark, key, "'\(key)' \(context) has a negative tolerance (\(formatCardNumber(t))); tolerances are >= 0") }
            spec = Spec(v, tolerance: t)
        default:
            throw wrong(key, expected, n)
        }
        if integer && (spec.value != spec.value.rounded() || spec.tolerance != spec.tolerance.rounded()) {
            throw reader.error(n.mark, key, "'\(key)' \(context) counts something: its value and tolerance must be whole numbers; found \(spec)")
        }
        return spec
    }
}

extension CardReader {
    func number(_ s: CardScalar, node: Node, key: String, context: String, expected: String) throws -> Double {
        switch s {
        case let .number(d): return d
        case let .badNumber(t, why): throw error(node.mark, key, "'\(key)' \(context): \(t) is not a card number: \(why)")
        default: throw error(node.mark, key, "'\(key)' \(context) must be \(expected); found \(s.found)")
        }
    }
}
