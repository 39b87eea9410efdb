// Reading BIDS JSON sidecars from files (the decoded type, `BIDSSidecar`, is in CordCore).
import CordCore
import Foundation

extension BIDSSidecar {
    /// Reads and checks a sidecar.
    public static func read(_ path: String) throws -> BIDSSidecar {
        let bytes = try FileAccess.readAll(path)
        let value: JSONValue
        do { value = try JSONDecoder().decode(JSONValue.self, from: Data(bytes)) } catch {
            throw CordIOError.invalidContent(path: path, reason: "is not valid JSON (\(JSONFile.describe(error)))")
        }
        guard case let .object(fields) = value else {
            throw CordIOError.invalidContent(path: path, reason: "should hold a JSON object, not \(value.kind)")
        }
        return try BIDSSidecar(path: path, fields: fields)
    }
}
