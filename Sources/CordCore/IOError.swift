// Errors of file reading and writing, each naming the file and the problem. In CordCore
// because the pure BIDS types (sidecars, inventories) decoded here report with them too.

/// File-level errors. Messages name the file and say what is wrong in plain words.
public enum CordIOError: Error, Equatable, Sendable, CustomStringConvertible {
    case notFound(path: String)
    case unreadable(path: String, reason: String)
    case corrupt(path: String, reason: String)
    case truncated(path: String, expectedBytes: Int, foundBytes: Int)
    case notNIfTI(path: String, reason: String)
    case unsupported(path: String, reason: String)
    case invalidContent(path: String, reason: String)
    case missingField(path: String, key: String, expected: String)
    case wrongType(path: String, key: String, expected: String, found: String)
    case writeFailed(path: String, reason: String)
    case wouldOverwriteInput(path: String)

    public var description: String {
        switch self {
        case let .notFound(p): return "\(p): no such file"
        case let .unreadable(p, r): return "\(p): cannot be read (\(r))"
        case let .corrupt(p, r): return "\(p): the file is corrupt (\(r))"
        case let .truncated(p, e, f):
            return "\(p): the file is truncated: its header describes \(e) bytes of image data but only \(f) are present"
        case let .notNIfTI(p, r): return "\(p): not a NIfTI file (\(r))"
        case let .unsupported(p, r): return "\(p): \(r)"
        case let .invalidContent(p, r): return "\(p): \(r)"
        case let .missingField(p, k, e): return "\(p): the field \"\(k)\" is missing (expected \(e))"
        case let .wrongType(p, k, e, f): return "\(p): the field \"\(k)\" should be \(e) but is \(f)"
        case let .writeFailed(p, r): return "\(p): could not be written (\(r)); nothing was left behind"
        case let .wouldOverwriteInput(p): return "\(p): refusing to overwrite an input file; choose another output path"
        }
    }
}
