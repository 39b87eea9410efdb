import Foundation
import Testing
import CordTestSupport
@testable import CordCore
@testable import CordMetrics
@testable import CordNormative

@Suite struct NormativeDatabaseTests {
    static func record(_ id: String, levels: [String], csa: Double, age: Double = 30, site: String = "a") -> SubjectRecord {
        let rows = levels.map { MetricRow(subject: id, level: $0, region: "cord", metric: "csa_mm2", value: csa, method: "morphometry", count: 5) }
        return SubjectRecord(participant: Participant(id: id, sex: "F", age: age, height: 165, site: site, manufacturer: "Siemens"),
                             rows: rows, provenance: Provenance(command: "test", sources: [.init(path: "t.tsv", sha256: "00")]).json)
    }

    @Test func storesSubjectsInWALWithAVersionedSchema() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let db = try NormativeDatabase(path: dir + "/n.sqlite")
        #expect(try db.journalMode() == "wal")
        #expect(try db.storedSchemaVersion() == NormativeDatabase.schemaVersion)
        try db.put(Self.record("sub-01", levels: ["C2", "C3"], csa: 70))
        try db.put(Self.record("sub-02", levels: ["C2"], csa: 75))
        #expect(try db.counts() == (2, 3))
        let s = try db.subjects()
        #expect(s.map(\.participant.id) == ["sub-01", "sub-02"])
        #expect(s[0].participant == Participant(id: "sub-01", sex: "F", age: 30, height: 165, site: "a", manufacturer: "Siemens"))
        #expect(s[0].rowCount == 2 && s[0].cordqVersion == CordQVersion.string && !s[0].addedAt.isEmpty)
        #expect(Provenance.decode(s[0].provenance)?.sources.first?.sha256 == "00")
        #expect(try db.rows(metric: "csa_mm2", subject: "sub-01").rows.map(\.level) == ["C2", "C3"])
        // Reopening (read-only) sees the same content.
        let again = try NormativeDatabase(path: dir + "/n.sqlite", readOnly: true)
        #expect(try again.counts() == (2, 3) && again.incompleteSubjects().isEmpty)
    }

    @Test func reAddingASubjectReplacesIt() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let db = try NormativeDatabase(path: dir + "/n.sqlite")
        try db.put(Self.record("sub-01", levels: ["C1", "C2", "C3"], csa: 70, age: 30, site: "a"))
        try db.put(Self.record("sub-02", levels: ["C2"], csa: 75))
        try db.put(Self.record("sub-01", levels: ["C4"], csa: 80, age: 31, site: "b"))
        let rows = try db.rows(subject: "sub-01").rows
        #expect(rows.count == 1 && rows[0].level == "C4" && rows[0].value == 80)   // old C1–C3 rows gone
        let s = try #require(try db.subjects().first { $0.participant.id == "sub-01" })
        #expect(s.participant.age == 31 && s.participant.site == "b" && s.rowCount == 1)
        #expect(try db.counts() == (2, 2))
        // A record that fails validation changes nothing: sub-01 keeps its C4 row.
        var bad = Self.record("sub-01", levels: ["C5", "C5"], csa: 60)
        #expect(throws: CordError.self) { try db.put(bad) }
        bad = Self.record("sub-01", levels: ["C5"], csa: 60); bad.rows[0].subject = "sub-09"
        #expect(throws: CordError.self) { try db.put(bad) }
        #expect(try db.rows(subject: "sub-01").rows.map(\.level) == ["C4"])
        #expect(try db.remove(subject: "sub-02") && !(try db.remove(subject: "sub-02")))
        #expect(try db.counts() == (1, 1))
    }

    @Test func refusesFilesThatAreNotNormativeDatabases() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        #expect(throws: CordError.self) { try NormativeDatabase(path: dir + "/absent.sqlite", readOnly: true) }
        try Data("not a database at all, just text that is long enough to be read as a header".utf8).write(to: URL(fileURLWithPath: dir + "/text.sqlite"))
        #expect(throws: (any Error).self) { try NormativeDatabase(path: dir + "/text.sqlite") }
    }

    @Test func spineGenericWideRowsBecomeLongFormRows() throws {
        let columns = ["participant_id", "sex", "age", "height_cm", "weight_kg", "site", "manufacturer", "pathology", "level",
                       "n_slices", "csa_mm2", "diameter_ap_mm", "diameter_rl_mm", "eccentricity", "solidity"]
        let rows = [["sub-a", "M", "28", "176", "70", "amu", "Siemens", "HC", "C1", "46", "78.8", "8.38", "11.96", "0.71", "0.96"],
                    ["sub-a", "M", "28", "176", "70", "amu", "Siemens", "HC", "C2", "31", "76.9", "8.09", "12.0", "0.74", "n/a"],
                    ["sub-b", "F", "30", "n/a", "57", "x", "GE", "HC", "C1", "40", "70.1", "7.9", "11.0", "0.7", "0.97"]]
        let (people, table) = try SpineGenericTable.parse(columns: columns, rows: rows, source: "sg.tsv")
        #expect(people.map(\.id) == ["sub-a", "sub-b"])
        #expect(people[1] == Participant(id: "sub-b", sex: "F", age: 30, height: nil, weight: 57, site: "x", manufacturer: "GE", pathology: "HC"))
        #expect(table.rows.count == 14)   // 15 cells, one "n/a" skipped
        #expect(table.rows.first == MetricRow(subject: "sub-a", level: "C1", region: "cord", metric: "csa_mm2", value: 78.8, method: "morphometry", count: 46))
        #expect(throws: CordError.self) { try SpineGenericTable.parse(columns: ["participant_id", "level"], rows: [], source: "x") }
        #expect(throws: CordError.self) {
            try Participant.parseTable(columns: ["participant_id", "sex"], rows: [["s", "unknown"]], source: "p.tsv")
        }
    }
}
