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

    /// Checks a subject already read (e.g. the inventory `cordq process` works from)
    /// against the card given by file path or NAME.
    public func check(inventory: SubjectInventory, protocol nameOrPath: String) throws -> ProtocolReport {
        ProtocolCheck.run(inventory: inventory, card: try load(nameOrPath))
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

/// The card chosen for a subject when none is given (README §9), with the runners-up for
/// the provenance.
public struct CardInference: Sendable {
    /// The winning card's report; nil when no card lets processing go ahead.
    public var chosen: ProtocolReport?
    /// Every card checked, best first: name, whether it can proceed, matched series, and why
    /// it was dropped or ranked lower.
    public var ranking: [(name: String, canProceed: Bool, matched: Int, note: String)]
}

extension ProtocolLibrary {
    /// Reads the subject folder and infers its card (see `infer(inventory:)`).
    public func infer(subject: String) throws -> CardInference {
        var inference = try infer(inventory: SubjectInventory.read(subject))
        inference.chosen?.subjectPath = subject
        return inference
    }

    /// Checks a subject already read against every card: cards whose `manufacturer`
    /// contradicts the sidecars are dropped; of the others, the one with no blocking problem
    /// and the most matched series wins, a vendor card beating a vendor-neutral one on a tie.
    public func infer(inventory: SubjectInventory) throws -> CardInference {
        var reports: [ProtocolReport] = []
        var ranking: [(name: String, canProceed: Bool, matched: Int, note: String)] = []
        for e in try entries() {
            guard let card = try? ProtocolCard.load(e.path) else {
                ranking.append((e.name, false, 0, "invalid card")); continue
            }
            let r = ProtocolCheck.run(inventory: inventory, card: card)
            let matched = r.series.filter { $0.status == .matched }.count
            if r.scanner.contains(where: { $0.key == "manufacturer" && $0.outcome == .deviation }) {
                ranking.append((card.name, false, matched, "dropped: manufacturer contradicts the sidecars"))
            } else {
                reports.append(r)
            }
        }
        func better(_ a: ProtocolReport, _ b: ProtocolReport) -> Bool {
            let ma = a.series.filter { $0.status == .matched }.count, mb = b.series.filter { $0.status == .matched }.count
            if a.canProceed != b.canProceed { return a.canProceed }
            if ma != mb { return ma > mb }
            if (a.card.manufacturer != nil) != (b.card.manufacturer != nil) { return a.card.manufacturer != nil }
            return a.card.name < b.card.name
        }
        reports.sort(by: better)
        let ranked = reports.map { r in
            (r.card.name, r.canProceed, r.series.filter { $0.status == .matched }.count,
             r.canProceed ? "can proceed" : "blocked: " + r.blockers.joined(separator: "; "))
        }
        return CardInference(chosen: reports.first.flatMap { $0.canProceed ? $0 : nil }, ranking: ranked + ranking)
    }
}
