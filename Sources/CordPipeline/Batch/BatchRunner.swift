// `cordq batch BIDS_ROOT`: every subject of a dataset through `cordq process` on this
// machine, N subjects at once, each in its own child process with T threads.
//
// Why child processes rather than tasks inside one process: CordQ's thread count
// (`workerCount`, from `CORDQ_THREADS`) and OpenBLAS's are process-wide, so only a process
// per subject gets exactly T threads; `wait4` gives each subject's own peak memory (the
// number a Slurm memory request needs); a subject that crashes or is killed by the
// out-of-memory killer takes only itself down; and SIGTERM/SIGKILL of a subject leaves at
// most a hidden staging folder, which the batch removes.
import CordCore
import CordIO
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The signal that asked the batch to stop (0 = none). Written by the signal handler only.
nonisolated(unsafe) private var batchStopSignal: sig_atomic_t = 0

public enum BatchRunner {
    /// Runs the batch locally. `log` receives one line per subject started or finished;
    /// `progress` (when true) draws the dataset progress line on a terminal (standard error).
    ///
    /// A subject whose process fails is recorded as failed (its error in `batch.tsv`, its
    /// output left as it was); without `keepGoing` no new subject starts after a failure,
    /// with it the others go on. SIGINT/SIGTERM: no new subject starts, the running ones
    /// get SIGTERM (their staged outputs are removed, finished subjects stay), `batch.tsv`
    /// marks them stopped, and the summary names the signal.
    public static func run(_ r: BatchRequest, progress: Bool = true, log: @escaping @Sendable (String) -> Void = { _ in }) throws -> BatchSummary {
        let t0 = ContinuousClock.now
        let layout = BatchLayout(root: r.root)
        let subjects = try BatchSubjects.list(r)
        let executable = try resolveExecutable(r)
        let previous = BatchSubjects.records(layout)
        let resources = BatchResources.plan(r, subjects: subjects.count, records: Array(previous.values))
        if resources.overcommitted {
            log("warning: \(resources.jobs) subjects at once may need \(formatFixed(Double(resources.jobs) * resources.perSubjectBytes / 1_073_741_824, 1)) GiB, more than the \(formatFixed(resources.memoryBytes / 1_073_741_824, 1)) GiB allowed (--memory-limit)")
        }
        log("\(subjects.count) subject\(subjects.count == 1 ? "" : "s"), \(resources.jobs) at a time with \(resources.threads) thread\(resources.threads == 1 ? "" : "s") each (\(resources.cores) cores; per-subject memory: \(resources.perSubjectSource))")

        var skipped: [String] = [], todo: [String] = []
        if r.resume {
            let fingerprints = ResultSlots<String>(subjects.count)
            parallelChunks(subjects.count) { range, _ in
                for n in range { fingerprints.set(n, Result { try BatchSubjects.inputsSHA256(r, participant: subjects[n]) }) }
            }
            for (id, f) in zip(subjects, fingerprints.results("subject inputs")) {
                if case let .success(sha) = f, BatchSubjects.isCurrent(r, participant: id, fingerprint: sha) { skipped.append(id) } else { todo.append(id) }
            }
            if !skipped.isEmpty { log("resume: \(skipped.count) subject\(skipped.count == 1 ? "" : "s") complete with unchanged inputs, skipped") }
        } else {
            todo = subjects
        }
        try TextFile.makeDirectory(layout.records)
        try BatchSubjects.writeDatasetDescription(layout)

        let runToken = "local-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        var state = [String: BatchRow]()
        for id in skipped { state[id] = previous[id].map(BatchSubjects.row) }
        for id in todo { state[id] = BatchRow(participant: id, status: .pending, seconds: nil, peakMemoryMiB: nil, error: "") }
        func writeTable() throws { try BatchSubjects.writeTable(subjects.compactMap { state[$0] }, layout: layout) }
        try writeTable()

        let line = DatasetProgressLine(total: subjects.count, enabled: progress)
        var queue = todo[...]
        var running: [(id: String, child: ChildProcess)] = []
        var processed: [String] = []
        var stopScheduling = false, stoppedBy: Int32?
        let signals = StopSignals()
        defer { signals.restore() }
        let started = ContinuousClock.now
        var finishedSeconds: [Double] = []

        func finish(_ id: String, _ child: ChildProcess, _ exit: ChildExit, stopped: Bool) throws {
            FolderTree.removeAbandonedStaging(of: layout.output(unit: id))
            var rec = BatchSubjects.record(layout, id)
            if rec?.run != runToken { rec = nil }
            let peak = Double(exit.peakMemoryBytes) / 1_048_576
            let seconds = (ContinuousClock.now - child.started).seconds
            if var rec {
                rec.peakMemoryMiB = peak
                state[id] = BatchSubjects.row(rec)
            } else {
                let why = stopped ? "stopped by \(signalName(stoppedBy ?? SIGTERM)) before it finished; nothing of it was written"
                                  : "its process ended (\(exit.description)) without a result" + lastLine(layout.log(id)) + "; see \(layout.log(id))"
                let made = BatchSubjectRecord(participant: id, status: stopped ? .stopped : .failed, seconds: seconds, peakMemoryMiB: peak,
                                              error: why, inputsSHA256: "", threads: resources.threads, host: BatchSubjects.hostName,
                                              finished: BatchSubjects.timestamp(), run: runToken)
                try JSONFile.write(made, to: layout.record(id))
                state[id] = BatchSubjects.row(made)
            }
            if let row = state[id] {
                if row.status != .stopped { processed.append(id); finishedSeconds.append(seconds) }
                line.clear()
                log("\(id): \(row.status.rawValue) in \(formatFixed(seconds, 1)) s, peak \(formatFixed(peak, 0)) MiB" + (row.error.isEmpty ? "" : ": " + row.error))
                if row.status == .failed && !r.keepGoing && !stopScheduling {
                    stopScheduling = true
                    log("a subject failed: no new subject is started (give --keep-going to process the others)")
                }
            }
            try writeTable()
        }

        while !running.isEmpty || (!queue.isEmpty && !stopScheduling && stoppedBy == nil) {
            if stoppedBy == nil, let s = signals.received {
                stoppedBy = s
                line.clear()
                log("\(signalName(s)): stopping; \(running.count) running subject\(running.count == 1 ? "" : "s") stopped, finished ones kept")
                for (_, c) in running { c.send(SIGTERM) }
                for (id, c) in running { try finish(id, c, c.wait(), stopped: true) }
                running = []
                break
            }
            while running.count < resources.jobs, !stopScheduling, let id = queue.first {
                queue = queue.dropFirst()
                var args = ["batch", "subject", layout.root, id]
                if let s = r.session { args += ["--session", s] }
                if let p = r.protocolName { args += ["--protocol", p] }
                if let d = r.normativeDatabase { args += ["--db", d] }
                if !r.qc { args.append("--no-qc") }
                let env = ["CORDQ_THREADS": "\(resources.threads)", "OPENBLAS_NUM_THREADS": "1", "CORDQ_QUIET": "1",
                           BatchWorker.parentVariable: "\(getpid())", BatchWorker.runVariable: runToken]
                let child = try ChildProcess.start(executable, args, environment: env, log: layout.log(id), ownGroup: true)
                running.append((id, child))
                state[id]?.status = .running
                line.clear()
                log("\(id): started (log \(layout.log(id)))")
                try writeTable()
            }
            var still: [(id: String, child: ChildProcess)] = []
            for (id, c) in running {
                // A subject ended by SIGINT/SIGTERM while the batch is being stopped was stopped, not failed.
                if let e = c.poll() {
                    try finish(id, c, e, stopped: signals.received != nil && (e.signal == SIGINT || e.signal == SIGTERM))
                } else { still.append((id, c)) }
            }
            running = still
            line.draw(state: Array(state.values), started: started, finished: finishedSeconds, jobs: resources.jobs)
            if !running.isEmpty { usleep(100_000) }
        }
        line.clear()
        try writeTable()
        let rows = subjects.compactMap { state[$0] }
        return BatchSummary(root: layout.root, table: layout.table, rows: rows, skipped: skipped, processed: processed,
                            jobs: resources.jobs, threads: resources.threads, interruptedBy: stoppedBy,
                            seconds: (ContinuousClock.now - t0).seconds)
    }

    /// The `cordq` executable subjects run in: the request's; else this process's own when it
    /// is named `cordq`; else a `cordq` beside it (a test runner in `.build/debug`); else this
    /// process's own (a renamed copy of cordq).
    static func resolveExecutable(_ r: BatchRequest) throws -> String {
        if let e = r.executable {
            guard ChildProcess.isAvailable(e) else { throw BatchError.noExecutable("\(e) is not an executable file") }
            return e.contains("/") ? TextFile.canonicalPath(e) : e
        }
        guard let me = TextFile.executablePath else { throw BatchError.noExecutable("the running program's path is unknown; give --cordq PATH") }
        if URL(fileURLWithPath: me).lastPathComponent == "cordq" { return me }
        let beside = URL(fileURLWithPath: me).deletingLastPathComponent().path + "/cordq"
        return ChildProcess.isAvailable(beside) ? beside : me
    }

    /// " (last log line: …)" when the log has one.
    static func lastLine(_ log: String) -> String {
        guard let text = try? TextFile.read(log) else { return "" }
        guard let last = TextLines.split(text).last(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }) else { return "" }
        return " (last log line: \(last.prefix(300)))"
    }

    static func signalName(_ s: Int32) -> String { s == SIGINT ? "SIGINT (Ctrl-C)" : s == SIGTERM ? "SIGTERM" : "signal \(s)" }
}

/// SIGINT and SIGTERM caught for the duration of a batch (the previous handlers come back
/// at `restore()`): the batch loop reads them and stops cleanly.
final class StopSignals {
    private var previous: [(Int32, sighandler_t?)] = []
    init() {
        batchStopSignal = 0
        for s in [SIGINT, SIGTERM] {
            previous.append((s, signal(s) { sig in batchStopSignal = sig }))
        }
    }
    var received: Int32? { batchStopSignal == 0 ? nil : batchStopSignal }
    func restore() {
        for (s, h) in previous { signal(s, h) }
        previous = []
    }
}

/// The dataset progress line on a terminal: done, failed, running, pending and the ETA.
final class DatasetProgressLine: @unchecked Sendable {
    let total: Int
    let enabled: Bool
    private var lastDraw = ContinuousClock.now - .seconds(10)
    private var drawn = false

    init(total: Int, enabled: Bool) {
        self.total = total
        self.enabled = enabled && isatty(2) != 0 && getenv("CORDQ_QUIET") == nil
    }

    /// Redraws at most once a second.
    func draw(state: [BatchRow], started: ContinuousClock.Instant, finished: [Double], jobs: Int) {
        guard enabled, ContinuousClock.now - lastDraw >= .seconds(1) else { return }
        lastDraw = ContinuousClock.now
        writeStandardError("\r" + DatasetProgressLine.text(state: state, total: total, elapsed: (ContinuousClock.now - started).seconds,
                                                           finishedInRun: finished.count) + "\u{1B}[K")
        drawn = true
    }

    func clear() {
        guard enabled, drawn else { return }
        writeStandardError("\r\u{1B}[K")
        drawn = false
    }

    /// `batch: 12/25 done, 1 failed, 2 running, 10 pending, 3.1 subjects/min, ETA 4 min`:
    /// the rate is the subjects finished in this run over its elapsed wall time, and the ETA
    /// the running and pending subjects at that rate.
    static func text(state: [BatchRow], total: Int, elapsed: Double, finishedInRun: Int) -> String {
        let count = { (s: BatchStatus) in state.filter { $0.status == s }.count }
        let done = count(.ok), failed = count(.failed), running = count(.running), pending = count(.pending)
        var t = "batch: \(done + failed)/\(total) done, \(failed) failed, \(running) running, \(pending) pending"
        if finishedInRun > 0, elapsed > 0 {
            let perMinute = Double(finishedInRun) / elapsed * 60
            let eta = Double(running + pending) / perMinute
            t += ", \(formatFixed(perMinute, 1)) subjects/min, ETA " + (eta < 1 ? "\(CheckedNumber.clamped(eta * 60, .up, to: 0...59)) s" : "\(formatFixed(eta, 0)) min")
        } else if running + pending > 0 {
            t += ", ETA after the first subject"
        }
        return t
    }
}
