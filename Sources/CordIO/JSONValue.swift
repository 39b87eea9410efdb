// A JSON value that keeps its type, so sidecar fields can be checked precisely.
import Foundation

/// Any JSON value, decoded strictly (true is a Bool, never the number 1).
public enum JSONValue: Sendable, Equatable, Codable, CustomStringConvertible {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case let .bool(b): try c.encode(b)
        case let .number(d): try c.encode(d)
        case let .string(s): try c.encode(s)
        case let .array(a): try c.encode(a)
        case let .object(o): try c.encode(o)
        }
    }
    /// The JSON kind in words, for error messages.
    public var kind: String {
        switch self {
        case .null: "null"; case .bool: "a boolean"; case .number: "a number"; case .string: "a string"
        case .array: "a list"; case .object: "an object"
        }
    }
    public var description: String {
        switch self {
        case .null: "null"
        case let .bool(b): "\(b)"
        case let .number(d): d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : "\(d)"
        case let .string(s): "\"\(s)\""
        case let .array(a): "[" + a.map(\.description).joined(separator: ", ") + "]"
        case let .object(o): "{" + o.keys.sorted().map { "\"\($0)\": \(o[$0]!)" }.joined(separator: ", ") + "}"
        }
    }
}

/// JSON encoding for CordQ's own outputs (sorted keys, pretty) — only CordIO writes files.
public enum JSONFile {
    public static func write<T: Encodable>(_ value: T, to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data: Data
        do { data = try enc.encode(value) } catch {
            throw CordIOError.writeFailed(path: path, reason: "cannot encode JSON: \(error)")
        }
        try FileAccess.writeAtomically(Array(data) + [10], to: path)
    }
    public static func read<T: Decodable>(_ type: T.Type, from path: String) throws -> T {
        let bytes = try FileAccess.readAll(path)
        do { return try JSONDecoder().decode(T.self, from: Data(bytes)) } catch {
            throw CordIOError.invalidContent(path: path, reason: "is not valid JSON of the expected form (\(describe(error)))")
        }
    }
    static func describe(_ error: Error) -> String {
        switch error {
        case let DecodingError.dataCorrupted(ctx): return ctx.debugDescription
        case let DecodingError.keyNotFound(k, _): return "missing \"\(k.stringValue)\""
        case let DecodingError.typeMismatch(_, ctx): return "wrong type at \(ctx.codingPath.map(\.stringValue).joined(separator: "."))"
        case let DecodingError.valueNotFound(_, ctx): return "missing value at \(ctx.codingPath.map(\.stringValue).joined(separator: "."))"
        default: return "\(error)"
        }
    }
}
