// Compression metrics of a cord at one vertebral level.
import CordCore

/// Which measure MSCC compares.
public enum CompressionMeasure: String, Sendable, CaseIterable {
    /// Antero-posterior diameter (Fehlings et al. 1999).
    case apDiameter = "ap"
    /// Cross-sectional area (maximum canal/cord compromise on area).
    case area
}

/// Compression metrics at one level. Lengths in mm, areas in mm², percentages in %.
public struct CompressionResult: Sendable {
    public var level: Int32
    public var measure: CompressionMeasure
    /// The slice (RPI index) and world z (mm) of the smallest value inside the level.
    public var slice: Int, z: Double
    /// d_i: the smallest value inside the level; d_a, d_b: reference values above and below
    /// (nil when that neighbour is not in the image).
    public var compressed: Double, above: Double?, below: Double?
    public var referenceLevels: [Int32]
    /// Maximum spinal cord compression (%): (1 − d_i/((d_a + d_b)/2))·100; with one reference
    /// only, (1 − d_i/d_ref)·100.
    public var mscc: Double
    /// AP/RL at the compressed slice (compression ratio).
    public var compressionRatio: Double
    public var csa: Double
    /// CSA at the compressed slice over the healthy mean CSA of the level, its z-score, and
    /// the norm used (mean, SD; mm²); nil outside C1–T1.
    public var csaRatio: Double?, csaZ: Double?
    public var healthyCSA: MeanSD?
}

/// Compression measures after Fehlings et al. 1999 (Spine 24:605): MSCC compares the
/// narrowest point with the cord above and below. Here d_i is the smallest per-slice value
/// (`SliceShape.diameterAP` or `.csa`) among the slices of the compressed level; d_a and d_b
/// are the means over the middle third (by z) of the slices of the level above and the level
/// below. The CSA ratio divides the CSA at that slice by the healthy mean of the same level
/// (`HealthyNorms`, spine-generic), optionally for one sex.
public enum CompressionMetrics {
    public static func measure(_ slices: [SliceShape], level: Int32, measure: CompressionMeasure = .apDiameter,
                               sex: Sex? = nil) throws -> CompressionResult {
        func value(_ s: SliceShape) -> Double { measure == .apDiameter ? s.diameterAP : s.csa }
        let inLevel = slices.filter { $0.level == level }
        guard let narrowest = inLevel.min(by: { value($0) < value($1) }) else {
            let present = Set(slices.compactMap(\.level)).sorted().map { HealthyNorms.name(of: $0) }
            throw SegmentationError.invalidInput("level \(HealthyNorms.name(of: level)) has no segmented slice (levels present: \(present.isEmpty ? "none; give a level image" : present.joined(separator: ", ")))")
        }
        func reference(_ l: Int32) -> Double? {
            let s = slices.filter { $0.level == l }.sorted { $0.z < $1.z }
            guard !s.isEmpty else { return nil }
            let a = s.count / 3, b = max(a + 1, s.count - s.count / 3)
            let middle = s[a..<min(b, s.count)]
            return middle.reduce(0) { $0 + value($1) } / Double(middle.count)
        }
        // Levels are numbered downward (C1 = 1), so the level above has the smaller number.
        let above = reference(level - 1), below = reference(level + 1)
        let refs = [above, below].compactMap { $0 }
        guard !refs.isEmpty else {
            throw SegmentationError.invalidInput("MSCC needs the level above or below \(HealthyNorms.name(of: level)) in the segmentation and level image")
        }
        let mean = refs.reduce(0, +) / Double(refs.count)
        let norm = HealthyNorms.csa(level: level, sex: sex)
        return CompressionResult(level: level, measure: measure, slice: narrowest.slice, z: narrowest.z,
                                 compressed: value(narrowest), above: above, below: below,
                                 referenceLevels: [level - 1, level + 1].filter { reference($0) != nil },
                                 mscc: (1 - value(narrowest) / mean) * 100,
                                 compressionRatio: narrowest.diameterAP / narrowest.diameterRL, csa: narrowest.csa,
                                 csaRatio: norm.map { narrowest.csa / $0.mean },
                                 csaZ: norm.map { (narrowest.csa - $0.mean) / $0.sd }, healthyCSA: norm)
    }
}
