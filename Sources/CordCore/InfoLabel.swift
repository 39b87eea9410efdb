// The Spinal Cord Toolbox's info_label.txt: the index of a template or atlas folder, as text.
// Reading the file is CordIO's (`InfoLabel.read`); this is the value, its parser and writer.

/// One `info_label.txt` (SCT format, as in PAM50's `template/` and `atlas/`).
///
/// Sections start with a comment line holding `Keyword=IndivLabels`,
/// `Keyword=CombinedLabels` or `Keyword=MAPLabels`; other `#` lines are comments.
/// - IndivLabels lines: `ID, name, file` (e.g. `4, WM left lateral corticospinal tract, PAM50_atlas_04.nii.gz`);
/// - CombinedLabels lines: `ID, name, IDgroup` (e.g. `53, dorsal columns, 0:3`);
/// - MAPLabels lines: `name, IDgroup` (clusters of the MAP estimator, e.g. `CSF, 36`).
/// An IDgroup is a list of ids and inclusive ranges `a:b`, separated by spaces or `;`.
/// Names may hold commas: the id is the first field and the file or group the last.
public struct InfoLabel: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var id: Int, name: String, file: String
        public init(id: Int, name: String, file: String) { self.id = id; self.name = name; self.file = file }
    }
    public struct Group: Sendable, Equatable {
        public var id: Int?, name: String, ids: [Int]
        public init(id: Int?, name: String, ids: [Int]) { self.id = id; self.name = name; self.ids = ids }
    }
    public var title: String
    public var entries: [Entry]
    public var combined: [Group]
    public var mapClusters: [Group]

    public init(title: String, entries: [Entry], combined: [Group] = [], mapClusters: [Group] = []) {
        self.title = title; self.entries = entries; self.combined = combined; self.mapClusters = mapClusters
    }

    /// Parses the text of an info_label.txt; errors name `path` (used only in messages) and the line.
    public static func parse(_ text: String, path: String) throws -> InfoLabel {
        enum Section { case none, individual, combined, map }
        var section = Section.none
        var out = InfoLabel(title: "", entries: [])
        for (n, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }).enumerated() {
            let line = trimmed(raw)
            func fail(_ why: String) -> CordError { .invalidValue(what: path, detail: "line \(n + 1) (\"\(line)\"): \(why)") }
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                if line.contains("Keyword=IndivLabels") { section = .individual }
                else if line.contains("Keyword=CombinedLabels") { section = .combined }
                else if line.contains("Keyword=MAPLabels") { section = .map }
                else if out.title.isEmpty { out.title = trimmed(line.dropFirst(), newlines: false) }
                continue
            }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
                .map { trimmed($0, newlines: false) }
            switch section {
            case .none:
                throw fail("a label line before any Keyword= section header")
            case .individual, .combined:
                guard fields.count >= 3, let id = Int(fields[0]) else { throw fail("expected \"ID, name, \(section == .individual ? "file" : "IDgroup")\"") }
                let name = middle(line)
                guard !name.isEmpty, let last = fields.last, !last.isEmpty else { throw fail("empty name or \(section == .individual ? "file" : "IDgroup")") }
                if section == .individual {
                    guard !out.entries.contains(where: { $0.id == id }) else { throw fail("id \(id) is listed twice") }
                    out.entries.append(Entry(id: id, name: name, file: last))
                } else {
                    out.combined.append(Group(id: id, name: name, ids: try parseIDGroup(last, fail)))
                }
            case .map:
                guard fields.count >= 2 else { throw fail("expected \"name, IDgroup\"") }
                let name = trimmed(line[..<(line.lastIndex(of: ",") ?? line.endIndex)], newlines: false)
                out.mapClusters.append(Group(id: nil, name: name, ids: try parseIDGroup(fields[fields.count - 1], fail)))
            }
        }
        if out.entries.isEmpty { throw CordError.invalidValue(what: path, detail: "lists no labels (no IndivLabels section with \"ID, name, file\" lines)") }
        return out
    }

    /// The text between the first and the last comma, trimmed.
    static func middle(_ line: String) -> String {
        guard let a = line.firstIndex(of: ","), let b = line.lastIndex(of: ","), a < b else { return "" }
        return trimmed(line[line.index(after: a)..<b], newlines: false)
    }

    /// `text` without leading and trailing whitespace, as Foundation's `trimmingCharacters(in:)`
    /// with `.whitespacesAndNewlines` (or `.whitespaces`) trims it.
    ///
    /// Foundation's sets are White_Space (or space separators and tab) plus U+200B zero-width
    /// space; this matched them on every Unicode scalar (checked once against Foundation).
    static func trimmed(_ text: Substring, newlines: Bool = true) -> String {
        func blank(_ u: Unicode.Scalar) -> Bool {
            u == "\u{200B}" || (newlines ? u.properties.isWhitespace : (u == "\t" || u.properties.generalCategory == .spaceSeparator))
        }
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !blank($0) }), let last = scalars.lastIndex(where: { !blank($0) }) else { return "" }
        return String(String.UnicodeScalarView(scalars[first...last]))
    }

    static func parseIDGroup(_ text: String, _ fail: (String) -> CordError) throws -> [Int] {
        var ids: [Int] = []
        for item in text.split(whereSeparator: { $0 == " " || $0 == ";" }) {
            let ends = item.split(separator: ":")
            guard (1...2).contains(ends.count), let a = Int(ends[0]), let b = Int(ends[ends.count - 1]), a <= b, a >= 0 else {
                throw fail("\"\(item)\" is not an id or a range a:b")
            }
            ids.append(contentsOf: a...b)
        }
        if ids.isEmpty { throw fail("empty IDgroup") }
        return ids
    }

    /// The file's text in the same format (what `parse` reads back).
    public var text: String {
        var s = "# \(title)\n# Keyword=IndivLabels (Please DO NOT change this line)\n# ID, name, file\n"
        for e in entries { s += "\(e.id), \(e.name), \(e.file)\n" }
        func group(_ ids: [Int]) -> String {
            var parts: [String] = [], n = 0
            while n < ids.count {
                var m = n
                while m + 1 < ids.count && ids[m + 1] == ids[m] + 1 { m += 1 }
                parts.append(m > n ? "\(ids[n]):\(ids[m])" : "\(ids[n])"); n = m + 1
            }
            return parts.joined(separator: " ")
        }
        if !combined.isEmpty {
            s += "\n# Combined labels\n# Keyword=CombinedLabels (Please DO NOT change this line)\n# ID, name, IDgroup\n"
            for g in combined { s += "\(g.id ?? 0), \(g.name), \(group(g.ids))\n" }
        }
        if !mapClusters.isEmpty {
            s += "\n# Clusters used for the first step of the MAP estimation\n# Keyword=MAPLabels (Please DO NOT change this line)\n# Name, IDgroup\n"
            for g in mapClusters { s += "\(g.name), \(group(g.ids))\n" }
        }
        return s
    }
}
