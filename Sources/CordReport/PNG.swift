// PNG encoding and decoding of RGB pictures through libpng's simplified API (libpng 1.6).
import CPNG

/// Errors of the QC renderer.
public enum ReportError: Error, Sendable, CustomStringConvertible {
    case png(String)
    case invalid(String)
    public var description: String {
        switch self {
        case let .png(m): return "PNG: \(m)"
        case let .invalid(m): return m
        }
    }
}

/// PNG bytes from and to `RGBImage`, with Debian's libpng (`png_image_write_to_memory`,
/// `png_image_begin_read_from_memory`): 8-bit sRGB, no alpha, zlib-compressed.
public enum PNGCodec {
    /// The PNG file content of `image`.
    public static func encode(_ image: RGBImage) throws -> [UInt8] {
        var info = png_image()
        info.version = UInt32(PNG_IMAGE_VERSION)
        info.width = UInt32(image.width); info.height = UInt32(image.height)
        info.format = UInt32(PNG_FORMAT_RGB)
        var size = 0
        // First call: how many bytes the PNG needs; second: write them.
        let probe = image.pixels.withUnsafeBytes { px in
            png_image_write_to_memory(&info, nil, &size, 0, px.baseAddress, Int32(image.width * 3), nil)
        }
        guard probe != 0, size > 0 else { throw ReportError.png(message(info, "cannot size the PNG")) }
        var out = [UInt8](repeating: 0, count: size)
        let ok = out.withUnsafeMutableBytes { dst in
            image.pixels.withUnsafeBytes { px in
                png_image_write_to_memory(&info, dst.baseAddress, &size, 0, px.baseAddress, Int32(image.width * 3), nil)
            }
        }
        guard ok != 0 else { throw ReportError.png(message(info, "cannot encode the PNG")) }
        return Array(out.prefix(size))
    }

    /// The picture in PNG bytes, converted to 8-bit RGB.
    public static func decode(_ bytes: [UInt8]) throws -> RGBImage {
        var info = png_image()
        info.version = UInt32(PNG_IMAGE_VERSION)
        var pixels: [UInt8] = []
        // libpng reads from the buffer until png_image_finish_read: both calls stay inside one access.
        let ok: Bool = bytes.withUnsafeBytes { src in
            guard png_image_begin_read_from_memory(&info, src.baseAddress, src.count) != 0 else { return false }
            info.format = UInt32(PNG_FORMAT_RGB)
            pixels = [UInt8](repeating: 0, count: Int(info.width) * Int(info.height) * 3)
            return pixels.withUnsafeMutableBytes { png_image_finish_read(&info, nil, $0.baseAddress, Int32(info.width * 3), nil) } != 0
        }
        let text = message(info, "cannot decode the PNG")
        png_image_free(&info)
        guard ok, let image = RGBImage(width: Int(info.width), height: Int(info.height), pixels: pixels) else {
            throw ReportError.png(text)
        }
        return image
    }

    static func message(_ info: png_image, _ fallback: String) -> String {
        var m = info.message
        let text = withUnsafeBytes(of: &m) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
        return text.isEmpty ? fallback : fallback + " (" + text + ")"
    }
}
