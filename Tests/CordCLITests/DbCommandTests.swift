import ArgumentParser
import Foundation
import Synchronization
import Testing
import CordTestSupport
@testable import CordCLI
@testable import CordCore
@testable import CordIO
@testable import CordMetrics
@testable import CordNormative
@testable import CordPipeline

/// Long-form tables and a participants table for a synthetic healthy cohort.
enum SyntheticCohort {
    static let levels = ["C1", "C2", "C3", "C4", "C5", "C6", "C7", "T1", "T2", "T3"]
    static let regions = ["cord", "white matter", "dorsal columns", "lateral funiculi"]
    // Values encode the subject (0…n), so each metric needs a plausible range that wide
    // (FA or MTR are not: see MetricPlausibility; unnamed metrics accept ±1e9).
    static let metrics = ["csa_mm2", "index_a", "index_b"]
    static var rowsPerSubject: Int { levels.count * regions.count * metrics.count }
    static func id(_ i: Int) -> String { "sub-" + String(100000 + i).dropFirst() }

    /// Subject i's value of a metric: it encodes i, so a row can be checked against its subject.
    static func value(_ i: Int, _ l: Int, _ r: Int, _ m: Int) -> Double {
        Double(i) + Double(l) * 0.01 + Double(r) * 0.001 + Double(m) * 0.0001
    }

    /// Writes `files` long-form tables holding `subjects` subjects and `participants.tsv`.
    static func write(subjects: Int, files: Int, to dir: String) throws {
        try TextFile.makeDirectory(dir + "/tables")
        let perFile = (subjects + files - 1) / files
        for f in 0..<files {
            var t = TSVTable(columns: LongFormTable.columns)
            for i in (f * perFile)..<min(subjects, (f + 1) * perFile) {
                for (l, level) in levels.enumerated() { for (r, region) in regions.enumerated() { for (m, metric) in metrics.enumerated() {
                    t.append([id(i), "", level, region, metric, String(value(i, l, r, m)), "wa", "3"])
                } } }
            }
            try t.write(to: dir + "/tables/part\(f).tsv")
        }
        var p = TSVTable(columns: ["participant_id", "sex", "age", "height_cm", "site"])
        for i in 0..<subjects { p.append([id(i), i % 2 == 0 ? "M" : "F", String(20 + i % 40), String(160 + i % 30), "site\(i % 4)"]) }
        try p.write(to: dir + "/participants.tsv")
    }

    /// Every stored subject has all its rows, each with the value its subject encodes.
    static func checkComplete(_ db: NormativeDatabase) throws -> Int {
        #expect(try db.incompleteSubjects().isEmpty)
        let rows = Dictionary(grouping: try db.rows().rows, by: \.subject)
        let subjects = try db.subjects()
        for s in subjects {
            let mine = rows[s.participant.id] ?? []
            #expect(mine.count == rowsPerSubject, "\(s.participant.id) has \(mine.count) rows")
            guard let i = Int(s.participant.id.dropFirst(4)) else { Issue.record("bad id \(s.participant.id)"); continue }
            #expect(mine.allSatisfy { abs($0.value.rounded(.down) - Double(i)) < 1e-9 })
            #expect(s.participant.sex != nil && s.participant.age != nil)
        }
        #expect(rows.count == subjects.count)   // no rows without their subject
        return subjects.count
    }
}

@Suite struct DbCommandTests {
    @Test func buildSummaryAddAndExportFromTheCommandLine() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        try SyntheticCohort.write(subjects: 30, files: 3, to: dir)
        let db = dir + "/norms.sqlite"
        var build = try CordQCommand.parseAsRoot(["db", "build", db, "--tables", dir + "/tables", "--participants", dir + "/participants.tsv"])
        try build.run()
        let opened = try NormativeDatabase(path: db, readOnly: true)
        #expect(try SyntheticCohort.checkComplete(opened) == 30)
        let provenance = try #require(Provenance.decode(try opened.subjects()[0].provenance))
        #expect(provenance.sources.count == 2 && provenance.sources.allSatisfy { $0.sha256.count == 64 })
        #expect(provenance.cordqVersion == CordQVersion.string)
        // 30 subjects: {age, sex} needs 30 → adjusted model for index_a.
        let text = try NormativePipeline.summary(database: db, metric: "index_a")
        #expect(text.contains("30 subjects (15 M, 15 F") && text.contains("age_years+sex_male (n 30)"))
        #expect(!text.contains("csa_mm2"))
        // Re-adding one subject with new demographics and a one-row table replaces it.
        var one = TSVTable(columns: LongFormTable.columns)
        one.append(["sub-00003", "", "C2", "cord", "csa_mm2", "81.5", "morphometry", "12"])
        try one.write(to: dir + "/one.tsv")
        var add = try CordQCommand.parseAsRoot(["db", "add", db, dir + "/one.tsv", "--participant", "sub-00003", "--sex", "F", "--age", "44", "--height", "170"])
        try add.run()
        let after = try NormativeDatabase(path: db, readOnly: true)
        #expect(try after.rows(subject: "sub-00003").rows == [MetricRow(subject: "sub-00003", level: "C2", region: "cord", metric: "csa_mm2", value: 81.5, method: "morphometry", count: 12)])
        #expect(try after.subjects().first { $0.participant.id == "sub-00003" }?.participant.age == 44)
        #expect(try after.counts() == (30, 29 * SyntheticCohort.rowsPerSubject + 1))
        // Export: rows with demographics, and the models.
        var export = try CordQCommand.parseAsRoot(["db", "export", db, dir + "/rows.tsv"])
        try export.run()
        let rows = try TSVTable.read(dir + "/rows.tsv")
        #expect(rows.columns == NormativePipeline.exportColumns && rows.rows.count == 29 * SyntheticCohort.rowsPerSubject + 1)
        #expect(rows.records.first { $0["participant_id"] == "sub-00003" }?["age"] == "44")
        var exportModels = try CordQCommand.parseAsRoot(["db", "export", db, dir + "/models.tsv", "--models"])
        try exportModels.run()
        let models = try TSVTable.read(dir + "/models.tsv")
        #expect(models.columns == NormativePipeline.modelColumns && models.rows.count == SyntheticCohort.rowsPerSubject + 1)
    }

    @Test func badInputsFailWithoutWriting() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        try SyntheticCohort.write(subjects: 4, files: 1, to: dir)
        try TextFile.write("participant_id\tlevel\tregion\tmetric\tvalue\nsub-x\tC2\tcord\tfa\tabc\n", to: dir + "/tables/zbad.tsv")
        var build = try CordQCommand.parseAsRoot(["db", "build", dir + "/n.sqlite", "--tables", dir + "/tables"])
        #expect(throws: ExitCode.self) { try build.run() }
        #expect(!Support.files(in: dir).contains("n.sqlite"))   // the bad table stopped the run before the database
        #expect(throws: (any Error).self) { try CordQCommand.parseAsRoot(["db", "add", "d.sqlite", "t.tsv", "--age", "40"]) }
        #expect(throws: (any Error).self) { try CordQCommand.parseAsRoot(["db", "add", "d.sqlite", "t.tsv", "--participant", "a", "--sex", "X"]) }
        var summary = try CordQCommand.parseAsRoot(["db", "summary", dir + "/absent.sqlite"])
        #expect(throws: ExitCode.self) { try summary.run() }
    }

    /// The real executable builds a large database and is killed with SIGKILL part-way: the
    /// database must open and hold only complete subjects, and a re-run completes it.
    @Test func killedBuildLeavesOnlyCompleteSubjects() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let n = 1500
        try SyntheticCohort.write(subjects: n, files: 6, to: dir)
        try killPartWay(["db", "build", dir + "/norms.sqlite", "--tables", dir + "/tables", "--participants", dir + "/participants.tsv"],
                        database: dir + "/norms.sqlite", subjects: n) {
            _ = try NormativePipeline.build(database: dir + "/norms.sqlite", tables: [dir + "/tables"], participants: dir + "/participants.tsv")
        }
    }

    /// The same with `db build --bids` over a BIDS dataset whose subjects carry their
    /// derivative tables (`derivatives/cordq/<sub>/<sub>_metrics.tsv`).
    @Test func killedBIDSBuildLeavesOnlyCompleteSubjects() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let n = 1000
        try SyntheticCohort.write(subjects: n, files: 1, to: dir)
        let root = dir + "/bids"
        let all = try TSVTable.read(dir + "/tables/part0.tsv")
        for (id, rows) in Dictionary(grouping: all.rows, by: { $0[0] }) {
            try TextFile.makeDirectory("\(root)/\(id)/anat")
            try TextFile.makeDirectory("\(root)/derivatives/cordq/\(id)")
            try TSVTable(columns: all.columns, rows: rows).write(to: NormativePipeline.derivativeTable(root: root, subject: id))
        }
        try TextFile.write(try TextFile.read(dir + "/participants.tsv"), to: root + "/participants.tsv")
        try killPartWay(["db", "build", dir + "/norms.sqlite", "--bids", root], database: dir + "/norms.sqlite", subjects: n) {
            let s = try NormativePipeline.buildFromBIDS(database: dir + "/norms.sqlite", root: root)
            #expect(s.failed.isEmpty && s.ingested.count == n)
        }
    }

    /// Runs the cordq executable with `arguments`, kills it (SIGKILL) once 50 subjects are in
    /// `database`, checks the database holds only complete subjects, then `rerun` completes it.
    func killPartWay(_ arguments: [String], database db: String, subjects n: Int, rerun: () throws -> Void) throws {
        let binary = try #require(Bundle.main.executableURL.map { $0.deletingLastPathComponent().path + "/cordq" },
                                  "no test bundle location")
        try #require(FileManager.default.isExecutableFile(atPath: binary), "the cordq executable is not built beside the tests (\(binary))")
        let child = Process()
        child.executableURL = URL(fileURLWithPath: binary)
        child.arguments = arguments
        child.standardOutput = FileHandle.nullDevice
        try child.run()
        // Wait until some subjects are in, then kill without warning.
        var seen = 0
        let deadline = Date().addingTimeInterval(120)
        while child.isRunning && Date() < deadline {
            if TextFile.exists(db), let c = try? NormativeDatabase(path: db, readOnly: true).counts() { seen = c.subjects }
            if seen >= 50 { kill(child.processIdentifier, SIGKILL); break }
            usleep(5_000)
        }
        child.waitUntilExit()
        #expect(child.terminationReason == .uncaughtSignal, "cordq finished (status \(child.terminationStatus)) before it could be killed")
        let reopened = try NormativeDatabase(path: db)
        let present = try SyntheticCohort.checkComplete(reopened)
        print("killed \(arguments.prefix(2).joined(separator: " ")) \(arguments[3]): \(present) of \(n) subjects present, all complete")
        #expect(present >= 50 && present < n)
        // A re-run replaces what is there and adds the rest.
        try rerun()
        #expect(try SyntheticCohort.checkComplete(try NormativeDatabase(path: db, readOnly: true)) == n)
    }

    /// `db build --bids`: healthy subjects with tables are stored, patients skipped, a subject
    /// without a table fails alone (exit 1), and a processor makes the missing table.
    @Test func bidsBuildTakesDerivativeTablesSkipsPatientsAndIsolatesFailures() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let root = dir + "/bids"
        @Sendable func table(_ id: String, _ csa: Double) -> TSVTable {
            TSVTable(columns: LongFormTable.columns, rows: [[id, "", "C3", "cord", "csa_mm2", String(csa), "morphometry", "6"],
                                                            [id, "", "C3", "cord", "csa_min_mm2", String(csa - 2), "morphometry", "6"]])
        }
        for id in ["sub-a", "sub-b", "sub-c", "sub-p"] { try TextFile.makeDirectory("\(root)/\(id)/anat") }
        for id in ["sub-a", "sub-p"] {
            try TextFile.makeDirectory("\(root)/derivatives/cordq/\(id)")
            try table(id, 70).write(to: NormativePipeline.derivativeTable(root: root, subject: id))
        }
        try TextFile.write("participant_id\tsex\tage\theight_cm\tgroup\nsub-a\tF\t30\t165\thealthy\nsub-b\tM\t40\t180\tHC\nsub-p\tM\t60\t175\tpatient\n",
                           to: root + "/participants.tsv")
        var cli = try CordQCommand.parseAsRoot(["db", "build", dir + "/n.sqlite", "--bids", root])
        #expect(throws: ExitCode.self) { try cli.run() }          // sub-b and sub-c have no image to process
        let s = try NormativePipeline.buildFromBIDS(database: dir + "/n.sqlite", root: root, process: nil)
        #expect(s.ingested == ["sub-a"] && s.skipped.map(\.subject) == ["sub-p"] && s.failed.map(\.subject) == ["sub-b", "sub-c"])
        #expect(s.failed[0].reason.contains("sub-b_metrics.tsv") && s.failed[0].reason.contains("cordq process"))
        #expect(s.withoutDemographics.isEmpty)
        let db = try NormativeDatabase(path: dir + "/n.sqlite", readOnly: true)
        #expect(try db.subjects().map { [$0.participant.id, $0.participant.sex ?? "", $0.participant.pathology] } == [["sub-a", "F", "healthy"]])
        let provenance = try #require(Provenance.decode(try db.subjects()[0].provenance))
        #expect(provenance.command == "db build --bids" && provenance.sources.count == 2)
        // With a processor, the missing tables are made (sub-c has no demographics) and stored.
        let made = try NormativePipeline.buildFromBIDS(database: dir + "/n.sqlite", root: root) { subject, _, output in
            let id = URL(fileURLWithPath: subject).lastPathComponent
            try TextFile.makeDirectory(output)
            try table(id, 75).write(to: output + "/\(id)_metrics.tsv")
        }
        #expect(made.ingested == ["sub-a", "sub-b", "sub-c"] && made.processed == ["sub-b", "sub-c"] && made.failed.isEmpty)
        #expect(made.withoutDemographics == ["sub-c"])
        #expect(try NormativeDatabase(path: dir + "/n.sqlite", readOnly: true).counts() == (3, 6))
        // A table holding another subject's rows is refused for that subject only.
        try table("sub-x", 70).write(to: NormativePipeline.derivativeTable(root: root, subject: "sub-a"))
        let wrong = try NormativePipeline.buildFromBIDS(database: dir + "/n.sqlite", root: root, process: nil)
        #expect(wrong.failed.map(\.subject) == ["sub-a"] && wrong.failed[0].reason.contains("sub-x"))
        #expect(wrong.ingested == ["sub-b", "sub-c"])
    }

    /// `db build --bids` over subjects with sessions: every session's table is stored (the
    /// `cordq batch` layout `<sub>/ses-<label>/…`, or `process --session`'s `<sub>/<sub>_ses-<label>_metrics.tsv`),
    /// a missing one is made by the processor for that session, ages and times come from the
    /// subject's BIDS sessions file, and a table whose rows name another session is refused.
    @Test func bidsBuildStoresEverySession() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let root = dir + "/bids"
        @Sendable func table(_ id: String, _ session: String, _ csa: Double) -> TSVTable {
            TSVTable(columns: LongFormTable.columns, rows: [[id, session, "C3", "cord", "csa_mm2", String(csa), "morphometry", "6"]])
        }
        for f in ["sub-a/ses-1/anat", "sub-a/ses-2/anat", "sub-b/ses-1/anat", "sub-b/ses-2/anat"] { try TextFile.makeDirectory(root + "/" + f) }
        try TextFile.makeDirectory(root + "/derivatives/cordq/sub-a/ses-1")
        try table("sub-a", "1", 70).write(to: NormativePipeline.derivativeTable(root: root, subject: "sub-a", session: "1"))
        try table("sub-a", "ses-2", 71).write(to: root + "/derivatives/cordq/sub-a/sub-a_ses-2_metrics.tsv")
        try TextFile.write("session_id\tage\tacq_time\nses-1\t30.0\t2026-01-05T10:00:00\nses-2\t30.5\tn/a\n", to: root + "/sub-a/sub-a_sessions.tsv")
        try TextFile.write("session_id\tnote\nses-1\tbaseline\nses-2\tretest\n", to: root + "/sub-b/sub-b_sessions.tsv")   // nothing CordQ stores
        let made = Mutex<[String]>([])
        let s = try NormativePipeline.buildFromBIDS(database: dir + "/n.sqlite", root: root) { subject, session, output in
            let id = URL(fileURLWithPath: subject).lastPathComponent
            made.withLock { $0.append("\(id) \(session ?? "-") \(URL(fileURLWithPath: output).lastPathComponent)") }
            try TextFile.makeDirectory(output)
            try table(id, session ?? "", 72).write(to: output + "/\(id)_ses-\(session ?? "")_metrics.tsv")
        }
        #expect(s.ingested == ["sub-a", "sub-b"] && s.processed == ["sub-b"] && s.failed.isEmpty, "\(s.failed)")
        #expect(made.withLock { $0.sorted() } == ["sub-b 1 ses-1", "sub-b 2 ses-2"])
        let db = try NormativeDatabase(path: dir + "/n.sqlite", readOnly: true)
        #expect(try db.counts() == (2, 4))
        let a = try db.rows(subject: "sub-a").rows.map { "\($0.session) \($0.value)" }.sorted()
        #expect(a == ["1 70.0", "ses-2 71.0"])
        let sessions = try db.sessions()["sub-a"] ?? []
        #expect(sessions.map(\.session) == ["ses-1", "ses-2"] && sessions.map(\.ageYears) == [30.0, 30.5])
        #expect(try db.sessions()["sub-b"] == nil)
        // Rows of another session in a session's table: that subject fails, the other goes on.
        try table("sub-a", "2", 70).write(to: NormativePipeline.derivativeTable(root: root, subject: "sub-a", session: "1"))
        let wrong = try NormativePipeline.buildFromBIDS(database: dir + "/n.sqlite", root: root, process: nil)
        #expect(wrong.failed.map(\.subject) == ["sub-a"] && wrong.failed[0].reason.contains("not of ses-1"), "\(wrong.failed)")
        #expect(wrong.ingested == ["sub-b"])
    }
}
