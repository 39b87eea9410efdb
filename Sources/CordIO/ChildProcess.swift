// Child processes for `cordq batch`: one `cordq batch subject` per subject with its output
// going to a log file, and short commands (sbatch, squeue, scontrol) whose output is read.
// They live in CordIO because starting them opens files (the log) and reads pipes.
import CordCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How a child process ended.
public struct ChildExit: Sendable, Equatable {
    /// Exit status (0–255) when it exited, nil when a signal ended it.
    public var status: Int32?
    /// The signal that ended it, nil when it exited.
    public var signal: Int32?
    /// Peak resident memory of the child (bytes), from `wait4`'s rusage (`ru_maxrss`).
    public var peakMemoryBytes: Int
    public var succeeded: Bool { status == 0 }
    /// "exit status 1" or "killed by signal 9 (SIGKILL)".
    public var description: String {
        if let s = status { return "exit status \(s)" }
        let sig = signal ?? 0
        let names: [Int32: String] = [SIGKILL: "SIGKILL", SIGTERM: "SIGTERM", SIGINT: "SIGINT", SIGSEGV: "SIGSEGV",
                                      SIGABRT: "SIGABRT", SIGILL: "SIGILL", SIGBUS: "SIGBUS", SIGTRAP: "SIGTRAP"]
        return "killed by signal \(sig)" + (names[sig].map { " (\($0))" } ?? "")
    }
}

/// A running child process started by `ChildProcess.start`.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    public let started = ContinuousClock.now
    private var ended: ChildExit?

    private init(pid: pid_t) { self.pid = pid }

    /// Starts `executable` with `arguments` (not through a shell) and `environment` added to
    /// this process's environment; standard output and error go to `log` (created or
    /// truncated; its folder is created), standard input is /dev/null. With `ownGroup` the
    /// child gets a process group of its own, so a Ctrl-C on the terminal reaches only the
    /// parent, which then stops its children itself.
    public static func start(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                             log: String, ownGroup: Bool = false) throws -> ChildProcess {
        try TextFile.makeDirectory(URL(fileURLWithPath: log).deletingLastPathComponent().path)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let pid = try spawn(executable, arguments, environment: environment, actions: &actions, ownGroup: ownGroup)
        return ChildProcess(pid: pid)
    }

    /// The exit of the child if it has ended (reaped once, with its rusage), else nil. Never blocks.
    public func poll() -> ChildExit? {
        if let e = ended { return e }
        var status: Int32 = 0
        var usage = rusage()
        let r = wait4(pid, &status, WNOHANG, &usage)
        guard r == pid else { return nil }
        let e = ChildProcess.exit(status, usage)
        ended = e
        return e
    }

    /// Waits for the child to end.
    public func wait() -> ChildExit {
        if let e = ended { return e }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        let e = ChildProcess.exit(status, usage)
        ended = e
        return e
    }

    /// Sends `sig` to the child (nothing when it has been reaped already).
    public func send(_ sig: Int32) { if ended == nil { kill(pid, sig) } }

    static func exit(_ status: Int32, _ usage: rusage) -> ChildExit {
        // Linux reports ru_maxrss in KiB.
        let peak = Int(usage.ru_maxrss) * 1024
        let low = status & 0x7f
        if low == 0 { return ChildExit(status: (status >> 8) & 0xff, signal: nil, peakMemoryBytes: peak) }
        return ChildExit(status: nil, signal: low, peakMemoryBytes: peak)
    }

    static func spawn(_ executable: String, _ arguments: [String], environment: [String: String],
                      actions: inout posix_spawn_file_actions_t, ownGroup: Bool = false) throws -> pid_t {
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv { free(p) }; for p in envp { free(p) } }
        // The child starts with default signal dispositions and nothing blocked, whatever
        // the parent (a batch that ignores SIGINT/SIGTERM while it stops cleanly) has set.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t(), none = sigset_t()
        sigemptyset(&defaults); sigaddset(&defaults, SIGINT); sigaddset(&defaults, SIGTERM); sigaddset(&defaults, SIGPIPE)
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &none)
        var flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK
        if ownGroup { flags |= POSIX_SPAWN_SETPGROUP; posix_spawnattr_setpgroup(&attributes, 0) }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, executable, &actions, &attributes, argv, envp)
        guard rc == 0 else {
            throw CordIOError.unreadable(path: executable, reason: "cannot start it: \(String(cString: strerror(rc)))")
        }
        return pid
    }

    /// Runs a short command to its end and returns its exit and standard output (standard
    /// error is appended to the output when `mergeErrors`). For sbatch, squeue and scontrol.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                           mergeErrors: Bool = true) throws -> (exit: ChildExit, output: String) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw CordIOError.unreadable(path: executable, reason: "cannot create a pipe") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        if mergeErrors { posix_spawn_file_actions_adddup2(&actions, fds[1], 2) }
        posix_spawn_file_actions_addclose(&actions, fds[0])
        posix_spawn_file_actions_addclose(&actions, fds[1])
        let pid: pid_t
        do { pid = try spawn(executable, arguments, environment: environment, actions: &actions) } catch {
            close(fds[0]); close(fds[1]); throw error
        }
        close(fds[1])
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 14)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        close(fds[0])
        let e = ChildProcess(pid: pid).wait()
        return (e, String(decoding: bytes, as: UTF8.self))
    }

    /// Whether `name` is an executable on PATH (or an executable path).
    public static func isAvailable(_ name: String) -> Bool {
        if name.contains("/") { return access(name, X_OK) == 0 }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").contains { access("\($0)/\(name)", X_OK) == 0 }
    }
}

/// Files of a folder tree and the leftovers of killed runs, for `cordq batch`.
public enum FolderTree {
    /// Relative paths of the regular files under `root` (recursively, hidden entries
    /// skipped), sorted; empty when `root` does not exist.
    public static func files(_ root: String) -> [String] {
        guard TextFile.isDirectory(root), let e = FileManager.default.enumerator(atPath: root) else { return [] }
        var out: [String] = []
        while let rel = e.nextObject() as? String {
            if rel.split(separator: "/").contains(where: { $0.hasPrefix(".") }) { continue }
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + rel, isDirectory: &isDir), !isDir.boolValue { out.append(rel) }
        }
        return out.sorted()
    }

    /// Removes the hidden staging folders (`.<name>.partial-<pid>-…`) that `OutputFolder`
    /// left beside `destination` for processes no longer running (a subject stopped by
    /// SIGTERM or SIGKILL): its destination itself is never touched.
    public static func removeAbandonedStaging(of destination: String) {
        let url = URL(fileURLWithPath: destination).standardizedFileURL
        StagingNames.removeAbandoned(in: url.deletingLastPathComponent().path, prefix: "." + url.lastPathComponent + ".partial-")
    }

    /// Hidden staging folders still beside `destination` (for checks and tests).
    public static func stagingLeftovers(of destination: String) -> [String] {
        let url = URL(fileURLWithPath: destination).standardizedFileURL
        let parent = url.deletingLastPathComponent().path
        let names = (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
        return names.filter { $0.hasPrefix("." + url.lastPathComponent + ".partial-") || $0.hasPrefix("." + url.lastPathComponent + ".replaced-") }.sorted()
    }

    /// Modification time of a file (seconds since 1970), nil when absent.
    public static func modificationTime(_ path: String) -> Double? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) * 1e-9
    }
}
