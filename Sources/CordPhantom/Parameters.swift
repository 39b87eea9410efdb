// What a phantom is made of: anatomy, optional compression, contrast, noise.
import CordCore

/// A focal narrowing of the cord's antero-posterior diameter (as in degenerative cervical
/// myelopathy), centred on the middle of one level.
///
/// Along the cord the AP semi-axis is multiplied by 1 − `fraction`·g(s), with
/// g(s) = cos²(π(s − s_c)/`length`) for |s − s_c| < `length`/2 and 0 elsewhere (full width
/// at half maximum `length`/2). The RL diameter is kept, so the area shrinks by the same
/// factor as the AP diameter. The CSF in front of and behind the cord is effaced: the
/// sac's AP semi-axis moves toward the compressed cord's plus 0.5 mm with the same g(s).
public struct CompressionParameters: Codable, Sendable, Equatable {
    public var level: VertebralLevel
    /// Fraction (0 < f ≤ 0.8) by which the AP diameter is reduced at the level's centre.
    public var fraction: Double
    /// Full length (mm) of the narrowing along the cord, 2…24 mm.
    public var length: Double

    public init(level: VertebralLevel, fraction: Double, length: Double = 12) {
        self.level = level; self.fraction = fraction; self.length = length
    }
    enum CodingKeys: String, CodingKey { case level, fraction, length }
    /// `length` may be omitted (12 mm).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        level = try c.decode(VertebralLevel.self, forKey: .level)
        fraction = try c.decode(Double.self, forKey: .fraction)
        length = try c.decodeIfPresent(Double.self, forKey: .length) ?? 12
    }
}

/// T2-weighted intensities per tissue (arbitrary units, CSF = 1) for a fast spin-echo
/// sagittal/axial T2w image of the cervical spine.
public struct T2wContrast: Codable, Sendable, Equatable {
    public var csf = 1.0
    public var whiteMatter = 0.30
    public var greyMatter = 0.38
    /// Soft tissue around the spine (smooth, without texture).
    public var background = 0.15
    public var vertebralBody = 0.25
    public var disc = 0.60
    /// When false, grey matter takes the white-matter intensity.
    public var greyWhiteContrast = true

    public init() {}

    /// Intensity of each tissue class, indexed by `TissueClass.rawValue`.
    public var intensities: [Double] {
        TissueClass.perClass(background: background, csf: csf, vertebralBody: vertebralBody, disc: disc,
                             greyMatter: greyWhiteContrast ? greyMatter : whiteMatter, whiteMatter: whiteMatter)
    }
}

/// Everything that defines a phantom subject, in world space (RAS+, mm).
///
/// Decoding accepts partial JSON: missing keys keep their default values.
public struct PhantomParameters: Codable, Sendable, Equatable {
    /// Seed of the noise; the same seed gives the same image.
    public var seed: UInt64 = 1
    /// Signal-to-noise ratio SNR = S_WM/σ: white-matter signal over σ, the standard
    /// deviation of the Gaussian noise added to each of the real and imaginary channels
    /// before taking the magnitude (Rician noise). nil: no noise.
    public var snr: Double? = 20
    /// Cord size per level, C1…T1 in order (default: `HealthyCervicalCord.levels`).
    public var levels: [LevelMorphometry] = HealthyCervicalCord.levels
    /// Optional focal compression.
    public var compression: CompressionParameters?
    public var contrast = T2wContrast()

    // MARK: Centerline
    /// World z (mm, superior +) of the top of C1 (PAM50 disc label 1).
    public var topOfC1 = 73.0
    /// World x, y (mm) of the straight line the centerline bends away from.
    public var centerlineX = 0.0, centerlineY = 0.0
    /// Anterior (+y) bow of the centerline at the middle of C1–T1 (mm): cervical lordosis.
    public var lordosisAmplitude = 4.0
    /// Bow to the right (+x) at the middle of C1–T1 (mm).
    public var lateralAmplitude = 0.0

    // MARK: Shape
    /// Half-width (mm) of the smooth change of cord size around each disc (0.5…5).
    public var levelTransition = 2.0
    /// Diameters (mm) of the elliptical CSF sac (dural sac) centred on the cord.
    public var csfSacRLDiameter = 19.0, csfSacAPDiameter = 13.0
    /// Draw vertebral bodies and discs (C2/C3 … T1/T2) in front of the sac.
    public var vertebrae = true
    /// Vertebral body diameters (mm), disc height (mm), and the gap (mm) between the
    /// sac and the back of the vertebral bodies.
    public var vertebralBodyRLDiameter = 17.0, vertebralBodyAPDepth = 15.0
    public var discHeight = 5.0, epiduralGap = 2.0

    // MARK: Sampling
    /// Sub-samples per voxel axis for partial volume (voxels near a boundary are split
    /// into supersampling³ points), 1…8.
    public var supersampling = 3

    public init() {}

    /// Throws `CordError.invalidValue` naming the first parameter out of range.
    public func validate() throws {
        func fail(_ what: String, _ detail: String) -> CordError { .invalidValue(what: "phantom \(what)", detail: detail) }
        guard levels.count == VertebralLevel.allCases.count,
              zip(levels, VertebralLevel.allCases).allSatisfy({ $0.level == $1 }) else {
            throw fail("levels", "need one entry per level C1…T1 in order, found \(levels.map(\.level.name))")
        }
        for l in levels {
            guard l.csa > 0, l.apDiameter > 0, l.rlDiameter > 0, l.csa.isFinite,
                  l.apDiameter.isFinite, l.rlDiameter.isFinite else {
                throw fail("level \(l.level)", "CSA and diameters must be positive, got CSA \(l.csa) mm², AP \(l.apDiameter) mm, RL \(l.rlDiameter) mm")
            }
            guard l.length >= 2 * levelTransition + 2, l.length.isFinite else {
                throw fail("level \(l.level)", "length \(l.length) mm is shorter than 2 × transition + 2 mm")
            }
        }
        guard levelTransition >= 0.5, levelTransition <= 5 else {
            throw fail("levelTransition", "\(levelTransition) mm is outside 0.5…5 mm")
        }
        if let s = snr, !(s >= 0.5 && s <= 1e6) { throw fail("snr", "\(formatSignificantCore(s)) must be 0.5 to 1e6 (nil for no noise)") }
        if let c = compression {
            guard c.fraction > 0, c.fraction <= 0.8 else { throw fail("compression fraction", "\(c.fraction) is outside (0, 0.8]") }
            guard c.length >= 2, c.length <= 24 else { throw fail("compression length", "\(c.length) mm is outside 2…24 mm") }
        }
        guard abs(lordosisAmplitude) <= 20, abs(lateralAmplitude) <= 20 else {
            throw fail("centerline", "lordosis \(lordosisAmplitude) mm and lateral bow \(lateralAmplitude) mm must be within ±20 mm")
        }
        let maxA = levels.map { semiAxes(of: $0).rl }.max() ?? 0
        let maxB = levels.map { semiAxes(of: $0).ap }.max() ?? 0
        guard csfSacRLDiameter / 2 >= maxA + 0.5, csfSacAPDiameter / 2 >= maxB + 0.5 else {
            throw fail("CSF sac", "\(csfSacRLDiameter)×\(csfSacAPDiameter) mm leaves no CSF around a cord of up to \(formatFixed(2 * maxA, 1))×\(formatFixed(2 * maxB, 1)) mm (RL×AP)")
        }
        guard vertebralBodyRLDiameter > 0, vertebralBodyAPDepth > 0, discHeight > 0, discHeight < 12, epiduralGap >= 0 else {
            throw fail("vertebrae", "body \(vertebralBodyRLDiameter)×\(vertebralBodyAPDepth) mm, disc \(discHeight) mm, gap \(epiduralGap) mm out of range")
        }
        guard (1...8).contains(supersampling) else { throw fail("supersampling", "\(supersampling) is outside 1…8") }
    }

    /// Semi-axes (mm) of the ellipse with the level's AP/RL ratio and area equal to its CSA.
    func semiAxes(of l: LevelMorphometry) -> (rl: Double, ap: Double) {
        let r = l.apDiameter / l.rlDiameter
        let a = (l.csa / (Double.pi * r)).squareRoot()
        return (a, r * a)
    }

    // MARK: Partial decoding

    enum CodingKeys: String, CodingKey {
        case seed, snr, levels, compression, contrast, topOfC1, centerlineX, centerlineY
        case lordosisAmplitude, lateralAmplitude, levelTransition, csfSacRLDiameter, csfSacAPDiameter
        case vertebrae, vertebralBodyRLDiameter, vertebralBodyAPDepth, discHeight, epiduralGap, supersampling
    }

    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func take<T: Decodable>(_ key: CodingKeys, _ value: inout T) throws {
            if let v = try c.decodeIfPresent(T.self, forKey: key) { value = v }
        }
        try take(.seed, &seed)
        // snr: an explicit null means "no noise", a missing key keeps the default.
        if c.contains(.snr) { snr = try c.decodeIfPresent(Double.self, forKey: .snr) }
        try take(.levels, &levels)
        compression = try c.decodeIfPresent(CompressionParameters.self, forKey: .compression)
        try take(.contrast, &contrast)
        try take(.topOfC1, &topOfC1); try take(.centerlineX, &centerlineX); try take(.centerlineY, &centerlineY)
        try take(.lordosisAmplitude, &lordosisAmplitude); try take(.lateralAmplitude, &lateralAmplitude)
        try take(.levelTransition, &levelTransition)
        try take(.csfSacRLDiameter, &csfSacRLDiameter); try take(.csfSacAPDiameter, &csfSacAPDiameter)
        try take(.vertebrae, &vertebrae)
        try take(.vertebralBodyRLDiameter, &vertebralBodyRLDiameter); try take(.vertebralBodyAPDepth, &vertebralBodyAPDepth)
        try take(.discHeight, &discHeight); try take(.epiduralGap, &epiduralGap)
        try take(.supersampling, &supersampling)
    }

    /// Writes every key; `snr` as null when there is no noise (a missing key would mean
    /// the default SNR on decoding).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(seed, forKey: .seed)
        if let snr { try c.encode(snr, forKey: .snr) } else { try c.encodeNil(forKey: .snr) }
        try c.encode(levels, forKey: .levels)
        try c.encodeIfPresent(compression, forKey: .compression)
        try c.encode(contrast, forKey: .contrast)
        try c.encode(topOfC1, forKey: .topOfC1)
        try c.encode(centerlineX, forKey: .centerlineX); try c.encode(centerlineY, forKey: .centerlineY)
        try c.encode(lordosisAmplitude, forKey: .lordosisAmplitude); try c.encode(lateralAmplitude, forKey: .lateralAmplitude)
        try c.encode(levelTransition, forKey: .levelTransition)
        try c.encode(csfSacRLDiameter, forKey: .csfSacRLDiameter); try c.encode(csfSacAPDiameter, forKey: .csfSacAPDiameter)
        try c.encode(vertebrae, forKey: .vertebrae)
        try c.encode(vertebralBodyRLDiameter, forKey: .vertebralBodyRLDiameter)
        try c.encode(vertebralBodyAPDepth, forKey: .vertebralBodyAPDepth)
        try c.encode(discHeight, forKey: .discHeight); try c.encode(epiduralGap, forKey: .epiduralGap)
        try c.encode(supersampling, forKey: .supersampling)
    }
}

extension T2wContrast {
    enum CodingKeys: String, CodingKey {
        case csf, whiteMatter, greyMatter, background, vertebralBody, disc, greyWhiteContrast
    }
    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func take<T: Decodable>(_ key: CodingKeys, _ value: inout T) throws {
            if let v = try c.decodeIfPresent(T.self, forKey: key) { value = v }
        }
        try take(.csf, &csf); try take(.whiteMatter, &whiteMatter); try take(.greyMatter, &greyMatter)
        try take(.background, &background); try take(.vertebralBody, &vertebralBody)
        try take(.disc, &disc); try take(.greyWhiteContrast, &greyWhiteContrast)
    }
}
