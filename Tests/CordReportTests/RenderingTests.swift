import Foundation
import Testing
import CordTestSupport
@testable import CordCore
@testable import CordPhantom
@testable import CordReport

/// The QC renderer: PNG bytes, windowing, colour maps, plots, and overlays that land where
/// the anatomy is (checked on the phantom, whose truth is known).
@Suite struct RenderingTests {
    /// A small phantom on the standard axial grid (0.5 mm in-plane, 3 mm slices, C1–T1).
    static let phantom: PhantomSubject? = try? PhantomSubject(PhantomParameters(), on: PhantomGrid.axial())

    @Test func pngRoundTripKeepsEveryPixel() throws {
        var image = RGBImage(width: 37, height: 21, fill: RGB(10, 20, 30))
        for y in 0..<21 { for x in 0..<37 where (x * y) % 5 == 0 { image[x, y] = RGB(UInt8(x * 6), UInt8(y * 12), 200) } }
        image.drawText("C3", x: 2, y: 2)
        var clipped = image
        clipped.drawText("T1", x: -40, y: -30); clipped.drawText("T2", x: 60, y: 2); clipped.fillRect(x: -9, y: 5, width: 3, height: 3, .white)
        #expect(clipped == image)            // drawn entirely outside: nothing changes, nothing traps
        let bytes = try PNGCodec.encode(image)
        #expect(Array(bytes.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])   // PNG signature
        let back = try PNGCodec.decode(bytes)
        #expect(back.width == 37 && back.height == 21)
        let differing = zip(back.pixels, image.pixels).filter { $0 != $1 }.count
        #expect(differing == 0, "\(differing) bytes differ after PNG encode/decode")
        #expect(throws: ReportError.self) { try PNGCodec.decode([1, 2, 3, 4]) }
    }

    @Test func windowFromPercentilesIgnoresAFewExtremeVoxels() {
        var values = (0..<1000).map { Float($0 % 100) }
        values += [1e6, -1e6, .nan]
        let w = Window.percentiles(values)
        #expect(w.low >= 0 && w.low <= 2, "low \(w.low)")           // 1st percentile of 0…99
        #expect(w.high >= 98 && w.high <= 99, "high \(w.high)")     // 99.5th percentile, not the 1e6 outlier
        #expect(w.grey(w.low) == 0 && w.grey(w.high) == 255 && w.grey(.nan) == 0)
        // Viridis ends and clamping.
        #expect(ColourMap.fa.colour(0) == RGB(68, 1, 84) && ColourMap.fa.colour(1) == RGB(253, 231, 37))
        #expect(ColourMap.fa.colour(-3) == ColourMap.fa.colour(0) && ColourMap.mtr.colour(90) == ColourMap.mtr.colour(60))
    }

    @Test func perLevelPlotDrawsEveryValueAndTheBand() {
        let svg = SVGPlot.perLevel(title: "Cord area <C>", unit: "mm²", levels: ["C2", "C3", "C4"], values: [70, nil, 66],
                                   norms: [NormBand(mean: 72, sd: 6), NormBand(mean: 70, sd: 6), nil])
        #expect(svg.components(separatedBy: "<circle class=\"value\"").count - 1 == 2)   // the nil level is left out
        #expect(svg.components(separatedBy: "<polygon class=\"band\"").count - 1 == 2)   // ±2 SD and ±1 SD over C2–C3
        #expect(svg.contains("Cord area &lt;C&gt;") && !svg.contains("<C>"))
        let bar = SVGPlot.colourBar(.mtr)
        #expect(bar.contains("60 p.u.") && bar.contains("linearGradient"))
    }

    /// The phantom's true cord outline, drawn on the noise-free phantom T2w, sits on the
    /// cord's edge: every outline pixel maps (by the documented display convention) to a cord
    /// voxel with a non-cord neighbour, every such edge voxel is drawn, and in the same
    /// picture without overlay the pixels just outside the outline (CSF, bright on T2w) are
    /// brighter than those on it.
    @Test func phantomTrueCordOutlineLandsOnTheCordEdge() throws {
        let p = try #require(Self.phantom)
        let (image, _) = p.t2wNoiseFree.reoriented(), (cord, _) = p.cordMask.reoriented()
        let g = image.grid
        let cordSlices = (0..<g.nz).filter { kk in (0..<g.nx * g.ny).contains { cord.data[kk * g.nx * g.ny + $0] > 0 } }
        let k = cordSlices[cordSlices.count / 2]
        let colour = Palette.orange
        let shading = Shading.grey(Window.percentiles(image.data))
        let drawn = QCRenderer.axialPanel(image, k: k, i0: 0, j0: 0, columns: g.nx, rows: g.ny, pixels: 3 * g.nx, shading: shading,
                                          overlays: [Overlay(mask: cord, style: .outline(width: 1), colour: colour)])
        let plain = QCRenderer.axialPanel(image, k: k, i0: 0, j0: 0, columns: g.nx, rows: g.ny, pixels: 3 * g.nx, shading: shading, overlays: [])
        let geo = drawn.geometry
        #expect(abs(geo.pixelsPerVoxelX - 3) < 1e-9 && abs(geo.pixelsPerVoxelY - 3) < 1e-9)
        // The test's own reading of the convention: x → i (right on the left), y → j reversed (anterior up).
        func voxel(_ x: Int, _ y: Int) -> (Int, Int) { (x / 3, g.ny - 1 - y / 3) }
        func inCord(_ i: Int, _ j: Int) -> Bool { g.contains(i, j, k) && cord[i, j, k] > 0 }
        func isEdge(_ i: Int, _ j: Int) -> Bool { inCord(i, j) && (!inCord(i - 1, j) || !inCord(i + 1, j) || !inCord(i, j - 1) || !inCord(i, j + 1)) }
        var outline = Set<[Int]>(), offEdge = 0, brighterOutside = 0, compared = 0
        let centre: (Double, Double) = {
            var s = (0.0, 0.0, 0.0)
            for j in 0..<g.ny { for i in 0..<g.nx where inCord(i, j) { s = (s.0 + Double(i), s.1 + Double(j), s.2 + 1) } }
            return (s.0 / s.2, s.1 / s.2)
        }()
        for y in 0..<drawn.image.height { for x in 0..<drawn.image.width where drawn.image[x, y] == colour {
            let (i, j) = voxel(x, y)
            outline.insert([i, j])
            if !isEdge(i, j) { offEdge += 1; continue }
            // Two voxels further out from the cord centre, in the picture without overlay.
            let di = Double(i) - centre.0, dj = Double(j) - centre.1, n = (di * di + dj * dj).squareRoot()
            let oi = i + Int((2 * di / n).rounded()), oj = j + Int((2 * dj / n).rounded())
            guard g.contains(oi, oj, k) else { continue }
            let ox = oi * 3 + 1, oy = (g.ny - 1 - oj) * 3 + 1
            compared += 1
            if plain.image[ox, oy].r > plain.image[x, y].r { brighterOutside += 1 }
        } }
        var edges = 0, missed = 0
        for j in 0..<g.ny { for i in 0..<g.nx where isEdge(i, j) { edges += 1; if !outline.contains([i, j]) { missed += 1 } } }
        #expect(edges > 20, "the slice should show the cord")
        #expect(offEdge == 0, "\(offEdge) outline pixels are not on a cord edge voxel")
        #expect(missed == 0, "\(missed) of \(edges) cord edge voxels carry no outline")
        // Partial-volume edge voxels are mixed, but outside is CSF: nearly always brighter (≥ 95 %).
        #expect(compared > 50 && Double(brighterOutside) >= 0.95 * Double(compared), "\(brighterOutside) of \(compared)")
    }

    /// On a sagittal reformat of the phantom, each level name sits between the discs that
    /// bound its vertebra (truth disc n is the top of vertebra n), and each disc dot is
    /// drawn at its disc.
    @Test func levelLabelsSitBetweenTheirDiscs() throws {
        let p = try #require(Self.phantom)
        let names = p.levels.names
        var marks: [(text: String, world: SIMD3<Double>)] = []
        var discK: [Int: Double] = [:]
        let (discsRPI, _) = p.discs.volume.reoriented()
        for n in 0..<discsRPI.data.count where discsRPI.data[n] > 0 {
            let c = discsRPI.grid.coordinates(of: n)
            discK[Int(discsRPI.data[n])] = Double(c.z)
            marks.append((text: "D\(discsRPI.data[n])", world: discsRPI.grid.world(c)))
        }
        let panel = QCRenderer.sagittal(p.t2wNoiseFree, focus: p.cordMask, overlays: [Overlay(labels: p.levels.volume, style: .fill(alpha: 0.35))],
                                        levelNames: names, levelOverlay: p.levels.volume, marks: marks)
        let geo = panel.geometry, nz = discsRPI.grid.nz
        var checked = 0
        for t in panel.texts where !t.text.hasPrefix("D") {
            let level = try #require(names.first { $0.value == t.text }?.key, "\(t.text) is a level name")
            guard let top = discK[Int(level)], let bottom = discK[Int(level) + 1] else { continue }
            let k = Double(nz) - (Double(t.y) + Double(t.height) / 2) / geo.pixelsPerVoxelY   // row → k (superior up)
            #expect(k <= top + 0.5 && k >= bottom - 0.5, "\(t.text) drawn at k \(k), its discs at k \(top) and \(bottom)")
            // The name's pixels are really there, in the level's colour.
            let colour = Palette.label(Int(level))
            var lit = 0
            for y in t.y..<(t.y + t.height) { for x in t.x..<(t.x + t.width) where panel.image[x, y] == colour { lit += 1 } }
            #expect(lit > 10, "\(t.text): \(lit) pixels in its colour")
            checked += 1
        }
        #expect(checked >= 6, "levels with both discs in the field of view: \(checked)")
        // Disc dots: the vermillion pixel at the disc's own position (the test's mapping: x = j reversed, y = k reversed).
        for (n, k) in discK {
            let mark = try #require(marks.first { $0.text == "D\(n)" })
            let v = discsRPI.grid.voxel(ofWorld: mark.world)
            let x = Int(((Double(geo.first.0 + geo.columns - 1) - v.y + 0.5) * geo.pixelsPerVoxelX).rounded())
            let y = Int(((Double(nz - 1) - k + 0.5) * geo.pixelsPerVoxelY).rounded())
            guard panel.image.contains(x, y) else { continue }
            #expect(panel.image[x, y] == Palette.vermillion, "disc \(n) dot at (\(x), \(y))")
        }
    }
}
