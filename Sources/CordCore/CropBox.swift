// A box of voxels cut out of a grid, keeping world positions.

/// A box of voxels cut out of a grid.
public struct CropBox: Sendable {
    public let source: Grid, target: Grid
    public let i: Range<Int>, j: Range<Int>, k: Range<Int>

    /// Clamps the ranges to `grid`; an empty range keeps one voxel.
    public init(grid: Grid, i: Range<Int>, j: Range<Int>, k: Range<Int>) {
        func clamp(_ r: Range<Int>, _ n: Int) -> Range<Int> {
            let lo = min(max(r.lowerBound, 0), n - 1)
            return lo..<max(min(r.upperBound, n), lo + 1)
        }
        source = grid
        self.i = clamp(i, grid.nx); self.j = clamp(j, grid.ny); self.k = clamp(k, grid.nz)
        let origin = grid.world(Double(self.i.lowerBound), Double(self.j.lowerBound), Double(self.k.lowerBound))
        target = Grid(nx: self.i.count, ny: self.j.count, nz: self.k.count,
                      affine: Mat4(linear: grid.affine.linear, translation: origin))
    }

    /// The box's voxels of `volume` (first frame), on `target`.
    public func apply<T: Sendable>(_ volume: Volume<T>) -> Volume<T> {
        var out: [T] = []
        out.reserveCapacity(target.voxelCount)
        for kk in k { for jj in j { for ii in i { out.append(volume.data[source.index(ii, jj, kk)]) } } }
        // The buffer holds exactly the target's voxel count.
        return Volume(grid: target, frames: 1, exactly: out)
    }
}
