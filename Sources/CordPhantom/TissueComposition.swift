// Partial-volume tissue fractions of every voxel: the representation acquisition
// simulators map to signals.
import CordCore

/// The fraction of each `TissueClass` in every voxel of a grid.
///
/// Fractions come from supersampling: a voxel is split into n³ sub-cubes (n =
/// `supersampling`) whose centres are classified; voxels provably inside one tissue are
/// classified once. Most voxels hold one tissue, so they are stored as a class; the others
/// as a row of `TissueClass.count` fractions summing to 1.
///
/// A simulator (T2w here; DWI, MT/T1 FLASH, k-space later) gives each class its signal
/// (`signal(perClass:)`) or walks `fractions(at:)` for per-voxel models.
public struct TissueComposition: Sendable {
    public let grid: Grid
    public let supersampling: Int
    /// Marks a mixed voxel in `pureClass`.
    static let mixedMarker: UInt8 = 255
    /// Class raw value per voxel, or `mixedMarker`.
    let pureClass: [UInt8]
    /// Row of a mixed voxel in `mixedFractions`, −1 for pure voxels.
    let mixedRow: [Int32]
    /// `TissueClass.count` fractions per mixed voxel.
    let mixedFractions: [Float]

    /// Number of voxels holding more than one tissue.
    public var mixedVoxelCount: Int { mixedFractions.count / TissueClass.count }

    /// Fractions of every class (indexed by raw value) in voxel `index`.
    public func fractions(at index: Int) -> [Float] {
        let row = Int(mixedRow[index])
        if row < 0 {
            var f = [Float](repeating: 0, count: TissueClass.count)
            f[Int(pureClass[index])] = 1
            return f
        }
        let n = TissueClass.count
        return Array(mixedFractions[(row * n)..<((row + 1) * n)])
    }
    /// Fraction of one class in voxel `index`.
    public func fraction(of c: TissueClass, at index: Int) -> Float {
        let row = Int(mixedRow[index])
        if row < 0 { return pureClass[index] == UInt8(c.rawValue) ? 1 : 0 }
        return mixedFractions[row * TissueClass.count + Int(c.rawValue)]
    }
    /// The class of a voxel holding one tissue only, nil for a mixed voxel.
    public func pureTissue(at index: Int) -> TissueClass? {
        mixedRow[index] < 0 ? TissueClass(rawValue: Int32(pureClass[index])) : nil
    }

    /// Summed fraction of `classes` per voxel (0…1), e.g. the cord fraction map.
    public func fractionMap(of classes: [TissueClass]) -> Volume<Float> {
        var weights = [Double](repeating: 0, count: TissueClass.count)
        for c in classes { weights[Int(c.rawValue)] = 1 }
        return signal(perClass: weights)
    }

    /// Σ_c f_c·signal_c per voxel: the image of a contrast that gives each class a signal
    /// (`perClass` indexed by raw value, `TissueClass.count` entries).
    public func signal(perClass: [Double]) -> Volume<Float> {
        precondition(perClass.count == TissueClass.count, "one signal per tissue class")
        var out = Volume<Float>(grid: grid, frames: 1, repeating: 0)
        let n = TissueClass.count
        let pure = perClass.map(Float.init)
        for index in 0..<grid.voxelCount {
            let row = Int(mixedRow[index])
            if row < 0 { out.data[index] = pure[Int(pureClass[index])]; continue }
            var s = 0.0
            for c in 0..<n { s += Double(mixedFractions[row * n + c]) * perClass[c] }
            out.data[index] = Float(s)
        }
        return out
    }

    /// One label per voxel from the fractions: a voxel is cord when its cord fraction is
    /// ≥ ½; a cord voxel is grey matter when its GM fraction ≥ its WM fraction, and takes
    /// the largest class of the winning kind; other voxels take their largest non-cord class.
    /// Ties go to the lower raw value.
    public func dominantLabels() -> Volume<Int32> {
        var out = Volume<Int32>(grid: grid, frames: 1, repeating: 0)
        for index in 0..<grid.voxelCount {
            let row = Int(mixedRow[index])
            if row < 0 { out.data[index] = Int32(pureClass[index]); continue }
            let f = fractions(at: index)
            var wm: Float = 0, gm: Float = 0
            for c in TissueClass.allCases {
                if c.isWhiteMatter { wm += f[Int(c.rawValue)] } else if c.isGreyMatter { gm += f[Int(c.rawValue)] }
            }
            let candidates: [TissueClass]
            if wm + gm >= 0.5 {
                candidates = TissueClass.allCases.filter { gm >= wm ? $0.isGreyMatter : $0.isWhiteMatter }
            } else {
                candidates = TissueClass.allCases.filter { !$0.isCord }
            }
            var best = candidates[0]
            for c in candidates where f[Int(c.rawValue)] > f[Int(best.rawValue)] { best = c }
            out.data[index] = best.rawValue
        }
        return out
    }
}

// MARK: - Rasterisation

/// What rasterising the anatomy on a grid yields besides the composition.
struct Rasterisation: Sendable {
    var composition: TissueComposition
    /// Level (1…8, 0 outside C1–T1) of each voxel centre's foot point on the centerline.
    var levelAtCentre: [UInt8]
    /// Cord volume (mm³) per level, each sub-sample split between levels by the overlap of
    /// its extent along the cord with the level's arc-length interval.
    var cordVolumePerLevel: [Double]
}

extension CordAnatomy {
    /// Samples the anatomy on `grid` with partial volume, slice by slice (third voxel axis)
    /// on all cores; the result does not depend on the number of workers.
    func rasterise(on grid: Grid) -> Rasterisation {
        let n = parameters.supersampling
        let nvox = grid.voxelCount
        let pure = SharedBuffer<UInt8>(repeating: 0, count: nvox)
        let levels = SharedBuffer<UInt8>(repeating: 0, count: nvox)
        let sliceRows = SharedBuffer<[Float]>(repeating: [], count: grid.nz)
        let sliceIndices = SharedBuffer<[Int32]>(repeating: [], count: grid.nz)
        let sliceVolumes = SharedBuffer<[Double]>(repeating: [], count: grid.nz)
        let anatomy = self
        parallelChunks(grid.nz) { range, _ in
            for k in range {
                let r = anatomy.rasteriseSlice(k, grid: grid, supersampling: n, pure: pure, levels: levels)
                sliceRows[k] = r.rows; sliceIndices[k] = r.indices; sliceVolumes[k] = r.volumes
            }
        }
        var mixedRow = [Int32](repeating: -1, count: nvox)
        var rows: [Float] = []
        var volumes = [Double](repeating: 0, count: 8)
        var next: Int32 = 0
        for k in 0..<grid.nz {
            for index in sliceIndices[k] { mixedRow[Int(index)] = next; next += 1 }
            rows.append(contentsOf: sliceRows[k])
            for l in 0..<8 { volumes[l] += sliceVolumes[k][l] }
        }
        let composition = TissueComposition(grid: grid, supersampling: n, pureClass: pure.array,
                                            mixedRow: mixedRow, mixedFractions: rows)
        return Rasterisation(composition: composition, levelAtCentre: levels.array, cordVolumePerLevel: volumes)
    }

    private func rasteriseSlice(_ k: Int, grid: Grid, supersampling n: Int,
                                pure: SharedBuffer<UInt8>, levels: SharedBuffer<UInt8>)
        -> (rows: [Float], indices: [Int32], volumes: [Double]) {
        let m = grid.affine.linear, t = grid.affine.translation
        let c0 = m.column(0), c1 = m.column(1), c2 = m.column(2)
        // Largest distance from a voxel centre to a point of the voxel (parallelepiped).
        var radius = 0.0
        for (p, q) in [(1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)] {
            let d = c0 + p * c1 + q * c2
            radius = max(radius, 0.5 * (d * d).sum().squareRoot())
        }
        let offsets = (0..<n).map { (Double($0) + 0.5) / Double(n) - 0.5 }
        let subVolume = grid.voxelVolume / Double(n * n * n)
        let weight = 1 / Float(n * n * n)
        let shape = self.shape, curve = shape.curve, discs = shape.discs
        var counts = [Int](repeating: 0, count: TissueClass.count)
        var rows: [Float] = [], indices: [Int32] = []
        var volumes = [Double](repeating: 0, count: 8)
        let kd = Double(k)
        for j in 0..<grid.ny {
            let jd = Double(j)
            for i in 0..<grid.nx {
                let id = Double(i)
                let px = m[0, 0] * id + m[0, 1] * jd + m[0, 2] * kd + t.x
                let py = m[1, 0] * id + m[1, 1] * jd + m[1, 2] * kd + t.y
                let pz = m[2, 0] * id + m[2, 1] * jd + m[2, 2] * kd + t.z
                let centre = curve.local(px, py, pz)
                let index = grid.index(i, j, k)
                if centre.s >= 0 && centre.s < discs[8] { levels[index] = UInt8(shape.levelIndex(centre.s) + 1) }
                if shape.isUniform(s: centre.s, u: centre.u, v: centre.v, radius: radius) {
                    pure[index] = UInt8(shape.tissue(s: centre.s, u: centre.u, v: centre.v).rawValue)
                    continue
                }
                for c in 0..<counts.count { counts[c] = 0 }
                for oc in offsets {
                    for ob in offsets {
                        for oa in offsets {
                            let qx = px + oa * c0.x + ob * c1.x + oc * c2.x
                            let qy = py + oa * c0.y + ob * c1.y + oc * c2.y
                            let qz = pz + oa * c0.z + ob * c1.z + oc * c2.z
                            let q = curve.local(qx, qy, qz)
                            let cls = shape.tissue(s: q.s, u: q.u, v: q.v)
                            counts[Int(cls.rawValue)] += 1
                            guard cls.isCord else { continue }
                            // Half-extent of the sub-cube along the cord.
                            let half = (absolute(c0.x * q.tx + c0.y * q.ty + c0.z * q.tz)
                                + absolute(c1.x * q.tx + c1.y * q.ty + c1.z * q.tz)
                                + absolute(c2.x * q.tx + c2.y * q.ty + c2.z * q.tz)) / Double(2 * n)
                            let lo = q.s - half, hi = q.s + half
                            for l in 0..<8 {
                                let overlap = min(hi, discs[l + 1]) - max(lo, discs[l])
                                if overlap > 0 { volumes[l] += subVolume * overlap / (hi - lo) }
                            }
                        }
                    }
                }
                if let only = counts.firstIndex(of: n * n * n) {
                    pure[index] = UInt8(only)
                } else {
                    pure[index] = TissueComposition.mixedMarker
                    indices.append(Int32(index))
                    for c in counts { rows.append(Float(c) * weight) }
                }
            }
        }
        return (rows, indices, volumes)
    }
}
