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

    /// Starts a folder that must not exist yet, or be empty.
    public init(_ destination: String) throws {
        let fm = FileManager.default
        let url = URL(fileURLWithPath: destination).standardizedFileURL
        self.destination = url.path
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: url.path, isDirectory: &isDir) {
            guard isDir.boolValue else {
                throw CordIOError.writeFailed(path: destination, reason: "a file of that name exists")
            }
            let contents = (try? fm.contentsOfDirectory(atPath: url.path)) ?? []
            guard contents.isEmpty else {
                throw CordIOError.writeFailed(path: destination, reason: "the folder exists and is not empty; choose a new output folder")
            }
        }
        let parent = url.deletingLastPathComponent().path
        guard fm.fileExists(atPath: parent, isDirectory: &isDir), isDir.boolValue else {
            throw CordIOError.writeFailed(path: destination, reason: "its parent folder \(parent) does not exist")
        }
        staging = parent + "/." + url.lastPathComponent + ".partial-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do { try fm.createDirectory(atPath: staging, withIntermediateDirectories: false) } catch {
            throw CordIOError.writeFailed(path: destination, reason: "cannot create a staging folder in \(parent)")
        }
    }
    deinit { if !finished { discard() } }

    /// The staging path of a file or folder inside the output (folders are created).
    public func path(_ relative: String, isFolder: Bool = false) throws -> String {
        let p = staging + "/" + relative
        let dir = isFolder ? p : URL(fileURLWithPath: p).deletingLastPathComponent().path
        try TextFile.makeDirectory(dir)
        return p
    }
    /// Moves the staged folder to its destination.
    public func commit() throws {
        guard !finished else { return }
        let fm = FileManager.default
        if fm.fileExists(atPath: destination) { try? fm.removeItem(atPath: destination) }  // known empty
        guard rename(staging, destination) == 0 else {
            let reason = String(cString: strerror(errno))
            discard()
            throw CordIOError.writeFailed(path: destination, reason: reason)
        }
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
    deinit { if !finished { discard() } }

    /// A temporary path for `destination` (same folder, same extension).
    public func stage(_ destination: String) throws -> String {
        let url = URL(fileURLWithPath: destination)
        let dir = url.deletingLastPathComponent().path
        guard TextFile.isDirectory(dir) else {
            throw CordIOError.writeFailed(path: destination, reason: "folder \(dir) does not exist")
        }
        let name = url.lastPathComponent
        let ext = name.hasSuffix(".nii.gz") ? ".nii.gz" : (url.pathExtension.isEmpty ? "" : "." + url.pathExtension)
        let temp = dir + "/." + name.dropLast(ext.count) + ".staged-\(getpid())-\(UInt32.random(in: 0...UInt32.max))" + ext
        staged.append((temp, url.path))
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
