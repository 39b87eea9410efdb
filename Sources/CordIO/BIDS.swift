// A BIDS dataset: its subjects, each read once into a `SubjectInventory`, and `participants.tsv`.
import CordCore
import Foundation

/// A BIDS dataset: its subjects, each read once, and `participants.tsv`.
public struct BIDSDataset: Sendable {
    /// The dataset folder.
    public var root: String
    public var subjects: [SubjectInventory]
    /// Rows of `participants.tsv` keyed by `participant_id` (empty when the file is absent).
    public var participants: [String: [String: String]]

    /// Reads every `sub-*` folder of `root` and the participants table.
    public static func load(_ root: String) throws -> BIDSDataset {
        let entries = try BIDSListing.names(root)
        let subs = try entries.filter { $0.hasPrefix("sub-") }.sorted().map { try SubjectInventory.read(root + "/" + $0) }
        var participants: [String: [String: String]] = [:]
        let tsv = root + "/participants.tsv"
        if FileManager.default.fileExists(atPath: tsv) {
            let table = try TSVTable.read(tsv)
            guard table.columnIndex("participant_id") != nil else {
                throw CordIOError.missingField(path: tsv, key: "participant_id", expected: "a column naming each subject (sub-…)")
            }
            for r in table.records { if let id = r["participant_id"] { participants[id] = r } }
        }
        return BIDSDataset(root: root, subjects: subs, participants: participants)
    }
}
