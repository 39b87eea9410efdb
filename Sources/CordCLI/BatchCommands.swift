// `cordq batch BIDS_ROOT`: a whole dataset through `cordq process`, on this machine or as a
// Slurm job array; `cordq batch status` follows the Slurm job; `cordq batch subject` is one
// subject of a batch (what each child process and each array task runs).
import ArgumentParser
import CordCore
import CordPipeline
#if canImport(Glibc)
import Glibc
#endif

/// `cordq batch …`
public struct BatchCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "Process every subject of a BIDS dataset: N at a time on this machine, or as a Slurm job array.",
        discussion: """
        cordq batch BIDS_ROOT […] runs the dataset (see cordq batch run --help); \
        cordq batch status BIDS_ROOT [--wait] follows a Slurm batch and gathers its results; \
        cordq batch subject BIDS_ROOT SUB is one subject of a batch (what each process or task runs).
        """,
        subcommands: [BatchRunCommand.self, BatchStatusCommand.self, BatchSubjectCommand.self],
        defaultSubcommand: BatchRunCommand.self)
    public init() {}
}

/// Options shared by the batch and each of its subjects.
public struct BatchSubjectOptions: ParsableArguments {
    @Option(help: "Session label (without ses-) to process for every subject that has sessions. Without it, every session is one unit (sub-XX_ses-YY, processed into derivatives/cordq/sub-XX/ses-YY), e.g. the visits before and after a therapy.")
    public var session: String?
    @Option(help: "Protocol card name or YAML path for every subject (cordq process --protocol); default: inferred per subject.")
    public var `protocol`: String?
    @Option(help: "Normative database (cordq db build) whose mean ± SD per level the QC plots show.")
    public var db: String?
    @Flag(help: "Do not write each subject's QC page.")
    public var noQc = false
    public init() {}

    func apply(to r: inout BatchRequest) {
        r.session = session; r.protocolName = `protocol`; r.normativeDatabase = db; r.qc = !noQc
    }
}

/// `cordq batch run BIDS_ROOT …` (the default: `cordq batch BIDS_ROOT …`)
public struct BatchRunCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Process every subject (or --participants) of BIDS_ROOT into BIDS_ROOT/derivatives/cordq/.",
        discussion: """
        Each unit runs `cordq process BIDS_ROOT/sub-XX BIDS_ROOT/derivatives/cordq/sub-XX` \
        (a session unit: --session YY into derivatives/cordq/sub-XX/ses-YY) \
        (see cordq process --help) in its own process, so that it gets exactly --threads \
        threads (CORDQ_THREADS), its own peak memory is measured, and a crash or an \
        out-of-memory kill takes only that subject. Without --resume every listed subject is \
        processed again; an earlier output is replaced only once the new one is complete.

        Local (default): --jobs subjects at a time, --threads each. Defaults: with C cores \
        (CPU affinity) and M = --memory-limit or 80 % of physical memory, jobs = min(C, \
        M / per-subject memory, subjects) and threads = C / jobs; the per-subject memory is \
        1.25 × the largest peak recorded for this dataset, else 1 GiB. One thread per \
        subject and several subjects at once is the faster use of a multi-core machine \
        (Benchmarks/batch/RESULTS.md); on a shared node give --jobs and --threads so the \
        batch takes only your share.

        Units: a subject without sessions, or each session of a subject with sessions (only \
        --session's when given): sub-XX_ses-YY, its outputs in sub-XX/ses-YY/, its log and \
        record named by the unit.

        Files under BIDS_ROOT/derivatives/cordq/: sub-XX/ (the outputs), logs/sub-XX.log (the \
        subject's log), batch/sub-XX.json (its record), batch.tsv (participant_id, session_id \
        (ses-YY or empty), status ok/failed/stopped/running/pending, seconds of wall time, \
        peak_memory_mib = peak resident memory in MiB, error), rewritten atomically as subjects \
        start and finish.

        --resume skips a subject whose last record says ok, whose outputs are complete, and \
        whose inputs are unchanged: SHA-256 over every file of BIDS_ROOT/sub-XX and \
        BIDS_ROOT/derivatives/labels/sub-XX (for a session unit, without the other sessions' \
        folders) and over the options that change its outputs \
        (session, protocol card, database, QC) and CordQ's version (FIPS 180-4).

        A failing subject is recorded with its error; without --keep-going no new subject \
        starts after it (the running ones finish). Ctrl-C / SIGTERM: no new subject starts, \
        the running ones are stopped (nothing of them is written; their staging folders are \
        removed), finished ones are kept, batch.tsv says stopped; run again with --resume.

        On a terminal a line shows done/failed/running/pending, subjects per minute and the ETA.

        Slurm (--slurm): writes derivatives/cordq/batch/slurm/cordq-batch.sbatch, a job array \
        with one task per unit (subject or session; --cpus-per-task = --threads, default 2; --mem = \
        --memory-limit, else 1.25 × the largest recorded peak rounded up to 256 MiB (at least \
        512 MiB), else 1 GiB; --time, else 3 × the longest recorded subject, at least 30 min, else \
        02:00:00), submits it with sbatch and records the job; --dry-run prints the script \
        and writes nothing; --wait follows it until every task ended (cordq batch status \
        does the same later, from any host that can run squeue; with --then-db also for the \
        database job). --then-db DB adds a job that starts once every task has ended \
        (afterany): it gathers batch.tsv and runs cordq db build DB --bids BIDS_ROOT \
        --no-process. The tasks run this cordq \
        executable (or --cordq) on the compute nodes: dataset, executable and atlas must be \
        on a file system they share.

        Exit status: 0 = every subject ok; 1 = a subject failed (or the batch could not \
        start); 130 / 143 = stopped by SIGINT / SIGTERM.
        """)

    @Argument(help: "BIDS dataset folder (holds sub-*).") public var root: String
    @Option(help: "Participants to process: ids separated by commas (sub-01,sub-02 or 01,02), or a file (participants.tsv-like with participant_id, or one id per line).")
    public var participants: String?
    @OptionGroup public var subjectOptions: BatchSubjectOptions
    @Option(help: "Subjects processed at once on this machine (default: from cores and memory, see above).") public var jobs: Int?
    @Option(help: "Threads per subject (CORDQ_THREADS of its process; Slurm: --cpus-per-task). Default: cores / jobs locally, 2 on Slurm.")
    public var threads: Int?
    @Option(help: "Memory in GiB: locally, what the whole batch may use (caps --jobs); on Slurm, the --mem of each task.")
    public var memoryLimit: Double?
    @Flag(help: "Go on with the other subjects after one fails (default: start no new subject after a failure).") public var keepGoing = false
    @Flag(help: "Skip subjects whose outputs are complete and whose inputs (SHA-256) and options are unchanged.") public var resume = false
    @Option(help: "The cordq executable the subjects run in (default: this one). On Slurm it must be on the shared file system.")
    public var cordq: String?
    @Flag(help: "Submit a Slurm job array (one task per subject, or per session of a subject with sessions) instead of running here.") public var slurm = false
    @Option(help: "Slurm partition (sbatch --partition).") public var partition: String?
    @Option(help: "Slurm wall time per task, HH:MM:SS or D-HH:MM:SS (default: from the measured subjects, else 02:00:00).")
    public var time: String?
    @Option(help: "Slurm account (sbatch --account).") public var account: String?
    @Option(help: "Most array tasks running at once (sbatch --array=…%K).") public var arrayLimit: Int?
    @Flag(help: "With --slurm: print the job script; write and submit nothing.") public var dryRun = false
    @Option(help: "With --slurm: once every task has ended, a dependent job gathers batch.tsv and runs cordq db build DB --bids BIDS_ROOT --no-process (healthy volunteers' tables into the normative database).")
    public var thenDb: String?
    @Flag(help: "With --slurm: wait until every task ended and gather the results into batch.tsv.") public var wait = false
    @Option(help: "With --slurm --wait: seconds between squeue polls.") public var interval: Double = 10
    public init() {}

    public func validate() throws {
        if let j = jobs, j < 1 || j > 1024 { throw ValidationError("--jobs takes 1…1024") }
        if let t = threads, t < 1 || t > 1024 { throw ValidationError("--threads takes 1…1024") }
        if let m = memoryLimit, !(m > 0 && m <= 65_536) { throw ValidationError("--memory-limit takes a size in GiB, above 0 and at most 65536") }
        if let k = arrayLimit, k < 1 { throw ValidationError("--array-limit must be at least 1") }
        if !slurm && (partition != nil || time != nil || account != nil || arrayLimit != nil || dryRun || wait || thenDb != nil) {
            throw ValidationError("--partition, --time, --account, --array-limit, --dry-run, --wait and --then-db go with --slurm")
        }
        if let t = time { do { try BatchSlurm.validateTime(t) } catch { throw ValidationError("\(error)") } }
        guard interval >= 0.1 && interval <= 600 else { throw ValidationError("--interval takes 0.1…600 s") }
    }

    func request() throws -> BatchRequest {
        var r = BatchRequest(root: root)
        if let p = participants { r.participants = try BatchSubjects.parseList(p) }
        subjectOptions.apply(to: &r)
        r.jobs = jobs; r.threads = threads; r.memoryLimitGB = memoryLimit
        r.keepGoing = keepGoing; r.resume = resume; r.executable = cordq
        return r
    }

    public func run() throws {
        let log: @Sendable (String) -> Void = { writeStandardError("cordq batch: " + $0 + "\n") }
        if slurm {
            var s = SlurmRequest()
            s.partition = partition; s.time = time; s.account = account; s.arrayLimit = arrayLimit; s.dryRun = dryRun
            s.thenDatabase = thenDb
            var failed = false
            try runReporting("batch") {
                let sub = try BatchSlurm.submit(try request(), s, log: log)
                if dryRun {
                    print(sub.script, terminator: "")
                    if let after = sub.dependentScript { print("\n# then, as a second job:\n" + after, terminator: "") }
                    return
                }
                guard let job = sub.job else {
                    print("nothing to submit: \(sub.skipped.count) subject(s) complete with unchanged inputs")
                    return
                }
                print("submitted Slurm job \(job.jobID): \(job.subjects.count) task(s); follow it with: cordq batch status \(root)" + (wait ? "" : " --wait"))
                if let dep = job.dependentJobID { print("database job \(dep) runs once it has ended: \(thenDb ?? "")") }
                if wait {
                    let summary = try BatchSlurm.status(root: root, wait: true, interval: interval, log: log)
                    report(summary)
                    failed = !summary.failed.isEmpty
                }
            }
            if failed { throw ExitCode(1) }
            return
        }
        var outcome: BatchSummary?
        try runReporting("batch") { outcome = try BatchRunner.run(try request(), log: log) }
        guard let summary = outcome else { return }
        report(summary)
        print("jobs \(summary.jobs), threads per subject \(summary.threads), \(formatFixed(summary.seconds, 1)) s in all")
        if let s = summary.interruptedBy { throw ExitCode(128 + s) }
        if !summary.failed.isEmpty || summary.rows.contains(where: { $0.status != .ok }) { throw ExitCode(1) }
    }
}

/// Prints the dataset table's counts and failures.
func report(_ s: BatchSummary) {
    let count = { (st: BatchStatus) in s.rows.filter { $0.status == st }.count }
    var line = "\(s.table): \(count(.ok)) ok, \(count(.failed)) failed"
    for st in [BatchStatus.stopped, .running, .pending] where count(st) > 0 { line += ", \(count(st)) \(st.rawValue)" }
    if !s.skipped.isEmpty { line += " (\(s.skipped.count) skipped by --resume: unchanged)" }
    print(line)
    for f in s.failed { print("failed: \(f.participant): \(f.error)") }
}

/// `cordq batch status BIDS_ROOT [--wait]`
public struct BatchStatusCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Follow the dataset's Slurm batch (squeue, then each task's record; scontrol/sacct for tasks that ended without one) and gather batch.tsv.",
        discussion: """
        Reads BIDS_ROOT/derivatives/cordq/batch/slurm/job.json (written by cordq batch --slurm), \
        asks squeue which tasks are pending or running, takes the others' results from their \
        records (batch/sub-XX.json, written on the compute node), and names the Slurm state \
        (TIMEOUT, OUT_OF_MEMORY, CANCELLED, …) of a task that ended without one. Rewrites \
        batch.tsv (columns as cordq batch run --help says). --wait repeats every --interval \
        seconds until no task is pending or running. Exit status 1 when a subject failed.
        """)
    @Argument(help: "BIDS dataset folder the batch was submitted for.") public var root: String
    @Flag(help: "Wait until every task has ended.") public var wait = false
    @Option(help: "Seconds between squeue polls with --wait.") public var interval: Double = 10
    public init() {}
    public func validate() throws {
        guard interval >= 0.1 && interval <= 600 else { throw ValidationError("--interval takes 0.1…600 s") }
    }
    public func run() throws {
        var failed = false
        try runReporting("batch status") {
            let s = try BatchSlurm.status(root: root, wait: wait, interval: interval) { writeStandardError("cordq batch: " + $0 + "\n") }
            report(s)
            failed = !s.failed.isEmpty
        }
        if failed { throw ExitCode(1) }
    }
}

/// `cordq batch subject BIDS_ROOT SUB`
public struct BatchSubjectCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "subject",
        abstract: "One unit of a batch: cordq process into derivatives/cordq/SUB (or SUB/ses-YY), then its record batch/UNIT.json.",
        discussion: """
        What every child process of cordq batch and every Slurm array task runs; useful by hand \
        to re-run one subject exactly as the batch does. Threads: CORDQ_THREADS (default: \
        every core). Writes BIDS_ROOT/derivatives/cordq/SUB, or SUB/ses-YY for a session \
        (replacing an earlier output once the new one is complete), and \
        BIDS_ROOT/derivatives/cordq/batch/UNIT.json (status, seconds, peak_memory_mib, error, \
        inputs_sha256). A bare SUB with sessions becomes SUB_ses-YY with --session or when it \
        has one session, and is refused when it has several (it would replace them all). Exit \
        status 1 when the unit failed.
        """)
    @Argument(help: "BIDS dataset folder.") public var root: String
    @Argument(help: "Participant (sub-XX), or one session of it (sub-XX_ses-YY: processed into derivatives/cordq/sub-XX/ses-YY).") public var participant: String
    @OptionGroup public var subjectOptions: BatchSubjectOptions
    public init() {}
    public func run() throws {
        var r = BatchRequest(root: root)
        subjectOptions.apply(to: &r)
        let id = participant.hasPrefix("sub-") ? participant : "sub-" + participant
        var ok = false
        try runReporting("batch subject") {
            let rec = try BatchWorker.run(r, participant: id) { writeStandardError("cordq process: " + $0 + "\n") }
            print("\(rec.participant): \(rec.status.rawValue) in \(formatFixed(rec.seconds, 1)) s, peak \(formatFixed(rec.peakMemoryMiB ?? 0, 0)) MiB" + (rec.error.isEmpty ? "" : ": " + rec.error))
            ok = rec.status == .ok
        }
        if !ok { throw ExitCode(1) }
    }
}
