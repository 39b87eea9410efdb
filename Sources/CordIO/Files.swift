// Whole-file reads (plain or gzip) and atomic writes.
import CNIfTI
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Low-level file access shared by every reader and writer in CordIO.
///
/// Whole-file reads of gzip data go through libdeflate (Debian's `libdeflate`), which
/// decompresses a complete buffer about 1.5–3× faster than zlib's streaming `gzread`; any
/// stream it does not accept (truncated, corrupt, trailing bytes) is read again through
/// zlib, so the messages for bad files are zlib's diagnosis, as before. Header-only reads
/// (`limit`) stream through zlib and stop early.
enum FileAccess {
    /// Reads a file completely, decompressing it when it is gzip (plain files are returned
    /// as they are). `limit` stops early (for header-only reads).
    static func readAll(_ path: String, limit: Int? = nil) throws -> [UInt8] {
        InputGuard.recordRead(path)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw CordIOError.notFound(path: path) }
        if isDir.boolValue { throw CordIOError.unreadable(path: path, reason: "it is a directory") }
        if limit != nil { return try readStreaming(path, limit: limit) }
        // Mapped, not copied: page-cache pages are decompressed from directly.
        if let mapped = MappedFile(path) {
            defer { mapped.unmap() }
            let raw = mapped.bytes
            guard raw.count >= 18, raw[0] == 0x1f, raw[1] == 0x8b else { return Array(raw) }
            return try Gzip.decompress(raw) ?? readStreaming(path, limit: nil)
        }
        let raw = try readRaw(path)
        guard raw.count >= 18, raw[0] == 0x1f, raw[1] == 0x8b else { return raw }
        return try raw.withUnsafeBytes { Gzip.decompress($0) } ?? readStreaming(path, limit: nil)
    }

    /// The file's bytes as stored (no decompression), in one read.
    static func readRaw(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CordIOError.unreadable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw CordIOError.unreadable(path: path, reason: String(cString: strerror(errno))) }
        var out = [UInt8](unsafeUninitializedCapacity: max(Int(st.st_size), 0)) { buffer, initialized in
            var got = 0
            while got < buffer.count {
                let n = read(fd, buffer.baseAddress! + got, buffer.count - got)
                if n <= 0 { break }
                got += n
            }
            initialized = got
        }
        // A file that grew while being read (or reports no size): read on to its end.
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n < 0 { throw CordIOError.unreadable(path: path, reason: String(cString: strerror(errno))) }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    /// A regular, non-empty file mapped read-only (nil when it cannot be mapped: the caller
    /// reads it instead).
    struct MappedFile {
        let base: UnsafeMutableRawPointer, count: Int
        init?(_ path: String) {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return nil }
            defer { close(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size > 0 else { return nil }
            guard let p = mmap(nil, Int(st.st_size), PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0), p != MAP_FAILED else { return nil }
            base = p; count = Int(st.st_size)
        }
        var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
        func unmap() { munmap(base, count) }
    }

    /// zlib's streaming reader (plain files pass through unchanged).
    static func readStreaming(_ path: String, limit: Int?) throws -> [UInt8] {
        guard let gz = gzopen(path, "rb") else {
            throw CordIOError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        defer { gzclose(gz) }
        gzbuffer(gz, 1 << 17)
        var out: [UInt8] = []
        let chunk = 1 << 20
        while true {
            let want = limit.map { min(chunk, $0 - out.count) } ?? chunk
            if want <= 0 { break }
            let start = out.count
            out.append(contentsOf: [UInt8](repeating: 0, count: want))
            let got = out.withUnsafeMutableBytes { gzread(gz, $0.baseAddress! + start, UInt32(want)) }
            if got < 0 {
                var code: Int32 = 0
                let msg = String(cString: gzerror(gz, &code))
                throw CordIOError.corrupt(path: path, reason: "decompression failed: \(msg)")
            }
            out.removeLast(want - Int(got))
            if Int(got) < want {
                var code: Int32 = 0
                let msg = String(cString: gzerror(gz, &code))
                // Z_BUF_ERROR here means the gzip stream ended early: a truncated .gz file.
                if code != Z_OK && code != Z_STREAM_END {
                    throw CordIOError.corrupt(path: path, reason: code == Z_BUF_ERROR
                        ? "the compressed stream ends early (truncated .gz)" : "decompression failed: \(msg)")
                }
                break
            }
        }
        return out
    }

    /// Writes `bytes` to `path` atomically: a temporary file in the same folder, renamed over
    /// the destination only when everything was written. gzip-compresses when `path` ends in
    /// `.gz` (level `Gzip.level`). On failure the temporary file is removed and the
    /// destination is untouched.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        try InputGuard.check(path)
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        try TextFile.makeDirectory(dir)   // missing parent folders are created
        IOCounters.wrote(path)
        let tmp = dir + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let payload: [UInt8]
        if path.hasSuffix(".gz") {
            guard let z = Gzip.compress(bytes) else { throw CordIOError.writeFailed(path: StagingNames.display(path), reason: "gzip compression failed") }
            payload = z
        } else {
            payload = bytes
        }
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw CordIOError.writeFailed(path: StagingNames.display(path), reason: String(cString: strerror(errno))) }
        var failure: String?
        payload.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, min(1 << 24, raw.count - offset))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { failure = n < 0 ? String(cString: strerror(errno)) : "write error (disk full?)"; return }
                offset += n
            }
        }
        if close(fd) != 0 && failure == nil { failure = String(cString: strerror(errno)) }
        guard failure == nil, rename(tmp, path) == 0 else {
            let reason = failure ?? String(cString: strerror(errno))
            unlink(tmp)
            throw CordIOError.writeFailed(path: StagingNames.display(path), reason: reason)
        }
    }

    /// Writes text atomically (UTF-8).
    static func writeAtomically(text: String, to path: String) throws {
        try writeAtomically(Array(text.utf8), to: path)
    }

    /// Reads a text file (UTF-8, optionally gzip).
    static func readText(_ path: String) throws -> String {
        let bytes = try readAll(path)
        guard let s = String(validating: bytes, as: UTF8.self) else {
            throw CordIOError.invalidContent(path: path, reason: "is not UTF-8 text")
        }
        return s
    }
}

/// Public entry points for plain text and folders, so other modules never touch files.
public enum TextFile {
    public static func read(_ path: String) throws -> String { try FileAccess.readText(path) }
    public static func write(_ text: String, to path: String) throws { try FileAccess.writeAtomically(text: text, to: path) }
    public static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }
    /// Absolute path with symbolic links and `.`/`..` resolved (for "is this an input?" checks).
    public static func canonicalPath(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }
    public static func isDirectory(_ path: String) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &d) && d.boolValue
    }
    /// Names of the entries of a folder, sorted; an error naming the folder when it cannot be listed.
    public static func listDirectory(_ path: String) throws -> [String] {
        do { return try FileManager.default.contentsOfDirectory(atPath: path).sorted() } catch {
            throw isDirectory(path) ? CordIOError.unreadable(path: path, reason: "cannot list the folder") : CordIOError.notFound(path: path)
        }
    }
    /// The absolute path of the running executable with symbolic links resolved (nil when unknown).
    public static var executablePath: String? {
        Bundle.main.executableURL?.resolvingSymlinksInPath().path
    }
    /// Copies a folder (and everything in it) to `destination`, which must not exist; an error
    /// naming both when it cannot (a reused `cordq process` output copied into a new run).
    public static func copyFolder(_ source: String, to destination: String) throws {
        guard isDirectory(source) else { throw CordIOError.notFound(path: source) }
        do { try FileManager.default.copyItem(atPath: source, toPath: destination) } catch {
            throw CordIOError.writeFailed(path: destination, reason: "cannot copy \(source): \(error.localizedDescription)")
        }
    }
    /// Creates a folder and its parents.
    public static func makeDirectory(_ path: String) throws {
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw CordIOError.writeFailed(path: path, reason: "cannot create folder: \(error.localizedDescription)")
        }
    }
}

/// Public entry point for binary files written whole (PNG pictures of the QC pages).
public enum BinaryFile {
    /// Writes `bytes` atomically (temporary file, then rename); missing folders are created.
    public static func write(_ bytes: [UInt8], to path: String) throws { try FileAccess.writeAtomically(bytes, to: path) }
    /// Reads a whole file (gzip is inflated, like every CordIO read).
    public static func read(_ path: String) throws -> [UInt8] { try FileAccess.readAll(path) }
    /// The first `count` bytes of a file as stored (fewer when it is shorter).
    public static func readPrefix(_ path: String, count: Int) throws -> [UInt8] {
        InputGuard.recordRead(path)
        guard let h = FileHandle(forReadingAtPath: path) else { throw CordIOError.unreadable(path: path, reason: "cannot open") }
        defer { try? h.close() }
        return [UInt8](h.readData(ofLength: count))
    }
}
