// Spreading independent work (voxels, slices, patches) over the machine's cores.
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Number of worker threads CordQ uses: the online cores, or `CORDQ_THREADS` when set.
public let workerCount: Int = {
    if let v = getenv("CORDQ_THREADS"), let n = Int(String(cString: v)), n > 0 { return n }
    return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
}()

/// Runs `body` over contiguous chunks of `0..<count` on all workers. `body` receives the
/// chunk's range and the worker index (for per-worker scratch buffers, allocated once).
/// Chunks are small enough (about 4 per worker) to balance uneven work such as masked voxels.
public func parallelChunks(_ count: Int, minimumChunk: Int = 1,
                           _ body: @Sendable (Range<Int>, _ worker: Int) -> Void) {
    guard count > 0 else { return }
    let workers = min(workerCount, max(1, count / max(minimumChunk, 1)))
    if workers == 1 { body(0..<count, 0); return }
    let chunks = min(count, workers * 4)
    let next = AtomicCounter()
    DispatchQueue.concurrentPerform(iterations: workers) { w in
        while true {
            let c = next.increment()
            if c >= chunks { break }
            body((c * count / chunks)..<((c + 1) * count / chunks), w)
        }
    }
}

/// A lock-protected counter shared by workers.
final class AtomicCounter: @unchecked Sendable {
    private var value = 0
    private var lock = pthread_mutex_t()
    init() { pthread_mutex_init(&lock, nil) }
    deinit { pthread_mutex_destroy(&lock) }
    /// Returns the value before incrementing.
    func increment() -> Int {
        pthread_mutex_lock(&lock); defer { pthread_mutex_unlock(&lock) }
        let v = value; value += 1; return v
    }
}

/// A buffer that several workers write to at disjoint indices. The caller guarantees that
/// no two workers touch the same index; reads happen after all writes finish.
public final class SharedBuffer<T>: @unchecked Sendable {
    public let pointer: UnsafeMutableBufferPointer<T>
    public init(repeating v: T, count: Int) {
        pointer = .allocate(capacity: count)
        pointer.initialize(repeating: v)
    }
    deinit { pointer.deinitialize(); pointer.deallocate() }
    public subscript(i: Int) -> T {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }
    public var array: [T] { Array(pointer) }
}

/// One result per task, written by several workers at distinct indices and read after all
/// finish (patients, subjects, cohort members processed in parallel).
public final class ResultSlots<T>: @unchecked Sendable {
    private var slots: [Result<T, any Error>?]
    private var done = 0
    private var lock = pthread_mutex_t()
    public init(_ n: Int) { slots = Array(repeating: nil, count: n); pthread_mutex_init(&lock, nil) }
    deinit { pthread_mutex_destroy(&lock) }
    public func set(_ i: Int, _ r: Result<T, any Error>) {
        pthread_mutex_lock(&lock); slots[i] = r; done += 1; pthread_mutex_unlock(&lock)
    }
    /// How many tasks have finished.
    public func finished() -> Int { pthread_mutex_lock(&lock); defer { pthread_mutex_unlock(&lock) }; return done }
    /// The results in order; a task that never ran is a failure naming `what`.
    public func results(_ what: String) -> [Result<T, any Error>] {
        slots.map { $0 ?? .failure(CordError.invalidValue(what: what, detail: "was not processed")) }
    }
}
