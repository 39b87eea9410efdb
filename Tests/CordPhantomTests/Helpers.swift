// Shared phantoms and independent measurements used by the CordPhantom tests.
import CordCore
import CordPhantom

/// Phantoms built once and shared by the tests (static lets initialise lazily, once).
enum Fixtures {
    /// Whole C1–T1 on axial 0.8 × 0.8 × 2 mm slices, SNR 20, seed 7.
    static let axialParameters: PhantomParameters = {
        var p = PhantomParameters()
        p.seed = 7; p.snr = 20
        return p
    }()
    static let axialGrid = PhantomGrid.axial(inPlane: 0.8, sliceThickness: 2, fieldOfView: 38.4,
                                             inferior: -76, superior: 76)
    static let axial: PhantomSubject = make(axialParameters, axialGrid)

    /// C2–C5 on a sagittal 0.8 mm grid stored A→P, S→I, L→R (a permuted, flipped affine).
    static let sagittalGrid = PhantomGrid.sagittal(inPlane: 0.8, sliceThickness: 0.8, fieldOfViewAP: 40,
                                                   fieldOfViewRL: 25.6, inferior: -26, superior: 56)
    static let sagittal: PhantomSubject = make(axialParameters, sagittalGrid)

    /// C4–C6 region on a 1 mm grid rotated 12°, −8°, 5° about x, y, z with i reversed.
    static let obliqueGrid = PhantomGrid.oblique(
        PhantomGrid.isotropic(spacing: 1, fieldOfView: 48, inferior: -42, superior: 38),
        degrees: [12, -8, 5], flip: [true, false, false])
    static let oblique: PhantomSubject = make(axialParameters, obliqueGrid)

    /// C3–C7 at 0.5 × 0.5 × 1 mm, without noise, healthy and with C5 compressed by 40 %.
    static let compressionGrid = PhantomGrid.axial(inPlane: 0.5, sliceThickness: 1, fieldOfView: 24,
                                                   inferior: -54, superior: 36, centre: [0, 4])
    static let compression = CompressionParameters(level: .c5, fraction: 0.4, length: 12)
    static let healthy: PhantomSubject = {
        var p = PhantomParameters(); p.snr = nil
        return make(p, compressionGrid)
    }()
    static let compressed: PhantomSubject = {
        var p = PhantomParameters(); p.snr = nil; p.compression = compression
        return make(p, compressionGrid)
    }()

    static func make(_ p: PhantomParameters, _ g: Grid) -> PhantomSubject {
        let start = ContinuousClock.now
        do {
            let s = try PhantomSubject(p, on: g)
            print("phantom on \(g): \(ContinuousClock.now - start), \(s.composition.mixedVoxelCount) mixed voxels")
            return s
        } catch {
            fatalError("phantom failed: \(error)")
        }
    }
}

/// Cord area of one slice across the centerline's slice axis, measured from the
/// fractional cord map the way morphometry tools do: Σ fraction × in-plane voxel area,
/// times |n·t| (the cosine of the angle between the slice normal n and the cord tangent t).
struct SliceArea {
    var slice: Int
    var level: Int32
    var arcLength: Double
    var area: Double
}

func sliceAreas(_ s: PhantomSubject, fraction: Volume<Float>? = nil) -> [SliceArea] {
    let f = fraction ?? s.cordFraction
    let g = s.grid, axis = s.centerline.sliceAxis
    let others = [0, 1, 2].filter { $0 != axis }
    let l = g.affine.linear
    let c = cross(l.column(others[0]), l.column(others[1]))
    let inPlane = length(c), normal = c / inPlane
    let dims = [g.nx, g.ny, g.nz]
    var out: [SliceArea] = []
    for m in 0..<dims[axis] {
        guard let p = s.centerline.slices[m] else { continue }
        var sum = 0.0
        for b in 0..<dims[others[1]] {
            for a in 0..<dims[others[0]] {
                var v = [0, 0, 0]
                v[axis] = m; v[others[0]] = a; v[others[1]] = b
                sum += Double(f[v[0], v[1], v[2]])
            }
        }
        let vi = Int(p.voxel.x.rounded()), vj = Int(p.voxel.y.rounded()), vk = Int(p.voxel.z.rounded())
        let level = g.contains(vi, vj, vk) ? s.levels.volume[vi, vj, vk] : 0
        out.append(SliceArea(slice: m, level: level, arcLength: p.arcLength,
                             area: sum * inPlane * abs(dot(normal, p.tangent))))
    }
    return out
}

/// Mean slice area per level (levels with at least `minimumSlices` slices), keyed by level value.
func levelMeans(_ areas: [SliceArea], minimumSlices: Int = 3) -> [Int32: Double] {
    var sums: [Int32: (Double, Int)] = [:]
    for a in areas where a.level > 0 {
        let e = sums[a.level] ?? (0, 0)
        sums[a.level] = (e.0 + a.area, e.1 + 1)
    }
    return sums.filter { $0.value.1 >= minimumSlices }.mapValues { $0.0 / Double($0.1) }
}

/// World position of a voxel index.
func worldOf(_ g: Grid, _ index: Int) -> SIMD3<Double> { g.world(g.coordinates(of: index)) }

/// Standard deviation of values.
func standardDeviation(_ x: [Double]) -> Double {
    let m = x.reduce(0, +) / Double(x.count)
    return (x.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(x.count - 1)).squareRoot()
}
