// `cordq batch`: what a dataset run is asked to do, what each subject reports, and where
// everything lives under `derivatives/cordq/`.
import CordCore
import Foundation

/// Options of `cordq batch` (local and Slurm).
public struct BatchRequest: Sendable {
    /// The BIDS dataset folder (holds `sub-*`).
    public var root: String
    /// Participant ids to process (`sub-01` or `01`); empty = every `sub-*` folder of the root.
    public var participants: [String] = []
    /// Session label (without `ses-`) to process for every subject that has sessions. nil:
    /// every session, one unit each (`BatchUnit`). A session is processed into
    /// `derivatives/cordq/<sub>/ses-<label>`.
    public var session: String?
    /// Subjects processed at once (local) — nil = from the cores and memory (`BatchResources.plan`).
    public var jobs: Int?
    /// Worker threads of each subject (`CORDQ_THREADS` of its process) — nil = cores / jobs.
    public var threads: Int?
    /// Memory (GiB) the batch may use in all (local: caps the jobs; Slurm: the memory request
    /// of each task when given) — nil = 80 % of the machine's physical memory.
    public var memoryLimitGB: Double?
    /// Go on with the other subjects when one fails (default: start no new subject after a
    /// failure; the running ones finish).
    public var keepGoing = false
    /// Skip subjects whose outputs are complete and whose inputs (SHA-256) and options are unchanged.
    public var resume = false
    public var protocolName: String?
    /// Normative database for the QC plots (`cordq process --db`).
    public var normativeDatabase: String?
    /// Write each subject's QC page (`cordq process` default).
    public var qc = true
    /// The `cordq` executable the subjects run in (a child process each; on Slurm, the path
    /// the compute nodes run, so it must be on the shared file system). nil = this process's own.
    public var executable: String?
    public init(root: String) { self.root = root }
}

/// Slurm options of `cordq batch --slurm`.
public struct SlurmRequest: Sendable {
    public var partition: String?
    /// Wall time of each task, `HH:MM:SS` (or `D-HH:MM:SS`); nil = from the measured subjects (`BatchResources`).
    public var time: String?
    public var account: String?
    /// Most array tasks running at once (`--array=0-N%K`); nil = no limit.
    public var arrayLimit: Int?
    /// Print the script, write and submit nothing.
    public var dryRun = false
    /// A normative database to build from the dataset once every task has ended (a
    /// dependent job: `cordq batch status` then `cordq db build DB --bids ROOT --no-process`).
    public var thenDatabase: String?
    public init() {}
}

/// How a subject of the batch stands.
public enum BatchStatus: String, Sendable, Codable, CaseIterable {
    /// Processed; its outputs are complete.
    case ok
    /// Its run failed (the error says why); nothing of it was written.
    case failed
    /// Stopped by SIGTERM/Ctrl-C before it finished; nothing of it was written.
    case stopped
    case running, pending
}

/// What one subject's run reports (`derivatives/cordq/batch/<sub>.json`, written atomically
/// by the process that ran it — on Slurm, on the compute node).
public struct BatchSubjectRecord: Sendable, Codable, Equatable {
    public var participant: String
    public var status: BatchStatus
    /// Wall time of the subject (s).
    public var seconds: Double
    /// Peak resident memory of the subject's process (MiB); nil when not measured.
    public var peakMemoryMiB: Double?
    /// Why it failed or stopped; empty when ok.
    public var error: String
    /// SHA-256 over the subject's input files (names and contents) and the options that change its outputs.
    public var inputsSHA256: String
    /// Worker threads the subject ran with.
    public var threads: Int
    /// Host that ran it.
    public var host: String
    /// When it finished (ISO 8601, UTC).
    public var finished: String
    /// The batch run that started it (`CORDQ_BATCH_RUN`), so a batch tells its own results
    /// from an earlier run's.
    public var run: String

    enum CodingKeys: String, CodingKey {
        case participant = "participant_id", status, seconds, peakMemoryMiB = "peak_memory_mib", error
        case inputsSHA256 = "inputs_sha256", threads, host, finished, run
    }
}

/// One row of `batch.tsv`.
public struct BatchRow: Sendable, Equatable {
    public var participant: String
    public var status: BatchStatus
    public var seconds: Double?
    public var peakMemoryMiB: Double?
    public var error: String
}

/// What a `cordq batch` run did.
public struct BatchSummary: Sendable {
    public var root: String
    /// `derivatives/cordq/batch.tsv`.
    public var table: String
    public var rows: [BatchRow]
    /// Subjects skipped by `--resume` (outputs complete, inputs unchanged).
    public var skipped: [String]
    /// Subjects processed in this run (ok or failed).
    public var processed: [String]
    public var jobs: Int
    public var threads: Int
    /// The signal that stopped the batch (SIGINT/SIGTERM), nil when it ran to its end.
    public var interruptedBy: Int32?
    public var seconds: Double
    public var failed: [BatchRow] { rows.filter { $0.status == .failed } }
}

/// Errors of `cordq batch`.
public enum BatchError: Error, Sendable, CustomStringConvertible {
    case noSubjects(root: String, detail: String)
    case unknownParticipants(root: String, ids: [String])
    case noExecutable(String)
    case slurm(String)
    public var description: String {
        switch self {
        case let .noSubjects(root, detail): return "\(root): no subject to process (\(detail))"
        case let .unknownParticipants(root, ids):
            return "\(root) has no folder for \(ids.joined(separator: ", ")) (--participants names sub-* folders of the dataset)"
        case let .noExecutable(why): return "cannot find the cordq executable the subjects run in: \(why)"
        case let .slurm(why): return "slurm: \(why)"
        }
    }
}

/// Where a batch keeps its files (all under `ROOT/derivatives/cordq/`).
public struct BatchLayout: Sendable {
    public let root: String
    public init(root: String) { self.root = URL(fileURLWithPath: root).standardizedFileURL.path }
    public var derivatives: String { root + "/derivatives/cordq" }
    /// `cordq process` output of a subject.
    public func output(_ participant: String) -> String { derivatives + "/" + participant }
    /// `cordq process` output of a batch unit (`BatchUnit`): the subject's folder, or
    /// `<sub>/ses-<label>` for one session of a subject with several.
    public func output(unit id: String) -> String {
        let (participant, session) = BatchUnit.split(id)
        return session.map { output(participant) + "/ses-" + $0 } ?? output(participant)
    }
    /// The subject's log (its `cordq process` lines and errors).
    public func log(_ participant: String) -> String { derivatives + "/logs/" + participant + ".log" }
    /// The subject's record (`BatchSubjectRecord`).
    public func record(_ participant: String) -> String { derivatives + "/batch/" + participant + ".json" }
    public var records: String { derivatives + "/batch" }
    public var table: String { derivatives + "/batch.tsv" }
    public var slurm: String { derivatives + "/batch/slurm" }
    public var slurmJob: String { slurm + "/job.json" }
    public var slurmScript: String { slurm + "/cordq-batch.sbatch" }
    public var slurmSubjects: String { slurm + "/subjects.txt" }
}

/// One unit of a batch: a subject (`sub-01`), or one session of a subject with several
/// (`sub-01_ses-pre`, the session's BIDS file-name prefix). Records, logs and `batch.tsv`
/// rows are named by the unit.
public enum BatchUnit {
    /// `sub-01_ses-pre` → (`sub-01`, `pre`); `sub-01` → (`sub-01`, nil).
    public static func split(_ id: String) -> (participant: String, session: String?) {
        guard let r = id.range(of: "_ses-") else { return (id, nil) }
        return (String(id[..<r.lowerBound]), String(id[r.upperBound...]))
    }
    public static func id(_ participant: String, session: String?) -> String {
        participant + (session.map { "_ses-" + $0 } ?? "")
    }
}
