// How many subjects at once, how many threads each, how much memory: from the cores and
// memory present and from what earlier subjects of the dataset measured.
import CordCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The machine and per-subject sizes a batch is planned with.
public struct BatchResources: Sendable {
    /// Cores this process may use (the online cores; inside a Slurm allocation
    /// `SLURM_CPUS_ON_NODE` when smaller).
    public var cores: Int
    /// Memory the batch may use (bytes): `--memory-limit`, else 80 % of physical memory.
    public var memoryBytes: Double
    /// Memory one subject needs (bytes): 1.25 × the largest peak of the dataset's recorded
    /// subjects, else `defaultSubjectBytes`.
    public var perSubjectBytes: Double
    /// Where `perSubjectBytes` comes from (for the log).
    public var perSubjectSource: String
    /// Longest recorded subject (s), nil when none is recorded yet.
    public var longestSubjectSeconds: Double?
    public var jobs: Int
    public var threads: Int

    /// Peak memory assumed for a subject before any has been measured (bytes): 1 GiB. Measured
    /// peaks of `cordq process` (release): 76 MiB for the demo phantom subject and 160 MiB for
    /// the same subject at 4× the voxels (Benchmarks/process/RESULTS.md); 1 GiB leaves room
    /// for clinical DWI series several times larger, and is replaced by 1.25 × the measured
    /// peak once the dataset's first subjects are recorded.
    public static let defaultSubjectBytes = 1_073_741_824.0
    /// Worker threads of a Slurm task when `--threads` is not given.
    public static let defaultSlurmThreads = 2

    /// Plans `subjects` subjects with the request's `--jobs`, `--threads`, `--memory-limit`:
    /// - neither given: jobs = min(cores, memory / per-subject need, subjects), threads = cores / jobs
    ///   (one thread per subject when there are enough subjects: subjects scale better than
    ///   threads inside one subject, see the benchmark);
    /// - `--jobs N`: threads = max(1, cores / N); `--threads T`: jobs = max(1, min(cores / T, memory / need, subjects)).
    public static func plan(_ r: BatchRequest, subjects: Int, records: [BatchSubjectRecord]) -> BatchResources {
        let cores = availableCores()
        let memory = r.memoryLimitGB.map { $0 * 1_073_741_824 } ?? physicalMemory() * 0.8
        let peaks = records.compactMap(\.peakMemoryMiB).filter { $0.isFinite && $0 > 0 }
        let need: Double, source: String
        if let m = peaks.max() {
            need = m * 1_048_576 * 1.25
            source = "1.25 × the largest peak of \(peaks.count) recorded subject\(peaks.count == 1 ? "" : "s") (\(formatFixed(m, 0)) MiB)"
        } else {
            need = defaultSubjectBytes
            source = "default estimate (no subject of this dataset measured yet)"
        }
        let byMemory = max(1, CheckedNumber.clamped(memory / need, .down, to: 1...4096))
        let n = max(1, subjects)
        let jobs: Int, threads: Int
        switch (r.jobs, r.threads) {
        case let (j?, t?): jobs = j; threads = t
        case let (j?, nil): jobs = j; threads = max(1, cores / j)
        case let (nil, t?): jobs = max(1, min(cores / t, byMemory, n)); threads = t
        case (nil, nil): jobs = max(1, min(cores, byMemory, n)); threads = max(1, cores / jobs)
        }
        let longest = records.filter { $0.status == .ok }.map(\.seconds).max()
        return BatchResources(cores: cores, memoryBytes: memory, perSubjectBytes: need, perSubjectSource: source,
                              longestSubjectSeconds: longest, jobs: jobs, threads: threads)
    }

    /// Whether the planned jobs may need more memory than the budget.
    public var overcommitted: Bool { Double(jobs) * perSubjectBytes > memoryBytes }

    /// Cores available to this process.
    public static func availableCores() -> Int {
        var n = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        if let s = ProcessInfo.processInfo.environment["SLURM_CPUS_ON_NODE"], let c = Int(s), c > 0 { n = min(n, c) }
        return n
    }

    /// Physical memory (bytes).
    public static func physicalMemory() -> Double {
        Double(max(1, sysconf(Int32(_SC_PHYS_PAGES)))) * Double(max(1, sysconf(Int32(_SC_PAGESIZE))))
    }
}
