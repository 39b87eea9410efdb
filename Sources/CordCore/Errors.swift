// Errors raised by the core types, worded for the person running the tool.

/// Core errors. Each message names the input and says what is wrong with it.
public enum CordError: Error, Equatable, Sendable, CustomStringConvertible {
    case gridMismatch(first: String, firstGrid: String, second: String, secondGrid: String)
    case countMismatch(what: String, expected: Int, found: Int, detail: String)
    case invalidValue(what: String, detail: String)
    case emptyMask(name: String)
    case nonFinite(name: String, count: Int)
    case invalidOrientation(String)

    public var description: String {
        switch self {
        case let .gridMismatch(a, ga, b, gb):
            return "\(a) (\(ga)) and \(b) (\(gb)) are not on the same voxel grid"
        case let .countMismatch(what, expected, found, detail):
            return "\(what): expected \(expected), found \(found)\(detail.isEmpty ? "" : " (\(detail))")"
        case let .invalidValue(what, detail):
            return "\(what): \(detail)"
        case let .emptyMask(name):
            return "\(name) is empty: no voxel is inside the mask"
        case let .nonFinite(name, count):
            return "\(name) holds \(count) NaN or infinite value\(count == 1 ? "" : "s")"
        case let .invalidOrientation(code):
            return "'\(code)' is not an orientation code: use three letters, one each of R/L, A/P, S/I (e.g. RPI)"
        }
    }
}
