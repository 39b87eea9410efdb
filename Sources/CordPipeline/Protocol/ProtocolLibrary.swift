// Where cards are found at run time, `protocol list`, `protocol show` and the entry point of
// `protocol check`.
import CordIO
import Foundation

/// The folders protocol cards are looked up in, and the commands built on them.
public struct ProtocolLibrary: Sendable {
    /// Folders searched for `NAME.yaml`, in order (the first that has the card wins).
    public var folders: [String]

    public init(folders: [String]) { self.folders = folders }

    /// (1) `$CORDQ_PROTOCOLS` when set, (2) the first `protocols/` folder found walking up
    /// from the executable's folder (so `.build/release/cordq` finds the repository's),
    /// (3) `./protocols`.
    public static var standard: ProtocolLibrary {
        var folders: [String] = []
        if let env = ProcessInfo.processInfo.environment["CORDQ_PROTOCOLS"], !env.isEmpty { folders.append(env) }
        if let exe = TextFile.executablePath {
            var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
            while dir.path != "/" && !dir.path.isEmpty {
                if TextFile.isDirectory(dir.path + "/protocols") { folders.append(dir.path + "/protocols"); break }
                dir.deleteLastPathComponent()
            }
        }
        folders.append(FileManager.default.currentDirectoryPath + "/protocols")
        var seen = Set<String>()
        return ProtocolLibrary(folders: folders.filter { seen.insert(URL(fileURLWithPath: $0).standardizedFileURL.path).inserted })
    }

    /// Whether `--protocol` names a file rather than a card name.
    public static func isPath(_ s: String) -> Bool { s.contains("/") || s.hasSuffix(".yaml") || s.hasSuffix(".yml") }

    /// The path of a card given by file path or NAME; the error lists the folders searched.
    public func locate(_ nameOrPath: String) throws -> String {
        if Self.isPath(nameOrPath) {
            guard TextFile.exists(nameOrPath) else { throw CordIOError.notFound(path: nameOrPath) }
            return nameOrPath
        }
        for f in folders where TextFile.exists(f + "/" + nameOrPath + ".yaml") { return f + "/" + nameOrPath + ".yaml" }
        let known = (try? entries().map(\.name)) ?? []
        throw ProtocolLookupError(name: nameOrPath, searched: folders, available: Array(Set(known)).sorted())
    }

    /// Reads and validates the card given by file path or NAME.
    public func load(_ nameOrPath: String) throws -> ProtocolCard { try ProtocolCard.load(try locate(nameOrPath)) }

    /// Every `*.yaml` in the folders (a name found in an earlier folder hides later ones).
    public func entries() throws -> [(name: String, path: String)] {
        var out: [(String, String)] = []
        var seen = Set<String>()
        for f in folders where TextFile.isDirectory(f) {
            for file in try TextFile.listDirectory(f) where file.hasSuffix(".yaml") {
                let name = String(file.dropLast(5))
                if seen.insert(name).inserted { out.append((name, f + "/" + file)) }
            }
        }
        return out.sorted { $0.0 < $1.0 }
    }

    // MARK: - Commands

    /// `protocol list`: one line per card (name, title, vendor, series count), invalid cards
    /// with their error. `allValid` is false when any card is invalid.
    public func list() throws -> (text: String, allValid: Bool) {
        let found = try entries()
        var lines = ["Protocol cards (searched: \(folders.joined(separator: ", "))):"]
        if found.isEmpty { lines.append("  none found") }
        var allValid = true
        let width = found.map(\.name.count).max() ?? 0
        for e in found {
            do {
                let c = try ProtocolCard.load(e.path)
                let req = c.series.filter(\.required).count
                let vendor = c.manufacturer.map { ", \($0)" } ?? ", any vendor"
                lines.append("  \(ProtocolReport.pad(e.name, width))  \(c.title)  [\(c.series.count) series, \(req) required\(vendor)]")
            } catch {
                allValid = false
                lines.append("  \(ProtocolReport.pad(e.name, width))  INVALID: \(error)")
            }
        }
        return (lines.joined(separator: "\n"), allValid)
    }

    /// `protocol show NAME`: the card as it will be checked.
    public func show(_ nameOrPath: String) throws -> String { try load(nameOrPath).summary }

    /// `protocol check SUBJECT --protocol NAME_OR_FILE`.
    public func check(subject: String, protocol nameOrPath: String) throws -> ProtocolReport {
        let card = try load(nameOrPath)
        return try ProtocolCheck.run(subject: subject, card: card)
    }
}

/// A card NAME that is in none of the searched folders.
public struct ProtocolLookupError: Error, Sendable, CustomStringConvertible {
    public var name: String
    public var searched: [String]
    public var available: [String]
    public var description: String {
        "no protocol card named '\(name)'; searched \(searched.map { $0 + "/" + name + ".yaml" }.joined(separator: ", "))"
            + (available.isEmpty ? "" : ". Available: \(available.joined(separator: ", "))")
            + ". Give a path to a .yaml file, or set CORDQ_PROTOCOLS to the folder of your cards."
    }
}
