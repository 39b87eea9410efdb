// Reading and writing JSON files: CordQ's own outputs and typed inputs.
import CordCore
import Foundation

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
