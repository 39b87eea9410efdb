// Moving an atlas to another grid: any per-map transform (a registration's warp), plain
// resampling through world coordinates, and cropping to a box of voxels.
import CordCore

extension Atlas {
    /// The atlas with every probability map and contrast passed through `maps` and every
    /// label image through `labels`, all onto `grid`. Registration supplies warps here
    /// (probability maps and contrasts: linear interpolation; labels: nearest neighbour,
    /// as SCT's `sct_warp_template`). Throws when a transform returns another grid.
    public func transformed(grid: Grid, maps: (Volume<Float>) throws -> Volume<Float>,
                            labels: (Volume<Int32>) throws -> Volume<Int32>) throws -> Atlas {
        try Atlas(source: source, grid: grid, contrasts: try contrasts.mapValues(maps),
                  cord: try cord.map(maps), whiteMatter: try whiteMatter.map(maps),
                  greyMatter: try greyMatter.map(maps), csf: try csf.map(maps),
                  tracts: tracts, tractMaps: try tractMaps.map(maps), combined: combined,
                  levels: try levels.map { LabelMap(volume: try labels($0.volume), names: $0.names) },
                  discs: try discs.map { LabelMap(volume: try labels($0.volume), names: $0.names) })
    }

    /// The atlas resampled onto `target` through world coordinates (both grids' affines):
    /// trilinear for maps, nearest neighbour for labels, 0 outside.
    public func resampled(onto target: Grid) throws -> Atlas {
        try transformed(grid: target, maps: { $0.resampledTrilinear(onto: target) },
                        labels: { $0.resampledNearest(onto: target, outside: 0) })
    }

    /// The voxels `i`, `j`, `k` of the atlas (half-open ranges, clamped to the grid) with the
    /// affine shifted so world positions are unchanged.
    public func cropped(i: Range<Int>, j: Range<Int>, k: Range<Int>) throws -> Atlas {
        let box = CropBox(grid: grid, i: i, j: j, k: k)
        return try transformed(grid: box.target, maps: box.apply, labels: box.apply)
    }
}
