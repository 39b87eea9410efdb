import Foundation
import GRDB
import Testing
import CordTestSupport
@testable import CordCore
@testable import CordMetrics
@testable import CordNormative

/// Issue #23: CordQ never writes into a database that is not its own or that fails SQLite's
/// integrity check, and SQLite errors name the file.
@Suite struct DatabaseSafetyTests {
    static func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    static func record(_ id: String) -> SubjectRecord {
        SubjectRecord(participant: Participant(id: id, sex: "F", age: 40),
                      rows: (2...7).map { MetricRow(subject: id, level: "C\($0)", region: "cord", metric: "csa_mm2", value: 70 + Double($0), method: "morphometry", count: 10) },
                      provenance: "{}")
    }

    @Test func anotherApplicationsDatabaseIsNeitherReadNorWritten() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let path = dir + "/clinic.sqlite"
        do {
            let q = try DatabaseQueue(path: path)
            try q.write { try $0.execute(sql: "CREATE TABLE patients (name TEXT); INSERT INTO patients VALUES ('x')") }
        }
        let before = try Self.bytes(path)
        #expect { try NormativeDatabase(path: path) } throws: { e in
            "\(e)".contains(path) && "\(e)".contains("not a CordQ normative database") && "\(e)".contains("patients")
        }
        #expect { try NormativeDatabase(path: path, readOnly: true) } throws: { e in "\(e)".contains(path) }
        #expect(try Self.bytes(path) == before)
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
        // An empty SQLite file (or an empty file) becomes a CordQ database.
        FileManager.default.createFile(atPath: dir + "/empty.sqlite", contents: Data())
        try NormativeDatabase(path: dir + "/empty.sqlite").put(Self.record("sub-01"))
        #expect(try NormativeDatabase(path: dir + "/empty.sqlite", readOnly: true).counts() == (1, 6))
    }

    @Test func aDamagedDatabaseIsRefusedBeforeAnyWrite() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let path = dir + "/n.sqlite"
        do {
            let db = try NormativeDatabase(path: path)
            for i in 0..<40 { try db.put(Self.record("sub-\(i)")) }
        }
        var data = try Self.bytes(path)
        #expect(data.count > 3 * 4096)
        // Damage one b-tree page header (page 3), as a disk or a half-copied file would.
        for k in 0..<64 { data[2 * 4096 + k] = 0xFF }
        try data.write(to: URL(fileURLWithPath: path))
        #expect { try NormativeDatabase(path: path).put(Self.record("sub-new")) } throws: { e in
            "\(e)".contains(path) && ("\(e)".contains("integrity") || "\(e)".contains("malformed"))
        }
        #expect(try Self.bytes(path) == data)
    }

    @Test func sqliteErrorsNameTheFile() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        try Data("plain text, long enough to look like a header but not SQLite at all .......".utf8).write(to: URL(fileURLWithPath: dir + "/t.sqlite"))
        #expect { try NormativeDatabase(path: dir + "/t.sqlite") } throws: { e in "\(e)".contains(dir + "/t.sqlite") }
        #expect { try NormativeDatabase(path: dir + "/t.sqlite", readOnly: true) } throws: { e in "\(e)".contains(dir + "/t.sqlite") }
    }

    @Test func missingValuesAreNotStored() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let db = try NormativeDatabase(path: dir + "/n.sqlite")
        var r = Self.record("sub-01")
        r.rows[2].value = .nan
        try db.put(r)
        #expect(try db.counts() == (1, 5))
        #expect(try db.incompleteSubjects().isEmpty)
    }
}
