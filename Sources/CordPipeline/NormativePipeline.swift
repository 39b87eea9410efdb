// `cordq db …`: building, extending, summarising and exporting the normative database.
import CordCore
import CordIO
import CordMetrics
import CordNormative

/// The normative database commands. Every subject is written in its own transaction, so an
/// interrupted build keeps the subjects already written, each complete; re-running replaces.
public enum NormativePipeline {
    /// What an ingest wrote.
    public struct IngestSummary: Sendable {
        public var database: String
        public var subjects: [String]
        public var rows: Int
        /// Subjects stored without any demographics (not in the participants table).
        public var withoutDemographics: [String]
    }

    /// `cordq db build`: ingests pre-computed long-form tables (files, or folders whose `.tsv`
    /// files are read, `participants.tsv` excepted) with demographics from a BIDS-style
    /// participants table. The database is created when absent; stored subjects that appear
    /// again are replaced. `progress` is called after each subject.
    ///
    /// `sessions` (a table of participant_id, session_id, age at scan, acq_time) stores each
    /// session's age; `retest` (participant_id, session_a, session_b) declares test–retest
    /// pairs, from which the within-subject SD is estimated (`TestRetest.estimate(_:pairs:)`)
    /// for the reliable-change index of `cordq longitudinal --db`. Both are checked against the
    /// tables before anything is written.
    public static func build(database: String, tables: [String], participants: String?, sessions: String? = nil, retest: String? = nil,
                             progress: ((Int, Int, String) -> Void)? = nil) throws -> IngestSummary {
        let files = try tableFiles(tables)
        let people = try participants.map { path in
            let t = try TSVTable.read(path)
            return (path, try Participant.parseTable(columns: t.columns, rows: t.rows, source: path))
        }
        let extra = try sessionExtras(sessions: sessions, retest: retest)
        return try ingest(database: database, files: files, participants: people, only: nil, command: "db build", extras: extra, progress: progress)
    }

    /// Sessions and test–retest pairs per subject from the `--sessions` and `--retest` tables.
    static func sessionExtras(sessions: String?, retest: String?) throws -> SessionExtras {
        var out = SessionExtras()
        if let path = sessions {
            let t = try TSVTable.read(path)
            out.sessions = try SessionTables.parseSessions(columns: t.columns, rows: t.rows, source: path)
            out.sources.append(.init(path: TextFile.canonicalPath(path), sha256: try FileChecksum.sha256(path)))
        }
        if let path = retest {
            let t = try TSVTable.read(path)
            out.pairs = Dictionary(grouping: try SessionTables.parsePairs(columns: t.columns, rows: t.rows, source: path), by: \.participant)
            out.sources.append(.init(path: TextFile.canonicalPath(path), sha256: try FileChecksum.sha256(path)))
            out.pairsSource = path
        }
        return out
    }

    struct SessionExtras {
        var sessions: [String: [SessionRecord]] = [:]
        var pairs: [String: [RetestPair]] = [:]
        var sources: [Provenance.Source] = []
        var pairsSource: String?
    }

    /// `cordq db add`: adds or replaces the subjects of one or more long-form tables. With
    /// `participant`, only that subject's rows are added, with those demographics; otherwise
    /// every subject in the tables, with demographics from `participants` when given.
    public static func add(database: String, tables: [String], participants: String?, participant: Participant?) throws -> IngestSummary {
        let files = try tableFiles(tables)
        var people: (String, [Participant])?
        if let p = participant { try p.checkPlausible(source: "command line"); people = ("command line", [p]) }
        else if let path = participants {
            let t = try TSVTable.read(path)
            people = (path, try Participant.parseTable(columns: t.columns, rows: t.rows, source: path))
        }
        return try ingest(database: database, files: files, participants: people, only: participant?.id, command: "db add", progress: nil)
    }

    /// `cordq db import-spine-generic`: the spine-generic per-level wide table (demographics in
    /// its own columns) as long-form rows, one subject per transaction.
    public static func importSpineGeneric(database: String, file: String,
                                          progress: ((Int, Int, String) -> Void)? = nil) throws -> IngestSummary {
        let t = try TSVTable.read(file)
        let (people, table) = try SpineGenericTable.parse(columns: t.columns, rows: t.rows, source: file)
        let source = Provenance.Source(path: TextFile.canonicalPath(file), sha256: try FileChecksum.sha256(file))
        let provenance = Provenance(command: "db import-spine-generic", sources: [source]).json
        let bySubject = Dictionary(grouping: table.rows, by: \.subject)
        try InputGuard.check(database)
        let db = try NormativeDatabase(path: database)
        var written: [String] = []
        for (n, p) in people.enumerated() {
            guard let rows = bySubject[p.id], !rows.isEmpty else { continue }
            try db.put(SubjectRecord(participant: p, rows: rows, provenance: provenance))
            written.append(p.id)
            progress?(n + 1, people.count, p.id)
        }
        return IngestSummary(database: database, subjects: written, rows: table.rows.count, withoutDemographics: [])
    }

    /// Expands folders to their `.tsv` files (sorted, `participants.tsv` and `batch.tsv` skipped) and, in a
    /// derivatives folder, the `sub-*/…_metrics.tsv` and `sub-*/ses-*/…_metrics.tsv` tables
    /// `cordq process` and `cordq batch` write.
    static func tableFiles(_ paths: [String]) throws -> [String] {
        var out: [String] = []
        for p in paths {
            if TextFile.isDirectory(p) {
                let entries = try TextFile.listDirectory(p).sorted()
                // participants.tsv and the batch table (`cordq batch`'s batch.tsv) are not long-form tables.
                var found = entries.filter { $0.hasSuffix(".tsv") && $0 != "participants.tsv" && $0 != "batch.tsv" }.map { p + "/" + $0 }
                for sub in entries where sub.hasPrefix("sub-") && TextFile.isDirectory(p + "/" + sub) {
                    let inside = try TextFile.listDirectory(p + "/" + sub).sorted()
                    found += inside.filter { $0.hasSuffix("_metrics.tsv") }.map { "\(p)/\(sub)/\($0)" }
                    // Sessions processed by `cordq batch`: `sub-*/ses-*/…_metrics.tsv`.
                    for ses in inside where ses.hasPrefix("ses-") && TextFile.isDirectory("\(p)/\(sub)/\(ses)") {
                        found += try TextFile.listDirectory("\(p)/\(sub)/\(ses)").sorted().filter { $0.hasSuffix("_metrics.tsv") }.map { "\(p)/\(sub)/\(ses)/\($0)" }
                    }
                }
                guard !found.isEmpty else { throw CordError.invalidValue(what: p, detail: "holds no .tsv table (nor sub-*/*_metrics.tsv)") }
                out += found
            } else {
                guard TextFile.exists(p) else { throw CordIOError.notFound(path: p) }
                out.append(p)
            }
        }
        guard !out.isEmpty else { throw CordError.invalidValue(what: "--tables", detail: "name at least one table or folder") }
        return out
    }

    /// Reads every table first (so a malformed one stops the run before anything is written),
    /// then writes subject by subject.
    static func ingest(database: String, files: [String], participants: (String, [Participant])?, only: String?,
                       command: String, extras: SessionExtras = SessionExtras(), progress: ((Int, Int, String) -> Void)?) throws -> IngestSummary {
        var rowsBySubject: [String: [MetricRow]] = [:], sourcesBySubject: [String: [Provenance.Source]] = [:]
        for f in files {
            let t = try TSVTable.read(f)
            let table = try LongFormTable.parse(columns: t.columns, rows: t.rows, source: f)
            let source = Provenance.Source(path: TextFile.canonicalPath(f), sha256: try FileChecksum.sha256(f))
            for (subject, rows) in Dictionary(grouping: table.rows, by: \.subject) where only == nil || subject == only {
                rowsBySubject[subject, default: []] += rows
                sourcesBySubject[subject, default: []].append(source)
            }
        }
        if let id = only, rowsBySubject[id] == nil {
            throw CordError.invalidValue(what: files.joined(separator: ", "), detail: "holds no row of \(id)")
        }
        guard !rowsBySubject.isEmpty else { throw CordError.invalidValue(what: files.joined(separator: ", "), detail: "hold no rows") }
        var people: [String: Participant] = [:]
        var participantsSource: Provenance.Source?
        if let (path, list) = participants {
            people = Dictionary(list.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            if TextFile.exists(path) { participantsSource = .init(path: TextFile.canonicalPath(path), sha256: try FileChecksum.sha256(path)) }
        }
        // Every declared pair must name sessions the tables hold (checked before writing).
        for (id, pairs) in extras.pairs {
            guard let rows = rowsBySubject[id] else {
                throw CordError.invalidValue(what: extras.pairsSource ?? "--retest", detail: "lists \(id), which no table holds")
            }
            let held = Set(rows.map { SessionTables.normalised($0.session) })
            for pair in pairs {
                for s in [pair.first, pair.second] where !held.contains(SessionTables.normalised(s)) {
                    throw CordError.invalidValue(what: extras.pairsSource ?? "--retest", detail: "pairs \(id) \(pair.first)–\(pair.second), but the tables have no rows of session \(s) (\(id) has \(held.sorted().joined(separator: ", ")))")
                }
            }
        }
        try InputGuard.check(database)
        let db = try NormativeDatabase(path: database)
        let subjects = rowsBySubject.keys.sorted()
        var missing: [String] = [], total = 0
        for (n, id) in subjects.enumerated() {
            let rows = rowsBySubject[id] ?? []
            if people[id] == nil { missing.append(id) }
            let provenance = Provenance(command: command, sources: (sourcesBySubject[id] ?? []) + (participantsSource.map { [$0] } ?? []) + extras.sources)
            try db.put(SubjectRecord(participant: people[id] ?? Participant(id: id), rows: rows, provenance: provenance.json,
                                     sessions: extras.sessions[id] ?? [], retestPairs: extras.pairs[id] ?? []))
            total += rows.count
            progress?(n + 1, subjects.count, id)
        }
        return IngestSummary(database: database, subjects: subjects, rows: total, withoutDemographics: missing)
    }

    /// Opens an existing database for reading; a clear error when the file is absent.
    static func open(_ database: String) throws -> NormativeDatabase {
        guard TextFile.exists(database) else { throw CordIOError.notFound(path: database) }
        InputGuard.protect(database)
        return try NormativeDatabase(path: database, readOnly: true)
    }
}
