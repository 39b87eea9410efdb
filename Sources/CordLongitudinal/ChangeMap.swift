// Per-voxel change of a quantitative map (FA, MTR, …) between two sessions, in the halfway
// space, with the noise floor of the difference.
import CordCore

/// A map's change between baseline and a later session.
public struct ChangeMap: Sendable {
    /// follow-up − baseline on the halfway grid (metric's unit); NaN outside the cord.
    public var difference: Volume<Float>
    /// 1 where both sessions' cord masks cover the voxel.
    public var cord: Mask
    /// Robust SD of the difference over the cord (1.4826 × median absolute deviation): the
    /// noise floor under which a voxel's change cannot be told from noise and residual
    /// misalignment (most cord voxels do not change).
    public var noiseFloor: Double
    /// 1 where |difference − median| > `threshold` × noise floor.
    public var aboveFloor: Mask
    public var threshold: Double
    /// Cord voxels compared, and the fraction above the floor.
    public var voxels: Int, fractionAbove: Double

    /// Samples both maps at the halfway-space positions of `grid`'s voxel centres (session k
    /// at mapping_k(h): rigid plus slice-wise in-plane shifts; trilinear, masks
    /// nearest-neighbour) and differences them. With the halfway space's mappings, both
    /// sessions are interpolated, neither is kept on its own voxels (Reuter et al. 2012,
    /// NeuroImage 61:1402: resampling only one time point biases change).
    public static func compute(grid: Grid, baseline: Volume<Float>, baselineMapping: SessionMapping, baselineCord: Mask,
                               follow: Volume<Float>, followMapping: SessionMapping, followCord: Mask,
                               threshold: Double = 1.96) throws -> ChangeMap {
        try baseline.grid.requireCompatible(with: baselineCord.grid, "baseline map", "baseline cord mask")
        try follow.grid.requireCompatible(with: followCord.grid, "follow-up map", "follow-up cord mask")
        let n = grid.voxelCount
        let diff = SharedBuffer<Float>(repeating: .nan, count: n), inCord = SharedBuffer<UInt8>(repeating: 0, count: n)
        let b = baseline.frames == 1 ? baseline : baseline.frame(0), f = follow.frames == 1 ? follow : follow.frame(0)
        parallelChunks(grid.nz) { range, _ in
            for k in range {
                for j in 0..<grid.ny {
                    for i in 0..<grid.nx {
                        let h = grid.world(SIMD3(i, j, k))
                        let pb = baselineMapping.apply(h), pf = followMapping.apply(h)
                        guard baselineCord.nearest(world: pb, outside: 0) != 0, followCord.nearest(world: pf, outside: 0) != 0 else { continue }
                        let vb = b.trilinear(world: pb, outside: .nan), vf = f.trilinear(world: pf, outside: .nan)
                        guard vb.isFinite, vf.isFinite else { continue }
                        let idx = grid.index(i, j, k)
                        diff[idx] = vf - vb; inCord[idx] = 1
                    }
                }
            }
        }
        let difference = Volume(grid: grid, frames: 1, exactly: diff.array), cord = Mask(grid: grid, frames: 1, exactly: inCord.array)
        let values = (0..<n).filter { cord.data[$0] != 0 }.map { Double(difference.data[$0]) }
        guard values.count >= 10 else {
            throw CordError.invalidValue(what: "change map", detail: "the sessions' cord masks overlap in \(values.count) voxels in the halfway space; too few to compare")
        }
        let median = Self.median(values)
        let floor = 1.4826 * Self.median(values.map { abs($0 - median) })
        var above = [UInt8](repeating: 0, count: n), count = 0
        for idx in 0..<n where cord.data[idx] != 0 && abs(Double(difference.data[idx]) - median) > threshold * floor {
            above[idx] = 1; count += 1
        }
        return ChangeMap(difference: difference, cord: cord, noiseFloor: floor, aboveFloor: Mask(grid: grid, frames: 1, exactly: above),
                         threshold: threshold, voxels: values.count, fractionAbove: Double(count) / Double(values.count))
    }

    static func median(_ x: [Double]) -> Double {
        let s = x.sorted()
        guard !s.isEmpty else { return .nan }
        return s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2])
    }
}
