// Inline SVG: per-level plots with the normative band, and colour bars.
import CordCore

/// The normal range of a metric at one level: mean and SD over healthy volunteers.
public struct NormBand: Sendable, Equatable {
    public var mean: Double, sd: Double
    public init(mean: Double, sd: Double) { self.mean = mean; self.sd = sd }
}

/// SVG text for QC pages (no scripts, no external references).
public enum SVGPlot {
    /// A per-level plot: the subject's value at each level (dots joined by a line) over the
    /// normative mean (dashed) with ±1 SD (dark band) and ±2 SD (light band) where `norms`
    /// has one. `levels` are in cranial-to-caudal order; nil values are left out.
    public static func perLevel(title: String, unit: String, levels: [String], values: [Double?], norms: [NormBand?],
                                width: Int = 440, height: Int = 240) -> String {
        precondition(levels.count == values.count && levels.count == norms.count, "one value and one band per level")
        let left = 56.0, right = 12.0, top = 26.0, bottom = 34.0
        let pw = Double(width) - left - right, ph = Double(height) - top - bottom
        var lo = Double.infinity, hi = -Double.infinity
        for v in values.compactMap({ $0 }) where v.isFinite { lo = min(lo, v); hi = max(hi, v) }
        for b in norms.compactMap({ $0 }) where b.mean.isFinite && b.sd.isFinite { lo = min(lo, b.mean - 2 * b.sd); hi = max(hi, b.mean + 2 * b.sd) }
        if !lo.isFinite || !hi.isFinite { lo = 0; hi = 1 }
        if hi - lo < 1e-9 { lo -= 0.5; hi += 0.5 }
        let pad = (hi - lo) * 0.08; lo -= pad; hi += pad
        func x(_ n: Int) -> Double { left + (levels.count == 1 ? pw / 2 : Double(n) * pw / Double(levels.count - 1)) }
        func y(_ v: Double) -> Double { top + (hi - v) / (hi - lo) * ph }
        func f(_ v: Double) -> String { formatFixed(v, 1) }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-label=\"\(HTML.escape(title))\">"
        s += "<rect x=\"0\" y=\"0\" width=\"\(width)\" height=\"\(height)\" fill=\"#ffffff\"/>"
        s += "<text x=\"\(f(left))\" y=\"16\" font-size=\"13\" font-weight=\"bold\">\(HTML.escape(title))\(unit.isEmpty ? "" : " (" + HTML.escape(unit) + ")")</text>"
        // Bands per level as a polygon over the levels that have one (contiguous runs).
        for (k, alpha) in [(2.0, "0.18"), (1.0, "0.35")] {
            var run: [(Int, NormBand)] = []
            func flush() {
                guard !run.isEmpty else { return }
                let upper = run.map { "\(f(x($0.0))),\(f(y($0.1.mean + k * $0.1.sd)))" }
                let lower = run.reversed().map { "\(f(x($0.0))),\(f(y($0.1.mean - k * $0.1.sd)))" }
                let pts = run.count == 1 ? [f(x(run[0].0) - 6) + "," + f(y(run[0].1.mean + k * run[0].1.sd)), f(x(run[0].0) + 6) + "," + f(y(run[0].1.mean + k * run[0].1.sd)),
                                            f(x(run[0].0) + 6) + "," + f(y(run[0].1.mean - k * run[0].1.sd)), f(x(run[0].0) - 6) + "," + f(y(run[0].1.mean - k * run[0].1.sd))] : upper + lower
                s += "<polygon class=\"band\" points=\"\(pts.joined(separator: " "))\" fill=\"\(Palette.skyBlue.hex)\" fill-opacity=\"\(alpha)\"/>"
                run = []
            }
            for (n, b) in norms.enumerated() { if let b, b.mean.isFinite, b.sd.isFinite { run.append((n, b)) } else { flush() } }
            flush()
        }
        let means = norms.enumerated().compactMap { n, b in b.map { "\(f(x(n))),\(f(y($0.mean)))" } }
        if means.count > 1 { s += "<polyline points=\"\(means.joined(separator: " "))\" fill=\"none\" stroke=\"\(Palette.blue.hex)\" stroke-dasharray=\"5 3\"/>" }
        // Axes, ticks and level names.
        s += "<line x1=\"\(f(left))\" y1=\"\(f(top + ph))\" x2=\"\(f(left + pw))\" y2=\"\(f(top + ph))\" stroke=\"#444\"/>"
        s += "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(top + ph))\" stroke=\"#444\"/>"
        for t in 0...4 {
            let v = lo + (hi - lo) * Double(t) / 4
            s += "<text x=\"\(f(left - 4))\" y=\"\(f(y(v) + 4))\" font-size=\"10\" text-anchor=\"end\">\(shortNumber(v, 3))</text>"
        }
        for (n, l) in levels.enumerated() {
            s += "<text x=\"\(f(x(n)))\" y=\"\(f(top + ph + 16))\" font-size=\"11\" text-anchor=\"middle\">\(HTML.escape(l))</text>"
        }
        let points = values.enumerated().compactMap { n, v in v.flatMap { $0.isFinite ? (n, $0) : nil } }
        if points.count > 1 { s += "<polyline points=\"\(points.map { "\(f(x($0.0))),\(f(y($0.1)))" }.joined(separator: " "))\" fill=\"none\" stroke=\"\(Palette.vermillion.hex)\" stroke-width=\"2\"/>" }
        for (n, v) in points {
            s += "<circle class=\"value\" cx=\"\(f(x(n)))\" cy=\"\(f(y(v)))\" r=\"4\" fill=\"\(Palette.vermillion.hex)\"><title>\(HTML.escape(levels[n])): \(shortNumber(v, 4))</title></circle>"
        }
        if norms.contains(where: { $0 != nil }) {
            s += "<text x=\"\(f(left + pw))\" y=\"16\" font-size=\"10\" text-anchor=\"end\" fill=\"#333\">subject ● · normative mean ± 1/2 SD</text>"
        }
        return s + "</svg>"
    }

    /// A line plot of one or more series over their index (e.g. motion per volume).
    public static func lines(title: String, xLabel: String, unit: String, series: [(name: String, values: [Double])],
                             width: Int = 440, height: Int = 200) -> String {
        let left = 56.0, right = 12.0, top = 38.0, bottom = 34.0
        let pw = Double(width) - left - right, ph = Double(height) - top - bottom
        let all = series.flatMap(\.values).filter(\.isFinite)
        var lo = all.min() ?? 0, hi = all.max() ?? 1
        if hi - lo < 1e-9 { lo -= 0.5; hi += 0.5 }
        let n = max(2, series.map(\.values.count).max() ?? 2)
        func f(_ v: Double) -> String { formatFixed(v, 1) }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-label=\"\(HTML.escape(title))\">"
        s += "<rect width=\"\(width)\" height=\"\(height)\" fill=\"#fff\"/><text x=\"\(f(left))\" y=\"16\" font-size=\"13\" font-weight=\"bold\">\(HTML.escape(title)) (\(HTML.escape(unit)))</text>"
        s += "<line x1=\"\(f(left))\" y1=\"\(f(top + ph))\" x2=\"\(f(left + pw))\" y2=\"\(f(top + ph))\" stroke=\"#444\"/><line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(top + ph))\" stroke=\"#444\"/>"
        s += "<text x=\"\(f(left + pw / 2))\" y=\"\(height - 6)\" font-size=\"11\" text-anchor=\"middle\">\(HTML.escape(xLabel))</text>"
        for t in 0...4 { let v = lo + (hi - lo) * Double(t) / 4
            s += "<text x=\"\(f(left - 4))\" y=\"\(f(top + (hi - v) / (hi - lo) * ph + 4))\" font-size=\"10\" text-anchor=\"end\">\(shortNumber(v, 3))</text>" }
        for (m, line) in series.enumerated() {
            let pts = line.values.enumerated().filter { $0.element.isFinite }.map {
                "\(f(left + Double($0.offset) * pw / Double(n - 1))),\(f(top + (hi - $0.element) / (hi - lo) * ph))"
            }
            s += "<polyline points=\"\(pts.joined(separator: " "))\" fill=\"none\" stroke=\"\(Palette.cycle[m % Palette.cycle.count].hex)\" stroke-width=\"1.5\"><title>\(HTML.escape(line.name))</title></polyline>"
        }
        // Legend, right-aligned under the title line, one entry per series.
        if series.count > 1 {
            var x = Double(width) - right
            for (m, line) in series.enumerated().reversed() {
                let text = HTML.escape(line.name)
                x -= Double(line.name.count) * 6 + 4
                s += "<text class=\"legend\" x=\"\(f(x))\" y=\"\(f(top - 4))\" font-size=\"10\">\(text)</text>"
                x -= 14
                s += "<line x1=\"\(f(x))\" y1=\"\(f(top - 7))\" x2=\"\(f(x + 10))\" y2=\"\(f(top - 7))\" stroke=\"\(Palette.cycle[m % Palette.cycle.count].hex)\" stroke-width=\"2\"/>"
                x -= 8
            }
        }
        return s + "</svg>"
    }

    /// A heat map of a rows × columns table (e.g. slices × volumes): each cell coloured by
    /// `map` (viridis over the map's range), `nil` cells light grey (not scored), marked cells
    /// outlined in vermillion with a cross (e.g. outliers). Row 0 is drawn at the bottom, so
    /// slices read inferior → superior upwards as on a sagittal view.
    public static func heatmap(title: String, rowLabel: String, columnLabel: String, values: [[Double?]], marked: [[Bool]] = [],
                               map: ColourMap, width: Int = 640, maxHeight: Int = 320) -> String {
        let rows = values.count, cols = values.map(\.count).max() ?? 0
        let left = 56.0, right = 12.0, top = 26.0, bottom = 34.0
        let cw = max(2.0, (Double(width) - left - right) / Double(max(cols, 1)))
        let ch = max(3.0, min(18.0, (Double(maxHeight) - top - bottom) / Double(max(rows, 1))))
        let height = CheckedNumber.clamped(top + bottom + ch * Double(rows), .up)
        let w = CheckedNumber.clamped(left + right + cw * Double(cols), .up)
        func f(_ v: Double) -> String { formatFixed(v, 1) }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"heatmap\" width=\"\(w)\" height=\"\(height)\" viewBox=\"0 0 \(w) \(height)\" role=\"img\" aria-label=\"\(HTML.escape(title))\">"
        s += "<rect width=\"\(w)\" height=\"\(height)\" fill=\"#fff\"/><text x=\"\(f(left))\" y=\"16\" font-size=\"13\" font-weight=\"bold\">\(HTML.escape(title))</text>"
        for r in 0..<rows {
            let y = top + Double(rows - 1 - r) * ch
            for c in 0..<values[r].count {
                let x = left + Double(c) * cw
                let fill = values[r][c].map { map.colour($0).hex } ?? "#dddddd"
                let tip = values[r][c].map { shortNumber($0, 3) } ?? "not scored"
                s += "<rect class=\"cell\" x=\"\(f(x))\" y=\"\(f(y))\" width=\"\(f(cw))\" height=\"\(f(ch))\" fill=\"\(fill)\"><title>\(HTML.escape(rowLabel)) \(r), \(HTML.escape(columnLabel)) \(c): \(tip)</title></rect>"
            }
        }
        for r in 0..<min(rows, marked.count) {
            let y = top + Double(rows - 1 - r) * ch
            for c in 0..<min(cols, marked[r].count) where marked[r][c] {
                let x = left + Double(c) * cw
                s += "<g class=\"mark\" stroke=\"\(Palette.vermillion.hex)\" stroke-width=\"1.5\" fill=\"none\"><rect x=\"\(f(x))\" y=\"\(f(y))\" width=\"\(f(cw))\" height=\"\(f(ch))\"/><line x1=\"\(f(x))\" y1=\"\(f(y))\" x2=\"\(f(x + cw))\" y2=\"\(f(y + ch))\"/><line x1=\"\(f(x + cw))\" y1=\"\(f(y))\" x2=\"\(f(x))\" y2=\"\(f(y + ch))\"/></g>"
            }
        }
        let step = max(1, rows / 8)
        for r in stride(from: 0, to: rows, by: step) {
            s += "<text x=\"\(f(left - 4))\" y=\"\(f(top + (Double(rows - 1 - r) + 0.5) * ch + 4))\" font-size=\"10\" text-anchor=\"end\">\(r)</text>"
        }
        let cstep = max(1, cols / 10)
        for c in stride(from: 0, to: cols, by: cstep) {
            s += "<text x=\"\(f(left + (Double(c) + 0.5) * cw))\" y=\"\(f(top + Double(rows) * ch + 12))\" font-size=\"10\" text-anchor=\"middle\">\(c)</text>"
        }
        s += "<text x=\"\(f(left + Double(cols) * cw / 2))\" y=\"\(height - 4)\" font-size=\"11\" text-anchor=\"middle\">\(HTML.escape(columnLabel))</text>"
        s += "<text x=\"12\" y=\"\(f(top + Double(rows) * ch / 2))\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 12 \(f(top + Double(rows) * ch / 2)))\">\(HTML.escape(rowLabel))</text>"
        return s + "</svg>"
    }

    /// A horizontal colour bar of `map` with its range and unit.
    public static func colourBar(_ map: ColourMap, width: Int = 240) -> String {
        let id = "cb-" + map.name.unicodeScalars.filter { CharacterSet.alnum.contains($0) }.map { String($0) }.joined()
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"colourbar\" width=\"\(width)\" height=\"40\" viewBox=\"0 0 \(width) 40\" role=\"img\" aria-label=\"colour bar \(HTML.escape(map.name))\">"
        s += "<defs><linearGradient id=\"\(id)\" x1=\"0\" x2=\"1\" y1=\"0\" y2=\"0\">"
        for t in 0...8 {
            let v = map.low + (map.high - map.low) * Double(t) / 8
            s += "<stop offset=\"\(formatFixed(Double(t) / 8, 3))\" stop-color=\"\(map.colour(v).hex)\"/>"
        }
        s += "</linearGradient></defs><rect x=\"10\" y=\"4\" width=\"\(width - 20)\" height=\"14\" fill=\"url(#\(id))\" stroke=\"#333\"/>"
        let unit = map.unit.isEmpty ? "" : " " + HTML.escape(map.unit)
        s += "<text x=\"10\" y=\"34\" font-size=\"11\">\(shortNumber(map.low, 3))\(unit)</text>"
        s += "<text x=\"\(width - 10)\" y=\"34\" font-size=\"11\" text-anchor=\"end\">\(shortNumber(map.high, 3))\(unit)</text>"
        s += "<text x=\"\(width / 2)\" y=\"34\" font-size=\"11\" text-anchor=\"middle\">\(HTML.escape(map.name))</text>"
        return s + "</svg>"
    }
}

/// ASCII letters and digits, for SVG ids.
enum CharacterSet {
    case alnum
    func contains(_ u: Unicode.Scalar) -> Bool { u.isASCII && (u.properties.isAlphabetic || ("0"..."9").contains(u)) }
}
