// Whole-buffer gzip through libdeflate (Debian `libdeflate`): NIfTI files are read and
// written whole, where it is faster than zlib's streaming interface.
import CNIfTI

/// gzip compression and decompression of complete buffers (RFC 1952).
enum Gzip {
    /// Compression level of written `.gz` files (libdeflate's scale 1–12; 6 is its default
    /// and compresses about as well as zlib's 6, at roughly twice the speed).
    static let level: Int32 = 6

    private enum Attempt { case done, grow, fail }

    /// Decompresses every gzip member of `input`; nil when libdeflate does not accept the
    /// stream (truncated, corrupt, or followed by bytes that are not another member), so the
    /// caller can let zlib diagnose it.
    static func decompress(_ input: [UInt8]) -> [UInt8]? {
        let n = input.count
        guard n >= 18, let d = libdeflate_alloc_decompressor() else { return nil }
        defer { libdeflate_free_decompressor(d) }
        // ISIZE, the last four bytes: the last member's size modulo 2³² (exact for the usual
        // single-member file under 4 GiB); grown by doubling when it is too small.
        let isize = Int(UInt32(input[n - 4]) | UInt32(input[n - 3]) << 8 | UInt32(input[n - 2]) << 16 | UInt32(input[n - 1]) << 24)
        var capacity = max(isize, 1 << 12)
        while true {
            var attempt = Attempt.fail
            let out = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, initialized in
                initialized = 0
                var inPos = 0, outPos = 0
                input.withUnsafeBytes { src in
                    while inPos < n {
                        var inUsed = 0, outUsed = 0
                        let r = libdeflate_gzip_decompress_ex(d, src.baseAddress! + inPos, n - inPos,
                                                              buffer.baseAddress! + outPos, capacity - outPos, &inUsed, &outUsed)
                        if r == LIBDEFLATE_INSUFFICIENT_SPACE { attempt = .grow; return }
                        guard r == LIBDEFLATE_SUCCESS else { attempt = .fail; return }
                        inPos += inUsed; outPos += outUsed
                        if inPos < n && !(n - inPos >= 18 && src[inPos] == 0x1f && src[inPos + 1] == 0x8b) { attempt = .fail; return }
                    }
                    attempt = .done
                }
                if attempt == .done { initialized = outPos }
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

    /// One gzip member holding `bytes`; nil when libdeflate cannot allocate its compressor.
    static func compress(_ bytes: [UInt8], level: Int32 = Gzip.level) -> [UInt8]? {
        guard let c = libdeflate_alloc_compressor(level) else { return nil }
        defer { libdeflate_free_compressor(c) }
        let bound = libdeflate_gzip_compress_bound(c, bytes.count)
        let out = [UInt8](unsafeUninitializedCapacity: bound) { buffer, initialized in
            initialized = bytes.withUnsafeBytes { src -> Int in
                var empty: UInt8 = 0
                return withUnsafePointer(to: &empty) { e in
                    libdeflate_gzip_compress(c, src.baseAddress ?? UnsafeRawPointer(e), src.count, buffer.baseAddress!, bound)
                }
            }
        }
        return out.isEmpty ? nil : out
    }
}
