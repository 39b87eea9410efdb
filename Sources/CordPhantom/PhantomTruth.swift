// Ground truth of a phantom subject, as plain Codable values.
import CordCore

/// A point of the phantom's centerline.
public struct CenterlinePoint: Codable, Sendable, Equatable {
    /// Arc length (mm) from the top of C1, increasing downward.
    public var arcLength: Double
    /// World position (mm, RAS+).
    public var world: SIMD3<Double>
    /// Unit tangent, pointing superior.
    public var tangent: SIMD3<Double>
    /// Continuous voxel coordinates (i, j, k) on the subject's grid.
    public var voxel: SIMD3<Double>
    /// Level at this point (nil above C1 or below T1).
    public var level: VertebralLevel?
}

/// The centerline sampled along the cord and per slice.
public struct PhantomCenterline: Codable, Sendable {
    /// Points every 0.5 mm of arc length, where the centerline lies inside the grid.
    public var points: [CenterlinePoint]
    /// The voxel axis (0, 1 or 2) closest to the world S–I axis: slices across it are
    /// the grid's "axial" slices.
    public var sliceAxis: Int
    /// Per slice along `sliceAxis`: where the centerline crosses the slice's centre plane
    /// (nil when the crossing lies outside the grid).
    public var slices: [CenterlinePoint?]
}

/// Ground truth for one level.
public struct LevelTruth: Codable, Sendable, Equatable {
    public var level: VertebralLevel
    /// The requested (tabulated) CSA (mm²), AP and RL diameters (mm).
    public var requestedCSA: Double, requestedAP: Double, requestedRL: Double
    /// Mean cord area (mm²) of the continuous model over the level; equals `requestedCSA`
    /// unless the level is compressed.
    public var modelCSA: Double
    /// Diameters (mm) of the model's ellipse at the level's centre.
    public var modelAP: Double, modelRL: Double
    /// Cord volume of the rasterised phantom inside the level (sub-samples split by their
    /// overlap with the level along the cord) divided by the level's length (mm²); nil when
    /// the cord is not entirely inside the grid over the level.
    public var measuredCSA: Double?
    /// Arc lengths (mm from the top of C1) of the level's top and bottom.
    public var arcLengthStart: Double, arcLengthEnd: Double
    /// World z (mm) of the centerline at the level's top and bottom.
    public var superiorZ: Double, inferiorZ: Double
    /// Grey-matter area (mm²): `modelCSA` × the template's grey-matter fraction.
    public var gmArea: Double
}

/// Ground truth of a focal compression.
public struct CompressionTruth: Codable, Sendable, Equatable {
    public var level: VertebralLevel
    /// Requested AP reduction (fraction) and length (mm) of the narrowing.
    public var fraction: Double, length: Double
    /// Arc length (mm) and world position (mm) of the point of maximal compression.
    public var arcLength: Double
    public var centre: SIMD3<Double>
    /// AP diameter (mm) there without and with compression (= the minimum AP, d_i).
    public var healthyAP: Double, compressedAP: Double
    /// Cord area (mm²) there without and with compression.
    public var healthyCSA: Double, compressedCSA: Double
    /// Levels whose centres give the reference diameters (the neighbours; one at C1/T1).
    public var referenceLevels: [VertebralLevel]
    /// AP diameters (mm) at the centres of the reference levels above (d_a) and below (d_b).
    public var apAbove: Double, apBelow: Double
    /// Maximum spinal cord compression (%): (1 − d_i/((d_a + d_b)/2))·100
    /// (Fehlings et al. 1999, Spine 24:605).
    public var msccPercent: Double
}

/// Everything known about a phantom subject, for tests and for a truth file next to the
/// images (CordIO writes it).
public struct PhantomTruth: Codable, Sendable {
    public var parameters: PhantomParameters
    /// The grid, e.g. "48×48×76 at 0.800×0.800×2.000 mm" and its orientation code (SCT convention).
    public var grid: String, orientation: String
    public var levels: [LevelTruth]
    public var compression: CompressionTruth?
    /// Fraction of the cord's cross-section per tissue class name (the same at all levels).
    public var regionAreaFractions: [String: Double]
    /// Noise σ per channel (0 without noise), in image units.
    public var noiseSigma: Double
    public var csaCitation: String, lengthCitation: String
}

extension CordAnatomy {
    /// Truth about the level `level`; `measured` is the rasterised cord volume / length.
    func truth(for level: VertebralLevel, measured: Double?) -> LevelTruth {
        let p = parameters.levels[level.rawValue - 1]
        let s0 = discArcLengths[level.rawValue - 1], s1 = discArcLengths[level.rawValue]
        let (a, b) = semiAxes(atArcLength: centre(of: level))
        let mean = meanCordArea(level)
        let gm = CrossSectionTemplate.standardFractions.enumerated()
            .filter { TissueClass(rawValue: Int32($0.offset))?.isGreyMatter ?? false }
            .reduce(0) { $0 + $1.element }
        return LevelTruth(level: level, requestedCSA: p.csa, requestedAP: p.apDiameter, requestedRL: p.rlDiameter,
                          modelCSA: mean, modelAP: 2 * b, modelRL: 2 * a, measuredCSA: measured,
                          arcLengthStart: s0, arcLengthEnd: s1,
                          superiorZ: centerlinePoint(atArcLength: s0).z, inferiorZ: centerlinePoint(atArcLength: s1).z,
                          gmArea: mean * gm)
    }

    /// Truth about the compression, nil without one.
    func compressionTruth() -> CompressionTruth? {
        guard let comp = parameters.compression, let sc = compressionCentre else { return nil }
        var healthy = parameters
        healthy.compression = nil
        // The healthy anatomy differs only by the compression, which validated already.
        guard let h = try? CordAnatomy(healthy) else { return nil }
        let (ha, hb) = h.semiAxes(atArcLength: sc)
        let (ca, cb) = semiAxes(atArcLength: sc)
        let above = VertebralLevel(rawValue: comp.level.rawValue - 1)
        let below = VertebralLevel(rawValue: comp.level.rawValue + 1)
        let refs = [above, below].compactMap { $0 }
        func ap(_ l: VertebralLevel?) -> Double? { l.map { 2 * h.semiAxes(atArcLength: h.centre(of: $0)).b } }
        let da = ap(above) ?? ap(below) ?? 2 * hb
        let db = ap(below) ?? da
        let di = 2 * cb
        return CompressionTruth(level: comp.level, fraction: comp.fraction, length: comp.length, arcLength: sc,
                                centre: centerlinePoint(atArcLength: sc), healthyAP: 2 * hb, compressedAP: di,
                                healthyCSA: Double.pi * ha * hb, compressedCSA: Double.pi * ca * cb,
                                referenceLevels: refs, apAbove: da, apBelow: db,
                                msccPercent: (1 - di / ((da + db) / 2)) * 100)
    }

    /// Whether the cord (with a 1 mm margin) lies inside `grid` over arc lengths s0…s1.
    func cordIsInside(_ grid: Grid, from s0: Double, to s1: Double) -> Bool {
        let steps = max(2, CheckedNumber.clamped((s1 - s0) / 1.0, .up))
        let hi = SIMD3(Double(grid.nx), Double(grid.ny), Double(grid.nz)) - 0.5
        for n in 0...steps {
            let s = s0 + (s1 - s0) * Double(n) / Double(steps)
            let c = centerlinePoint(atArcLength: s)
            let (eu, ev) = crossSectionAxes(atArcLength: s)
            let (a, b) = semiAxes(atArcLength: s)
            for p in [c + (a + 1) * eu, c - (a + 1) * eu, c + (b + 1) * ev, c - (b + 1) * ev] {
                let v = grid.voxel(ofWorld: p)
                if v.x < -0.5 || v.y < -0.5 || v.z < -0.5 || v.x > hi.x || v.y > hi.y || v.z > hi.z { return false }
            }
        }
        return true
    }
}

extension CrossSectionTemplate {
    /// `areaFractions()` at the default resolution, computed once.
    public static let standardFractions: [Double] = areaFractions()
}
