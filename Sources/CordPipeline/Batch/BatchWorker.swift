// `cordq batch subject`: one subject of a batch, run in its own process (a child of the
// local batch, or a Slurm array task), ending with its record written atomically.
import CordCore
import CordIO
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum BatchWorker {
    /// Environment variable naming the batch process that started this one: when that
    /// process disappears (killed with SIGKILL, which it cannot pass on), this subject stops
    /// within about a second instead of running on unattended.
    public static let parentVariable = "CORDQ_BATCH_PARENT"
    /// Environment variable with the batch run's token, copied into the record.
    public static let runVariable = "CORDQ_BATCH_RUN"

    /// Processes `participant` (a `BatchUnit`: a subject, or `sub-01_ses-pre` for one of its
    /// sessions; a bare subject with sessions is made a unit by `BatchSubjects.unit`) of `r.root` into `derivatives/cordq/<participant>` (`<sub>/ses-<label>`) with
    /// `cordq process` (`ProcessPipeline.run`: staged, moved into place only when complete,
    /// replacing an earlier output only then) and writes its record
    /// `derivatives/cordq/batch/<participant>.json`: ok, or failed with the error. The peak
    /// memory is this process's (`getrusage`, Linux `ru_maxrss`). Throws only when the record
    /// itself cannot be written.
    public static func run(_ r: BatchRequest, participant given: String, log: @escaping @Sendable (String) -> Void) throws -> BatchSubjectRecord {
        startParentWatch()
        let participant = try BatchSubjects.unit(r, given)
        let t0 = ContinuousClock.now
        let layout = BatchLayout(root: r.root)
        let environment = ProcessInfo.processInfo.environment
        var record = BatchSubjectRecord(participant: participant, status: .failed, seconds: 0, peakMemoryMiB: nil, error: "",
                                        inputsSHA256: "", threads: workerCount, host: BatchSubjects.hostName,
                                        finished: "", run: environment[runVariable] ?? "")
        do {
            record.inputsSHA256 = try BatchSubjects.inputsSHA256(r, participant: participant)
            let (subject, session) = BatchUnit.split(participant)
            var p = ProcessRequest(subject: layout.root + "/" + subject, output: layout.output(unit: participant))
            p.session = session; p.protocolName = r.protocolName; p.normativeDatabase = r.normativeDatabase
            p.qc = r.qc; p.overwrite = true
            let s = try ProcessPipeline.run(p, log: log)
            record.status = .ok
            log("\(participant): \(s.rows) rows in \(s.tablePath)")
            for w in s.warnings { log("warning: \(w)") }
        } catch {
            record.status = .failed
            record.error = "\(error)"
            log("\(participant): FAILED: \(error)")
        }
        record.seconds = (ContinuousClock.now - t0).seconds
        record.peakMemoryMiB = peakMemoryMiB()
        record.finished = BatchSubjects.timestamp()
        try JSONFile.write(record, to: layout.record(participant))
        return record
    }

    /// This process's peak resident memory (MiB).
    static func peakMemoryMiB() -> Double {
        var u = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
        return Double(u.ru_maxrss) / 1024   // KiB on Linux
    }

    /// When started by a local batch, a thread that ends this process once the batch is
    /// gone (its parent changed): nothing is committed half-way, since outputs are staged.
    static func startParentWatch() {
        guard let text = ProcessInfo.processInfo.environment[parentVariable], let parent = Int32(text), parent > 1 else { return }
        let watcher = Thread {
            while true {
                if getppid() != parent { _exit(143) }
                usleep(250_000)
            }
        }
        watcher.start()
    }
}
