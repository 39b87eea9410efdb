// `cordq reg label-vertebrae`: discs found automatically on a T2w image, written as disc labels.
import CordAtlas
import CordCore
import CordIO
import CordRegistration
import Foundation

/// One user label that fixes the disc numbering.
public enum LabellingHintInput: Sendable, Equatable {
    /// Level value n at voxel (i, j, k) of the image: the disc at the top of vertebra n
    /// (`.disc`, 3 = C2/C3) or the middle of vertebral body n (`.vertebralBody`).
    case voxel(level: Int, kind: LabelKind, voxel: SIMD3<Int>)
    /// A label image on the image's grid holding one non-zero value (its voxels averaged).
    case file(path: String, kind: LabelKind)
}

/// What `RegistrationPipeline.labelVertebrae` found and wrote.
public struct VertebraeLabellingSummary: Sendable {
    public struct Disc: Sendable {
        /// Disc value n (3 = C2/C3), its name, world z (mm) and the voxel written.
        public var level: Int, name: String, z: Double, voxel: SIMD3<Int>, contrast: Double
    }
    public var discs: [Disc]
    public var spacingScale: Double, filterScale: Double, medianContrast: Double
    public var anchor: String
    public var output: String, levelsOutput: String?
    /// Wall time of the labelling itself (s), without file I/O.
    public var seconds: Double
}

extension RegistrationPipeline {
    /// Finds the intervertebral discs on `imagePath` (T2w) along the cord of `segPath`
    /// (same grid) with `AutomaticLabelling`, numbered from `hint` or, without one, from the
    /// C2/C3 disc, and writes `output`: one voxel per disc inside the cord holding the disc
    /// value n (disc at the top of vertebra n, PAM50 `label_disc` convention: 3 = C2/C3),
    /// int16 on the image's header. With `levelsOutput`, also the level map (1 = C1 …
    /// 9 = T2) inside the segmentation. Throws `RegistrationError.automaticLabellingFailed`
    /// when the discs cannot be found confidently; nothing is written then.
    public static func labelVertebrae(image imagePath: String, segmentation segPath: String, hint: LabellingHintInput? = nil,
                                      output: String, levelsOutput: String? = nil) throws -> VertebraeLabellingSummary {
        try PipelineInputs.refuseOverwrite(output, inputs: [imagePath, segPath])
        if let l = levelsOutput { try PipelineInputs.refuseOverwrite(l, inputs: [imagePath, segPath, output]) }
        let (image, header) = try NIfTIFile.read(imagePath)
        let seg = try PipelineInputs.readMask(segPath, on: image.grid, reference: imagePath)
        let g = image.grid
        var point: VertebralLabels.Point?
        switch hint {
        case nil: break
        case let .voxel(level, kind, v)?:
            guard g.contains(v.x, v.y, v.z) else {
                throw CordError.invalidValue(what: "hint voxel (\(v.x), \(v.y), \(v.z))", detail: "outside \(imagePath) (\(g.nx)×\(g.ny)×\(g.nz) voxels)")
            }
            guard level >= 1 else { throw CordError.invalidValue(what: "hint level \(level)", detail: "levels start at 1 (C1)") }
            point = .init(level: level, kind: kind, world: g.world(v))
        case let .file(path, kind)?:
            point = try readHint(path, kind: kind, grid: g, imagePath: imagePath)
        }
        let start = ContinuousClock.now
        let result = try AutomaticLabelling.label(image: image.frame(0), segmentation: seg, hint: point)
        let elapsed = ContinuousClock.now - start
        // One voxel per disc: the cord voxel nearest the disc's centerline point.
        let cordVoxels = (0..<seg.data.count).filter { seg.data[$0] != 0 }
        var labels = Volume<Int32>(grid: g, repeating: 0)
        var discs: [VertebraeLabellingSummary.Disc] = []
        for d in result.discs {
            guard let n = cordVoxels.min(by: { length(g.world(g.coordinates(of: $0)) - d.world) < length(g.world(g.coordinates(of: $1)) - d.world) }) else { continue }
            labels.data[n] = Int32(d.level)
            discs.append(.init(level: d.level, name: d.name, z: d.world.z, voxel: g.coordinates(of: n), contrast: d.contrast))
        }
        try NIfTIFile.write(labels, to: output, datatype: .int16, like: header, description: "cordq disc labels (3 = C2/C3)")
        if let l = levelsOutput {
            let map = try result.labels.levelMap(on: g, segmentation: seg)
            try NIfTIFile.write(map.volume, to: l, datatype: .int16, like: header, description: "cordq vertebral levels")
        }
        return VertebraeLabellingSummary(discs: discs, spacingScale: result.spacingScale, filterScale: result.filterScale,
                                         medianContrast: result.medianContrast, anchor: result.anchor, output: output,
                                         levelsOutput: levelsOutput,
                                         seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
    }

    /// The single label of a hint image (its voxels' mean position).
    static func readHint(_ path: String, kind: LabelKind, grid: Grid, imagePath: String) throws -> VertebralLabels.Point {
        let (v, _) = try NIfTIFile.readLabels(path)
        try grid.requireCompatible(with: v.grid, imagePath, path)
        var sum: [Int32: (SIMD3<Double>, Int)] = [:]
        for n in 0..<v.data.count where v.data[n] > 0 {
            let p = grid.world(grid.coordinates(of: n))
            let s = sum[v.data[n]] ?? (.zero, 0)
            sum[v.data[n]] = (s.0 + p, s.1 + 1)
        }
        guard sum.count == 1, let (value, (p, count)) = sum.first else {
            throw CordError.invalidValue(what: path, detail: sum.isEmpty
                ? "holds no label (no positive voxel); a hint is one label value"
                : "holds \(sum.count) label values (\(sum.keys.sorted().map(String.init).joined(separator: ", "))); a hint is one label — for several labels use cordq reg labels")
        }
        return .init(level: Int(value), kind: kind, world: p / Double(count))
    }
}
