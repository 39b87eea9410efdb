// Interpolation of images at continuous voxel positions.

extension Volume where Scalar: BinaryFloatingPoint {
    /// Trilinear interpolation at continuous voxel coordinates (i, j, k) of frame `t`.
    /// Positions outside the grid (beyond half a voxel past the edge centres) return `outside`;
    /// within the grid's edge the nearest edge value is extended.
    public func trilinear(_ p: SIMD3<Double>, frame t: Int = 0, outside: Scalar = 0) -> Scalar {
        let g = grid
        let x = p.x, y = p.y, z = p.z
        guard x > -0.5, y > -0.5, z > -0.5,
              x < Double(g.nx) - 0.5, y < Double(g.ny) - 0.5, z < Double(g.nz) - 0.5 else { return outside }
        let cx = min(max(x, 0), Double(g.nx - 1)), cy = min(max(y, 0), Double(g.ny - 1)), cz = min(max(z, 0), Double(g.nz - 1))
        let i0 = min(CheckedNumber.clamped(cx), g.nx - 1), j0 = min(CheckedNumber.clamped(cy), g.ny - 1), k0 = min(CheckedNumber.clamped(cz), g.nz - 1)
        let i1 = min(i0 + 1, g.nx - 1), j1 = min(j0 + 1, g.ny - 1), k1 = min(k0 + 1, g.nz - 1)
        let fx = cx - Double(i0), fy = cy - Double(j0), fz = cz - Double(k0)
        let off = t * g.voxelCount
        @inline(__always) func v(_ i: Int, _ j: Int, _ k: Int) -> Double { Double(data[off + g.index(i, j, k)]) }
        let c00 = v(i0, j0, k0) * (1 - fx) + v(i1, j0, k0) * fx
        let c10 = v(i0, j1, k0) * (1 - fx) + v(i1, j1, k0) * fx
        let c01 = v(i0, j0, k1) * (1 - fx) + v(i1, j0, k1) * fx
        let c11 = v(i0, j1, k1) * (1 - fx) + v(i1, j1, k1) * fx
        let c0 = c00 * (1 - fy) + c10 * fy
        let c1 = c01 * (1 - fy) + c11 * fy
        return Scalar(c0 * (1 - fz) + c1 * fz)
    }
    /// Trilinear interpolation at a world position (mm, RAS+).
    public func trilinear(world p: SIMD3<Double>, frame t: Int = 0, outside: Scalar = 0) -> Scalar {
        trilinear(grid.voxel(ofWorld: p), frame: t, outside: outside)
    }
}

extension Volume {
    /// Nearest-neighbour sample at continuous voxel coordinates; `outside` beyond the grid.
    public func nearest(_ p: SIMD3<Double>, frame t: Int = 0, outside: Scalar) -> Scalar {
        let i = CheckedNumber.clamped(p.x, .toNearestOrAwayFromZero), j = CheckedNumber.clamped(p.y, .toNearestOrAwayFromZero), k = CheckedNumber.clamped(p.z, .toNearestOrAwayFromZero)
        guard grid.contains(i, j, k) else { return outside }
        return data[t * grid.voxelCount + grid.index(i, j, k)]
    }
    /// Nearest-neighbour sample at a world position (mm, RAS+).
    public func nearest(world p: SIMD3<Double>, frame t: Int = 0, outside: Scalar) -> Scalar {
        nearest(grid.voxel(ofWorld: p), frame: t, outside: outside)
    }
    /// Resamples frame-by-frame onto `target` by nearest neighbour (labels, masks).
    public func resampledNearest(onto target: Grid, outside: Scalar) -> Volume<Scalar> {
        let m = grid.inverseAffine * target.affine
        var out = Volume(grid: target, frames: frames, repeating: outside)
        for t in 0..<frames {
            for k in 0..<target.nz { for j in 0..<target.ny { for i in 0..<target.nx {
                let p = m.apply(SIMD3(Double(i), Double(j), Double(k)))
                out.data[t * target.voxelCount + target.index(i, j, k)] = nearest(p, frame: t, outside: outside)
            } } }
        }
        return out
    }
}

extension Volume where Scalar: BinaryFloatingPoint {
    /// Resamples every frame onto `target` by trilinear interpolation.
    public func resampledTrilinear(onto target: Grid, outside: Scalar = 0) -> Volume<Scalar> {
        let m = grid.inverseAffine * target.affine
        var out = Volume(grid: target, frames: frames, repeating: outside)
        for t in 0..<frames {
            for k in 0..<target.nz { for j in 0..<target.ny { for i in 0..<target.nx {
                let p = m.apply(SIMD3(Double(i), Double(j), Double(k)))
                out.data[t * target.voxelCount + target.index(i, j, k)] = trilinear(p, frame: t, outside: outside)
            } } }
        }
        return out
    }
}
