// `cordq seg …`: cord and grey-matter segmentation, morphometry and compression, with
// files read and written through CordIO.
import CordAtlas
import CordCore
import CordIO
import CordRegistration
import CordSegmentation

/// What `SegmentationPipeline.segmentCord` wrote and how long the segmentation took.
public struct CordSegmentationSummary: Sendable {
    public var binaryPath: String, softPath: String
    public var centerlinePath: String?
    public var polarity: CordPolarity
    public var slices: Range<Int>
    public var voxels: Int
    /// Volume of the soft segmentation (mm³).
    public var volume: Double
    /// Wall time of the segmentation itself (s), without file I/O.
    public var seconds: Double
}

/// File-level entry points of the segmentation commands.
public enum SegmentationPipeline {
    /// Segments the cord in `imagePath`, writes the binary mask to `outputPath` (uint8, the
    /// input's header kept), the partial-volume mask to `softPath` (default: OUT stem +
    /// `_soft.nii.gz`) and, when asked, the centerline as a one-voxel-per-slice mask.
    /// `hintPath`: an image whose non-zero voxels mark points in the cord; `centerlinePath`:
    /// an image whose non-zero voxels are the centerline (centre of mass per slice).
    /// `hintSlice`: a slice index along the input's voxel axis closest to superior–inferior
    /// where the cord is visible (`CordSegmentationOptions.hintSlice`); errors about it name
    /// the image, as do the segmenter's own errors. Nothing is written when the segmentation fails.
    public static func segmentCord(image imagePath: String, output outputPath: String, softPath: String? = nil,
                                   contrast: SegmentationContrast? = nil, hintPath: String? = nil,
                                   hintVoxel: SIMD3<Double>? = nil, hintSlice: Int? = nil, centerlinePath: String? = nil,
                                   centerlineOutput: String? = nil) throws -> CordSegmentationSummary {
        let (image, header) = try NIfTIFile.read(imagePath)
        var options = CordSegmentationOptions()
        options.contrast = contrast
        if let v = hintVoxel {
            let g = image.grid
            guard v.x.isFinite, v.y.isFinite, v.z.isFinite, v.x > -0.5, v.y > -0.5, v.z > -0.5,
                  v.x < Double(g.nx) - 0.5, v.y < Double(g.ny) - 0.5, v.z < Double(g.nz) - 0.5 else {
                throw CordError.invalidValue(what: "--hint-voxel \(formatSignificantCore(v.x)),\(formatSignificantCore(v.y)),\(formatSignificantCore(v.z))",
                                             detail: "is outside \(imagePath) (voxel indices 0–\(g.nx - 1), 0–\(g.ny - 1), 0–\(g.nz - 1))")
            }
            options.hint = CenterlineHint(voxel: v)
        }
        options.hintSlice = hintSlice
        if let h = hintPath {
            let points = try markedPoints(h, on: image.grid, what: "hint")
            let mean = points.reduce(SIMD3<Double>.zero, +) / Double(points.count)
            options.hint = CenterlineHint(voxel: mean)
        }
        if let c = centerlinePath { options.centerline = try markedPoints(c, on: image.grid, what: "centerline", perSlice: true) }
        let start = ContinuousClock.now
        let seg: CordSegmentation
        do {
            seg = try CordSegmenter.segment(image, options: options)
        } catch let e as SegmentationError {
            let what = hintSlice.flatMap { options.hint == nil ? "\(imagePath) with --hint-slice \($0)" : nil } ?? imagePath
            throw CordError.invalidValue(what: what, detail: e.description)
        }
        let elapsed = ContinuousClock.now - start
        let soft = softPath ?? defaultSoftPath(outputPath)
        try NIfTIFile.write(seg.binary, to: outputPath, datatype: .uint8, like: header, description: "cordq seg cord")
        try NIfTIFile.write(seg.soft, to: soft, datatype: .float32, like: header, description: "cordq seg cord (partial volume)")
        if let c = centerlineOutput {
            var mask = Mask(grid: image.grid, frames: 1, repeating: 0)
            for v in seg.centerlineVoxels {
                let i = CheckedNumber.clamped(v.x, .toNearestOrAwayFromZero), j = CheckedNumber.clamped(v.y, .toNearestOrAwayFromZero), k = CheckedNumber.clamped(v.z, .toNearestOrAwayFromZero)
                if image.grid.contains(i, j, k) { mask[i, j, k] = 1 }
            }
            try NIfTIFile.write(mask, to: c, datatype: .uint8, like: header, description: "cordq centerline")
        }
        let volume = seg.soft.data.reduce(0) { $0 + Double($1) } * image.grid.voxelVolume
        return CordSegmentationSummary(binaryPath: outputPath, softPath: soft, centerlinePath: centerlineOutput,
                                       polarity: seg.polarity, slices: seg.slices, voxels: seg.binary.count, volume: volume,
                                       seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
    }

    /// What `segmentGreyMatter` wrote and found.
    public struct GreyMatterSummary: Sendable {
        public var binary: String, soft: String
        public var voxels: Int
        /// GM and WM area summed over slices with cord (mm², partial volume; per-slice values
        /// are in `seg morphometry --gm`).
        public var gmVolume: Double
        public var atlas: String
        public var priorSource: GreyMatterPriorSource
        public var slices: [GreyMatterSliceFit]
        /// Wall time of prior placement and segmentation (s), without file I/O.
        public var seconds: Double
    }

    /// Segments grey matter inside `cordPath` (any cord segmentation on the image's grid) with
    /// the grey-matter prior of `atlasPath` (default: the project's atlas/CordQ) placed in the
    /// cord (`GreyMatterPrior`, levels from `levelsPath` when given), writes the binary mask to
    /// `outputPath` and the soft one (GM fraction) beside it.
    public static func segmentGreyMatter(image imagePath: String, cord cordPath: String, output outputPath: String,
                                         contrast: SegmentationContrast, atlas atlasPath: String? = nil,
                                         levels levelsPath: String? = nil,
                                         options: GreyMatterOptions = GreyMatterOptions()) throws -> GreyMatterSummary {
        let (image, header) = try NIfTIFile.read(imagePath)
        try image.requireFinite(imagePath)
        let (cord, _) = try NIfTIFile.read(cordPath)
        try image.grid.requireCompatible(with: cord.grid, imagePath, cordPath)
        try cord.requireFinite(cordPath)
        let levels = try levelsPath.map { p -> LabelMap in
            let (v, _) = try NIfTIFile.readLabels(p)
            try image.grid.requireCompatible(with: v.grid, imagePath, p)
            return LabelMap(volume: v)
        }
        let dir = atlasPath ?? ProcessPipeline.standardAtlas
        let (atlas, _, _) = try AtlasPipeline.load(dir, regions: [])
        let start = ContinuousClock.now
        let cordFraction = cord.maximum > 1 ? cord.map { $0 != 0 ? Float(1) : 0 } : cord
        let prior = try GreyMatterPrior.place(atlas: atlas, cord: cordFraction, levels: levels)
        let gm = try GreyMatterSegmenter.segment(image, cord: cordFraction, prior: prior.fraction, contrast: contrast, options: options)
        let elapsed = ContinuousClock.now - start
        let soft = defaultSoftPath(outputPath)
        try NIfTIFile.write(gm.binary, to: outputPath, datatype: .uint8, like: header, description: "cordq seg gm")
        try NIfTIFile.write(gm.soft, to: soft, datatype: .float32, like: header, description: "cordq seg gm (partial volume)")
        return GreyMatterSummary(binary: outputPath, soft: soft, voxels: gm.binary.count,
                                 gmVolume: gm.soft.data.reduce(0) { $0 + Double($1) } * image.grid.voxelVolume,
                                 atlas: dir, priorSource: prior.source, slices: gm.slices,
                                 seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
    }

    /// Writes a table atomically (TSV).
    public static func writeTable(_ table: TSVTable, to path: String) throws { try table.write(to: path) }

    /// OUT.nii.gz → OUT_soft.nii.gz.
    static func defaultSoftPath(_ path: String) -> String {
        for ext in [".nii.gz", ".nii"] where path.hasSuffix(ext) { return String(path.dropLast(ext.count)) + "_soft" + ext }
        return path + "_soft.nii.gz"
    }

    /// Non-zero voxels of a marker image on `grid` (voxel coordinates); per slice (RPI axis
    /// closest to S–I) the centre of mass when `perSlice`.
    static func markedPoints(_ path: String, on grid: Grid, what: String, perSlice: Bool = false) throws -> [SIMD3<Double>] {
        let (marks, _) = try NIfTIFile.read(path)
        try grid.requireCompatible(with: marks.grid, "image", "\(what) \(path)")
        var points: [SIMD3<Double>] = []
        for n in 0..<grid.voxelCount where marks.data[n] != 0 {
            let c = grid.coordinates(of: n)
            points.append(SIMD3(Double(c.x), Double(c.y), Double(c.z)))
        }
        guard !points.isEmpty else { throw CordError.emptyMask(name: "\(what) \(path)") }
        guard perSlice else { return points }
        let code = grid.orientation.letters
        let axis = code.firstIndex { $0.worldAxis == 2 } ?? 2
        let groups = Dictionary(grouping: points) { CheckedNumber.clamped($0[axis]) }
        return groups.keys.sorted().map { k in groups[k]!.reduce(SIMD3<Double>.zero, +) / Double(groups[k]!.count) }
    }
}
