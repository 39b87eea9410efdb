// Reading an info_label.txt from disk; the value and its text format are CordCore's `InfoLabel`.
import CordCore

extension InfoLabel {
    /// Reads and parses `path`; errors name the file and the line.
    public static func read(_ path: String) throws -> InfoLabel {
        guard TextFile.exists(path) else { throw CordIOError.notFound(path: path) }
        let text = try TextFile.read(path)
        do {
            return try parse(text, path: path)
        } catch let CordError.invalidValue(what, detail) {
            // A file's content error, worded as before: "PATH: line N (…): why".
            throw CordIOError.invalidContent(path: what, reason: detail)
        }
    }
}
