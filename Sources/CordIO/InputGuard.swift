// The one guard every write goes through: a command never replaces a file it read.
import CordCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Files read during a command are its inputs; writing over one of them is refused before
/// anything is written (`CordIOError.wouldOverwriteInput`).
///
/// Inputs are identified by device and inode, so a symbolic link, a hard link, `./x` or a
/// different spelling of the same path are all caught. Inside `InputGuard.scope` every file
/// read through CordIO (NIfTI, TSV, JSON, bval/bvec, text) is recorded automatically, and
/// `protect` adds files read another way (SQLite databases, folders). Every writer in CordIO
/// (`FileAccess.writeAtomically`, `OutputFiles.stage`, `OutputFolder`) calls `check` first.
/// `cordq`'s `main` runs every command inside one scope; library entry points that write
/// (biomarkers, db export, …) also call `refuse(outputs:inputs:)` with their declared inputs
/// so in-process callers are protected without a scope.
public enum InputGuard {
    /// The files recorded in one scope (a class so that reads deep inside can add to it).
    public final class Registry: @unchecked Sendable {
        private let lock = NSLock()
        private var identities: Set<FileIdentity> = []
        private var paths: Set<String> = []
        private var folders: [String] = []
        fileprivate var paused = 0
        init() {}
        func add(_ id: FileIdentity, path: String) { lock.lock(); identities.insert(id); paths.insert(path); lock.unlock() }
        func addFolder(_ p: String) { lock.lock(); folders.append(p); lock.unlock() }
        func contains(_ id: FileIdentity) -> Bool { lock.lock(); defer { lock.unlock() }; return identities.contains(id) }
        var protectedFolders: [String] { lock.lock(); defer { lock.unlock() }; return folders }
        var protectedPaths: Set<String> { lock.lock(); defer { lock.unlock() }; return paths }
        var isPaused: Bool { lock.lock(); defer { lock.unlock() }; return paused > 0 }
        func pause(_ d: Int) { lock.lock(); paused += d; lock.unlock() }
    }

    struct FileIdentity: Hashable { let device: UInt64, inode: UInt64 }

    @TaskLocal public static var current: Registry?

    /// Runs `body` with a fresh registry: every file it reads becomes a protected input.
    public static func scope<R>(_ body: () throws -> R) rethrows -> R {
        try $current.withValue(Registry()) { try body() }
    }

    /// Reads inside `body` are not recorded: for a command's own previous output that it is
    /// meant to replace (biomarkers resuming from OUT).
    public static func withoutRecording<R>(_ body: () throws -> R) rethrows -> R {
        guard let r = current else { return try body() }
        r.pause(1); defer { r.pause(-1) }
        return try body()
    }

    /// Records `path` as an input (a file, or a folder whose contents are inputs).
    public static func protect(_ path: String) {
        guard let r = current else { return }
        if TextFile.isDirectory(path) { r.addFolder(TextFile.canonicalPath(path)) }
        else if let id = identity(path) { r.add(id, path: TextFile.canonicalPath(path)) }
    }

    /// Called by CordIO's readers for every file they open.
    static func recordRead(_ path: String) {
        guard let r = current, !r.isPaused, let id = identity(path) else { return }
        r.add(id, path: TextFile.canonicalPath(path))
    }

    /// Throws when writing `destination` would replace a recorded input.
    public static func check(_ destination: String) throws {
        guard let r = current, let id = identity(destination) else { return }
        if r.contains(id) { throw CordIOError.wouldOverwriteInput(path: destination) }
    }

    /// Throws when replacing the folder `destination` would remove a recorded input inside it.
    public static func checkFolder(_ destination: String) throws {
        guard let r = current else { return }
        let d = TextFile.canonicalPath(destination)
        for f in r.protectedFolders + r.protectedPaths where f == d || f.hasPrefix(d + "/") {
            throw CordIOError.wouldOverwriteInput(path: destination)
        }
        try check(destination)
    }

    /// Throws when any output is one of the inputs (same file through any path or link), or
    /// when two outputs are the same file. For library entry points called without a scope.
    public static func refuse(outputs: [String], inputs: [String]) throws {
        let ins = Set(inputs.compactMap(identity))
        let inPaths = Set(inputs.map(TextFile.canonicalPath))
        var seen = Set<String>()
        for o in outputs {
            let c = TextFile.canonicalPath(o)
            if inPaths.contains(c) { throw CordIOError.wouldOverwriteInput(path: o) }
            if let id = identity(o), ins.contains(id) { throw CordIOError.wouldOverwriteInput(path: o) }
            if !seen.insert(c).inserted {
                throw CordIOError.writeFailed(path: o, reason: "the same path is given for two different outputs")
            }
        }
    }

    static func identity(_ path: String) -> FileIdentity? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }
}
