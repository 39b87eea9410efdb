// Whole-buffer gzip through libdeflate (Debian `libdeflate`): NIfTI files are read and
// written whole, where it is faster than zlib's streaming interface, and large buffers are
// written as independent members that both cores compress and decompress.
import CNIfTI
import CordCore

/// gzip compression and decompression of complete buffers (RFC 1952).
///
/// Written files: buffers over `memberSize` become a sequence of gzip members of that many
/// uncompressed bytes each (RFC 1952 §2.2 allows any number of members; every gzip reader —
/// zlib, Python's gzip and nibabel, MRtrix3, FSL — reads them as one stream). Each member's
/// header carries an extra field `CQ` (RFC 1952 §2.3.1.1) with the member's total length in
/// bytes (4 bytes, little-endian), as BGZF's `BC` field does, so a reader can find every
/// member without decompressing and decompress them in parallel. Files without the field
/// are decompressed member after member.
enum Gzip {
    /// Compression level of written `.gz` files (libdeflate's scale 1–12; 6 is its default
    /// and compresses about as well as zlib's 6, at roughly twice the speed).
    static let level: Int32 = 6
    /// Uncompressed bytes per member of a written file (1 MiB: about 0.1 % larger files than
    /// one member, and enough members to keep two cores busy on a typical series).
    static let memberSize = 1 << 20
    /// Header length of a CordQ member: 10 fixed bytes, XLEN, and the 8-byte `CQ` subfield.
    static let headerSize = 20

    // MARK: - Decompression

    private enum Attempt { case done, grow, fail }

    /// Decompresses every gzip member of `input`; nil when libdeflate does not accept the
    /// stream (truncated, corrupt, or followed by bytes that are not another member), so the
    /// caller can let zlib diagnose it.
    static func decompress(_ input: UnsafeRawBufferPointer) -> [UInt8]? {
        let n = input.count
        guard n >= 18, input[0] == 0x1f, input[1] == 0x8b else { return nil }
        if let members = indexedMembers(input) { return decompress(input, members: members) }
        guard let d = libdeflate_alloc_decompressor() else { return nil }
        defer { libdeflate_free_decompressor(d) }
        // ISIZE, the last four bytes: the last member's size modulo 2³² (exact for the usual
        // single-member file under 4 GiB); grown by doubling when it is too small.
        // DEFLATE expands at most 1032-fold, which bounds what a damaged trailer can claim.
        var capacity = max(min(Int(littleEndian32(input, n - 4)), n * maxRatio), 1 << 12)
        while true {
            var attempt = Attempt.fail
            let out = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, initialized in
                initialized = 0
                var inPos = 0, outPos = 0
                while inPos < n {
                    var inUsed = 0, outUsed = 0
                    let r = libdeflate_gzip_decompress_ex(d, input.baseAddress! + inPos, n - inPos,
                                                          buffer.baseAddress! + outPos, capacity - outPos, &inUsed, &outUsed)
                    if r == LIBDEFLATE_INSUFFICIENT_SPACE { attempt = .grow; return }
                    guard r == LIBDEFLATE_SUCCESS else { attempt = .fail; return }
                    inPos += inUsed; outPos += outUsed
                    if inPos < n && !(n - inPos >= 18 && input[inPos] == 0x1f && input[inPos + 1] == 0x8b) { attempt = .fail; return }
                }
                attempt = .done
                initialized = outPos
            }
            switch attempt {
            case .done: return out
            case .fail: return nil
            case .grow:
                guard capacity < Int.max / 4 else { return nil }
                capacity *= 2
            }
        }
    }

    private struct Member { var offset: Int, length: Int, outOffset: Int, outLength: Int }
    /// DEFLATE's largest expansion (258-byte matches in about 2 bits), with room for headers.
    private static let maxRatio = 1040

    @inline(__always) private static func littleEndian32(_ p: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
        UInt32(p[at]) | UInt32(p[at + 1]) << 8 | UInt32(p[at + 2]) << 16 | UInt32(p[at + 3]) << 24
    }

    /// The members of a file whose every member header carries the `CQ` length field, with
    /// their uncompressed sizes from their trailers; nil for any other file.
    private static func indexedMembers(_ p: UnsafeRawBufferPointer) -> [Member]? {
        var members: [Member] = [], offset = 0, outOffset = 0
        while offset < p.count {
            guard p.count - offset >= headerSize + 8, p[offset] == 0x1f, p[offset + 1] == 0x8b, p[offset + 2] == 8,
                  p[offset + 3] == 0x04,  // FLG: FEXTRA only
                  p[offset + 10] == 8, p[offset + 11] == 0, p[offset + 12] == UInt8(ascii: "C"), p[offset + 13] == UInt8(ascii: "Q"),
                  p[offset + 14] == 4, p[offset + 15] == 0 else { return nil }
            let length = Int(littleEndian32(p, offset + 16))
            guard length >= headerSize + 8, length <= p.count - offset else { return nil }
            let size = Int(littleEndian32(p, offset + length - 4))
            guard size <= length * maxRatio else { return nil }
            members.append(Member(offset: offset, length: length, outOffset: outOffset, outLength: size))
            offset += length; outOffset += size
        }
        return members.isEmpty ? nil : members
    }

    /// Decompresses indexed members on all workers, each into its place in the output; nil
    /// when any member fails (libdeflate checks each member's CRC-32 and length).
    private static func decompress(_ input: UnsafeRawBufferPointer, members: [Member]) -> [UInt8]? {
        let total = members.last.map { $0.outOffset + $0.outLength } ?? 0
        let failed = SharedBuffer<Bool>(repeating: false, count: members.count)
        let out = [UInt8](unsafeUninitializedCapacity: max(total, 1)) { buffer, initialized in
            let dst = UnsafeSendable(buffer.baseAddress!), src = UnsafeSendable(input.baseAddress!)
            parallelChunks(members.count) { range, _ in
                guard let d = libdeflate_alloc_decompressor() else { for k in range { failed[k] = true }; return }
                defer { libdeflate_free_decompressor(d) }
                for k in range {
                    let m = members[k]
                    let r = libdeflate_gzip_decompress(d, src.pointer + m.offset, m.length, dst.pointer + m.outOffset, m.outLength, nil)
                    if r != LIBDEFLATE_SUCCESS { failed[k] = true }
                }
            }
            initialized = total
        }
        return failed.array.contains(true) ? nil : out
    }

    // MARK: - Compression

    /// gzip bytes holding `bytes`: members of `memberSize` bytes compressed on all workers,
    /// each with its `CQ` length field; nil when libdeflate cannot allocate a compressor.
    static func compress(_ bytes: [UInt8], level: Int32 = Gzip.level) -> [UInt8]? {
        let count = max(1, (bytes.count + memberSize - 1) / memberSize)
        let parts = (0..<count).map { _ in SharedBox<[UInt8]?>(nil) }
        bytes.withUnsafeBytes { raw in
            let src = UnsafeSendable(raw.baseAddress)
            parallelChunks(count) { range, _ in
                guard let c = libdeflate_alloc_compressor(level) else { return }
                defer { libdeflate_free_compressor(c) }
                for k in range {
                    let lo = k * memberSize, hi = min(bytes.count, lo + memberSize)
                    parts[k].value = member(c, src.pointer.map { $0 + lo }, hi - lo)
                }
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(parts.reduce(0) { $0 + ($1.value?.count ?? 0) })
        for p in parts {
            guard let m = p.value else { return nil }
            out += m
        }
        return out
    }

    /// One member: header with the `CQ` field, raw DEFLATE data, CRC-32 and length.
    private static func member(_ c: OpaquePointer, _ data: UnsafeRawPointer?, _ n: Int) -> [UInt8]? {
        var empty: UInt8 = 0
        return withUnsafePointer(to: &empty) { e -> [UInt8]? in
            let src = data ?? UnsafeRawPointer(e)
            let bound = libdeflate_deflate_compress_bound(c, n)
            var failed = false
            let bytes = [UInt8](unsafeUninitializedCapacity: headerSize + bound + 8) { buffer, initialized in
                let p = buffer.baseAddress!
                let written = libdeflate_deflate_compress(c, src, n, p + headerSize, bound)
                if written == 0 && n > 0 { failed = true; initialized = 0; return }
                let length = headerSize + written + 8
                let header: [UInt8] = [0x1f, 0x8b, 8, 0x04, 0, 0, 0, 0, 0, 255, 8, 0, UInt8(ascii: "C"), UInt8(ascii: "Q"), 4, 0]
                for (i, b) in header.enumerated() { p[i] = b }
                func put32(_ v: UInt32, at o: Int) { for i in 0..<4 { p[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) } }
                put32(UInt32(length), at: 16)
                put32(libdeflate_crc32(0, src, n), at: length - 8)
                put32(UInt32(truncatingIfNeeded: n), at: length - 4)
                initialized = length
            }
            return failed ? nil : bytes
        }
    }
}

/// A value slot workers write to at distinct indices (one box per index).
private final class SharedBox<T>: @unchecked Sendable {
    var value: T
    init(_ v: T) { value = v }
}

/// A raw pointer handed to workers that touch disjoint parts of it.
private struct UnsafeSendable<T>: @unchecked Sendable {
    let pointer: T
    init(_ p: T) { pointer = p }
}
