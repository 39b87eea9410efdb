// A progress bar that draws on a terminal and stays silent otherwise.
#if canImport(Glibc)
import Glibc
#endif

/// Reports progress of long steps on standard error. Draws a bar only when standard error
/// is a terminal (and `CORDQ_QUIET` is unset), so logs and CI output stay clean.
/// Safe to advance from several workers.
public final class ProgressReporter: @unchecked Sendable {
    public let label: String
    public let total: Int
    public let isDrawing: Bool
    private var done = 0
    private var lastDrawn = -1
    private var lock = pthread_mutex_t()

    public init(_ label: String, total: Int, forceQuiet: Bool = false) {
        self.label = label
        self.total = max(total, 1)
        isDrawing = !forceQuiet && isatty(2) != 0 && getenv("CORDQ_QUIET") == nil
        pthread_mutex_init(&lock, nil)
    }
    deinit { pthread_mutex_destroy(&lock) }

    /// Whole percent done so far.
    public var percent: Int {
        pthread_mutex_lock(&lock); defer { pthread_mutex_unlock(&lock) }
        return done * 100 / total
    }
    public func advance(by n: Int = 1) {
        pthread_mutex_lock(&lock); defer { pthread_mutex_unlock(&lock) }
        done = min(total, done + n)
        let pct = done * 100 / total
        guard isDrawing, pct != lastDrawn else { return }
        lastDrawn = pct
        let width = 30
        let filled = pct * width / 100
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        writeStandardError("\r\(label) [\(bar)] \(pct)%")
        if done == total { writeStandardError("\n") }
    }
    public func finish() {
        pthread_mutex_lock(&lock)
        let remaining = total - done
        pthread_mutex_unlock(&lock)
        if remaining > 0 { advance(by: remaining) }
    }
}

/// Writes text to standard error unbuffered (safe from any thread).
public func writeStandardError(_ text: String) {
    var t = text
    t.withUTF8 { p in _ = write(2, p.baseAddress, p.count) }
}
