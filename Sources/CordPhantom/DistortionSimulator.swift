// A susceptibility field around the cord (bumps at the intervertebral discs, a gradient) and
// EPI distortion of the phantom's b = 0 and DWI images with it: a blip-up/blip-down pair and
// a distorted DWI series, with the truth.
import CordCore
#if canImport(Glibc)
import Glibc
#endif

/// The field and the acquisition of a simulated reverse phase-encoding pair.
public struct DistortionPhantomParameters: Sendable {
    /// Peak off-resonance (Hz) of the bump each intervertebral disc/vertebra junction puts in
    /// the field (the vertebral periodicity along the cord; 3 T values near the discs are
    /// tens of Hz, Cooke et al. 2004 MRM 51:1122).
    public var discPeakHz = 60.0
    /// Width (σ, mm) of each bump along the cord (world z) and across it (in-plane, centred
    /// `anteriorOffset` mm in front of the cord, towards the vertebral bodies and discs).
    public var discWidthZ = 4.0, discWidthInPlane = 9.0, anteriorOffset = 8.0
    /// Linear field gradient (Hz/mm along world x, y, z) and a constant offset (Hz).
    public var gradientHzPerMM: SIMD3<Double> = [0.3, 0.8, 0.4]
    public var offsetHz = 10.0
    /// BIDS `TotalReadoutTime` (s) of the EPI readout.
    public var totalReadoutTime = 0.04
    /// Phase-encoding voxel axis of the pair and the DWI (1: j, anterior–posterior on the
    /// phantom's axial grids); the "up" image is `j`, the "down" image `j-`.
    public var phaseEncodingAxis = 1
    /// Seed of the noise added after distortion (the DWI's own noise level, `DWISimulation.sigma`).
    public var seed: UInt64 = 17
    public init() {}
}

/// A distorted pair, a distorted DWI series, and the truth.
public struct DistortionSimulation: Sendable {
    /// The true field (Hz) on the grid.
    public var fieldHz: Volume<Float>
    /// Displacement (voxels along +axis) of the `up` images: field × TotalReadoutTime.
    public var displacementUp: Volume<Float>
    /// The undistorted, noise-free b = 0 image.
    public var undistorted: Volume<Float>
    /// The b = 0 image read out with phase encoding `up` (`j`) and `down` (`j-`), noisy.
    public var up: Volume<Float>, down: Volume<Float>
    public var upEncoding: PhaseEncoding, downEncoding: PhaseEncoding
    public var totalReadoutTime: Double
    /// The DWI series read out like `up` (distorted, noisy), its noise-free undistorted
    /// original and its table.
    public var dwi: Volume<Float>, dwiUndistorted: Volume<Float>, table: GradientTable
    /// Noise σ (image units).
    public var sigma: Double
    /// The true (undistorted) cord mask and the cord + 5 mm region.
    public var cordMask: Mask, region: Mask
}

public enum DistortionSimulator {
    /// The field of `p` on `subject`'s grid (Hz): a Gaussian bump at every intervertebral
    /// junction (world z of each level boundary), centred in-plane `anteriorOffset` mm in
    /// front of the cord centre of the slice, plus the linear gradient and the offset.
    public static func field(_ subject: PhantomSubject, _ p: DistortionPhantomParameters) -> Volume<Float> {
        let g = subject.grid
        var discs = Set<Double>()
        for l in subject.truth.levels { discs.insert(l.superiorZ); discs.insert(l.inferiorZ) }
        let discZ = discs.sorted()
        let centreVoxel = SIMD3(Double(g.nx - 1), Double(g.ny - 1), Double(g.nz - 1)) / 2
        let centre = g.world(centreVoxel.x, centreVoxel.y, centreVoxel.z)
        // Cord centre (world x, y) per world z from the centerline.
        let points = subject.centerline.points.map(\.world)
        func cordCentre(_ z: Double) -> SIMD2<Double> {
            guard let nearest = points.min(by: { abs($0.z - z) < abs($1.z - z) }) else { return SIMD2(centre.x, centre.y) }
            return SIMD2(nearest.x, nearest.y)
        }
        var out = Volume<Float>(grid: g)
        for k in 0..<g.nz { for j in 0..<g.ny { for i in 0..<g.nx {
            let w = g.world(Double(i), Double(j), Double(k))
            let c = cordCentre(w.z)
            let dx = w.x - c.x, dy = w.y - (c.y + p.anteriorOffset)
            let inPlane = exp(-0.5 * (dx * dx + dy * dy) / (p.discWidthInPlane * p.discWidthInPlane))
            var bumps = 0.0
            for z in discZ { let dz = w.z - z; bumps += exp(-0.5 * dz * dz / (p.discWidthZ * p.discWidthZ)) }
            let lin = ((w - centre) * p.gradientHzPerMM).sum()
            out[i, j, k] = Float(p.offsetHz + lin + p.discPeakHz * bumps * inPlane)
        } } }
        return out
    }

    /// Distorts each frame of `image` by `displacement` (voxels along +`axis`) the way an
    /// EPI readout does, conserving signal: the object (constant over each voxel) is pushed
    /// through y ↦ y + d(y) (d linear between voxel centres) and every output voxel receives
    /// the signal that lands on it, computed exactly from the object's cumulative intensity
    /// at the preimages of the voxel's edges. Signal pushed beyond the field of view is lost.
    /// Needs ∂d > −1 everywhere (checked: a fold is an error).
    public static func distort(_ image: Volume<Float>, displacement: Volume<Float>, axis: Int) throws -> Volume<Float> {
        let g = image.grid
        try g.requireCompatible(with: displacement.grid, "image", "displacement")
        let n = [g.nx, g.ny, g.nz][axis], stride = [1, g.nx, g.nx * g.ny][axis], lines = g.voxelCount / n
        func start(_ l: Int) -> Int {
            switch axis { case 0: return l * g.nx; case 1: return (l % g.nx) + g.nx * g.ny * (l / g.nx); default: return l }
        }
        for l in 0..<lines {
            let o = start(l)
            for k in 1..<n where displacement.data[o + k * stride] - displacement.data[o + (k - 1) * stride] <= -0.999 {
                throw CordError.invalidValue(what: "distortion phantom", detail: "the displacement folds (∂d ≤ −1) on line \(l): lower the field or the readout time")
            }
        }
        let nv = g.voxelCount
        var out = [Float](repeating: 0, count: image.data.count)
        // φ at the nodes y = −½, 0, 1, …, n−1, n−½ (d constant beyond the end centres).
        var ys = [Double](repeating: 0, count: n + 2), phi = ys, cum = [Double](repeating: 0, count: n + 1)
        for t in 0..<image.frames { for l in 0..<lines {
            let o = start(l)
            ys[0] = -0.5; phi[0] = -0.5 + Double(displacement.data[o])
            for k in 0..<n { ys[k + 1] = Double(k); phi[k + 1] = Double(k) + Double(displacement.data[o + k * stride]) }
            ys[n + 1] = Double(n) - 0.5; phi[n + 1] = ys[n + 1] + Double(displacement.data[o + (n - 1) * stride])
            cum[0] = 0
            for k in 0..<n { cum[k + 1] = cum[k] + Double(image.data[t * nv + o + k * stride]) }
            // Cumulative object intensity up to position y (voxel k covers [k − ½, k + ½]).
            func mass(_ y: Double) -> Double {
                if y <= -0.5 { return 0 }
                if y >= Double(n) - 0.5 { return cum[n] }
                let e = y + 0.5
                let k = CheckedNumber.clamped(e, .down, to: 0...(n - 1))
                return cum[k] + (cum[k + 1] - cum[k]) * (e - Double(k))
            }
            var seg = 0
            // Preimage of the edges e = −½ … n − ½ (increasing, so the segment only moves forward).
            func preimage(_ e: Double) -> Double {
                if e <= phi[0] { return ys[0] - (phi[0] - e) }
                if e >= phi[n + 1] { return ys[n + 1] + (e - phi[n + 1]) }
                while seg < n && phi[seg + 1] < e { seg += 1 }
                let f = (e - phi[seg]) / max(phi[seg + 1] - phi[seg], 1e-12)
                return ys[seg] + f * (ys[seg + 1] - ys[seg])
            }
            var previous = mass(preimage(-0.5))
            for k in 0..<n {
                let next = mass(preimage(Double(k) + 0.5))
                out[t * nv + o + k * stride] = Float(next - previous)
                previous = next
            }
        } }
        return Volume(grid: g, frames: image.frames, exactly: out)
    }

    /// A blip-up/blip-down b = 0 pair and a DWI series of `subject`, distorted by the field
    /// of `p` (`field`), with Rician noise of the DWI simulation's σ added after distortion.
    public static func simulate(_ subject: PhantomSubject, table: GradientTable, diffusion: DiffusionPhantomParameters,
                                parameters p: DistortionPhantomParameters) throws -> DistortionSimulation {
        guard (0...2).contains(p.phaseEncodingAxis) else {
            throw CordError.invalidValue(what: "distortion phantom", detail: "phase-encoding axis \(p.phaseEncodingAxis) is not 0, 1 or 2")
        }
        guard p.totalReadoutTime.isFinite, p.totalReadoutTime > 0, p.totalReadoutTime <= 0.5 else {
            throw CordError.invalidValue(what: "distortion phantom", detail: "TotalReadoutTime \(p.totalReadoutTime) s is outside 0–0.5 s")
        }
        guard let b0 = table.entries.firstIndex(where: { $0.b < 50 }) else {
            throw CordError.invalidValue(what: "distortion phantom", detail: "the gradient table has no b = 0 volume")
        }
        let sim = try DWISimulator.simulate(subject, table: table, parameters: diffusion)
        let field = Self.field(subject, p)
        let dUp = field.map { $0 * Float(p.totalReadoutTime) }
        let dDown = dUp.map { -$0 }
        let truth = sim.noiseFree.frame(b0)
        let up = try distort(truth, displacement: dUp, axis: p.phaseEncodingAxis)
        let down = try distort(truth, displacement: dDown, axis: p.phaseEncodingAxis)
        let dwi = try distort(sim.noiseFree, displacement: dUp, axis: p.phaseEncodingAxis)
        let sigma = sim.sigma
        return DistortionSimulation(
            fieldHz: field, displacementUp: dUp, undistorted: truth,
            up: RicianNoise.apply(to: up, sigma: sigma, seed: p.seed), down: RicianNoise.apply(to: down, sigma: sigma, seed: p.seed &+ 1),
            upEncoding: PhaseEncoding(axis: p.phaseEncodingAxis, reversed: false), downEncoding: PhaseEncoding(axis: p.phaseEncodingAxis, reversed: true),
            totalReadoutTime: p.totalReadoutTime,
            dwi: RicianNoise.apply(to: dwi, sigma: sigma, seed: p.seed &+ 2), dwiUndistorted: sim.noiseFree, table: table,
            sigma: sigma, cordMask: subject.cordMask, region: widened(subject.cordMask, millimetres: 5))
    }

    /// The voxels of `mask` widened by `millimetres` (Euclidean distance between voxel centres, mm).
    public static func widened(_ mask: Mask, millimetres: Double) -> Mask {
        let g = mask.grid, s = g.spacing
        let r = (0..<3).map { CheckedNumber.clamped(millimetres / s[$0], .down, to: 0...64) }
        var offsets: [SIMD3<Int>] = []
        for dk in -r[2]...r[2] { for dj in -r[1]...r[1] { for di in -r[0]...r[0] {
            let d = SIMD3(Double(di) * s.x, Double(dj) * s.y, Double(dk) * s.z)
            if (d * d).sum() <= millimetres * millimetres + 1e-9 { offsets.append(SIMD3(di, dj, dk)) }
        } } }
        var out = Mask(grid: g, frames: 1, repeating: 0)
        for k in 0..<g.nz { for j in 0..<g.ny { for i in 0..<g.nx where mask.data[g.index(i, j, k)] != 0 {
            for o in offsets {
                let q = SIMD3(i, j, k) &+ o
                if g.contains(q.x, q.y, q.z) { out.data[g.index(q.x, q.y, q.z)] = 1 }
            }
        } } }
        return out
    }
}
