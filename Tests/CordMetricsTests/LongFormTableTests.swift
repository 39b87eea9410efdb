import Testing
@testable import CordCore
@testable import CordMetrics

@Suite struct LongFormTableTests {
    @Test func roundTripsThroughStringsAndRejectsBadValues() throws {
        let t = LongFormTable([MetricRow(subject: "sub-01", level: "C3", region: "cord", metric: "csa_mm2", value: 72.4812345, method: "morphometry", count: 9),
                               MetricRow(subject: "sub-01", session: "1", level: "C3", region: "dorsal columns", metric: "fa", value: 0.71, method: "map")])
        let back = try LongFormTable.parse(columns: LongFormTable.columns, rows: t.stringRows, source: "t.tsv")
        #expect(back.rows.count == 2)
        #expect(abs(back.rows[0].value - 72.4812345) < 1e-6)   // six decimals written
        #expect(back.rows[1] == t.rows[1])
        #expect(back.values(metric: "fa", region: "dorsal columns", level: "C3") == [0.71])
        do { _ = try LongFormTable.parse(columns: LongFormTable.columns, rows: [["s", "", "C3", "cord", "fa", "nan", "", "0"]], source: "t.tsv"); Issue.record("no error") } catch {
            #expect("\(error)".contains("line 2"))
        }
        #expect(throws: CordError.self) { try LongFormTable.parse(columns: ["participant_id", "level"], rows: [], source: "t.tsv") }
    }
}
