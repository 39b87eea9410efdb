import Foundation
import Testing
import CordTestSupport
@testable import CordCore
@testable import CordIO

/// `sub-<label>_sessions.tsv` read with the subject inventory (issue 21).
@Suite struct SessionTableTests {
    func subject(_ tsv: String) throws -> String {
        let dir = try Support.temporaryDirectory()
        let sub = dir + "/sub-7"
        for s in ["a", "b"] { try FileManager.default.createDirectory(atPath: sub + "/ses-\(s)/anat", withIntermediateDirectories: true) }
        try tsv.write(toFile: sub + "/sub-7_sessions.tsv", atomically: true, encoding: .utf8)
        return sub
    }

    @Test func rowsDatesAndScoresAreRead() throws {
        let inv = try SubjectInventory.read(try subject("session_id\tacq_time\tmjoa\tnote\nses-a\t2025-02-01T08:30:00\t14\tn/a\nses-b\tn/a\t15\tafter infusion\n"))
        #expect(inv.sessions == ["a", "b"])
        #expect(inv.sessionTableProblem == nil)
        #expect(inv.sessionEntry("a") == SessionEntry(session: "a", acquisitionTime: "2025-02-01T08:30:00", columns: ["mjoa": "14"]))
        #expect(inv.sessionEntry("b") == SessionEntry(session: "b", acquisitionTime: nil, columns: ["mjoa": "15", "note": "after infusion"]))
        #expect(inv.session("b").sessionTable.map(\.session) == ["b"])
    }

    @Test func aBadTableIsRecordedNotThrown() throws {
        let inv = try SubjectInventory.read(try subject("session_id\tacq_time\nses-a\t2025-02-01\na\t2025-03-01\n"))
        #expect(inv.sessionTable.isEmpty)
        let p = inv.sessionTableProblem ?? ""
        #expect(p.contains("sub-7_sessions.tsv") && p.contains("line 3") && p.contains("ses-<label>"), "\(p)")
        let twice = try SubjectInventory.read(try subject("session_id\nses-a\nses-a\n"))
        #expect((twice.sessionTableProblem ?? "").contains("listed twice"))
    }
}
