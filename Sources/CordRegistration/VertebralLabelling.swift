// Reading user labels into `VertebralLabels`, with the checks that catch misplaced labels.
import CordAtlas
import CordCore

/// Vertebral labelling from user labels (Ullmann et al. 2014 Int J Biomed Imaging 719520:
/// template inter-level distances, here scaled between the user's labels).
public enum VertebralLabelling {
    /// Largest distance (mm) from the segmentation of a mid-vertebral-body label, and of a
    /// disc label (PAM50 puts those on the disc's posterior edge, in front of the cord).
    public static let bodyTolerance = 2.0, discTolerance = 15.0

    /// Labels from a label image on the subject grid: value n = level n (`kind` says whether
    /// at mid-vertebral body inside the cord, SCT `-l`, or at the disc above vertebra n,
    /// PAM50 convention 3 = C2/C3). Each value's voxels are averaged to one point; with
    /// `centerline` (world mm, RAS+) given, a label's position becomes the centerline point
    /// nearest in z, otherwise it stays where it was placed.
    ///
    /// Throws `RegistrationError` when the image is empty, a body label is more than 2 mm
    /// (a disc label 15 mm) from the segmentation, a value is placed in two places, or the
    /// labels' order along the cord contradicts their values; `CordError.gridMismatch`
    /// when the grids differ.
    public static func fromLabels(_ labels: Volume<Int32>, kind: LabelKind, centerline: [SIMD3<Double>]? = nil,
                                  segmentation: Mask) throws -> VertebralLabels {
        try labels.grid.requireCompatible(with: segmentation.grid, "label image", "segmentation")
        try segmentation.requireNonEmpty("cord segmentation")
        let g = labels.grid
        var voxels: [Int: [SIMD3<Int>]] = [:]
        for n in 0..<labels.data.count where labels.data[n] > 0 { voxels[Int(labels.data[n]), default: []].append(g.coordinates(of: n)) }
        guard !voxels.isEmpty else { throw RegistrationError.noLabels }
        let cord = (0..<segmentation.data.count).filter { segmentation.data[$0] != 0 }.map { g.world(g.coordinates(of: $0)) }
        let tolerance = kind == .disc ? discTolerance : bodyTolerance
        var points: [VertebralLabels.Point] = []
        for (value, vs) in voxels.sorted(by: { $0.key < $1.key }) {
            let ws = vs.map { g.world($0) }
            let mean = ws.reduce(SIMD3<Double>.zero, +) / Double(ws.count)
            if ws.contains(where: { length($0 - mean) > 5 }) { throw RegistrationError.duplicateLabel(value: value) }
            let distance = cord.map { length($0 - mean) }.min() ?? .infinity
            // Half a voxel diagonal: a label in a voxel touching the cord counts as inside.
            let slack = length(g.spacing) / 2
            if distance > tolerance + slack {
                let v = g.voxel(ofWorld: mean)
                throw RegistrationError.labelOutsideCord(value: value, voxel: SIMD3(CheckedNumber.clamped(v.x, .toNearestOrAwayFromZero), CheckedNumber.clamped(v.y, .toNearestOrAwayFromZero), CheckedNumber.clamped(v.z, .toNearestOrAwayFromZero)), distance: distance)
            }
            var position = mean
            if let c = centerline, let nearest = c.min(by: { abs($0.z - mean.z) < abs($1.z - mean.z) }) { position = nearest }
            points.append(.init(level: value, kind: kind, world: position))
        }
        let result = VertebralLabels(points: points)
        // Inferior first: level values must decrease going up.
        for (a, b) in zip(result.points, result.points.dropFirst()) where a.level <= b.level {
            throw RegistrationError.labelsOutOfOrder(detail: "label \(a.level) lies below label \(b.level) (world z \(String(format1: a.world.z)) vs \(String(format1: b.world.z)) mm) but higher values belong lower on the spine")
        }
        return result
    }
}
