// A slice of a segmentation upsampled and thresholded, with its moments and convex hull.
import CordCore

/// The region {upsampled segmentation > ½} of one RPI slice: bilinear upsampling by an
/// integer factor over the bounding box (plus 3 pixels) of the non-zero values, as
/// scikit-image's `pyramid_expand(order=1)` in sct_process_segmentation.
struct UpsampledRegion {
    /// Second central moments (mm²) of the region, x along i, y along j.
    var covariance: (xx: Double, xy: Double, yy: Double) = (0, 0, 0)
    /// Region area over the area of its convex hull (0…1).
    var solidity = 0.0
    var area = 0.0

    init(_ stack: AxialStack, slice k: Int, factor: Int) {
        let nx = stack.nx, ny = stack.ny, base = nx * ny * k
        var i0 = nx, i1 = -1, j0 = ny, j1 = -1
        for j in 0..<ny { for i in 0..<nx where stack.data[base + i + nx * j] > 1e-6 {
            i0 = min(i0, i); i1 = max(i1, i); j0 = min(j0, j); j1 = max(j1, j)
        } }
        guard i1 >= i0 else { return }
        i0 = max(0, i0 - 3); j0 = max(0, j0 - 3); i1 = min(nx - 1, i1 + 3); j1 = min(ny - 1, j1 + 3)
        let w = (i1 - i0 + 1) * factor, h = (j1 - j0 + 1) * factor
        let sx = stack.dx / Double(factor), sy = stack.dy / Double(factor)
        var inside = [Bool](repeating: false, count: w * h)
        var n = 0.0, mx = 0.0, my = 0.0, mxx = 0.0, mxy = 0.0, myy = 0.0
        for b in 0..<h {
            let y = Double(j0) + (Double(b) + 0.5) / Double(factor) - 0.5
            for a in 0..<w {
                let x = Double(i0) + (Double(a) + 0.5) / Double(factor) - 0.5
                guard stack.sample(x, y, k) > 0.5 else { continue }
                inside[a + w * b] = true
                let px = Double(a) * sx, py = Double(b) * sy
                n += 1; mx += px; my += py; mxx += px * px; mxy += px * py; myy += py * py
            }
        }
        guard n > 0 else { return }
        mx /= n; my /= n
        covariance = (mxx / n - mx * mx, mxy / n - mx * my, myy / n - my * my)
        area = n * sx * sy
        // Convex hull (Andrew's monotone chain) of the corners of boundary pixels.
        var points: [SIMD2<Double>] = []
        for b in 0..<h {
            for a in 0..<w where inside[a + w * b] {
                let border = a == 0 || b == 0 || a == w - 1 || b == h - 1
                let edge = border || !inside[a - 1 + w * b] || !inside[a + 1 + w * b]
                guard edge || !inside[a + w * (b - 1)] || !inside[a + w * (b + 1)] else { continue }
                let x0 = Double(a) * sx, y0 = Double(b) * sy
                points.append(SIMD2(x0, y0)); points.append(SIMD2(x0 + sx, y0))
                points.append(SIMD2(x0, y0 + sy)); points.append(SIMD2(x0 + sx, y0 + sy))
            }
        }
        let hull = UpsampledRegion.convexHullArea(points)
        solidity = hull > 0 ? min(1, area / hull) : 0
    }

    static func convexHullArea(_ input: [SIMD2<Double>]) -> Double {
        let unique: Set<SIMD2<Double>> = Set(input)
        let p: [SIMD2<Double>] = unique.sorted { (a: SIMD2<Double>, b: SIMD2<Double>) -> Bool in
            a.x < b.x || (a.x == b.x && a.y < b.y)
        }
        guard p.count >= 3 else { return 0 }
        func turn(_ o: SIMD2<Double>, _ a: SIMD2<Double>, _ b: SIMD2<Double>) -> Double {
            (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x)
        }
        var hull: [SIMD2<Double>] = []
        for q in p {
            while hull.count >= 2 && turn(hull[hull.count - 2], hull[hull.count - 1], q) <= 0 { hull.removeLast() }
            hull.append(q)
        }
        let lower = hull.count + 1
        for q in p.reversed().dropFirst() {
            while hull.count >= lower && turn(hull[hull.count - 2], hull[hull.count - 1], q) <= 0 { hull.removeLast() }
            hull.append(q)
        }
        hull.removeLast()
        var area = 0.0
        for a in 0..<hull.count {
            let b = (a + 1) % hull.count
            area += hull[a].x * hull[b].y - hull[b].x * hull[a].y
        }
        return abs(area) / 2
    }
}
