// The cord's cross-section along the superior axis: centre and second moments per axial
// slice, as functions of world z. Registration maps one profile onto another.
import CordCore

/// Centre (world x, y in mm, RAS+) and in-plane covariance (mm²) of a cord mask or
/// probability map in each axial slice of its canonical (RPI) grid, indexed by the slice
/// centre's world z (mm, superior +). Between slices values are interpolated linearly;
/// beyond the first and last slice holding cord they are held constant.
public struct CordProfile: Sendable, Equatable {
    /// One slice: world z (mm), centre (mm), covariance [xx, xy, yy] (mm²), area (mm²).
    public struct Slice: Sendable, Equatable {
        public var z: Double
        public var centre: SIMD2<Double>
        public var covariance: SIMD3<Double>
        public var area: Double
    }
    /// Slices holding cord, inferior first.
    public private(set) var slices: [Slice]

    /// Profile of `weights` (binary mask or probability, 0…1). Slices with less than
    /// `minimumArea` mm² of cord are skipped; `smoothing` (mm) is the half-width of the
    /// moving average applied along z (0: none).
    public init(_ weights: Volume<Float>, minimumArea: Double = 2, smoothing: Double = 0) throws {
        let (v, _) = weights.reoriented()
        let g = v.grid
        let pixelArea = g.spacing.x * g.spacing.y
        var out: [Slice] = []
        for k in 0..<g.nz {
            var w = 0.0, sx = 0.0, sy = 0.0, sxx = 0.0, sxy = 0.0, syy = 0.0, sz = 0.0
            for j in 0..<g.ny { for i in 0..<g.nx {
                let m = Double(v.data[g.index(i, j, k)])
                guard m > 0 else { continue }
                let p = g.world(SIMD3(i, j, k))
                w += m; sx += m * p.x; sy += m * p.y; sz += m * p.z
                sxx += m * p.x * p.x; sxy += m * p.x * p.y; syy += m * p.y * p.y
            } }
            guard w * pixelArea >= minimumArea else { continue }
            let cx = sx / w, cy = sy / w
            // A pixel's own extent (spacing²/12) keeps one-pixel-wide slices invertible.
            let cov = SIMD3(sxx / w - cx * cx + g.spacing.x * g.spacing.x / 12, sxy / w - cx * cy,
                            syy / w - cy * cy + g.spacing.y * g.spacing.y / 12)
            out.append(Slice(z: sz / w, centre: SIMD2(cx, cy), covariance: cov, area: w * pixelArea))
        }
        guard out.count >= 2 else {
            throw CordError.invalidValue(what: "cord mask", detail: "holds cord in \(out.count) axial slice(s); at least 2 are needed to follow the cord")
        }
        out.sort { $0.z < $1.z }
        slices = out
        if smoothing > 0 { slices = Self.smoothed(out, halfWidth: smoothing) }
    }

    static func smoothed(_ s: [Slice], halfWidth: Double) -> [Slice] {
        s.map { c in
            let near = s.filter { abs($0.z - c.z) <= halfWidth }
            let n = Double(near.count)
            var out = c
            out.centre = near.reduce(SIMD2<Double>.zero) { $0 + $1.centre } / n
            out.covariance = near.reduce(SIMD3<Double>.zero) { $0 + $1.covariance } / n
            return out
        }
    }

    /// World z range (mm) of the slices holding cord.
    public var zRange: ClosedRange<Double> { (slices.first?.z ?? 0)...(slices.last?.z ?? 0) }

    /// Centre and covariance at world z (linear between slices, constant beyond the ends).
    public func at(z: Double) -> (centre: SIMD2<Double>, covariance: SIMD3<Double>) {
        guard let first = slices.first, let last = slices.last else { return (.zero, SIMD3(1, 0, 1)) }
        if z <= first.z { return (first.centre, first.covariance) }
        if z >= last.z { return (last.centre, last.covariance) }
        var lo = 0, hi = slices.count - 1
        while hi - lo > 1 { let m = (lo + hi) / 2; if slices[m].z <= z { lo = m } else { hi = m } }
        let a = slices[lo], b = slices[hi]
        let t = b.z > a.z ? (z - a.z) / (b.z - a.z) : 0
        return (a.centre + t * (b.centre - a.centre), a.covariance + t * (b.covariance - a.covariance))
    }
}

/// 2×2 symmetric matrices stored as [xx, xy, yy], with the square roots the moment
/// matching needs, and general 2×2 matrices as (row 0, row 1).
enum Sym2 {
    /// Principal square root of a symmetric positive-definite matrix:
    /// √M = (M + √det·I)/√(tr + 2√det).
    static func sqrt(_ m: SIMD3<Double>) -> SIMD3<Double> {
        let s = max(m.x * m.z - m.y * m.y, 1e-12).squareRoot()
        let t = max(m.x + m.z + 2 * s, 1e-12).squareRoot()
        return SIMD3(m.x + s, m.y, m.z + s) / t
    }
    static func inverse(_ m: SIMD3<Double>) -> SIMD3<Double> {
        let d = m.x * m.z - m.y * m.y
        return SIMD3(m.z, -m.y, m.x) / (abs(d) > 1e-18 ? d : 1e-18)
    }
    /// Product of two symmetric matrices (generally not symmetric) as rows.
    static func product(_ a: SIMD3<Double>, _ b: SIMD3<Double>) -> (SIMD2<Double>, SIMD2<Double>) {
        (SIMD2(a.x * b.x + a.y * b.y, a.x * b.y + a.y * b.z), SIMD2(a.y * b.x + a.z * b.y, a.y * b.y + a.z * b.z))
    }
    /// The affine part mapping an ellipse of covariance `from` onto one of covariance `to`:
    /// A = to^{1/2}·from^{−1/2}, so A·from·Aᵀ = to.
    static func matching(from: SIMD3<Double>, to: SIMD3<Double>) -> (SIMD2<Double>, SIMD2<Double>) {
        product(sqrt(to), inverse(sqrt(from)))
    }
}
