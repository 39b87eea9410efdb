import ArgumentParser
import Foundation
import Testing
import CordTestSupport
@testable import CordCLI
@testable import CordCore
@testable import CordIO
@testable import CordPipeline
import CordNormative
#if canImport(Glibc)
import Glibc
#endif

/// `cordq batch` (issue #22) on tiny phantom cohorts (`cordq phantom cohort`, 24 mm field of
/// view, about 3 s per subject in a debug build). The subjects run in child processes of
/// the `cordq` executable built beside the test runner.
@Suite struct BatchCommandTests {
    /// A cohort of `n` healthy phantom volunteers (seeded: the same images every run).
    static func cohort(_ dir: String, _ n: Int, seed: Int = 1) throws -> String {
        let root = dir + "/cohort"
        var make = try CordQCommand.parseAsRoot(["phantom", "cohort", root, "--healthy", "\(n)", "--compressed", "0",
                                                 "--seed", "\(seed)", "--field-of-view", "24"])
        try make.run()
        return root
    }

    /// The `cordq` executable the batch starts (beside the test runner in .build/…/debug).
    static func cordq() throws -> String { try BatchRunner.resolveExecutable(BatchRequest(root: "/")) }

    static func table(_ path: String) throws -> [String: [String: String]] {
        Dictionary(uniqueKeysWithValues: try TSVTable.read(path).records.map { ($0["participant_id"] ?? "", $0) })
    }

    /// Polls `condition` every 50 ms for at most `seconds`; true once it holds.
    static func waitUntil(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let end = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < end {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    /// Command lines of running processes that mention `text` (from /proc).
    static func processes(mentioning text: String) -> [String] {
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { $0.allSatisfy(\.isNumber) }
        return pids.compactMap { pid -> String? in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else { return nil }
            let line = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            return line.contains(text) && line.contains("batch subject") ? line : nil
        }
    }

    // MARK: - Local

    /// `--jobs 2` gives the same per-level tables as `cordq process` run subject by subject.
    @Test func twoJobsGiveTheSameTablesAsSequentialProcessRuns() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let root = try Self.cohort(dir, 3)
        var batch = try CordQCommand.parseAsRoot(["batch", root, "--jobs", "2", "--threads", "1", "--no-qc"])
        try batch.run()

        let rows = try Self.table(root + "/derivatives/cordq/batch.tsv")
        let ids = ["sub-hc01", "sub-hc02", "sub-hc03"]
        #expect(rows.keys.sorted() == ids)
        for id in ids {
            let r = try #require(rows[id])
            #expect(r["status"] == "ok" && r["error"] == "n/a", "\(r)")
            // Wall time and peak memory are measured, not placeholders: a subject takes
            // more than 0.1 s and its process more than 10 MiB and less than 4 GiB.
            let seconds = Double(r["seconds"] ?? "") ?? -1, peak = Double(r["peak_memory_mib"] ?? "") ?? -1
            #expect(seconds > 0.1 && peak > 10 && peak < 4096, "\(id): \(seconds) s, \(peak) MiB")
            let record = try JSONFile.read(BatchSubjectRecord.self, from: root + "/derivatives/cordq/batch/\(id).json")
            #expect(record.inputsSHA256.count == 64 && record.threads == 1)
            #expect(TextFile.exists(root + "/derivatives/cordq/logs/\(id).log"))
        }

        // The same subjects through `cordq process` one after another, in this process.
        for id in ids {
            var p = ProcessRequest(subject: root + "/" + id, output: dir + "/sequential/" + id)
            p.qc = false
            _ = try ProcessPipeline.run(p)
            let a = try TSVTable.read(root + "/derivatives/cordq/\(id)/\(id)_metrics.tsv")
            let b = try TSVTable.read(dir + "/sequential/\(id)/\(id)_metrics.tsv")
            #expect(a.columns == b.columns && a.rows.count == b.rows.count && a.rows.count > 20, "\(id): \(a.rows.count) vs \(b.rows.count) rows")
            let value = try #require(a.columnIndex("value"))
            var worst = 0.0, labelsDiffer = 0
            for (x, y) in zip(a.rows, b.rows) {
                if Array(x[..<value]) != Array(y[..<value]) { labelsDiffer += 1 }
                let u = Double(x[value]) ?? .nan, v = Double(y[value]) ?? .nan
                worst = max(worst, abs(u - v) / max(abs(v), 1e-12))
            }
            #expect(labelsDiffer == 0)
            // Tolerance: relative 1e-9. Same code and inputs; one thread (batch) or two
            // (this process) change only the order of floating-point sums.
            #expect(worst <= 1e-9, "\(id): largest relative difference \(worst)")
        }
    }

    /// A subject that cannot be read fails alone (--keep-going), kill -9 of the batch leaves
    /// nothing half-written, and --resume processes only what is missing or changed.
    @Test func failingSubjectKill9AndResume() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let root = try Self.cohort(dir, 3)
        let layout = BatchLayout(root: root)
        // sub-hc03's T2w is cut short: a truncated .gz.
        let t2w = root + "/sub-hc03/anat/sub-hc03_acq-ax_T2w.nii.gz"
        let compressed = try FileAccess.readRaw(t2w)
        try BinaryFile.write(Array(compressed.prefix(compressed.count / 2)), to: root + "/cut.bin")  // not .gz: written as is
        try FileManager.default.removeItem(atPath: t2w)
        try FileManager.default.moveItem(atPath: root + "/cut.bin", toPath: t2w)

        // The batch, one subject at a time, in its own process; killed with SIGKILL once the
        // first subject is recorded and the second has begun its first step.
        let batch = try ChildProcess.start(try Self.cordq(), ["batch", root, "--jobs", "1", "--threads", "2", "--keep-going", "--no-qc"],
                                           log: dir + "/batch1.log")
        let secondRunning = Self.waitUntil(60) {
            BatchSubjects.record(layout, "sub-hc01")?.status == .ok && ((try? TextFile.read(layout.log("sub-hc02"))) ?? "").contains("protocol:")
        }
        batch.send(SIGKILL)
        let killed = batch.wait()
        #expect(secondRunning && killed.signal == SIGKILL, "\(killed.description); log: \((try? TextFile.read(dir + "/batch1.log")) ?? "")")
        // The orphaned subject notices its batch is gone (it polls every 0.25 s) and ends
        // without finishing: no process of it is left, and neither its output nor a record
        // appears (had it run to its end, both would exist).
        let gone = Self.waitUntil(5) { Self.processes(mentioning: root).isEmpty }
        #expect(gone, "still running: \(Self.processes(mentioning: root))")
        #expect(!TextFile.exists(layout.output("sub-hc02")) && BatchSubjects.record(layout, "sub-hc02") == nil)
        let firstRecord = try #require(FolderTree.modificationTime(layout.record("sub-hc01")))

        // --resume: sub-hc01 is skipped, sub-hc02 processed, sub-hc03 fails alone.
        var r = BatchRequest(root: root)
        r.jobs = 2; r.threads = 1; r.keepGoing = true; r.resume = true; r.qc = false
        let s = try BatchRunner.run(r, progress: false)
        #expect(s.skipped == ["sub-hc01"] && s.processed.sorted() == ["sub-hc02", "sub-hc03"], "\(s.skipped) \(s.processed)")
        #expect(FolderTree.modificationTime(layout.record("sub-hc01")) == firstRecord)
        let rows = try Self.table(layout.table)
        #expect(rows["sub-hc01"]?["status"] == "ok" && rows["sub-hc02"]?["status"] == "ok" && rows["sub-hc03"]?["status"] == "failed")
        let error = rows["sub-hc03"]?["error"] ?? ""
        #expect(error.contains("sub-hc03_acq-ax_T2w.nii.gz"), "the error names the file: \(error)")
        for id in ["sub-hc01", "sub-hc02"] {
            #expect(BatchSubjects.outputComplete(r, participant: id))
            #expect(FolderTree.stagingLeftovers(of: layout.output(id)).isEmpty)
        }
        #expect(!TextFile.exists(layout.output("sub-hc03")) && FolderTree.stagingLeftovers(of: layout.output("sub-hc03")).isEmpty)

        // A changed input (sub-hc01's sidecar) makes --resume process that subject again.
        let sidecar = root + "/sub-hc01/anat/sub-hc01_acq-ax_T2w.json"
        try TextFile.write(try TextFile.read(sidecar) + " ", to: sidecar)
        r.participants = ["sub-hc01", "sub-hc02"]
        let again = try BatchRunner.run(r, progress: false)
        #expect(again.skipped == ["sub-hc02"] && again.processed == ["sub-hc01"], "\(again.skipped) \(again.processed)")
    }

    /// SIGTERM stops the batch: exit status 143, running subjects recorded as stopped with
    /// nothing of them written, no staging folder left.
    @Test func sigtermStopsCleanly() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let root = try Self.cohort(dir, 2, seed: 3)
        let layout = BatchLayout(root: root)
        let batch = try ChildProcess.start(try Self.cordq(), ["batch", root, "--jobs", "2", "--threads", "1", "--no-qc"], log: dir + "/batch.log")
        // Both subjects have begun their first step.
        let begun = Self.waitUntil(30) {
            ["sub-hc01", "sub-hc02"].allSatisfy { ((try? TextFile.read(layout.log($0))) ?? "").contains("protocol:") }
        }
        batch.send(SIGTERM)
        let exit = batch.wait()
        let log = (try? TextFile.read(dir + "/batch.log")) ?? ""
        #expect(begun && exit.status == 143, "\(exit.description); log: \(log)")
        let rows = try Self.table(layout.table)
        #expect(rows.count == 2)
        var stopped = 0
        for (id, row) in rows {
            if row["status"] == "stopped" {
                stopped += 1
                #expect(!TextFile.exists(layout.output(id)), "\(id) stopped but its output exists")
            } else {
                #expect(row["status"] == "ok" && BatchSubjects.outputComplete(BatchRequest(root: root), participant: id), "\(id): \(row)")
            }
            #expect(FolderTree.stagingLeftovers(of: layout.output(id)).isEmpty)
        }
        #expect(stopped >= 1, "\(rows)")
    }

    // MARK: - Parts

    @Test func participantListsAndResourcePlanning() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        #expect(try BatchSubjects.parseList("sub-01, 02") == ["sub-01", "02"])
        try TextFile.write("participant_id\tage\nsub-03\t40\nsub-04\t41\n", to: dir + "/p.tsv")
        #expect(try BatchSubjects.parseList(dir + "/p.tsv") == ["sub-03", "sub-04"])
        try TextFile.write("# list\nsub-05\n\nsub-06\n", to: dir + "/p.txt")
        #expect(try BatchSubjects.parseList(dir + "/p.txt") == ["sub-05", "sub-06"])
        #expect(throws: (any Error).self) { try BatchSubjects.parseList(" , ") }
        try TextFile.makeDirectory(dir + "/ds/sub-01")
        var r = BatchRequest(root: dir + "/ds"); r.participants = ["sub-01", "sub-99"]
        #expect(throws: BatchError.self) { try BatchSubjects.list(r) }

        // 8 GiB budget, subjects measured at 1000 MiB peak → 1250 MiB each → at most 6 by
        // memory; exact integer arithmetic, no tolerance needed.
        var q = BatchRequest(root: dir); q.memoryLimitGB = 8; q.threads = 1
        let rec = BatchSubjectRecord(participant: "sub-01", status: .ok, seconds: 100, peakMemoryMiB: 1000, error: "", inputsSHA256: "",
                                     threads: 1, host: "h", finished: "", run: "")
        let plan = BatchResources.plan(q, subjects: 50, records: [rec])
        #expect(plan.perSubjectBytes == 1250 * 1_048_576)
        #expect(plan.jobs == min(plan.cores, 6) && plan.threads == 1)
        q.jobs = 3; q.threads = nil
        #expect(BatchResources.plan(q, subjects: 50, records: []).threads == max(1, plan.cores / 3))
    }

    /// Sessions are units: a subject with `ses-*` folders gives one unit per session (only
    /// `--session`'s when given), processed into `sub-XX/ses-YY` side by side, named by the
    /// unit in records, logs and `batch.tsv` (participant_id and session_id); `--resume`
    /// re-runs only the session whose inputs changed.
    @Test func sessionsAreUnits() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        for f in ["ds/sub-01/ses-pre/anat", "ds/sub-01/ses-post/anat", "ds/sub-02/anat"] { try TextFile.makeDirectory(dir + "/" + f) }
        var r = BatchRequest(root: dir + "/ds")
        #expect(try BatchSubjects.list(r) == ["sub-01_ses-post", "sub-01_ses-pre", "sub-02"])
        r.session = "pre"
        #expect(try BatchSubjects.list(r) == ["sub-01_ses-pre", "sub-02"])
        #expect(BatchUnit.split("sub-01_ses-pre") == ("sub-01", "pre") && BatchUnit.split("sub-02") == ("sub-02", nil))
        #expect(BatchLayout(root: "/d").output(unit: "sub-01_ses-pre") == "/d/derivatives/cordq/sub-01/ses-pre")
        // `batch subject` with a bare subject: made a unit, or refused when it would replace several sessions.
        var bare = BatchRequest(root: dir + "/ds")
        #expect(throws: (any Error).self) { try BatchSubjects.unit(bare, "sub-01") }
        #expect(try BatchSubjects.unit(bare, "sub-02") == "sub-02" && (try BatchSubjects.unit(bare, "sub-01_ses-pre")) == "sub-01_ses-pre")
        bare.session = "post"
        #expect(try BatchSubjects.unit(bare, "sub-01") == "sub-01_ses-post")
        // On Slurm each unit is an array task.
        var sr = BatchRequest(root: dir + "/ds"); sr.threads = 1; sr.memoryLimitGB = 2
        var sl = SlurmRequest(); sl.dryRun = true; sl.time = "00:30:00"
        let planned = try BatchSlurm.submit(sr, sl)
        #expect(planned.subjects == ["sub-01_ses-post", "sub-01_ses-pre", "sub-02"] && planned.script.contains("#SBATCH --array=0-2"))

        let root = dir + "/visits"
        var make = try CordQCommand.parseAsRoot(["phantom", "cohort", root, "--healthy", "1", "--compressed", "0", "--sessions", "2",
                                                 "--seed", "3", "--field-of-view", "24"])
        try make.run()
        var batch = try CordQCommand.parseAsRoot(["batch", root, "--jobs", "2", "--threads", "1", "--no-qc"])
        try batch.run()
        let rows = try TSVTable.read(root + "/derivatives/cordq/batch.tsv")
        #expect(rows.columns.prefix(3) == ["participant_id", "session_id", "status"])
        #expect(rows.records.map { "\($0["participant_id"] ?? "") \($0["session_id"] ?? "") \($0["status"] ?? "")" }
                == ["sub-hc01 ses-01 ok", "sub-hc01 ses-02 ok"])
        let out = root + "/derivatives/cordq/sub-hc01"
        for s in ["01", "02"] {
            #expect(TextFile.exists(out + "/ses-\(s)/sub-hc01_ses-\(s)_metrics.tsv"), "ses-\(s) table")
            #expect(TextFile.exists(root + "/derivatives/cordq/batch/sub-hc01_ses-\(s).json"))
            #expect(TextFile.exists(root + "/derivatives/cordq/logs/sub-hc01_ses-\(s).log"))
        }
        // One session's input changes: only that unit runs again.
        let anat = root + "/sub-hc01/ses-02/anat"
        let sidecar = try #require(try TextFile.listDirectory(anat).first { $0.hasSuffix(".json") })
        try TextFile.write(try TextFile.read(anat + "/" + sidecar) + " ", to: anat + "/" + sidecar)
        let r2 = BatchRequest(root: root)
        let before = try #require(BatchSubjects.record(BatchLayout(root: root), "sub-hc01_ses-01"))
        var again = r2; again.resume = true; again.jobs = 2; again.threads = 1; again.qc = false
        let summary = try BatchRunner.run(again, progress: false)
        #expect(summary.skipped == ["sub-hc01_ses-01"] && summary.processed == ["sub-hc01_ses-02"])
        #expect(BatchSubjects.record(BatchLayout(root: root), "sub-hc01_ses-01") == before)
        // The dataset QC page and db build --tables find the session folders.
        let page = try DatasetQC.write(derivatives: root + "/derivatives/cordq")
        #expect(page.subjects == ["sub-hc01_ses-01", "sub-hc01_ses-02"] && page.unreadable.isEmpty, "\(page.subjects) \(page.unreadable)")
        #expect(try NormativePipeline.tableFiles([root + "/derivatives/cordq"]).map { URL(fileURLWithPath: $0).lastPathComponent }
                == ["sub-hc01_ses-01_metrics.tsv", "sub-hc01_ses-02_metrics.tsv"])
    }

    @Test func progressLineAndQueueParsing() {
        let rows = [BatchRow(participant: "a", status: .ok, seconds: 1, peakMemoryMiB: 1, error: ""),
                    BatchRow(participant: "b", status: .failed, seconds: 1, peakMemoryMiB: 1, error: "x"),
                    BatchRow(participant: "c", status: .running, seconds: nil, peakMemoryMiB: nil, error: ""),
                    BatchRow(participant: "d", status: .pending, seconds: nil, peakMemoryMiB: nil, error: ""),
                    BatchRow(participant: "e", status: .pending, seconds: nil, peakMemoryMiB: nil, error: "")]
        // 2 subjects finished in 60 s: 2.0 subjects/min; 3 left → 1.5 min, shown rounded to "2 min".
        #expect(DatasetProgressLine.text(state: rows, total: 5, elapsed: 60, finishedInRun: 2)
                == "batch: 2/5 done, 1 failed, 1 running, 2 pending, 2.0 subjects/min, ETA 2 min")
        #expect(DatasetProgressLine.text(state: rows, total: 5, elapsed: 3, finishedInRun: 0).hasSuffix("ETA after the first subject"))
        let q = BatchSlurm.parseQueue("0 RUNNING\n3-5%2 PENDING\n7,9 PENDING\n")
        #expect(q == [0: "RUNNING", 3: "PENDING", 4: "PENDING", 5: "PENDING", 7: "PENDING", 9: "PENDING"])
    }

    // MARK: - Slurm

    @Test func slurmDryRunPrintsTheScriptAndWritesNothing() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        for id in ["sub-a", "sub-b", "sub-c"] { try TextFile.makeDirectory(dir + "/ds/\(id)/anat") }
        var r = BatchRequest(root: dir + "/ds"); r.threads = 3; r.memoryLimitGB = 2; r.session = "1"
        var s = SlurmRequest(); s.dryRun = true; s.partition = "short"; s.account = "lab"; s.arrayLimit = 2; s.time = "01:30:00"
        let sub = try BatchSlurm.submit(r, s)
        let lines = sub.script.split(separator: "\n").map(String.init)
        for want in ["#SBATCH --array=0-2%2", "#SBATCH --cpus-per-task=3", "#SBATCH --mem=2048M", "#SBATCH --time=01:30:00",
                     "#SBATCH --partition=short", "#SBATCH --account=lab"] {
            #expect(lines.contains(want), "missing \(want) in\n\(sub.script)")
        }
        #expect(sub.script.contains("batch subject") && sub.script.contains("--session '1'") && sub.script.contains("CORDQ_THREADS=${SLURM_CPUS_PER_TASK:-3}"))
        #expect(sub.job == nil && !TextFile.exists(dir + "/ds/derivatives"))
        #expect(throws: (any Error).self) { try BatchSlurm.validateTime("90 minutes") }
    }

    /// Why the real-Slurm test cannot run here (printed), nil when it can.
    static let slurmUnavailable: String? = {
        var why: String?
        if getuid() != 0 { why = "not root (the single-node Slurm runs slurmd as root)" }
        for p in ["munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo"] where why == nil {
            if !ChildProcess.isAvailable(p) && !ChildProcess.isAvailable("/usr/sbin/" + p) { why = "\(p) is not installed (Debian munge and slurm-wlm; scripts/install-deps.sh)" }
        }
        if let why { print("BatchCommandTests.slurmBatchWaitOnSingleNodeSlurm skipped: \(why)") }
        return why
    }()

    /// The must-show: a real single-node Slurm (munged, slurmctld, slurmd on localhost with
    /// a generated slurm.conf, started and stopped here by scripts/slurm-single-node.sh)
    /// runs `cordq batch --slurm --wait` on two phantom subjects.
    @Test(.enabled(if: slurmUnavailable == nil, "needs root and Debian slurm-wlm + munge"))
    func slurmBatchWaitOnSingleNodeSlurm() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let root = try Self.cohort(dir, 2, seed: 4)
        let script = Support.packageRoot + "/scripts/slurm-single-node.sh", cluster = dir + "/slurm"
        let (started, out) = try ChildProcess.run(script, ["start", cluster])
        defer { _ = try? ChildProcess.run(script, ["stop", cluster]) }
        try #require(started.succeeded, "the single-node Slurm did not start: \(out)")
        setenv("SLURM_CONF", cluster + "/slurm.conf", 1)
        defer { unsetenv("SLURM_CONF") }

        let db = dir + "/norms.sqlite"
        var batch = try CordQCommand.parseAsRoot(["batch", root, "--slurm", "--wait", "--interval", "0.5", "--threads", "1",
                                                  "--memory-limit", "1", "--time", "00:10:00", "--no-qc", "--then-db", db])
        try batch.run()
        let layout = BatchLayout(root: root)
        let job = try JSONFile.read(SlurmJob.self, from: layout.slurmJob)
        #expect(job.subjects == ["sub-hc01", "sub-hc02"] && !job.jobID.isEmpty && job.dependentJobID != nil)
        let rows = try Self.table(layout.table)
        for id in job.subjects {
            #expect(rows[id]?["status"] == "ok", "\(id): \(rows[id] ?? [:]); log: \((try? TextFile.read(layout.log(id))) ?? "none")")
            #expect(TextFile.exists(layout.output(id) + "/\(id)_metrics.tsv"))
            let rec = try JSONFile.read(BatchSubjectRecord.self, from: layout.record(id))
            #expect(rec.run == "slurm-" + job.jobID && rec.threads == 1)
        }
        // The dependent job (--then-db) ran after the array and stored both volunteers.
        let stored = try NormativeDatabase(path: db, readOnly: true)
        #expect(try stored.subjects().map(\.participant.id) == ["sub-hc01", "sub-hc02"])
        // The script asked for what the options said.
        let text = try TextFile.read(layout.slurmScript)
        #expect(text.contains("#SBATCH --cpus-per-task=1") && text.contains("#SBATCH --mem=1024M") && text.contains("#SBATCH --array=0-1"))
    }
}
