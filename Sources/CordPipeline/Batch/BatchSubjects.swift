// `cordq batch`: which subjects, whether a subject's outputs are complete and current
// (SHA-256 of its inputs), the per-subject records and the dataset table `batch.tsv`.
import CordCore
import CordIO
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum BatchSubjects {
    // MARK: - Which subjects

    /// The participants of the batch, sorted: every `sub-*` folder of the root, or those
    /// `request.participants` names (`01` and `sub-01` both accepted). A name without a folder
    /// is an error naming it.
    public static func list(_ r: BatchRequest) throws -> [String] {
        guard TextFile.isDirectory(r.root) else { throw CordIOError.notFound(path: r.root + " (the BIDS dataset folder)") }
        let folders = try TextFile.listDirectory(r.root).filter { $0.hasPrefix("sub-") && TextFile.isDirectory(r.root + "/" + $0) }
        guard !r.participants.isEmpty else {
            guard !folders.isEmpty else { throw BatchError.noSubjects(root: r.root, detail: "it holds no sub-* folder; is it a BIDS dataset?") }
            return try units(r, folders.sorted())
        }
        let wanted = r.participants.map { $0.hasPrefix("sub-") ? $0 : "sub-" + $0 }
        let unknown = wanted.filter { !folders.contains($0) }
        guard unknown.isEmpty else { throw BatchError.unknownParticipants(root: r.root, ids: unknown) }
        var seen = Set<String>()
        return try units(r, wanted.filter { seen.insert($0).inserted }.sorted())
    }

    /// The batch's units (`BatchUnit`): a subject without `ses-*` folders is one unit; a
    /// subject with sessions gives one unit per session (a pre- and a post-therapy visit are
    /// processed side by side), or only `--session`'s. A session unit is processed into
    /// `derivatives/cordq/<sub>/ses-<label>`, so sessions never replace each other's outputs.
    static func units(_ r: BatchRequest, _ participants: [String]) throws -> [String] {
        var out: [String] = []
        for p in participants {
            let sessions = try SubjectInventory.sessionLabels(of: r.root + "/" + p)
            if sessions.isEmpty {
                out.append(p)
            } else if let s = r.session {
                out.append(BatchUnit.id(p, session: s))
            } else {
                out += sessions.map { BatchUnit.id(p, session: $0) }
            }
        }
        return out
    }

    /// The unit `cordq batch subject` processes for `id`: a unit with a session stays; a bare
    /// `sub-XX` of a subject with sessions becomes `sub-XX_ses-<--session>`, or that of its
    /// only session. A bare subject with several sessions and no `--session` is refused: run
    /// into `derivatives/cordq/sub-XX`, it would replace every session's outputs there.
    public static func unit(_ r: BatchRequest, _ id: String) throws -> String {
        let (participant, session) = BatchUnit.split(id)
        guard session == nil else { return id }
        let path = r.root + "/" + participant
        guard TextFile.isDirectory(path) else { return id }
        let sessions = try SubjectInventory.sessionLabels(of: path)
        if sessions.isEmpty { return id }
        if let s = r.session { return BatchUnit.id(participant, session: s) }
        guard sessions.count == 1 else {
            throw CordError.invalidValue(what: participant, detail: "has sessions \(sessions.map { "ses-" + $0 }.joined(separator: ", ")); name one unit (\(participant)_ses-\(sessions[0])) or give --session")
        }
        return BatchUnit.id(participant, session: sessions[0])
    }

    /// Participant ids from `--participants`: a file (a TSV with a `participant_id` column,
    /// such as participants.tsv, or one id per line; `#` starts a comment) or ids separated by commas.
    public static func parseList(_ text: String) throws -> [String] {
        if TextFile.exists(text) && !TextFile.isDirectory(text) {
            let content = try TextFile.read(text)
            let lines = TextLines.split(content).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && !$0.hasPrefix("#") }
            if let header = lines.first, header.split(separator: "\t").contains("participant_id") {
                let table = try TSVTable.read(text)
                let ids = table.records.compactMap { $0["participant_id"] }.filter { !$0.isEmpty }
                guard !ids.isEmpty else { throw CordIOError.invalidContent(path: text, reason: "lists no participant_id") }
                return ids
            }
            let ids = lines.map { String($0.split(separator: "\t").first ?? "") }
            guard !ids.isEmpty else { throw CordIOError.invalidContent(path: text, reason: "lists no participant") }
            return ids
        }
        let ids = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !ids.isEmpty else { throw CordError.invalidValue(what: "--participants", detail: "names no participant (give ids separated by commas, or a file)") }
        for id in ids where id.contains("/") || id.contains(" ") {
            throw CordError.invalidValue(what: "--participants \(id)", detail: "is neither a participant id nor an existing file")
        }
        return ids
    }

    // MARK: - Inputs and completeness

    /// SHA-256 over the unit's inputs: the relative path and SHA-256 of every file in
    /// `ROOT/<sub>/` and `ROOT/derivatives/labels/<sub>/` (where labels and segmentations are
    /// read; for a session unit without the other sessions' `ses-*` folders), plus the options
    /// that change its outputs (the unit's session, protocol card and its bytes
    /// when it is a file, database, QC) and CordQ's version. Any change means "process again".
    public static func inputsSHA256(_ r: BatchRequest, participant id: String) throws -> String {
        let (participant, unitSession) = BatchUnit.split(id)
        var lines: [String] = ["cordq \(CordQVersion.string)"]
        for (name, base) in [("subject", r.root + "/" + participant), ("labels", r.root + "/derivatives/labels/" + participant)] {
            // One session of several: the other sessions' files do not change this one's outputs.
            for rel in FolderTree.files(base) where unitSession == nil || !rel.hasPrefix("ses-") || rel.hasPrefix("ses-\(unitSession!)/") {
                lines.append("\(name)/\(rel)\t\(try FileChecksum.sha256(base + "/" + rel))")
            }
        }
        lines.append("session\t\(unitSession ?? "")")
        lines.append("protocol\t\(r.protocolName ?? "")")
        if let p = r.protocolName, TextFile.exists(p), !TextFile.isDirectory(p) { lines.append("protocol-file\t\(try FileChecksum.sha256(p))") }
        lines.append("db\t\(r.normativeDatabase.map { TextFile.canonicalPath($0) } ?? "")")
        lines.append("qc\t\(r.qc)")
        return FileChecksum.sha256(text: lines.joined(separator: "\n"))
    }

    /// The output-name prefix of a subject (`sub-01` or `sub-01_ses-2`).
    static func prefix(_ participant: String, session: String?) -> String {
        participant + (session.map { "_ses-" + $0 } ?? "")
    }

    /// Whether the subject's `cordq process` output is complete (its table and provenance
    /// record exist: the folder is moved into place only once everything is written).
    public static func outputComplete(_ r: BatchRequest, participant id: String) -> Bool {
        let (participant, session) = BatchUnit.split(id)
        let out = BatchLayout(root: r.root).output(unit: id) + "/" + prefix(participant, session: session)
        return TextFile.exists(out + "_metrics.tsv") && TextFile.exists(out + "_provenance.json")
    }

    /// The record of a subject, nil when there is none or it cannot be read.
    public static func record(_ layout: BatchLayout, _ participant: String) -> BatchSubjectRecord? {
        let p = layout.record(participant)
        guard TextFile.exists(p) else { return nil }
        return try? JSONFile.read(BatchSubjectRecord.self, from: p)
    }

    /// Every record under `derivatives/cordq/batch/`, by participant.
    public static func records(_ layout: BatchLayout) -> [String: BatchSubjectRecord] {
        let names = (try? TextFile.listDirectory(layout.records)) ?? []
        var out: [String: BatchSubjectRecord] = [:]
        for n in names where n.hasPrefix("sub-") && n.hasSuffix(".json") {
            if let r = record(layout, String(n.dropLast(5))) { out[r.participant] = r }
        }
        return out
    }

    /// Whether `--resume` may skip the subject: its last record says ok with the same inputs
    /// and options, and its outputs are complete.
    public static func isCurrent(_ r: BatchRequest, participant: String, fingerprint: String) -> Bool {
        guard let rec = record(BatchLayout(root: r.root), participant), rec.status == .ok, rec.inputsSHA256 == fingerprint else { return false }
        return outputComplete(r, participant: participant)
    }

    // MARK: - The dataset table

    public static let tableColumns = ["participant_id", "session_id", "status", "seconds", "peak_memory_mib", "error"]

    /// Writes `batch.tsv` (atomically: readers see the old table or the new one, never half).
    /// `rows` first, then any subject with a record that is not among them (earlier runs).
    public static func writeTable(_ rows: [BatchRow], layout: BatchLayout) throws {
        var all = rows
        let listed = Set(rows.map(\.participant))
        for (id, rec) in records(layout).sorted(by: { $0.key < $1.key }) where !listed.contains(id) { all.append(row(rec)) }
        var t = TSVTable(columns: tableColumns)
        for r in all {
            let (participant, session) = BatchUnit.split(r.participant)
            t.append([participant, session.map { "ses-" + $0 } ?? "", r.status.rawValue, r.seconds.map { formatFixed($0, 1) } ?? "",
                      r.peakMemoryMiB.map { formatFixed($0, 0) } ?? "",
                      r.error.replacingOccurrences(of: "\t", with: " ").replacingOccurrences(of: "\n", with: " ")])
        }
        try t.write(to: layout.table)
    }

    static func row(_ rec: BatchSubjectRecord) -> BatchRow {
        BatchRow(participant: rec.participant, status: rec.status, seconds: rec.seconds, peakMemoryMiB: rec.peakMemoryMiB, error: rec.error)
    }

    /// The dataset description CordQ's derivatives folder carries (BIDS derivatives).
    static func writeDatasetDescription(_ layout: BatchLayout) throws {
        try DerivativeDataset.prepare(root: layout.derivatives, name: "CordQ derivatives", version: CordQVersion.string,
                                      rawRoot: layout.root, ignore: DerivativeNames.ignored)
    }

    /// Now as ISO 8601 (UTC).
    static func timestamp() -> String {
        ISO8601DateFormatter().string(from: Date())
    }

    /// This machine's host name.
    static var hostName: String { ProcessInfo.processInfo.hostName }
}
