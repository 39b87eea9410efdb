// Tab-separated tables with a header row (BIDS participants.tsv, CordQ's own outputs).
import Foundation

/// A TSV table: column names and rows of strings, every row as wide as the header.
public struct TSVTable: Sendable, Equatable {
    public var columns: [String]
    public var rows: [[String]]

    public init(columns: [String], rows: [[String]] = []) {
        self.columns = columns; self.rows = rows
    }
    public func columnIndex(_ name: String) -> Int? { columns.firstIndex(of: name) }
    /// Rows as dictionaries keyed by column name.
    public var records: [[String: String]] {
        rows.map { Dictionary(uniqueKeysWithValues: zip(columns, $0)) }
    }
    public mutating func append(_ row: [String]) {
        precondition(row.count == columns.count, "row has \(row.count) fields, table has \(columns.count) columns")
        rows.append(row)
    }

    /// Reads a TSV; a row whose field count differs from the header's is an error with its line.
    public static func read(_ path: String) throws -> TSVTable {
        let text = try FileAccess.readText(path)
        var lines = TextLines.split(text)
        while let last = lines.last, last.isEmpty { lines.removeLast() }
        guard let head = lines.first, !head.isEmpty else {
            throw CordIOError.invalidContent(path: path, reason: "is empty; a TSV needs a header row")
        }
        let columns = head.split(separator: "\t", omittingEmptySubsequences: false).map { String($0).trimmingCharacters(in: .whitespaces) }
        var rows: [[String]] = []
        for (n, line) in lines.enumerated().dropFirst() where !line.isEmpty {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count == columns.count else {
                throw CordIOError.invalidContent(path: path, reason: "line \(n + 1) has \(f.count) fields but the header has \(columns.count)")
            }
            rows.append(f)
        }
        return TSVTable(columns: columns, rows: rows)
    }

    /// The table as TSV text ("n/a" for empty fields, as BIDS asks).
    public var text: String {
        ([columns] + rows).map { $0.map { $0.isEmpty ? "n/a" : $0 }.joined(separator: "\t") }.joined(separator: "\n") + "\n"
    }
    public func write(to path: String) throws { try FileAccess.writeAtomically(text: text, to: path) }
}

/// Lines of a text file written on any system: LF, CRLF (Windows, Excel exports) or CR line
/// ends, with a UTF-8 byte-order mark dropped. (Swift treats "\r\n" as one Character, so
/// splitting on "\n" alone used to read a CRLF file as a single line.)
public enum TextLines {
    public static func split(_ text: String) -> [String] {
        var t = Substring(text)
        if t.first == "\u{FEFF}" { t = t.dropFirst() }
        return t.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }).map(String.init)
    }
}
