// Pictures in memory: 8-bit RGB rasters, drawing (fill, blend, outline, text) and scaling.
import CordCore

/// One colour, 8 bits per channel.
public struct RGB: Sendable, Equatable, Hashable {
    public var r: UInt8, g: UInt8, b: UInt8
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { self.r = r; self.g = g; self.b = b }
    /// `#rrggbb`, for HTML and SVG.
    public var hex: String {
        let digits = Array("0123456789abcdef")
        return "#" + String([r, g, b].flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
    }
    public static let black = RGB(0, 0, 0), white = RGB(255, 255, 255)
}

/// An RGB picture, row 0 at the top, 3 bytes per pixel (R, G, B), rows packed.
public struct RGBImage: Sendable, Equatable {
    public let width: Int, height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, fill: RGB = .black) {
        precondition(width > 0 && height > 0, "a picture needs at least one pixel")
        self.width = width; self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        if fill != .black { fillRect(x: 0, y: 0, width: width, height: height, fill) }
    }

    /// Wraps a packed RGB buffer; nil when its size is not `width × height × 3`.
    public init?(width: Int, height: Int, pixels: [UInt8]) {
        guard width > 0, height > 0, pixels.count == width * height * 3 else { return nil }
        self.width = width; self.height = height; self.pixels = pixels
    }

    @inline(__always) public func contains(_ x: Int, _ y: Int) -> Bool { x >= 0 && y >= 0 && x < width && y < height }

    /// The colour at (x, y) (column, row from the top).
    public subscript(x: Int, y: Int) -> RGB {
        get { let o = 3 * (y * width + x); return RGB(pixels[o], pixels[o + 1], pixels[o + 2]) }
        set { let o = 3 * (y * width + x); pixels[o] = newValue.r; pixels[o + 1] = newValue.g; pixels[o + 2] = newValue.b }
    }

    /// Sets a pixel; outside the picture nothing happens.
    public mutating func set(_ x: Int, _ y: Int, _ c: RGB) { if contains(x, y) { self[x, y] = c } }

    /// Mixes `c` into a pixel with opacity `alpha` (0 = unchanged, 1 = `c`).
    public mutating func blend(_ x: Int, _ y: Int, _ c: RGB, alpha: Double) {
        guard contains(x, y) else { return }
        let o = self[x, y], a = min(1, max(0, alpha))
        func mix(_ p: UInt8, _ q: UInt8) -> UInt8 { UInt8(clamping: CheckedNumber.clamped(Double(p) * (1 - a) + Double(q) * a, .toNearestOrAwayFromZero)) }
        self[x, y] = RGB(mix(o.r, c.r), mix(o.g, c.g), mix(o.b, c.b))
    }

    /// Fills a rectangle, clipped to the picture (nothing when it lies outside).
    public mutating func fillRect(x: Int, y: Int, width w: Int, height h: Int, _ c: RGB) {
        let x0 = max(0, x), x1 = min(width, x + w), y0 = max(0, y), y1 = min(height, y + h)
        guard x0 < x1, y0 < y1 else { return }
        for yy in y0..<y1 { for xx in x0..<x1 { self[xx, yy] = c } }
    }

    /// Copies `other` with its top-left corner at (x, y), clipped.
    public mutating func paste(_ other: RGBImage, x: Int, y: Int) {
        for yy in 0..<other.height { for xx in 0..<other.width { set(x + xx, y + yy, other[xx, yy]) } }
    }

    /// Draws `text` in the bitmap font (`BitmapFont`) with its top-left corner at (x, y),
    /// each font pixel a `scale × scale` block, on a dark box so it reads on any image when
    /// `box`; returns the rectangle covered.
    @discardableResult
    public mutating func drawText(_ text: String, x: Int, y: Int, scale: Int = 2, colour: RGB = .white, box: Bool = true)
        -> (x: Int, y: Int, width: Int, height: Int) {
        let size = BitmapFont.size(of: text, scale: scale)
        if box {
            for yy in (y - scale)..<(y + size.height + scale) { for xx in (x - scale)..<(x + size.width + scale) { blend(xx, yy, .black, alpha: 0.6) } }
        }
        var cx = x
        for ch in text {
            let rows = BitmapFont.glyph(ch)
            for (r, bits) in rows.enumerated() {
                for c in 0..<BitmapFont.glyphWidth where bits & (1 << (BitmapFont.glyphWidth - 1 - c)) != 0 {
                    fillRect(x: cx + c * scale, y: y + r * scale, width: scale, height: scale, colour)
                }
            }
            cx += (BitmapFont.glyphWidth + 1) * scale
        }
        return (x, y, size.width, size.height)
    }
}

/// A 2-D array of values in display order (row 0 at the top), with the physical size of its
/// pixels (mm) so that pictures keep the anatomy's proportions.
public struct Plane<T: Sendable>: Sendable {
    public let width: Int, height: Int
    public var values: [T]
    /// Pixel width and height in mm.
    public var pixelWidth: Double, pixelHeight: Double
    public init(width: Int, height: Int, values: [T], pixelWidth: Double, pixelHeight: Double) {
        precondition(values.count == width * height, "plane values must be width × height")
        self.width = width; self.height = height; self.values = values
        self.pixelWidth = pixelWidth; self.pixelHeight = pixelHeight
    }
    @inline(__always) public subscript(x: Int, y: Int) -> T { values[y * width + x] }
}
