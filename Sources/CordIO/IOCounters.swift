// Counts of what CordIO decoded and wrote, per file: how a test shows that a pipeline reads
// each input once and writes each output once.
import Foundation
import Synchronization

/// Per-file counts of image decodes, header reads and writes since the process started.
///
/// Every `NIfTIFile.read` counts one decode of its path, every `NIfTIFile.readHeader` one
/// header read, and every atomic write (NIfTI, TSV, JSON, text) one write of its final path.
/// Paths are kept as given after standardisation (`..` and `.` removed), so a caller can
/// select the paths under a folder it owns; counts from other threads' files do not mix in.
public enum IOCounters {
    /// A snapshot of the counts, each keyed by path.
    public struct Counts: Sendable, Equatable {
        public var imageDecodes: [String: Int] = [:]
        public var headerReads: [String: Int] = [:]
        public var writes: [String: Int] = [:]

        /// The counts of the paths under `folder`, keyed by the path relative to it.
        public func under(_ folder: String) -> Counts {
            let root = IOCounters.key(folder) + "/"
            func pick(_ d: [String: Int]) -> [String: Int] {
                var out: [String: Int] = [:]
                for (k, v) in d where k.hasPrefix(root) { out[String(k.dropFirst(root.count))] = v }
                return out
            }
            return Counts(imageDecodes: pick(imageDecodes), headerReads: pick(headerReads), writes: pick(writes))
        }
    }

    private static let state = Mutex(Counts())

    public static func snapshot() -> Counts { state.withLock { $0 } }

    static func key(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }
    static func decoded(_ path: String) { let k = key(path); state.withLock { $0.imageDecodes[k, default: 0] += 1 } }
    static func headerRead(_ path: String) { let k = key(path); state.withLock { $0.headerReads[k, default: 0] += 1 } }
    static func wrote(_ path: String) { let k = key(path); state.withLock { $0.writes[k, default: 0] += 1 } }
}
