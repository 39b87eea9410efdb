// `cordq db build DB --bids ROOT`: healthy volunteers of a BIDS dataset into the database,
// from their CordQ derivative tables (processing the subjects that have none).
import CordCore
import CordIO
import CordMetrics
import CordNormative
import Foundation

extension NormativePipeline {
    /// Processes one subject, or one session of it: `subject` is the BIDS subject folder,
    /// `session` the session label (nil for a subject without sessions), `output` the
    /// derivatives folder (`ROOT/derivatives/cordq/sub-…`, or `…/sub-…/ses-…` for a session),
    /// where `sub-…[_ses-…]_metrics.tsv` must appear.
    public typealias SubjectProcessor = @Sendable (_ subject: String, _ session: String?, _ output: String) throws -> Void

    /// What `buildFromBIDS` did, subject by subject.
    public struct BIDSBuildSummary: Sendable {
        public var database: String
        /// Subjects written to the database, in order.
        public var ingested: [String]
        /// Of those, the ones whose table was made by processing in this run.
        public var processed: [String]
        /// Subjects left out on purpose (not healthy), with the reason.
        public var skipped: [(subject: String, reason: String)]
        /// Subjects that could not be processed or ingested, with the reason; the others went on.
        public var failed: [(subject: String, reason: String)]
        public var rows: Int
        /// Ingested subjects without demographics (absent from the participants table).
        public var withoutDemographics: [String]
    }

    /// `cordq process` with its defaults (the project's atlas, labels from
    /// `derivatives/labels/`, every contrast the subject has).
    public static let standardProcessor: SubjectProcessor = { subject, session, output in
        var r = ProcessRequest(subject: subject, output: output)
        r.session = session
        _ = try ProcessPipeline.run(r)
    }

    /// Values of the participants table's `group`/`pathology` column that mark a healthy
    /// volunteer (case-insensitive; an empty cell counts as healthy).
    public static let healthyGroups: Set<String> = ["", "healthy", "hc", "control", "controls", "healthy control", "volunteer"]

    /// The long-form table `cordq process` writes for a subject: `ROOT/derivatives/cordq/<sub>/<sub>_metrics.tsv`;
    /// for one session, as `cordq batch` lays it out: `…/<sub>/ses-<label>/<sub>_ses-<label>_metrics.tsv`.
    public static func derivativeTable(root: String, subject: String, session: String? = nil) -> String {
        guard let session else { return "\(root)/derivatives/cordq/\(subject)/\(subject)_metrics.tsv" }
        return "\(root)/derivatives/cordq/\(subject)/ses-\(session)/\(subject)_ses-\(session)_metrics.tsv"
    }

    /// Where the table of a session may already be: the `cordq batch` layout, or that of
    /// `cordq process --session` into the subject's folder (`…/<sub>/<sub>_ses-<label>_metrics.tsv`).
    static func existingSessionTable(root: String, subject: String, session: String) -> String? {
        [derivativeTable(root: root, subject: subject, session: session),
         "\(root)/derivatives/cordq/\(subject)/\(subject)_ses-\(session)_metrics.tsv"].first(where: TextFile.exists)
    }

    /// Whether the subject, or one of its sessions, has no table yet (it will be processed).
    static func lacksTable(root: String, subject: String) throws -> Bool {
        let sessions = try rawSessions(root: root, subject: subject)
        guard !sessions.isEmpty else { return !TextFile.exists(derivativeTable(root: root, subject: subject)) }
        return sessions.contains { existingSessionTable(root: root, subject: subject, session: $0) == nil }
    }

    /// The subject's `ses-*` labels in the raw dataset, sorted (empty: no sessions).
    static func rawSessions(root: String, subject: String) throws -> [String] {
        try SubjectInventory.sessionLabels(of: root + "/" + subject)
    }

    /// The subject's BIDS sessions file (`sub-…/sub-…_sessions.tsv`: session_id, and age or
    /// acq_time) as session records, with its source; nil when absent or when it has neither
    /// an age nor an acq_time column (a valid BIDS file with nothing CordQ stores).
    static func sessionsFile(root: String, subject: String) throws -> ([SessionRecord], Provenance.Source)? {
        let path = "\(root)/\(subject)/\(subject)_sessions.tsv"
        guard TextFile.exists(path) else { return nil }
        let t = try TSVTable.read(path)
        // Only session_id (and columns CordQ does not store): nothing to keep per session.
        guard t.columns.contains(where: { ["age", "age_years", "age_at_scan", "acq_time"].contains($0.lowercased()) }) else { return nil }
        // The file is per subject: BIDS gives it no participant_id column.
        let columns = t.columns.contains("participant_id") ? t.columns : ["participant_id"] + t.columns
        let rows = t.columns.contains("participant_id") ? t.rows : t.rows.map { [subject] + $0 }
        let records = try SessionTables.parseSessions(columns: columns, rows: rows, source: path)[subject] ?? []
        return (records, .init(path: TextFile.canonicalPath(path), sha256: try FileChecksum.sha256(path)))
    }

    /// The `sub-*` folders of a BIDS dataset, sorted.
    static func bidsSubjects(_ root: String) throws -> [String] {
        guard TextFile.isDirectory(root) else { throw CordIOError.notFound(path: root) }
        let subs = try TextFile.listDirectory(root).filter { $0.hasPrefix("sub-") && TextFile.isDirectory(root + "/" + $0) }.sorted()
        guard !subs.isEmpty else { throw CordIOError.invalidContent(path: root, reason: "holds no sub-* folder (is it a BIDS dataset?)") }
        return subs
    }

    /// `cordq db build DB --bids ROOT`: for every healthy `sub-*` of ROOT (group/pathology
    /// empty or healthy in the participants table; others are skipped), takes
    /// `derivatives/cordq/<sub>/<sub>_metrics.tsv` (for a subject with sessions, every
    /// session's table, `<sub>/ses-<label>/<sub>_ses-<label>_metrics.tsv`, and the ages of
    /// `<sub>/<sub>_sessions.tsv`) when present, else runs `process` (default
    /// `cordq process`) on the subject to make it (with `process` nil such a subject fails), and stores the
    /// subject's rows with its demographics from `participants` (default
    /// ROOT/participants.tsv, optional) and provenance (table and participants SHA-256).
    /// Subjects are processed and stored two at a time (one per core), each stored in its own
    /// transaction: a failing subject is reported and the others go on, and a run killed
    /// part-way leaves the subjects already stored, each complete; a re-run reuses the tables
    /// made before. Summary lists follow the subjects' order. Subjects the reviewer marked
    /// fail or artefact in the QC verdicts (`qcVerdicts`, default
    /// `ROOT/derivatives/cordq/qc/verdicts.json` when present; `QCVerdicts`) are skipped with
    /// the verdict as the reason.
    public static func buildFromBIDS(database: String, root: String, participants: String? = nil,
                                     qcVerdicts: String? = nil,
                                     process: SubjectProcessor? = standardProcessor,
                                     progress: (@Sendable (Int, Int, String) -> Void)? = nil) throws -> BIDSBuildSummary {
        let subjects = try bidsSubjects(root)
        let participantsPath = participants ?? (TextFile.exists(root + "/participants.tsv") ? root + "/participants.tsv" : nil)
        var people: [String: Participant] = [:]
        var participantsSource: Provenance.Source?
        if let path = participantsPath {
            let t = try TSVTable.read(path)
            for p in try Participant.parseTable(columns: t.columns, rows: t.rows, source: path) { people[p.id] = p }
            participantsSource = .init(path: TextFile.canonicalPath(path), sha256: try FileChecksum.sha256(path))
        }
        var summary = BIDSBuildSummary(database: database, ingested: [], processed: [], skipped: [], failed: [], rows: 0,
                                       withoutDemographics: [])
        let verdicts = try qcVerdicts.map { try QCVerdicts.read($0) } ?? QCVerdicts.forDataset(root: root)
        var healthy: [String] = []
        for id in subjects {
            let group = people[id]?.pathology ?? ""
            if !healthyGroups.contains(group.lowercased()) {
                summary.skipped.append((id, "group \(group) in \(participantsPath ?? "participants.tsv")"))
            } else if let why = verdicts?.exclusion(of: id) {
                summary.skipped.append((id, why))
            } else {
                healthy.append(id)
            }
        }
        if process != nil, try healthy.contains(where: { try lacksTable(root: root, subject: $0) }) {
            try prepareDerivatives(root)
        }
        try InputGuard.check(database)
        let db = try NormativeDatabase(path: database)
        let outcomes = ResultSlots<(Int, Bool)>(healthy.count)
        let (known, source, todo) = (people, participantsSource, healthy)
        // Two subjects at a time (processing is mostly serial); each is stored in its own transaction.
        parallelChunks(todo.count) { range, _ in
            for n in range {
                let id = todo[n]
                outcomes.set(n, Result {
                    try ingestSubject(id, root: root, database: db, participant: known[id], participantsSource: source, process: process)
                })
                progress?(outcomes.finished(), todo.count, id)
            }
        }
        for (id, outcome) in zip(healthy, outcomes.results("subject")) {
            switch outcome {
            case let .success((rows, processed)):
                summary.ingested.append(id)
                summary.rows += rows
                if processed { summary.processed.append(id) }
                if people[id] == nil { summary.withoutDemographics.append(id) }
            case let .failure(error):
                summary.failed.append((id, "\(error)"))
            }
        }
        return summary
    }

    /// Processes (when needed) and stores one subject; returns its row count and whether it was processed now.
    /// A subject with `ses-*` folders is stored with every session's table (made by `process`
    /// for the sessions that have none), each table's rows checked to be of that session, and
    /// the ages or acquisition times of its BIDS sessions file.
    static func ingestSubject(_ id: String, root: String, database db: NormativeDatabase, participant: Participant?,
                              participantsSource: Provenance.Source?, process: SubjectProcessor?) throws -> (Int, Bool) {
        var processed = false
        var rows: [MetricRow] = [], sources: [Provenance.Source] = []
        let sessions = try rawSessions(root: root, subject: id)
        for session in sessions.isEmpty ? [nil] : sessions.map(Optional.some) {
            let made = derivativeTable(root: root, subject: id, session: session)
            var table = session.flatMap { existingSessionTable(root: root, subject: id, session: $0) } ?? made
            if !TextFile.exists(table) {
                let what = id + (session.map { " ses-" + $0 } ?? "")
                guard let process else {
                    throw CordError.invalidValue(what: what, detail: "has no table \(made) (run cordq process, or cordq batch, on it first)")
                }
                try process(root + "/" + id, session, "\(root)/derivatives/cordq/\(id)" + (session.map { "/ses-" + $0 } ?? ""))
                guard TextFile.exists(made) else {
                    throw CordError.invalidValue(what: what, detail: "processing finished without writing \(made)")
                }
                table = made
                processed = true
            }
            let t = try TSVTable.read(table)
            let these = try LongFormTable.parse(columns: t.columns, rows: t.rows, source: table).rows
            if let other = these.first(where: { $0.subject != id }) {
                throw CordError.invalidValue(what: table, detail: "holds a row of \(other.subject), not of \(id)")
            }
            if let session, let other = these.first(where: { SessionTables.normalised($0.session) != session }) {
                throw CordError.invalidValue(what: table, detail: "holds a row of session \"\(other.session)\", not of ses-\(session)")
            }
            guard !these.isEmpty else { throw CordError.invalidValue(what: table, detail: "holds no rows") }
            rows += these
            sources.append(Provenance.Source(path: TextFile.canonicalPath(table), sha256: try FileChecksum.sha256(table)))
        }
        let sessionRecords = sessions.isEmpty ? nil : try sessionsFile(root: root, subject: id)
        if let records = sessionRecords?.0 {
            let held = Set(sessions)
            for r in records where !held.contains(SessionTables.normalised(r.session)) {
                throw CordError.invalidValue(what: "\(root)/\(id)/\(id)_sessions.tsv", detail: "lists session \(r.session), which \(id) has no ses-* folder for")
            }
        }
        sources += (participantsSource.map { [$0] } ?? []) + (sessionRecords.map { [$0.1] } ?? [])
        let provenance = Provenance(command: "db build --bids", sources: sources)
        try db.put(SubjectRecord(participant: participant ?? Participant(id: id), rows: rows, provenance: provenance.json,
                                 sessions: sessionRecords?.0 ?? []))
        return (rows.count, processed)
    }

    /// Creates `ROOT/derivatives/cordq/` with its `dataset_description.json` when absent.
    static func prepareDerivatives(_ root: String) throws {
        try DerivativeDataset.prepare(root: root + "/derivatives/cordq", name: "CordQ derivatives", version: CordQVersion.string,
                                      rawRoot: root, ignore: DerivativeNames.ignored)
    }
}
