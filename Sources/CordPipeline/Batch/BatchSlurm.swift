// `cordq batch … --slurm`: one Slurm job array for the dataset (a task per subject, each
// running `cordq batch subject` on a compute node), and `cordq batch status` following it
// through squeue/scontrol/sacct and gathering the tasks' records into batch.tsv.
//
// Only a shared file system is assumed: the tasks read the dataset and write their
// outputs, logs and records under ROOT/derivatives/cordq/; the submit host runs only
// sbatch, squeue, scontrol and sacct, never a subject.
import CordCore
import CordIO
import Foundation

/// The job array as submitted (`derivatives/cordq/batch/slurm/job.json`).
public struct SlurmJob: Sendable, Codable, Equatable {
    public var jobID: String
    /// Task i processes `subjects[i]`.
    public var subjects: [String]
    public var submitted: String
    public var script: String
    /// The token the tasks put in their records (`slurm-<job id>`).
    public var run: String
    /// The dependent job (`--then-db`) that gathers batch.tsv and builds the database once
    /// every task has ended, nil when none was asked for.
    public var dependentJobID: String?
    enum CodingKeys: String, CodingKey { case jobID = "job_id", subjects, submitted, script, run, dependentJobID = "dependent_job_id" }
}

/// What `BatchSlurm.submit` did (or, for a dry run, would do).
public struct SlurmSubmission: Sendable {
    public var script: String
    /// The dependent job's script (`--then-db`), nil when none.
    public var dependentScript: String?
    public var subjects: [String]
    public var skipped: [String]
    public var resources: BatchResources
    /// Memory requested per task (MiB) and its wall time.
    public var memoryMiB: Int
    public var time: String
    /// nil for a dry run.
    public var job: SlurmJob?
}

public enum BatchSlurm {
    // MARK: - The script

    /// Memory per task (MiB): `--memory-limit` when given, else the per-subject need of
    /// `BatchResources` (1.25 × the largest recorded peak, or the default estimate), rounded
    /// up to 256 MiB, at least 512 MiB (Slurm kills a task that exceeds it).
    static func memoryRequestMiB(_ r: BatchRequest, _ res: BatchResources) -> Int {
        let bytes = r.memoryLimitGB.map { $0 * 1_073_741_824 } ?? res.perSubjectBytes
        let mib = CheckedNumber.clamped(bytes / 1_048_576 / 256, .up, to: 1...1_000_000) * 256
        return r.memoryLimitGB == nil ? max(512, mib) : mib
    }

    /// Wall time per task: `--time`, else 3 × the longest recorded subject rounded up to
    /// 10 minutes (at least 30 min), else 2 hours.
    static func timeRequest(_ s: SlurmRequest, _ res: BatchResources) -> String {
        if let t = s.time { return t }
        guard let longest = res.longestSubjectSeconds else { return "02:00:00" }
        let minutes = max(30, CheckedNumber.clamped(longest * 3 / 600, .up, to: 1...10_000) * 10)
        return String(format: "%02d:%02d:00", minutes / 60, minutes % 60)
    }

    /// Checks a wall time as sbatch takes it here: `HH:MM:SS` or `D-HH:MM:SS`.
    public static func validateTime(_ t: String) throws {
        let ok = t.range(of: #"^([0-9]+-)?[0-9]{1,3}:[0-5][0-9]:[0-5][0-9]$"#, options: .regularExpression) != nil
        guard ok else { throw CordError.invalidValue(what: "--time \(t)", detail: "use HH:MM:SS (or D-HH:MM:SS), e.g. 02:00:00") }
    }

    /// The job-array script: one task per line of the subjects file, each running
    /// `cordq batch subject` with `CORDQ_THREADS` = its CPUs, its output in
    /// `logs/<sub>.log`; Slurm's own output (`logs/slurm-<job>_<task>.out`) holds only what
    /// happens before cordq starts.
    public static func script(_ r: BatchRequest, _ s: SlurmRequest, executable: String, subjects: Int,
                              threads: Int, memoryMiB: Int, time: String) -> String {
        let layout = BatchLayout(root: r.root)
        func q(_ x: String) -> String { "'" + x.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        var lines = ["#!/bin/bash",
                     "# cordq batch: one task per subject of \(layout.root) (written by cordq \(CordQVersion.string)).",
                     "#SBATCH --job-name=cordq-batch",
                     "#SBATCH --array=0-\(subjects - 1)" + (s.arrayLimit.map { "%\($0)" } ?? ""),
                     "#SBATCH --ntasks=1",
                     "#SBATCH --cpus-per-task=\(threads)",
                     "#SBATCH --mem=\(memoryMiB)M",
                     "#SBATCH --time=\(time)",
                     "#SBATCH --output=\(layout.derivatives)/logs/slurm-%A_%a.out"]
        if let p = s.partition { lines.append("#SBATCH --partition=\(p)") }
        if let a = s.account { lines.append("#SBATCH --account=\(a)") }
        var args = ["batch", "subject", q(layout.root), "\"$subject\""]
        if let v = r.session { args += ["--session", q(v)] }
        if let v = r.protocolName { args += ["--protocol", q(TextFile.exists(v) ? TextFile.canonicalPath(v) : v)] }
        if let v = r.normativeDatabase { args += ["--db", q(TextFile.canonicalPath(v))] }
        if !r.qc { args.append("--no-qc") }
        lines += ["set -euo pipefail",
                  "subject=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" \(q(layout.slurmSubjects)))",
                  "[ -n \"$subject\" ] || { echo \"no subject for task $SLURM_ARRAY_TASK_ID\" >&2; exit 2; }",
                  "export CORDQ_THREADS=${SLURM_CPUS_PER_TASK:-\(threads)} OPENBLAS_NUM_THREADS=1 CORDQ_QUIET=1",
                  "export \(BatchWorker.runVariable)=slurm-$SLURM_ARRAY_JOB_ID",
                  "mkdir -p \(q(layout.derivatives + "/logs"))",
                  "exec \(q(executable)) " + args.joined(separator: " ") + " > \(q(layout.derivatives + "/logs/"))\"$subject.log\" 2>&1"]
        return lines.joined(separator: "\n") + "\n"
    }

    /// The job that runs after every task of `jobID` has ended (`afterany`: failed subjects
    /// are reported, the others still go in): `cordq batch status ROOT` gathers batch.tsv,
    /// then `cordq db build DB --bids ROOT --no-process` stores the healthy volunteers'
    /// tables (a subject without a table is reported by db build, not re-processed).
    public static func dependentScript(_ r: BatchRequest, _ s: SlurmRequest, executable: String, jobID: String, database: String) -> String {
        let layout = BatchLayout(root: r.root)
        func q(_ x: String) -> String { "'" + x.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        var lines = ["#!/bin/bash",
                     "# cordq batch: normative database of \(layout.root) once job \(jobID) has ended.",
                     "#SBATCH --job-name=cordq-batch-db",
                     "#SBATCH --dependency=afterany:\(jobID)",
                     "#SBATCH --ntasks=1",
                     "#SBATCH --cpus-per-task=1",
                     "#SBATCH --mem=1024M",
                     "#SBATCH --time=01:00:00",
                     "#SBATCH --output=\(layout.derivatives)/logs/slurm-%j-db.out"]
        if let p = s.partition { lines.append("#SBATCH --partition=\(p)") }
        if let a = s.account { lines.append("#SBATCH --account=\(a)") }
        lines += ["export CORDQ_THREADS=1 CORDQ_QUIET=1",
                  "\(q(executable)) batch status \(q(layout.root)) || true   # exit 1 only says a subject failed",
                  "exec \(q(executable)) db build \(q(TextFile.canonicalPath(database))) --bids \(q(layout.root)) --no-process"]
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: - Submission

    /// Plans the array (subjects, `--resume` skipping current ones, CPUs and memory from
    /// the measured subjects), writes the subjects file and the script under
    /// `derivatives/cordq/batch/slurm/`, submits it with `sbatch --parsable` and records the
    /// job. With `dryRun` nothing is written or submitted: the summary carries the script.
    public static func submit(_ r: BatchRequest, _ s: SlurmRequest, log: @Sendable (String) -> Void = { _ in }) throws -> SlurmSubmission {
        let layout = BatchLayout(root: r.root)
        let all = try BatchSubjects.list(r)
        let executable = try BatchRunner.resolveExecutable(r)
        guard executable.hasPrefix("/") else { throw BatchError.noExecutable("\(executable) is not an absolute path; the compute nodes need one on the shared file system (--cordq)") }
        let records = BatchSubjects.records(layout)
        var req = r
        if req.threads == nil { req.threads = BatchResources.defaultSlurmThreads }
        let res = BatchResources.plan(req, subjects: all.count, records: Array(records.values))
        var todo = all, skipped: [String] = []
        if r.resume {
            todo = []
            for id in all {
                if let sha = try? BatchSubjects.inputsSHA256(r, participant: id), BatchSubjects.isCurrent(r, participant: id, fingerprint: sha) {
                    skipped.append(id)
                } else { todo.append(id) }
            }
        }
        let memory = memoryRequestMiB(r, res), time = timeRequest(s, res)
        if let t = s.time { try validateTime(t) }
        let threads = req.threads ?? BatchResources.defaultSlurmThreads
        guard !todo.isEmpty else {
            return SlurmSubmission(script: "", dependentScript: nil, subjects: [], skipped: skipped, resources: res, memoryMiB: memory, time: time, job: nil)
        }
        let text = script(r, s, executable: executable, subjects: todo.count, threads: threads, memoryMiB: memory, time: time)
        if s.dryRun {
            let after = s.thenDatabase.map { dependentScript(r, s, executable: executable, jobID: "<job id>", database: $0) }
            return SlurmSubmission(script: text, dependentScript: after, subjects: todo, skipped: skipped, resources: res,
                                   memoryMiB: memory, time: time, job: nil)
        }
        guard ChildProcess.isAvailable("sbatch") else { throw BatchError.slurm("sbatch is not on PATH (is this a Slurm submit host?); --dry-run prints the script") }
        try TextFile.write(todo.joined(separator: "\n") + "\n", to: layout.slurmSubjects)
        try TextFile.write(text, to: layout.slurmScript)
        try BatchSubjects.writeDatasetDescription(layout)
        try TextFile.makeDirectory(layout.derivatives + "/logs")
        let (exit, output) = try ChildProcess.run("sbatch", ["--parsable", layout.slurmScript])
        guard exit.succeeded, let id = output.split(separator: "\n").last?.split(separator: ";").first.map(String.init),
              !id.isEmpty, id.allSatisfy(\.isNumber) else {
            throw BatchError.slurm("sbatch failed (\(exit.description)): \(output.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        var job = SlurmJob(jobID: id, subjects: todo, submitted: BatchSubjects.timestamp(), script: layout.slurmScript, run: "slurm-" + id)
        var after: String?
        if let db = s.thenDatabase {
            let text = dependentScript(r, s, executable: executable, jobID: id, database: db)
            let path = layout.slurm + "/cordq-batch-db.sbatch"
            try TextFile.write(text, to: path)
            let (e, out) = try ChildProcess.run("sbatch", ["--parsable", path])
            guard e.succeeded, let dep = out.split(separator: "\n").last?.split(separator: ";").first.map(String.init), !dep.isEmpty, dep.allSatisfy(\.isNumber) else {
                throw BatchError.slurm("job \(id) was submitted, but sbatch of the database job failed (\(e.description)): \(out.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            job.dependentJobID = dep; after = text
            log("submitted job \(dep) (db build \(db)), to run once job \(id) has ended")
        }
        try JSONFile.write(job, to: layout.slurmJob)
        var rows = skipped.compactMap { records[$0].map(BatchSubjects.row) }
        rows += todo.map { BatchRow(participant: $0, status: .pending, seconds: nil, peakMemoryMiB: nil, error: "") }
        try BatchSubjects.writeTable(rows, layout: layout)
        log("submitted job \(id): \(todo.count) task\(todo.count == 1 ? "" : "s"), \(threads) CPU\(threads == 1 ? "" : "s") and \(memory) MiB each, time \(time)")
        return SlurmSubmission(script: text, dependentScript: after, subjects: todo, skipped: skipped, resources: res, memoryMiB: memory, time: time, job: job)
    }

    // MARK: - Following the job

    /// The state of each task of the dataset's last job array (from squeue while it is
    /// queued or running, then from the task's record, else from scontrol/sacct), written
    /// into `batch.tsv`. With `wait`, polls every `interval` seconds until no task is
    /// pending or running, drawing the dataset progress line on a terminal.
    public static func status(root: String, wait: Bool = false, interval: Double = 10, progress: Bool = true,
                              log: @Sendable (String) -> Void = { _ in }) throws -> BatchSummary {
        let t0 = ContinuousClock.now
        let layout = BatchLayout(root: root)
        guard TextFile.exists(layout.slurmJob) else {
            throw CordIOError.notFound(path: layout.slurmJob + " (no Slurm batch was submitted for this dataset: cordq batch ROOT --slurm)")
        }
        let job = try JSONFile.read(SlurmJob.self, from: layout.slurmJob)
        let line = DatasetProgressLine(total: job.subjects.count, enabled: progress)
        var finished: Set<String> = []
        var rows: [BatchRow] = []
        while true {
            let queue = try queued(job.jobID)
            rows = []
            for (i, id) in job.subjects.enumerated() {
                if let state = queue[i] {
                    let st: BatchStatus = ["RUNNING", "COMPLETING", "CONFIGURING", "STAGE_OUT"].contains(state) ? .running : .pending
                    rows.append(BatchRow(participant: id, status: st, seconds: nil, peakMemoryMiB: nil, error: ""))
                    continue
                }
                if let rec = BatchSubjects.record(layout, id), rec.run == job.run {
                    rows.append(BatchSubjects.row(rec))
                } else {
                    let ended = endedState(job.jobID, task: i)
                    rows.append(BatchRow(participant: id, status: .failed, seconds: nil, peakMemoryMiB: nil,
                                         error: "Slurm task \(job.jobID)_\(i) ended \(ended ?? "(state no longer known to Slurm)") without a result; see \(layout.log(id)) and \(layout.derivatives)/logs/slurm-\(job.jobID)_\(i).out"))
                }
                if finished.insert(id).inserted, let r = rows.last {
                    line.clear()
                    log("\(id): \(r.status.rawValue)" + (r.seconds.map { " in \(formatFixed($0, 1)) s" } ?? "")
                        + (r.peakMemoryMiB.map { ", peak \(formatFixed($0, 0)) MiB" } ?? "") + (r.error.isEmpty ? "" : ": " + r.error))
                }
            }
            try BatchSubjects.writeTable(rows, layout: layout)
            var active = rows.contains { $0.status == .running || $0.status == .pending }
            // With --wait, the dependent database job is waited for as well.
            if !active, wait, let dep = job.dependentJobID, try queuedJob(dep) { active = true }
            line.draw(state: rows, started: t0, finished: Array(repeating: 0, count: finished.count), jobs: 1)
            if !wait || !active { break }
            let micros = CheckedNumber.clamped(interval * 1_000_000, .toNearestOrEven, to: 100_000...600_000_000)
            usleep(UInt32(truncatingIfNeeded: micros))
        }
        line.clear()
        return BatchSummary(root: layout.root, table: layout.table, rows: rows, skipped: [], processed: Array(finished).sorted(),
                            jobs: 0, threads: 0, interruptedBy: nil, seconds: (ContinuousClock.now - t0).seconds)
    }

    /// Array task index → squeue state (PENDING, RUNNING, …) of the tasks still queued.
    static func queued(_ jobID: String) throws -> [Int: String] {
        let (exit, out) = try ChildProcess.run("squeue", ["-h", "-r", "-j", jobID, "-o", "%K %T"])
        guard exit.succeeded else {
            // squeue refuses a job id it no longer knows: nothing of it is queued.
            if out.contains("Invalid job id") { return [:] }
            throw BatchError.slurm("squeue failed (\(exit.description)): \(out.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return parseQueue(out)
    }

    /// Whether a plain (non-array) job is still queued or running.
    static func queuedJob(_ jobID: String) throws -> Bool {
        let (exit, out) = try ChildProcess.run("squeue", ["-h", "-j", jobID, "-o", "%T"])
        guard exit.succeeded else { return false }
        return TextLines.split(out).contains { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
    }

    /// `squeue -o "%K %T"` lines → task index → state (a pending range such as `2-5%2` counts for each index).
    static func parseQueue(_ text: String) -> [Int: String] {
        var out: [Int: String] = [:]
        for line in TextLines.split(text) {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count == 2 else { continue }
            let spec = parts[0].split(separator: "%").first.map(String.init) ?? ""
            for piece in spec.split(separator: ",") {
                let ends = piece.split(separator: "-").compactMap { Int($0) }
                if ends.count == 1 { out[ends[0]] = String(parts[1]) }
                else if ends.count == 2, ends[0] <= ends[1] { for i in ends[0]...ends[1] { out[i] = String(parts[1]) } }
            }
        }
        return out
    }

    /// How a task that left the queue ended (e.g. `TIMEOUT`, `OUT_OF_MEMORY`, `FAILED`),
    /// from scontrol (recent jobs) or sacct (with accounting); nil when neither knows.
    static func endedState(_ jobID: String, task: Int) -> String? {
        if let (e, out) = try? ChildProcess.run("scontrol", ["show", "job", "-o", jobID]), e.succeeded {
            for line in TextLines.split(out) where line.contains("ArrayTaskId=\(task) ") {
                let fields = line.split(separator: " ")
                let state = fields.first { $0.hasPrefix("JobState=") }?.dropFirst(9)
                let code = fields.first { $0.hasPrefix("ExitCode=") }?.dropFirst(9)
                if let state { return "\(state)" + (code.map { " (exit code \($0))" } ?? "") }
            }
        }
        if let (e, out) = try? ChildProcess.run("sacct", ["-n", "-P", "-X", "-j", "\(jobID)_\(task)", "-o", "State,ExitCode"], mergeErrors: false),
           e.succeeded, let first = TextLines.split(out).first, !first.isEmpty {
            let p = first.split(separator: "|")
            return "\(p.first ?? "")" + (p.count > 1 ? " (exit code \(p[1]))" : "")
        }
        return nil
    }
}
