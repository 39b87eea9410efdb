// Writing a whole folder of outputs so that it appears complete or not at all.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A folder of outputs written in a hidden staging folder beside its destination and moved
/// into place by `commit()`. If the run fails, `discard()` (or never committing) leaves
/// the destination as it was: no half-written output.
public final class OutputFolder {
    public let destination: String
    /// Where files are written until `commit()`.
    public let staging: String
    private var finished = false

    /// Whether an existing, non-empty destination is replaced by `commit()`.
    public let overwrite: Bool

    /// Starts a folder that must not exist yet, or be empty; with `overwrite` an existing
    /// folder is replaced at `commit()` (it stays as it was until the new one is complete).
    /// Missing parent folders are created.
    public init(_ destination: String, overwrite: Bool = false) throws {
        try InputGuard.checkFolder(destination)
        let fm = FileManager.default
        let url = URL(fileURLWithPath: destination).standardizedFileURL
        self.destination = url.path
        self.overwrite = overwrite
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: url.path, isDirectory: &isDir) {
            guard isDir.boolValue else {
                throw CordIOError.writeFailed(path: destination, reason: "a file of that name exists")
            }
            let contents = (try? fm.contentsOfDirectory(atPath: url.path)) ?? []
            guard contents.isEmpty || overwrite else {
                throw CordIOError.writeFailed(path: destination, reason: "the folder exists and is not empty; choose a new output folder, or give --overwrite to replace it once the new output is complete")
            }
        }
        let parent = url.deletingLastPathComponent().path
        try TextFile.makeDirectory(parent)
        StagingNames.removeAbandoned(in: parent, prefix: "." + url.lastPathComponent + ".partial-")
        staging = parent + "/." + url.lastPathComponent + ".partial-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do { try fm.createDirectory(atPath: staging, withIntermediateDirectories: false) } catch {
            throw CordIOError.writeFailed(path: destination, reason: "cannot create a staging folder in \(parent)")
        }
        StagingNames.register(staging, as: self.destination)
    }
    deinit { if !finished { discard() }; StagingNames.unregister(staging) }

    /// The staging path of a file or folder inside the output (folders are created).
    public func path(_ relative: String, isFolder: Bool = false) throws -> String {
        let p = staging + "/" + relative
        let dir = isFolder ? p : URL(fileURLWithPath: p).deletingLastPathComponent().path
        try TextFile.makeDirectory(dir)
        return p
    }
    /// Moves the staged folder to its destination. A replaced folder is first moved aside and
    /// removed only once the new one is in place; if that fails it is put back.
    public func commit() throws {
        guard !finished else { return }
        let fm = FileManager.default
        var aside: String?
        if fm.fileExists(atPath: destination) {
            let contents = (try? fm.contentsOfDirectory(atPath: destination)) ?? []
            if contents.isEmpty {
                try? fm.removeItem(atPath: destination)
            } else {
                let url = URL(fileURLWithPath: destination)
                let old = url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".replaced-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
                guard overwrite, rename(destination, old) == 0 else {
                    let reason = overwrite ? String(cString: strerror(errno)) : "the folder was filled by someone else during the run"
                    discard()
                    throw CordIOError.writeFailed(path: destination, reason: reason)
                }
                aside = old
            }
        }
        guard rename(staging, destination) == 0 else {
            let reason = String(cString: strerror(errno))
            if let old = aside { _ = rename(old, destination) }
            discard()
            throw CordIOError.writeFailed(path: destination, reason: reason)
        }
        if let old = aside { try? fm.removeItem(atPath: old) }
        finished = true
    }
    /// Removes everything staged.
    public func discard() {
        try? FileManager.default.removeItem(atPath: staging)
        finished = true
    }
}

/// Several output files written as a group: each is written to a hidden temporary name
/// beside its destination and all are renamed into place by `commit()`; `discard()` (or a
/// failure before commit) removes the temporaries and leaves every destination untouched.
public final class OutputFiles {
    private var staged: [(temp: String, final: String)] = []
    private var finished = false
    public init() {}
    deinit {
        if !finished { discard() }
        for (t, _) in staged { StagingNames.unregister(t) }
    }

    /// A temporary path for `destination` (same folder, same extension).
    public func stage(_ destination: String) throws -> String {
        try InputGuard.check(destination)
        let url = URL(fileURLWithPath: destination)
        let dir = url.deletingLastPathComponent().path
        try TextFile.makeDirectory(dir)   // missing parent folders are created
        let name = url.lastPathComponent
        let ext = name.hasSuffix(".nii.gz") ? ".nii.gz" : (url.pathExtension.isEmpty ? "" : "." + url.pathExtension)
        StagingNames.removeAbandoned(in: dir, prefix: "." + name.dropLast(ext.count) + ".staged-")
        let temp = dir + "/." + name.dropLast(ext.count) + ".staged-\(getpid())-\(UInt32.random(in: 0...UInt32.max))" + ext
        staged.append((temp, url.path))
        StagingNames.register(temp, as: destination)
        return temp
    }
    public func commit() throws {
        for (t, f) in staged where rename(t, f) != 0 {
            let reason = String(cString: strerror(errno))
            discard()
            throw CordIOError.writeFailed(path: f, reason: reason)
        }
        finished = true
    }
    public func discard() {
        for (t, _) in staged { unlink(t) }
        finished = true
    }
}

/// Staging paths and the destinations they stand for, so that an error while writing a
/// staged file names the path the user gave (`mppca` used to report its hidden temporary
/// name), and abandoned staging folders of killed runs are cleaned up.
enum StagingNames {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var names: [String: String] = [:]

    static func register(_ staging: String, as destination: String) {
        lock.lock(); names[staging] = destination; lock.unlock()
    }
    static func unregister(_ staging: String) {
        lock.lock(); names[staging] = nil; lock.unlock()
    }
    /// Whether `path` is a registered staging name.
    static func isStaging(_ path: String) -> Bool {
        lock.lock(); defer { lock.unlock() }
        return names[path] != nil
    }
    /// The user's path for `path` (a staged file, or a file inside a staging folder).
    static func display(_ path: String) -> String {
        lock.lock(); defer { lock.unlock() }
        if let d = names[path] { return d }
        for (staging, destination) in names where path.hasPrefix(staging + "/") {
            return destination + path.dropFirst(staging.count)
        }
        return path
    }

    /// Removes `prefix<pid>-<n>` folders in `parent` whose process no longer runs (a build
    /// killed with SIGKILL cannot clean up after itself).
    static func removeAbandoned(in parent: String, prefix: String) {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: parent) else { return }
        for e in entries where e.hasPrefix(prefix) {
            let rest = e.dropFirst(prefix.count)
            guard let pidText = rest.split(separator: "-").first, let pid = Int32(pidText), pid > 0 else { continue }
            if pid == getpid() { continue }
            if kill(pid, 0) == 0 || errno == EPERM { continue }  // still running (or not ours to judge)
            try? FileManager.default.removeItem(atPath: parent + "/" + e)
        }
    }
}
