// Vertebral levels along the subject's cord from a few user labels (SCT's `-l` labels in
// the cord at mid-vertebral-body height, or PAM50-style disc labels).
import CordAtlas
import CordCore

/// What a user label value means.
public enum LabelKind: String, Sendable, Codable, CaseIterable {
    /// Value n at mid-height of vertebral body n, placed in the cord (SCT `-l`, e.g.
    /// sct_testing_data/t2/labels.nii.gz with 3 = C3 and 5 = C5).
    case vertebralBody = "body"
    /// Value n at the disc above vertebra n (PAM50 `label_disc`: 3 = C2/C3).
    case disc
}

/// Errors of labelling and registration, worded for the person running the tool.
public enum RegistrationError: Error, Equatable, Sendable, CustomStringConvertible {
    case noLabels
    case labelOutsideCord(value: Int, voxel: SIMD3<Int>, distance: Double)
    case tooFewLabels(found: [Int], needed: Int)
    case duplicateLabel(value: Int)
    case labelsOutOfOrder(detail: String)
    case atlasIncomplete(String)
    case automaticLabellingFailed(reason: String)

    public var description: String {
        switch self {
        case .noLabels: return "the label image holds no non-zero voxel"
        case let .labelOutsideCord(v, p, d):
            return "label \(v) at voxel (\(p.x), \(p.y), \(p.z)) is \(String(format1: d)) mm from the cord segmentation; labels must lie inside the cord (within 2 mm)"
        case let .tooFewLabels(found, needed):
            let list = found.isEmpty ? "none" : found.map { "\($0) (\(VertebralLevelName.name($0)))" }.joined(separator: ", ")
            return "registration needs at least \(needed) vertebral labels at different levels (e.g. 3 and 5 for C3 and C5) to scale the levels along the cord; found \(list)"
        case let .duplicateLabel(v): return "label value \(v) is placed more than once (in separate places); use one point per level"
        case let .labelsOutOfOrder(d): return "labels are not in anatomical order along the cord: \(d)"
        case let .atlasIncomplete(d): return "the atlas cannot be registered: \(d)"
        case let .automaticLabellingFailed(reason):
            return "automatic vertebral labelling failed: \(reason). Give one label you can identify with --hint (e.g. --hint-level 3 --hint-kind disc --hint-voxel i,j,k at the C2/C3 disc, or --hint labels.nii.gz), or place the labels by hand (cordq reg labels)"
        }
    }
}

extension String {
    init(format1 v: Double) { self = String(Double((v * 10).rounded()) / 10) }
}

/// Extent of each vertebral level along a reference cord axis (mm, superior +): where the
/// level map of an atlas puts each level's cord. Bodies are the middles of these ranges,
/// discs their superior ends.
public struct LevelReference: Sendable, Equatable {
    /// Level value (1 = C1 …) → (inferior z, superior z) in mm.
    public var extents: [Int: (ClosedRange<Double>)]
    public init(extents: [Int: ClosedRange<Double>]) { self.extents = extents }

    /// PAM50's `PAM50_levels` (De Leener et al. 2018 NeuroImage 165:170) measured along its
    /// straight cord (0.5 mm slices, z of slice k = k/2 mm): C1…T2.
    public static let pam50 = LevelReference(extents: [
        1: 469.5...492.0, 2: 454.0...469.0, 3: 435.5...453.5, 4: 417.0...435.0, 5: 400.5...416.5,
        6: 385.0...400.0, 7: 368.0...384.5, 8: 346.5...367.5, 9: 323.5...346.0,
    ])

    /// The extents in `atlas.levels` (world z of its voxels, mm). Throws when the atlas has
    /// no level map.
    public init(atlas: Atlas) throws {
        guard let levels = atlas.levels else { throw RegistrationError.atlasIncomplete("\(atlas.source) has no vertebral level map") }
        var lo: [Int: Double] = [:], hi: [Int: Double] = [:]
        let g = levels.grid
        for n in 0..<levels.volume.data.count where levels.volume.data[n] > 0 {
            let v = Int(levels.volume.data[n])
            let z = g.world(g.coordinates(of: n)).z
            lo[v] = min(lo[v] ?? z, z); hi[v] = max(hi[v] ?? z, z)
        }
        guard !lo.isEmpty else { throw RegistrationError.atlasIncomplete("\(atlas.source)'s level map is empty") }
        extents = Dictionary(uniqueKeysWithValues: lo.keys.map { ($0, lo[$0]!...hi[$0]!) })
    }

    /// Reference z (mm) of a label: middle of the level for a body, its superior end for a disc.
    public func position(level: Int, kind: LabelKind) -> Double? {
        guard let e = extents[level] else { return nil }
        return kind == .disc ? e.upperBound : (e.lowerBound + e.upperBound) / 2
    }

    /// The level whose extent holds reference z (nearest boundary decides in gaps); 0 when
    /// above the first or below the last level.
    public func level(at z: Double) -> Int32 {
        let sorted = extents.sorted { $0.value.lowerBound < $1.value.lowerBound }
        guard let low = sorted.first, let high = sorted.last else { return 0 }
        if z < low.value.lowerBound - 0.5 || z > high.value.upperBound + 0.5 { return 0 }
        var best = (Int32(0), Double.infinity)
        for (v, e) in sorted {
            let d = e.contains(z) ? 0 : min(abs(z - e.lowerBound), abs(z - e.upperBound))
            if d < best.1 { best = (Int32(v), d) }
        }
        return best.0
    }
}

/// Labelled positions along the subject's cord and the piecewise-linear map between
/// subject world z and a reference's level axis through them (Ullmann et al. 2014 Int J
/// Biomed Imaging 719520: template inter-level distances scaled between user labels).
public struct VertebralLabels: Sendable, Equatable {
    /// One user label: level value, kind, and its position (world mm, RAS+).
    public struct Point: Sendable, Equatable {
        public var level: Int
        public var kind: LabelKind
        public var world: SIMD3<Double>
        public init(level: Int, kind: LabelKind, world: SIMD3<Double>) {
            self.level = level; self.kind = kind; self.world = world
        }
    }
    /// The labels, inferior first.
    public var points: [Point]

    public init(points: [Point]) { self.points = points.sorted { $0.world.z < $1.world.z } }

    /// Anchors (subject world z, reference z), inferior first.
    func anchors(_ reference: LevelReference) -> [(Double, Double)] {
        points.compactMap { p in reference.position(level: p.level, kind: p.kind).map { (p.world.z, $0) } }
    }

    /// Reference z of subject world z: linear through the anchors, the end segments'
    /// slopes beyond them; one anchor translates only.
    public func referenceZ(ofSubjectZ z: Double, reference: LevelReference) -> Double {
        PiecewiseLinear(anchors(reference)).value(z)
    }
    /// Subject world z of reference z (the inverse of `referenceZ`).
    public func subjectZ(ofReferenceZ r: Double, reference: LevelReference) -> Double {
        PiecewiseLinear(anchors(reference).map { ($0.1, $0.0) }).value(r)
    }

    /// Level map (1 = C1 … 9 = T2, 0 elsewhere) on `grid`, non-zero inside `segmentation`
    /// only: each voxel's world z taken to the reference level axis (PAM50's by default).
    public func levelMap(on grid: Grid, segmentation: Mask, reference: LevelReference = .pam50) throws -> LabelMap {
        try grid.requireCompatible(with: segmentation.grid, "level map grid", "segmentation")
        let f = PiecewiseLinear(anchors(reference))
        var out = Volume<Int32>(grid: grid, repeating: 0)
        for n in 0..<segmentation.data.count where segmentation.data[n] != 0 {
            out.data[n] = reference.level(at: f.value(grid.world(grid.coordinates(of: n)).z))
        }
        let names = Dictionary(uniqueKeysWithValues: (1...24).map { (Int32($0), VertebralLevelName.name($0)) })
        return LabelMap(volume: out, names: names)
    }
}

/// y(x) linear through sorted (x, y) anchors; beyond the ends the end segments continue;
/// a single anchor shifts (slope 1).
struct PiecewiseLinear {
    let points: [(Double, Double)]
    init(_ p: [(Double, Double)]) { points = p.sorted { $0.0 < $1.0 } }
    func value(_ x: Double) -> Double {
        guard points.count >= 2 else { return points.first.map { x - $0.0 + $0.1 } ?? x }
        var i = 0
        while i < points.count - 2 && x > points[i + 1].0 { i += 1 }
        let a = points[i], b = points[i + 1]
        return a.1 + (x - a.0) * (b.1 - a.1) / (b.0 - a.0)
    }
}
