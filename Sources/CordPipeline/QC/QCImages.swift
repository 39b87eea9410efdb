// What the QC page draws, kept in memory as the steps make it: `cordq process` decodes each
// input once and never reads its outputs back, so the page is drawn from these copies.
import CordAtlas
import CordCore
import CordMultiband

/// A multiband/motion correction as the QC page draws it: the motion per volume and slice
/// group, the outlier score of every (slice, volume), the banding gains, the b=0 tSNR.
struct QCMultiband {
    var series: String
    var result: MultibandCorrectionResult
    var slices: Int, volumes: Int
    /// The robust z above which a slice group is an outlier.
    var threshold: Double

    /// Outlier score per slice (rows) and volume (columns); nil where the volume was not
    /// scored (b = 0) or the slice is not in a scored group.
    var scoreGrid: (values: [[Double?]], marked: [[Bool]]) {
        var v = [[Double?]](repeating: [Double?](repeating: nil, count: volumes), count: slices)
        var m = [[Bool]](repeating: [Bool](repeating: false, count: volumes), count: slices)
        for o in result.outliers where o.volume >= 0 && o.volume < volumes {
            for k in o.slices where k >= 0 && k < slices { v[k][o.volume] = o.score; m[k][o.volume] = o.outlier }
        }
        return (v, m)
    }

    /// Per volume: the mean in-plane displacement (the correction's own, over slices as
    /// `sct_dmri_moco` reports it), the largest group's √(tx² + ty²) (mm), and the largest
    /// |rotation| (degrees).
    var motionPerVolume: (mean: [Double], max: [Double], rotation: [Double]) {
        var mx = [Double](repeating: 0, count: volumes), rot = [Double](repeating: 0, count: volumes)
        for row in result.motion where row.volume >= 0 && row.volume < volumes {
            mx[row.volume] = max(mx[row.volume], (row.tx * row.tx + row.ty * row.ty).squareRoot())
            rot[row.volume] = max(rot[row.volume], abs(row.rz))
        }
        return (result.quality.meanDisplacementPerVolume, mx, rot)
    }
}

/// Display copies for the QC page: per contrast space the image the cord was segmented on,
/// the cord mask and the registered atlas reduced to label images; the maps; the level map.
/// The anatomical image is cropped around the cord (± `QCImages.margin` mm) to stay small.
final class QCImages {
    struct Space {
        var name: String
        /// The image the cord was segmented on, and what it is ("anatomical image", "mean DWI", …).
        var image: Volume<Float>
        var what: String
        var mask: Mask
        /// Warped atlas: white and grey matter (probability ≥ 0.5) and the white-matter tract
        /// of highest probability (≥ 0.3; 0 = none) with the tract names (label n = names[n − 1]).
        var wm: Mask?, gm: Mask?
        var tracts: Volume<Int32>?
        var tractNames: [String] = []
    }
    /// Margin kept around the cord when the anatomical image is cropped (mm).
    static let margin = 30.0
    var spaces: [Space] = []
    /// Maps by space and metric (`fa`, `ufa`, `mtr_pu`, `mtsat_pu`).
    var maps: [(space: String, metric: String, volume: Volume<Float>)] = []
    /// The level map (1 = C1 …) on the cropped anatomical grid.
    var levels: Volume<Int32>?
    /// What each multiband/motion correction estimated, per DWI series (plots, not images).
    var multiband: [QCMultiband] = []
    /// Distortion correction per DWI series: field (Hz), mean b = 0 as acquired, b = 0 unwarped.
    var distortion: [(series: String, field: Volume<Float>, before: Volume<Float>, after: Volume<Float>)] = []

    /// The metrics drawn as colour maps.
    static let mapMetrics: Set<String> = ["fa", "ufa", "mtr_pu", "mtsat_pu"]

    /// A box around the non-zero voxels of `mask` ± `margin` mm on every axis.
    static func box(around mask: Mask) -> CropBox? {
        let g = mask.grid
        var lo = SIMD3(g.nx, g.ny, g.nz), hi = SIMD3(-1, -1, -1)
        for n in 0..<g.voxelCount where mask.data[n] > 0 {
            let c = g.coordinates(of: n)
            lo = pointwiseMin(lo, c); hi = pointwiseMax(hi, c)
        }
        guard hi.x >= 0 else { return nil }
        let sp = g.spacing
        let m = SIMD3(CheckedNumber.clamped(margin / sp.x, .up), CheckedNumber.clamped(margin / sp.y, .up), CheckedNumber.clamped(margin / sp.z, .up))
        return CropBox(grid: g, i: (lo.x - m.x)..<(hi.x + m.x + 1), j: (lo.y - m.y)..<(hi.y + m.y + 1), k: (lo.z - m.z)..<(hi.z + m.z + 1))
    }

    /// Keeps the warped atlas of `space` as masks and a tract label image.
    func keepAtlas(space: String, _ atlas: Atlas) {
        guard let n = spaces.lastIndex(where: { $0.name == space }) else { return }
        let contents = atlas.folderContents(title: "QC")
        guard contents.grid.isCompatible(with: spaces[n].image.grid) else { return }
        spaces[n].wm = contents.templateMaps[.wm].map { Mask.threshold($0, above: 0.5) }
        spaces[n].gm = contents.templateMaps[.gm].map { Mask.threshold($0, above: 0.5) }
        // White-matter tracts only: grey matter is drawn on its own, CSF is not a tract.
        let wmTracts = contents.tracts.filter {
            let name = $0.entry.name.lowercased()
            return !name.contains("csf") && !name.hasPrefix("gm ") && !name.contains("grey matter") && !name.contains("gray matter")
        }
        var labels = Volume<Int32>(grid: spaces[n].image.grid, frames: 1, repeating: 0)
        var best = [Float](repeating: 0.3, count: labels.grid.voxelCount)
        for (t, tract) in wmTracts.enumerated() where tract.map.data.count == best.count {
            for i in 0..<best.count where tract.map.data[i] >= best[i] { best[i] = tract.map.data[i]; labels.data[i] = Int32(t + 1) }
        }
        spaces[n].tracts = labels
        spaces[n].tractNames = wmTracts.map(\.entry.name)
    }
}

extension ProcessRun {
    /// Keeps the anatomical image, its cord mask and level map (cropped) for the QC page,
    /// before the run frees them.
    func qcKeepAnatomy() {
        guard request.qc, let path = inventory.anatomy.first?.path, let a = segmentations[path], let box = QCImages.box(around: a.binary) else { return }
        qcImages.spaces.append(.init(name: "anat", image: box.apply(a.volume), what: "anatomical image (\(a.image.stem))", mask: box.apply(a.binary)))
        qcImages.levels = pendingLevels.map { box.apply($0) }
    }

    /// Keeps a contrast space's maps (those drawn as colour maps).
    func qcKeepMaps(space: String, _ maps: [ComputedMap]) {
        guard request.qc else { return }
        for m in maps where QCImages.mapMetrics.contains(m.metric) { qcImages.maps.append((space, m.metric, m.volume)) }
    }

    /// Keeps the image a contrast space's cord was segmented on and the cord mask.
    func qcKeepSegmentation(space: String, image: Volume<Float>, used: String, mask: Mask) {
        guard request.qc else { return }
        qcImages.spaces.append(.init(name: space, image: image, what: used, mask: mask))
    }

    /// Keeps what a multiband/motion step estimated on a DWI series.
    func qcKeepMultiband(series: String, _ r: MultibandCorrectionResult, slices: Int, volumes: Int, threshold: Double) {
        guard request.qc else { return }
        qcImages.multiband.append(QCMultiband(series: series, result: r, slices: slices, volumes: volumes, threshold: threshold))
    }

    /// Keeps the atlas registered in a contrast space.
    func qcKeepAtlas(space: String, _ atlas: Atlas) {
        guard request.qc else { return }
        qcImages.keepAtlas(space: space, atlas)
    }
}
