// The normative database: one SQLite file holding every subject's long-form rows with
// demographics and provenance.
import CordCore
import CordMetrics
import Foundation
import GRDB

/// One subject as the database stores it: who (demographics), what (long-form rows) and
/// where it came from (provenance JSON).
public struct SubjectRecord: Sendable, Equatable {
    public var participant: Participant
    public var rows: [MetricRow]
    /// Provenance as JSON text (see `Provenance`).
    public var provenance: String
    /// The subject's sessions with their age at scan (may be empty).
    public var sessions: [SessionRecord]
    /// The subject's test–retest pairs of sessions (may be empty).
    public var retestPairs: [RetestPair]
    public init(participant: Participant, rows: [MetricRow], provenance: String, sessions: [SessionRecord] = [], retestPairs: [RetestPair] = []) {
        self.participant = participant; self.rows = rows; self.provenance = provenance
        self.sessions = sessions; self.retestPairs = retestPairs
    }
}

/// A stored subject's summary: demographics, how many rows it holds, and when and by which
/// CordQ version it was added (ISO 8601, UTC).
public struct StoredSubject: Sendable, Equatable {
    public var participant: Participant
    public var rowCount: Int
    public var provenance: String
    public var cordqVersion: String
    public var addedAt: String
}

/// A normative database in one SQLite file (WAL journal, foreign keys on). Every subject is
/// written in one transaction: re-adding a subject replaces its demographics and all its
/// rows at once, and a process killed mid-write leaves the previous state (SQLite's atomic
/// commit). The schema is versioned (`schemaVersion`, also in `PRAGMA user_version`); a
/// file written by a newer CordQ is refused rather than misread.
public final class NormativeDatabase: Sendable {
    /// Schema version this code writes and reads.
    public static let schemaVersion = 2
    public let path: String
    /// A pool (WAL, concurrent readers) for writing; a queue for read-only access.
    private let store: any DatabaseWriter
    /// `store` with SQLite errors naming the file.
    private var pool: NamedConnection { NamedConnection(db: store, path: path) }

    /// Opens (creating when absent, unless `readOnly`) the database at `path` and brings its
    /// schema up to date.
    ///
    /// Read-only opening never writes: not the file, not a journal beside it, so a database
    /// on a read-only share or with read-only permissions can be summarised, exported and
    /// used for biomarkers. Before opening for writing, an existing file must pass SQLite's
    /// `PRAGMA quick_check` and be CordQ's (its schema, or an empty file): CordQ never adds
    /// its tables to somebody else's database or writes into a damaged one.
    public init(path: String, readOnly: Bool = false) throws {
        self.path = path
        var config = Configuration()
        config.readonly = readOnly
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(10)
        do {
            if readOnly {
                store = try Self.openForReading(path, config)
            } else {
                if FileManager.default.fileExists(atPath: path) { try Self.checkBeforeWriting(path) }
                store = try DatabasePool(path: path, configuration: config)
            }
            let version = try store.read { try Int.fetchOne($0, sql: "PRAGMA user_version") ?? 0 }
            guard version <= Self.schemaVersion else {
                throw CordError.invalidValue(what: path, detail: "was written with schema version \(version) by a newer CordQ; this one reads up to \(Self.schemaVersion)")
            }
            if !readOnly { try Self.migrator.migrate(store) }
            else {
                try Self.requireCordQSchema(store, path: path, version: version)
            }
        } catch let e as DatabaseError {
            throw CordError.invalidValue(what: path, detail: "cannot be opened as a normative database: \(e.message ?? "\(e)")")
        }
    }

    /// A read-only connection; when SQLite cannot open it read-only in place (a WAL database
    /// whose folder is not writable has nowhere for its shared-memory file) the file is opened
    /// as immutable, which reads it without any side file.
    private static func openForReading(_ path: String, _ config: Configuration) throws -> any DatabaseWriter {
        guard FileManager.default.fileExists(atPath: path) else { throw CordError.invalidValue(what: path, detail: "no such file (a normative database is read only when it exists)") }
        do {
            let q = try DatabaseQueue(path: path, configuration: config)
            _ = try q.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM sqlite_master") }
            return q
        } catch let first as DatabaseError {
            let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
            var allowed = CharacterSet.urlPathAllowed
            allowed.remove(charactersIn: "?#%")
            let escaped = absolute.addingPercentEncoding(withAllowedCharacters: allowed) ?? absolute
            do {
                let q = try DatabaseQueue(path: "file:" + escaped + "?immutable=1", configuration: config)
                _ = try q.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM sqlite_master") }
                return q
            } catch {
                throw first
            }
        }
    }

    /// Refuses, before anything is written, a file that fails `PRAGMA quick_check` or is not
    /// a CordQ normative database (an empty file or an empty SQLite database is accepted).
    private static func checkBeforeWriting(_ path: String) throws {
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        guard size > 0 else { return }
        var config = Configuration()
        config.readonly = true
        let q = try openForReading(path, config)
        let check = try q.read { try String.fetchAll($0, sql: "PRAGMA quick_check") }
        guard check == ["ok"] else {
            throw CordError.invalidValue(what: path, detail: "fails SQLite's integrity check (\(check.prefix(3).joined(separator: "; ").split(separator: "\n").joined(separator: " "))); refusing to write into a damaged database (restore a backup or build a new one)")
        }
        let version = try q.read { try Int.fetchOne($0, sql: "PRAGMA user_version") ?? 0 }
        let tables = try q.read { try String.fetchAll($0, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'grdb_migrations' ORDER BY name") }
        if version == 0 && tables.isEmpty { return }
        try requireCordQSchema(q, path: path, version: version)
    }

    /// A CordQ database has a schema version and its two tables.
    private static func requireCordQSchema(_ db: any DatabaseReader, path: String, version: Int) throws {
        let tables = Set(try db.read { try String.fetchAll($0, sql: "SELECT name FROM sqlite_master WHERE type = 'table'") })
        guard version >= 1, tables.isSuperset(of: ["subjects", "measurements"]) else {
            let found = tables.filter { !$0.hasPrefix("sqlite_") }.sorted()
            throw CordError.invalidValue(what: path, detail: "is not a CordQ normative database (\(version == 0 ? "no CordQ schema" : "schema \(version) without its tables")\(found.isEmpty ? "" : "; it holds the tables " + found.prefix(5).joined(separator: ", "))); CordQ does not read or add its tables to other databases")
        }
    }

    /// Runs a database operation; SQLite errors name the file.
    private func named<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as DatabaseError {
            throw CordError.invalidValue(what: path, detail: "SQLite error: \(e.message ?? "\(e)")")
        }
    }

    /// Schema history. Version 1: `subjects` (one row per participant, demographics and
    /// provenance, `row_count` = rows written with it) and `measurements` (long-form rows,
    /// deleted with their subject).
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE subjects (
                    participant_id TEXT PRIMARY KEY NOT NULL,
                    sex TEXT CHECK (sex IN ('M', 'F')),
                    age_years REAL, height_cm REAL, weight_kg REAL,
                    site TEXT NOT NULL DEFAULT '', manufacturer TEXT NOT NULL DEFAULT '',
                    scanner TEXT NOT NULL DEFAULT '', protocol TEXT NOT NULL DEFAULT '',
                    pathology TEXT NOT NULL DEFAULT '',
                    row_count INTEGER NOT NULL,
                    provenance TEXT NOT NULL, cordq_version TEXT NOT NULL, added_at TEXT NOT NULL);
                CREATE TABLE measurements (
                    participant_id TEXT NOT NULL REFERENCES subjects(participant_id) ON DELETE CASCADE,
                    session TEXT NOT NULL, level TEXT NOT NULL, region TEXT NOT NULL, metric TEXT NOT NULL,
                    value REAL NOT NULL, method TEXT NOT NULL, count INTEGER NOT NULL,
                    UNIQUE (participant_id, session, level, region, metric, method));
                CREATE INDEX measurements_by_metric ON measurements(metric, region, level);
                PRAGMA user_version = 1;
                """)
        }
        m.registerMigration("v2") { db in
            try db.execute(sql: """
                CREATE TABLE sessions (
                    participant_id TEXT NOT NULL REFERENCES subjects(participant_id) ON DELETE CASCADE,
                    session TEXT NOT NULL, age_years REAL, acquired TEXT NOT NULL DEFAULT '',
                    PRIMARY KEY (participant_id, session));
                CREATE TABLE retest_pairs (
                    participant_id TEXT NOT NULL REFERENCES subjects(participant_id) ON DELETE CASCADE,
                    session_a TEXT NOT NULL, session_b TEXT NOT NULL,
                    PRIMARY KEY (participant_id, session_a, session_b));
                PRAGMA user_version = 2;
                """)
        }
        return m
    }

    // MARK: - Writing

    /// Adds a subject, replacing any stored subject of the same id, in one transaction.
    /// Every row must belong to the subject; a repeated session × level × region × metric ×
    /// method is an error (nothing is written).
    public func put(_ record: SubjectRecord) throws {
        let id = record.participant.id
        if let other = record.rows.first(where: { $0.subject != id }) {
            throw CordError.invalidValue(what: "subject \(id)", detail: "holds a row of subject \(other.subject)")
        }
        var seen = Set<[String]>()
        for r in record.rows where !seen.insert([r.session, r.level, r.region, r.metric, r.method]).inserted {
            throw CordError.invalidValue(what: "subject \(id)", detail: "has two values for \(r.metric) in \(r.region) at \(r.level)\(r.session.isEmpty ? "" : " session \(r.session)")\(r.method.isEmpty ? "" : " (\(r.method))")")
        }
        let sessionLabels = Set(record.rows.map { SessionTables.normalised($0.session) })
        for pair in record.retestPairs {
            guard pair.participant == id else { throw CordError.invalidValue(what: "subject \(id)", detail: "holds a test–retest pair of subject \(pair.participant)") }
            for s in [pair.first, pair.second] where !sessionLabels.contains(SessionTables.normalised(s)) {
                throw CordError.invalidValue(what: "subject \(id)", detail: "test–retest pair \(pair.first)–\(pair.second) names session \(s), which has no rows (sessions with rows: \(sessionLabels.sorted().joined(separator: ", ")))")
            }
        }
        var seenSessions = Set<String>()
        for ses in record.sessions where !seenSessions.insert(SessionTables.normalised(ses.session)).inserted {
            throw CordError.invalidValue(what: "subject \(id)", detail: "lists session \(ses.session) twice")
        }
        let p = record.participant
        // A missing value (NaN, `n/a` in tables) is not stored: never as 0, never as NULL.
        let stored = record.rows.filter { $0.value.isFinite }
        let now = ISO8601DateFormatter().string(from: Date())
        try named { try pool.write { db in
            try db.execute(sql: "DELETE FROM measurements WHERE participant_id = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM subjects WHERE participant_id = ?", arguments: [id])
            try db.execute(sql: """
                INSERT INTO subjects (participant_id, sex, age_years, height_cm, weight_kg, site, manufacturer, scanner,
                                      protocol, pathology, row_count, provenance, cordq_version, added_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [id, p.sex, p.age, p.height, p.weight, p.site, p.manufacturer, p.scanner, p.protocolName,
                                 p.pathology, stored.count, record.provenance, CordQVersion.string, now])
            let insert = try db.cachedStatement(sql: """
                INSERT INTO measurements (participant_id, session, level, region, metric, value, method, count)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for r in stored {
                try insert.execute(arguments: [id, r.session, r.level, r.region, r.metric, r.value, r.method, r.count])
            }
            for ses in record.sessions {
                try db.execute(sql: "INSERT INTO sessions (participant_id, session, age_years, acquired) VALUES (?, ?, ?, ?)",
                               arguments: [id, ses.session, ses.ageYears, ses.acquired])
            }
            for pair in record.retestPairs {
                try db.execute(sql: "INSERT OR IGNORE INTO retest_pairs (participant_id, session_a, session_b) VALUES (?, ?, ?)",
                               arguments: [id, pair.first, pair.second])
            }
        } }
    }

    /// Removes a subject and its rows; false when it was not stored.
    @discardableResult
    public func remove(subject id: String) throws -> Bool {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM measurements WHERE participant_id = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM subjects WHERE participant_id = ?", arguments: [id])
            return db.changesCount > 0
        }
    }

    // MARK: - Reading

    /// Every stored subject, sorted by id.
    public func subjects() throws -> [StoredSubject] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM subjects ORDER BY participant_id").map { r in
                StoredSubject(participant: Participant(id: r["participant_id"], sex: r["sex"], age: r["age_years"],
                                                       height: r["height_cm"], weight: r["weight_kg"], site: r["site"],
                                                       manufacturer: r["manufacturer"], scanner: r["scanner"],
                                                       protocolName: r["protocol"], pathology: r["pathology"]),
                              rowCount: r["row_count"], provenance: r["provenance"], cordqVersion: r["cordq_version"],
                              addedAt: r["added_at"])
            }
        }
    }

    /// Every stored session (age at scan, acquisition time), by subject then session.
    public func sessions() throws -> [String: [SessionRecord]] {
        try pool.read { db in
            var out: [String: [SessionRecord]] = [:]
            guard try db.tableExists("sessions") else { return out }   // a schema-1 file opened read-only
            for r in try Row.fetchAll(db, sql: "SELECT * FROM sessions ORDER BY participant_id, session") {
                out[r["participant_id"], default: []].append(SessionRecord(session: r["session"], ageYears: r["age_years"], acquired: r["acquired"]))
            }
            return out
        }
    }

    /// Every stored test–retest pair, sorted.
    public func retestPairs() throws -> [RetestPair] {
        try pool.read { db in
            guard try db.tableExists("retest_pairs") else { return [] }
            return try Row.fetchAll(db, sql: "SELECT * FROM retest_pairs ORDER BY participant_id, session_a, session_b").map {
                RetestPair(participant: $0["participant_id"], first: $0["session_a"], second: $0["session_b"])
            }
        }
    }

    /// Long-form rows, all or those of one metric, sorted by subject, session, metric,
    /// region and level.
    public func rows(metric: String? = nil, subject: String? = nil) throws -> LongFormTable {
        var conditions: [String] = [], arguments: [(any DatabaseValueConvertible)?] = []
        if let m = metric { conditions.append("metric = ?"); arguments.append(m) }
        if let s = subject { conditions.append("participant_id = ?"); arguments.append(s) }
        let whereClause = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        return try pool.read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM measurements\(whereClause) ORDER BY participant_id, session, metric, region, level",
                                        arguments: StatementArguments(arguments))
            return LongFormTable(rows.map { r in
                MetricRow(subject: r["participant_id"], session: r["session"], level: r["level"], region: r["region"],
                          metric: r["metric"], value: r["value"], method: r["method"], count: r["count"])
            })
        }
    }

    /// Subjects whose stored rows differ in number from the count written with them (an
    /// empty list for a consistent database), with both numbers.
    public func incompleteSubjects() throws -> [(subject: String, expected: Int, found: Int)] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT s.participant_id AS id, s.row_count AS expected, COUNT(m.participant_id) AS found
                FROM subjects s LEFT JOIN measurements m ON m.participant_id = s.participant_id
                GROUP BY s.participant_id HAVING expected != found
                """).map { ($0["id"], $0["expected"], $0["found"]) }
        }
    }

    /// Number of subjects and of rows.
    public func counts() throws -> (subjects: Int, rows: Int) {
        try pool.read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM subjects") ?? 0,
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM measurements") ?? 0)
        }
    }

    /// The journal mode SQLite reports ("wal").
    public func journalMode() throws -> String {
        try pool.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") ?? "" }
    }
    /// The schema version stored in the file.
    public func storedSchemaVersion() throws -> Int {
        try pool.read { try Int.fetchOne($0, sql: "PRAGMA user_version") ?? 0 }
    }
}

/// A connection whose SQLite errors name the database file.
private struct NamedConnection {
    let db: any DatabaseWriter
    let path: String
    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try db.read(body) } catch let e as DatabaseError {
            throw CordError.invalidValue(what: path, detail: "SQLite error: \(e.message ?? "\(e)")")
        }
    }
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try db.write(body) } catch let e as DatabaseError {
            throw CordError.invalidValue(what: path, detail: "SQLite error: \(e.message ?? "\(e)")")
        }
    }
}

extension NormativeDatabase {
    /// Normative models of every stored metric (or one), built from all stored subjects.
    public func models(metric: String? = nil) throws -> [NormativeModel] {
        NormativeModels.build(rows: try rows(metric: metric).rows, participants: try subjects().map(\.participant))
    }
}
