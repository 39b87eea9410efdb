// `cordq db build DB --bids ROOT`: healthy volunteers of a BIDS dataset into the database,
// from their CordQ derivative tables (processing the subjects that have none).
import CordCore
import CordIO
import CordMetrics
import CordNormative
import Foundation

extension NormativePipeline {
    /// Processes one subject: `subject` is the BIDS subject folder, `output` its derivatives
    /// folder (`ROOT/derivatives/cordq/sub-…`), where `sub-…_metrics.tsv` must appear.
    public typealias SubjectProcessor = @Sendable (_ subject: String, _ output: String) throws -> Void

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
    public static let standardProcessor: SubjectProcessor = { subject, output in
        _ = try ProcessPipeline.run(ProcessRequest(subject: subject, output: output))
    }

    /// Values of the participants table's `group`/`pathology` column that mark a healthy
    /// volunteer (case-insensitive; an empty cell counts as healthy).
    public static let healthyGroups: Set<String> = ["", "healthy", "hc", "control", "controls", "healthy control", "volunteer"]

    /// The long-form table `cordq process` writes for a subject: `ROOT/derivatives/cordq/<sub>/<sub>_metrics.tsv`.
    public static func derivativeTable(root: String, subject: String) -> String {
        "\(root)/derivatives/cordq/\(subject)/\(subject)_metrics.tsv"
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
    /// `derivatives/cordq/<sub>/<sub>_metrics.tsv` when present, else runs `process` (default
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
        if process != nil && healthy.contains(where: { !TextFile.exists(derivativeTable(root: root, subject: $0)) }) {
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
    static func ingestSubject(_ id: String, root: String, database db: NormativeDatabase, participant: Participant?,
                              participantsSource: Provenance.Source?, process: SubjectProcessor?) throws -> (Int, Bool) {
        let table = derivativeTable(root: root, subject: id)
        var processed = false
        if !TextFile.exists(table) {
            guard let process else {
                throw CordError.invalidValue(what: id, detail: "has no table \(table) (run cordq process on the subject first)")
            }
            try process(root + "/" + id, "\(root)/derivatives/cordq/\(id)")
            guard TextFile.exists(table) else {
                throw CordError.invalidValue(what: id, detail: "processing finished without writing \(table)")
            }
            processed = true
        }
        let t = try TSVTable.read(table)
        let rows = try LongFormTable.parse(columns: t.columns, rows: t.rows, source: table).rows
        if let other = rows.first(where: { $0.subject != id }) {
            throw CordError.invalidValue(what: table, detail: "holds a row of \(other.subject), not of \(id)")
        }
        guard !rows.isEmpty else { throw CordError.invalidValue(what: table, detail: "holds no rows") }
        let sources = [Provenance.Source(path: TextFile.canonicalPath(table), sha256: try FileChecksum.sha256(table))]
            + (participantsSource.map { [$0] } ?? [])
        let provenance = Provenance(command: "db build --bids", sources: sources)
        try db.put(SubjectRecord(participant: participant ?? Participant(id: id), rows: rows, provenance: provenance.json))
        return (rows.count, processed)
    }

    /// Creates `ROOT/derivatives/cordq/` with its `dataset_description.json` when absent.
    static func prepareDerivatives(_ root: String) throws {
        try DerivativeDataset.prepare(root: root + "/derivatives/cordq", name: "CordQ derivatives", version: CordQVersion.string,
                                      rawRoot: root, ignore: DerivativeNames.ignored)
    }
}
