// The phantom's anatomy as a function of world position: cord, CSF sac, vertebrae.
import CordCore

/// The continuous (grid-free) anatomy of one phantom subject, in world space (RAS+, mm).
///
/// The cord is an ellipse in each plane orthogonal to the centerline. Per level it keeps
/// the tabulated AP/RL ratio and is scaled so its area equals the tabulated CSA (real cords
/// are not ellipses; for the spine-generic table the ellipse's diameters then differ from
/// the tabulated ones by < 0.4 %). Area and ratio are constant inside each level and change
/// smoothly (quintic smoothstep) within ±`levelTransition` mm of each disc; the constant
/// ("plateau") areas are chosen so that the mean area over each level equals the tabulated
/// CSA exactly, which is how per-level CSA is reported (mean over the level's slices).
/// Above C1 and below T1 the cord keeps the C1 and T1 sizes.
public struct CordAnatomy: Sendable {
    public let parameters: PhantomParameters
    /// Arc length (mm from the top of C1) of PAM50 disc labels 1…9; level n spans
    /// discArcLengths[n−1]…discArcLengths[n].
    public let discArcLengths: [Double]
    let shape: CordShape
    var curve: CenterlineCurve { shape.curve }

    public init(_ p: PhantomParameters) throws {
        try p.validate()
        parameters = p
        var discs = [0.0]
        for l in p.levels { discs.append(discs[discs.count - 1] + l.length) }
        discArcLengths = discs
        // Mean over level L of the smoothstepped profile is P_L + c_L Σ_neighbours (P_N − P_L)
        // with c_L = (5h/32)/length_L (∫₀^½ of the quintic smoothstep is 5/64, over 2h mm).
        // Solve for plateaus P whose means are the requested CSAs (Jacobi, diagonally dominant).
        let target = p.levels.map(\.csa)
        var plateau = target
        let c = p.levels.map { 5 * p.levelTransition / 32 / $0.length }
        for _ in 0..<60 {
            var next = plateau
            for l in 0..<8 {
                var neighbours = 0.0, count = 0.0
                if l > 0 { neighbours += plateau[l - 1]; count += 1 }
                if l < 7 { neighbours += plateau[l + 1]; count += 1 }
                next[l] = (target[l] - c[l] * neighbours) / (1 - c[l] * count)
            }
            plateau = next
        }
        guard plateau.allSatisfy({ $0 > 0 }) else {
            throw CordError.invalidValue(what: "phantom levels",
                                         detail: "CSAs \(target) change too fast between levels for a smooth profile")
        }
        shape = CordShape(p, discs: discs, plateau: plateau)
    }

    /// Arc length (mm) of the point of maximal compression, nil without compression.
    var compressionCentre: Double? { shape.compressionCentre.isNaN ? nil : shape.compressionCentre }

    // MARK: - Along the cord

    /// The level containing arc length s, or nil above C1 / below T1.
    public func level(atArcLength s: Double) -> VertebralLevel? {
        guard s >= discArcLengths[0], s < discArcLengths[8] else { return nil }
        return VertebralLevel(rawValue: shape.levelIndex(s) + 1)
    }
    /// Arc length (mm) of the middle of a level.
    public func centre(of level: VertebralLevel) -> Double {
        (discArcLengths[level.rawValue - 1] + discArcLengths[level.rawValue]) / 2
    }
    /// Cord semi-axes (mm): a along u (RL), b along v (AP), compression included.
    public func semiAxes(atArcLength s: Double) -> (a: Double, b: Double) { shape.semiAxes(s) }
    /// Cord cross-sectional area (mm²) orthogonal to the centerline at arc length s.
    public func cordArea(atArcLength s: Double) -> Double {
        let (a, b) = shape.semiAxes(s)
        return Double.pi * a * b
    }
    /// Mean cord area (mm²) over a level by the midpoint rule (0.01 mm steps).
    public func meanCordArea(_ level: VertebralLevel) -> Double {
        let s0 = discArcLengths[level.rawValue - 1], s1 = discArcLengths[level.rawValue]
        let n = CheckedNumber.clamped((s1 - s0) / 0.01, .toNearestOrAwayFromZero)
        var sum = 0.0
        for i in 0..<n { sum += cordArea(atArcLength: s0 + (Double(i) + 0.5) * (s1 - s0) / Double(n)) }
        return sum / Double(n)
    }

    /// World position (mm) of the centerline at arc length s.
    public func centerlinePoint(atArcLength s: Double) -> SIMD3<Double> { curve.point(z: curve.z(arcLength: s)) }
    /// Unit tangent (pointing superior) at arc length s.
    public func tangent(atArcLength s: Double) -> SIMD3<Double> { curve.tangent(z: curve.z(arcLength: s)) }
    /// Unit vectors of the cross-section plane at arc length s: toward right (u), anterior (v).
    public func crossSectionAxes(atArcLength s: Double) -> (u: SIMD3<Double>, v: SIMD3<Double>) {
        curve.frame(z: curve.z(arcLength: s))
    }

    // MARK: - Anywhere in space

    /// Cord coordinates of a world point (foot point on the centerline, in-plane offsets).
    public func coordinates(ofWorld p: SIMD3<Double>) -> CordCoordinates {
        let l = curve.local(p.x, p.y, p.z)
        return CordCoordinates(s: l.s, u: l.u, v: l.v, tangent: SIMD3(l.tx, l.ty, l.tz))
    }
    /// The tissue at a world point.
    public func tissue(atWorld p: SIMD3<Double>) -> TissueClass {
        let l = curve.local(p.x, p.y, p.z)
        return shape.tissue(s: l.s, u: l.u, v: l.v)
    }
}
