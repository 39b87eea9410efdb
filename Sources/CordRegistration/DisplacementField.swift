// Displacement fields in the ITK/ANTs convention SCT writes, and resampling through them.
import CordCore

/// Displacement fields as SCT and ANTs store them (`warp_template2anat.nii.gz`,
/// `antsApplyTransforms`): defined on the grid of the image being produced, 3 frames
/// holding the x, y, z displacement in mm in ITK's **LPS** physical space (RAS+ world with
/// x and y negated). The output voxel at world p (RAS+) takes the input's value at
/// p + (−d_x, −d_y, d_z). On disk (CordIO) they are 5D NIfTI, dims (nx, ny, nz, 1, 3),
/// intent code 1007 (vector).
public enum DisplacementField {
    /// The field on `grid` of a point map `target(p)` (world RAS+ mm → world RAS+ mm).
    public static func field(on grid: Grid, _ target: @Sendable (SIMD3<Double>) -> SIMD3<Double>) -> Volume<Float> {
        let n = grid.voxelCount
        let out = SharedBuffer<Float>(repeating: 0, count: 3 * n)
        parallelChunks(grid.nz) { range, _ in
            for k in range { for j in 0..<grid.ny { for i in 0..<grid.nx {
                let p = grid.world(SIMD3(i, j, k))
                let d = target(p) - p
                let idx = grid.index(i, j, k)
                out[idx] = Float(-d.x); out[n + idx] = Float(-d.y); out[2 * n + idx] = Float(d.z)
            } } }
        }
        // The buffer holds exactly 3 frames of the grid.
        return (try? Volume(grid: grid, frames: 3, data: out.array)) ?? Volume(grid: grid, frames: 3)
    }

    /// Checks that `field` is a displacement field (3 frames, finite).
    public static func validate(_ field: Volume<Float>, name: String = "warp") throws {
        guard field.frames == 3 else {
            throw CordError.countMismatch(what: name, expected: 3, found: field.frames, detail: "a displacement field has 3 components (x, y, z) per voxel")
        }
        try field.requireFinite(name)
    }

    /// World point (RAS+ mm) that voxel `index` of the field's grid samples.
    @inline(__always) static func source(_ field: Volume<Float>, _ index: Int) -> SIMD3<Double> {
        let g = field.grid, n = g.voxelCount
        let p = g.world(g.coordinates(of: index))
        return p + SIMD3(-Double(field.data[index]), -Double(field.data[n + index]), Double(field.data[2 * n + index]))
    }

    /// The displacement (RAS+ mm) at world p, trilinear between the field's voxels (0 outside).
    public static func displacement(_ field: Volume<Float>, atWorld p: SIMD3<Double>) -> SIMD3<Double> {
        let v = field.grid.voxel(ofWorld: p)
        return SIMD3(-Double(field.trilinear(v, frame: 0)), -Double(field.trilinear(v, frame: 1)), Double(field.trilinear(v, frame: 2)))
    }

    /// `image` resampled onto the field's grid: trilinear, 0 outside the image.
    public static func apply(_ field: Volume<Float>, to image: Volume<Float>) throws -> Volume<Float> {
        try validate(field)
        var out = Volume<Float>(grid: field.grid, frames: image.frames)
        let n = field.grid.voxelCount
        for t in 0..<image.frames { for idx in 0..<n {
            out.data[t * n + idx] = image.trilinear(image.grid.voxel(ofWorld: source(field, idx)), frame: t)
        } }
        return out
    }

    /// A label image resampled onto the field's grid: nearest neighbour, 0 outside.
    public static func apply(_ field: Volume<Float>, to labels: Volume<Int32>) throws -> Volume<Int32> {
        try validate(field)
        var out = Volume<Int32>(grid: field.grid, frames: labels.frames, repeating: 0)
        let n = field.grid.voxelCount
        for t in 0..<labels.frames { for idx in 0..<n {
            out.data[t * n + idx] = labels.nearest(world: source(field, idx), frame: t, outside: 0)
        } }
        return out
    }
}
