// Slices of a volume as pictures: axial tiles and mosaics, a sagittal reformat, label and mask
// overlays (outline or translucent fill), colour-mapped quantitative maps and level labels.
import CordCore

/// A label image or mask drawn over a picture.
public struct Overlay: Sendable {
    public enum Style: Sendable, Equatable {
        /// The region's edge: the pixels of the region within `width` pixels of another value.
        case outline(width: Int)
        /// The region in its colour at opacity `alpha` (0–1).
        case fill(alpha: Double)
    }
    /// Label values (0 = nothing) on the grid of the picture's volume (any orientation).
    public var labels: Volume<Int32>
    public var style: Style
    /// One colour for every value, or nil for `Palette.label(value)` per value.
    public var colour: RGB?
    public init(labels: Volume<Int32>, style: Style, colour: RGB? = nil) {
        self.labels = labels; self.style = style; self.colour = colour
    }
    /// A mask (non-zero = inside) as an overlay.
    public init(mask: Mask, style: Style, colour: RGB) {
        self.init(labels: mask.map { $0 > 0 ? 1 : 0 }, style: style, colour: colour)
    }
}

/// How the values of a panel become colours.
public enum Shading: Sendable, Equatable {
    case grey(Window)
    case colour(ColourMap)
    func rgb(_ v: Double) -> RGB {
        switch self {
        case let .grey(w): let g = w.grey(v); return RGB(g, g, g)
        case let .colour(m): return m.colour(v)
        }
    }
}

/// Where a panel's pixels come from: voxel (i, j) or (j, k) of the canonical (RPI) volume.
/// Pixel (x, y) shows plane pixel (⌊x / pixelsPerVoxelX⌋, ⌊y / pixelsPerVoxelY⌋).
/// Axial panels: plane x = i − i0 (patient right on the left, radiological), plane
/// y = j0 + rows − 1 − j (anterior at the top). Sagittal panels: plane x = j0 + columns − 1 − j
/// (anterior on the left), plane y = nz − 1 − k (superior at the top).
public struct PanelGeometry: Sendable, Equatable {
    public var first: (Int, Int)
    public var columns: Int, rows: Int
    public var pixelsPerVoxelX: Double, pixelsPerVoxelY: Double
    /// The canonical slice index shown (k for axial, i for sagittal).
    public var slice: Int
    public static func == (a: Self, b: Self) -> Bool {
        a.first == b.first && a.columns == b.columns && a.rows == b.rows && a.slice == b.slice
            && a.pixelsPerVoxelX == b.pixelsPerVoxelX && a.pixelsPerVoxelY == b.pixelsPerVoxelY
    }
}

/// A text drawn into a panel, and where (pixels).
public struct TextPlacement: Sendable, Equatable {
    public var text: String
    public var x: Int, y: Int, width: Int, height: Int
}

/// A rendered panel with its geometry and the texts drawn in it.
public struct Panel: Sendable {
    public var image: RGBImage
    public var geometry: PanelGeometry
    public var texts: [TextPlacement] = []
}

/// QC pictures of volumes. Every function takes volumes in any orientation and shows them in
/// the canonical one (`OrientationCode.canonical`, RPI): axial slices with anterior up and the
/// patient's right on the left (radiological), sagittal with anterior on the left and superior
/// up; pixels keep the voxels' physical proportions (nearest neighbour).
public enum QCRenderer {
    /// Size of a mosaic tile's field of view (mm) around the cord, and of a tile (pixels).
    public static let axialFieldOfView = 24.0, axialTilePixels = 168

    // MARK: - Axial

    /// One axial slice `k` (canonical index) cropped to `columns × rows` voxels from
    /// (i0, j0), scaled to about `pixels` on its longer side, with overlays.
    public static func axialPanel(_ image: Volume<Float>, k: Int, i0: Int, j0: Int, columns: Int, rows: Int,
                                  pixels: Int, shading: Shading, overlays: [Overlay]) -> Panel {
        let (v, _) = image.reoriented(); let g = v.grid
        let sp = g.spacing
        let pmm = max(Double(columns) * sp.x, Double(rows) * sp.y) / Double(max(1, pixels))
        let geo = PanelGeometry(first: (i0, j0), columns: columns, rows: rows,
                                pixelsPerVoxelX: sp.x / pmm, pixelsPerVoxelY: sp.y / pmm, slice: k)
        func value(_ x: Int, _ y: Int) -> (Int, Int)? {
            let i = i0 + x, j = j0 + rows - 1 - y
            return g.contains(i, j, k) ? (i, j) : nil
        }
        var canonicalOverlays = overlays
        for n in canonicalOverlays.indices { canonicalOverlays[n].labels = overlays[n].labels.reoriented().0 }
        return render(geo, shading: shading, overlays: canonicalOverlays) { x, y in
            value(x, y).map { (v[$0.0, $0.1, k], $0) }
        } label: { ov, x, y in
            value(x, y).map { ov[$0.0, $0.1, k] } ?? 0
        }
    }

    /// An axial mosaic: up to `maxSlices` slices evenly spread over those where `focus` has
    /// voxels (all slices without a focus), superior first, each cropped to
    /// `axialFieldOfView` mm around the focus's centre in that slice, `columnsPerRow` tiles a
    /// row, with the slice number in each tile. The grey window (when `shading` is nil) comes
    /// from the 1st and 99.5th percentiles of the voxels in the tiles.
    public static func axialMosaic(_ image: Volume<Float>, focus: Mask?, overlays: [Overlay], shading: Shading? = nil,
                                   maxSlices: Int = 12, columnsPerRow: Int = 6) -> RGBImage {
        let (v, _) = image.reoriented(); let g = v.grid
        let f = focus.map { $0.reoriented().0 }
        var centres: [Int: (Double, Double)] = [:]
        if let f {
            var sums: [Int: (Double, Double, Double)] = [:]
            for k in 0..<g.nz { for j in 0..<g.ny { for i in 0..<g.nx where f[i, j, k] > 0 {
                let s = sums[k] ?? (0, 0, 0); sums[k] = (s.0 + Double(i), s.1 + Double(j), s.2 + 1)
            } } }
            for (k, s) in sums { centres[k] = (s.0 / s.2, s.1 / s.2) }
        }
        let candidates = f == nil ? Array(0..<g.nz) : centres.keys.sorted()
        let picked = evenly(candidates, maxSlices).reversed()
        let sp = g.spacing
        let cols = min(g.nx, CheckedNumber.clamped(axialFieldOfView / sp.x, .toNearestOrAwayFromZero)), rows = min(g.ny, CheckedNumber.clamped(axialFieldOfView / sp.y, .toNearestOrAwayFromZero))
        func origin(_ k: Int) -> (Int, Int) {
            let c = centres[k] ?? (Double(g.nx) / 2, Double(g.ny) / 2)
            return (CheckedNumber.clamped(c.0 - Double(cols) / 2, .toNearestOrAwayFromZero), CheckedNumber.clamped(c.1 - Double(rows) / 2, .toNearestOrAwayFromZero))
        }
        let shade = shading ?? {
            var values: [Float] = []
            for k in picked { let (i0, j0) = origin(k)
                for j in max(0, j0)..<min(g.ny, j0 + rows) { for i in max(0, i0)..<min(g.nx, i0 + cols) { values.append(v[i, j, k]) } } }
            return .grey(Window.percentiles(values))
        }()
        let tiles = picked.map { k -> RGBImage in
            let (i0, j0) = origin(k)
            var p = axialPanel(v, k: k, i0: i0, j0: j0, columns: cols, rows: rows, pixels: axialTilePixels, shading: shade, overlays: overlays)
            p.image.drawText("\(k)", x: 4, y: 4, scale: 2)
            return p.image
        }
        guard var out = grid(tiles, columns: columnsPerRow) else { return RGBImage(width: 1, height: 1) }
        out.drawText("R", x: 4, y: (tiles.first?.height ?? 20) - 20, scale: 2, colour: Palette.yellow)
        out.drawText("A", x: (tiles.first?.width ?? 20) / 2 - 5, y: 4, scale: 2, colour: Palette.yellow)
        return out
    }

    // MARK: - Sagittal

    /// A sagittal reformat through the focus's median left–right position (the middle
    /// without a focus), `fieldOfView` mm front to back around the focus, at most `maxHeight`
    /// pixels high; labels of `levelOverlay` (levels 1 = C1 …) are written beside the cord at
    /// the middle of each level's extent, and `marks` (world positions, mm, with a text) as
    /// a dot with their text. The grey window comes from the slice's 1st–99.5th percentiles.
    public static func sagittal(_ image: Volume<Float>, focus: Mask?, overlays: [Overlay], levelNames: [Int32: String] = [:],
                                levelOverlay: Volume<Int32>? = nil, marks: [(text: String, world: SIMD3<Double>)] = [],
                                fieldOfView: Double = 48, maxHeight: Int = 720) -> Panel {
        let (v, _) = image.reoriented(); let g = v.grid, sp = g.spacing
        let f = focus.map { $0.reoriented().0 }
        var iList: [Int] = [], jList: [Int] = []
        if let f { for n in 0..<g.voxelCount where f.data[n] > 0 { let c = g.coordinates(of: n); iList.append(c.x); jList.append(c.y) } }
        let i = iList.isEmpty ? g.nx / 2 : iList.sorted()[iList.count / 2]
        let jc = jList.isEmpty ? g.ny / 2 : jList.sorted()[jList.count / 2]
        let cols = min(g.ny, CheckedNumber.clamped(fieldOfView / sp.y, .toNearestOrAwayFromZero))
        let j0 = max(0, min(g.ny - cols, jc - cols / 2))
        let heightMM = Double(g.nz) * sp.z
        let pmm = max(min(sp.y, sp.z) / 2, heightMM / Double(maxHeight))
        let geo = PanelGeometry(first: (j0, 0), columns: cols, rows: g.nz, pixelsPerVoxelX: sp.y / pmm, pixelsPerVoxelY: sp.z / pmm, slice: i)
        var values: [Float] = []
        for k in 0..<g.nz { for j in j0..<(j0 + cols) { values.append(v[i, j, k]) } }
        var canonicalOverlays = overlays
        for n in canonicalOverlays.indices { canonicalOverlays[n].labels = overlays[n].labels.reoriented().0 }
        func voxel(_ x: Int, _ y: Int) -> (Int, Int)? {
            let j = j0 + cols - 1 - x, k = g.nz - 1 - y
            return g.contains(i, j, k) ? (j, k) : nil
        }
        var panel = render(geo, shading: .grey(Window.percentiles(values)), overlays: canonicalOverlays) { x, y in
            voxel(x, y).map { (v[i, $0.0, $0.1], ($0.0, $0.1)) }
        } label: { ov, x, y in
            voxel(x, y).map { ov[i, $0.0, $0.1] } ?? 0
        }
        // Level names at the middle of each level's extent along k, right of the cord.
        if let lv = levelOverlay?.reoriented().0 {
            var extent: [Int32: (Int, Int)] = [:]
            var posterior = g.ny
            for k in 0..<g.nz { for j in 0..<g.ny where lv[i, j, k] > 0 {
                let l = lv[i, j, k], e = extent[l] ?? (k, k); extent[l] = (min(e.0, k), max(e.1, k))
                posterior = min(posterior, j)
            } }
            // Posterior is on the right: the names start 6 pixels right of the cord's most posterior voxel.
            let xText = min(panel.image.width - 28, Int(Double(j0 + cols - posterior) * geo.pixelsPerVoxelX) + 6)
            for (l, e) in extent.sorted(by: { $0.key < $1.key }) {
                let name = levelNames[l] ?? "\(l)"
                let kMid = Double(e.0 + e.1 + 1) / 2
                let y = CheckedNumber.clamped((Double(g.nz) - kMid) * geo.pixelsPerVoxelY, .toNearestOrAwayFromZero) - 7
                let r = panel.image.drawText(name, x: max(2, xText), y: y, scale: 2, colour: Palette.label(Int(l)))
                panel.texts.append(TextPlacement(text: name, x: r.x, y: r.y, width: r.width, height: r.height))
            }
        }
        for m in marks {
            let p = g.voxel(ofWorld: m.world)
            let x = (Double(j0 + cols - 1) - p.y + 0.5) * geo.pixelsPerVoxelX, y = (Double(g.nz - 1) - p.z + 0.5) * geo.pixelsPerVoxelY
            let cx = CheckedNumber.clamped(x, .toNearestOrAwayFromZero), cy = CheckedNumber.clamped(y, .toNearestOrAwayFromZero)
            for dy in -3...3 { for dx in -3...3 where dx * dx + dy * dy <= 9 { panel.image.set(cx + dx, cy + dy, Palette.vermillion) } }
            // Disc names left of the dot (anterior side), level names right of the cord.
            let r = panel.image.drawText(m.text, x: max(2, cx - 8 - BitmapFont.size(of: m.text, scale: 2).width), y: cy - 7, scale: 2, colour: Palette.yellow)
            panel.texts.append(TextPlacement(text: m.text, x: r.x, y: r.y, width: r.width, height: r.height))
        }
        panel.image.drawText("A", x: 4, y: 4, colour: Palette.yellow)
        panel.image.drawText("S", x: panel.image.width / 2 - 5, y: 4, colour: Palette.yellow)
        return panel
    }

    // MARK: - Common

    /// Up to `n` items evenly spread over `items` (all when there are fewer).
    static func evenly(_ items: [Int], _ n: Int) -> [Int] {
        guard items.count > n, n > 1 else { return n == 1 ? Array(items.prefix(1)) : items }
        return (0..<n).map { items[CheckedNumber.clamped(Double($0) * Double(items.count - 1) / Double(n - 1), .toNearestOrAwayFromZero)] }
    }

    /// Pictures in a grid, `columns` a row, 4 pixels apart on a dark background.
    public static func grid(_ tiles: [RGBImage], columns: Int) -> RGBImage? {
        guard let first = tiles.first, columns > 0 else { return nil }
        let w = tiles.map(\.width).max() ?? first.width, h = tiles.map(\.height).max() ?? first.height
        let nc = min(columns, tiles.count), nr = (tiles.count + nc - 1) / nc
        var out = RGBImage(width: nc * w + (nc - 1) * 4, height: nr * h + (nr - 1) * 4, fill: RGB(24, 24, 24))
        for (n, t) in tiles.enumerated() { out.paste(t, x: (n % nc) * (w + 4), y: (n / nc) * (h + 4)) }
        return out
    }

    /// Renders a panel: each pixel's value and plane position come from `sample`, the
    /// overlays' label at a pixel from `label`.
    static func render(_ geo: PanelGeometry, shading: Shading, overlays: [Overlay],
                       sample: (Int, Int) -> (Float, (Int, Int))?, label: (Volume<Int32>, Int, Int) -> Int32) -> Panel {
        let w = max(1, CheckedNumber.clamped(Double(geo.columns) * geo.pixelsPerVoxelX, .toNearestOrAwayFromZero))
        let h = max(1, CheckedNumber.clamped(Double(geo.rows) * geo.pixelsPerVoxelY, .toNearestOrAwayFromZero))
        var img = RGBImage(width: w, height: h)
        func px(_ x: Int) -> Int { min(geo.columns - 1, Int(Double(x) / geo.pixelsPerVoxelX)) }
        func py(_ y: Int) -> Int { min(geo.rows - 1, Int(Double(y) / geo.pixelsPerVoxelY)) }
        var cache: [Int: RGB] = [:]
        for y in 0..<h { for x in 0..<w {
            let key = py(y) * geo.columns + px(x)
            if let c = cache[key] { img[x, y] = c; continue }
            let c = sample(px(x), py(y)).map { shading.rgb(Double($0.0)) } ?? .black
            cache[key] = c; img[x, y] = c
        } }
        for ov in overlays {
            // Labels per plane pixel, then drawn per output pixel.
            var plane = [Int32](repeating: 0, count: geo.columns * geo.rows)
            for r in 0..<geo.rows { for c in 0..<geo.columns { plane[r * geo.columns + c] = label(ov.labels, c, r) } }
            func at(_ x: Int, _ y: Int) -> Int32 {
                guard x >= 0, y >= 0, x < w, y < h else { return 0 }
                return plane[py(y) * geo.columns + px(x)]
            }
            for y in 0..<h { for x in 0..<w {
                let l = at(x, y)
                guard l > 0 else { continue }
                let colour = ov.colour ?? Palette.label(Int(l))
                switch ov.style {
                case let .fill(alpha): img.blend(x, y, colour, alpha: alpha)
                case let .outline(width):
                    var edge = false
                    for d in 1...max(1, width) where !edge {
                        edge = at(x - d, y) != l || at(x + d, y) != l || at(x, y - d) != l || at(x, y + d) != l
                    }
                    if edge { img[x, y] = colour }
                }
            } }
        }
        return Panel(image: img, geometry: geo)
    }
}
