// A multiband DWI series of the phantom with what multiband leaves behind: motion shared by
// the slices excited together, signal dropouts of whole slice groups, and banding, with truth.
import CordCore
#if canImport(Glibc)
import Glibc
#endif

/// What to plant in a simulated multiband DWI series.
public struct MultibandCorruption: Sendable {
    /// Multiband factor (slices per group); the phantom's slice count must be a multiple.
    public var factor = 3
    /// Per-volume random walk of the in-plane translation (SD of each step, mm) and the
    /// per-group deviation within a volume (SD, mm); the walk is clipped to ±`maximumShift`.
    public var volumeShiftStep = 0.4, groupShiftSD = 0.3, maximumShift = 2.0
    /// Per-volume rotation (SD, degrees) and per-group deviation (SD, degrees).
    public var volumeRotationSD = 0.5, groupRotationSD = 0.2
    /// Number of (diffusion-weighted volume, group) pairs hit by a dropout, and the range of
    /// their signal factor.
    public var dropouts = 4
    public var dropoutFactor: ClosedRange<Double> = 0.25...0.55
    /// Banding: SD of the static per-group gain and of its per-volume jitter (fractions).
    public var staticBandingSD = 0.08, volumeBandingSD = 0.03
    public var seed: UInt64 = 7
    public init() {}
}

/// One planted in-plane motion, with `SliceTransform`'s meaning (CordAlign): the object's
/// content is turned by `rotationDegrees` (counter-clockwise in the canonical RPI i–j plane,
/// i toward L, j toward A) about `centre` (mm from canonical voxel (0, 0)), then shifted by
/// `shift` (mm along canonical i, j).
public struct PlantedMotion: Sendable, Equatable {
    public var shift: SIMD2<Double>
    public var rotationDegrees: Double
    public var centre: SIMD2<Double>
    /// Where the point `p` (mm, canonical i–j frame) moves to.
    public func apply(_ p: SIMD2<Double>) -> SIMD2<Double> {
        let t = rotationDegrees * .pi / 180, c = cos(t), s = sin(t), d = p - centre
        return SIMD2(c * d.x - s * d.y, s * d.x + c * d.y) + centre + shift
    }
}

/// The truth of a simulated multiband series.
public struct MultibandTruth: Sendable {
    public var factor: Int
    /// `SliceTiming` (s) of the series, one per slice (file voxel axis k).
    public var sliceTiming: [Double]
    /// Slice indices (file axis k) per group, groups in acquisition order.
    public var groups: [[Int]]
    /// Motion per volume and group.
    public var motion: [[PlantedMotion]]
    /// (volume, group) pairs with a dropout and their signal factor.
    public var dropouts: [(volume: Int, group: Int, factor: Double)]
    /// Banding gain per volume and group (static × per-volume jitter), without the dropouts.
    public var gains: [[Double]]
}

public struct MultibandDWISimulation: Sendable {
    /// The corrupted, noisy series (file orientation of the phantom grid).
    public var image: Volume<Float>
    /// The same noise on the uncorrupted series (no motion, dropouts or banding).
    public var reference: Volume<Float>
    public var table: GradientTable
    public var sigma: Double
    public var truth: MultibandTruth
    public var diffusion: DiffusionTruth
}

/// Simulates a multiband DWI series of a `PhantomSubject` (axial grid, slices along voxel
/// axis k) with planted slice-group motion, dropouts and banding.
///
/// Each (volume, group) sees the object turned by its own rotation Q, so its encoding is the
/// scanner's b-tensor seen from the object (direction Qᵀg) and its slices are moved by the
/// planted motion (bilinear interpolation in the canonical in-plane frame, 0 outside); then
/// the group's slices are multiplied by the banding gain and a dropout factor, and Rician noise
/// is added. The slice timing is a standard interleaved SMS pattern: group g (slices g, g + n,
/// …, n = nz/MB) at time position g/2 for even g, ⌈n/2⌉ + (g − 1)/2 for odd g (times in units
/// of TR / n, TR = 2 s).
public enum MultibandSimulator {
    public static func simulate(_ subject: PhantomSubject, table: GradientTable, parameters: DiffusionPhantomParameters,
                                corruption c: MultibandCorruption) throws -> MultibandDWISimulation {
        let grid = subject.grid, nz = grid.nz
        guard c.factor >= 1, nz % c.factor == 0 else {
            throw CordError.invalidValue(what: "multiband phantom", detail: "factor \(c.factor) must divide the \(nz) slices")
        }
        let reo = Reorientation(from: grid, to: .canonical)
        guard reo.sourceAxis[2] == 2 else {
            throw CordError.invalidValue(what: "multiband phantom", detail: "needs axial slices along voxel axis k")
        }
        let ng = nz / c.factor, nv = table.count
        let groups = (0..<ng).map { g in (0..<c.factor).map { g + $0 * ng } }
        let order = (0..<ng).map { g in g % 2 == 0 ? g / 2 : (ng + 1) / 2 + (g - 1) / 2 }
        var timing = [Double](repeating: 0, count: nz)
        for g in 0..<ng { for k in groups[g] { timing[k] = Double(order[g]) * 2.0 / Double(ng) } }
        let acquisition = (0..<ng).sorted { order[$0] < order[$1] }.map { groups[$0] }

        var rng = SeededRNG(seed: c.seed, stream: 99)
        let cg = reo.target
        let centre = SIMD2(Double(cg.nx - 1) / 2 * cg.spacing.x, Double(cg.ny - 1) / 2 * cg.spacing.y)
        // Motion: a random walk over volumes plus a per-group part, then centred (mean zero).
        var motion = [[PlantedMotion]]()
        var walk = SIMD2<Double>.zero
        for _ in 0..<nv {
            walk += SIMD2(rng.normal(), rng.normal()) * c.volumeShiftStep
            walk = SIMD2(max(-c.maximumShift, min(c.maximumShift, walk.x)), max(-c.maximumShift, min(c.maximumShift, walk.y)))
            let rot = rng.normal() * c.volumeRotationSD
            motion.append((0..<ng).map { _ in
                PlantedMotion(shift: walk + SIMD2(rng.normal(), rng.normal()) * c.groupShiftSD,
                              rotationDegrees: rot + rng.normal() * c.groupRotationSD, centre: centre)
            })
        }
        let count = Double(nv * ng)
        let meanShift = motion.joined().reduce(SIMD2<Double>.zero) { $0 + $1.shift } / count
        let meanRot = motion.joined().reduce(0.0) { $0 + $1.rotationDegrees } / count
        motion = motion.map { $0.map { PlantedMotion(shift: $0.shift - meanShift, rotationDegrees: $0.rotationDegrees - meanRot, centre: centre) } }
        // Banding and dropouts (diffusion-weighted volumes only, at most one group per volume).
        let staticGain = (0..<ng).map { _ in 1 + rng.normal() * c.staticBandingSD }
        let gains = (0..<nv).map { _ in (0..<ng).map { staticGain[$0] * (1 + rng.normal() * c.volumeBandingSD) } }
        let weighted = (0..<nv).filter { table.entries[$0].b > 50 }
        var dropouts: [(volume: Int, group: Int, factor: Double)] = []
        var pool = weighted
        while dropouts.count < min(c.dropouts, weighted.count), !pool.isEmpty {
            let v = pool.remove(at: min(pool.count - 1, Int(rng.uniform() * Double(pool.count))))
            let g = min(ng - 1, Int(rng.uniform() * Double(ng)))
            let f = c.dropoutFactor.lowerBound + rng.uniform() * (c.dropoutFactor.upperBound - c.dropoutFactor.lowerBound)
            dropouts.append((v, g, f))
        }
        dropouts.sort { ($0.volume, $0.group) < ($1.volume, $1.group) }

        // Encodings seen by the object: direction Qᵀg per (volume, group).
        let u = (0..<3).map { a in normalized(SIMD3(cg.affine.linear[0, a], cg.affine.linear[1, a], cg.affine.linear[2, a])) }
        func objectDirection(_ d: SIMD3<Double>, degrees: Double) -> SIMD3<Double> {
            // Coordinates in the canonical voxel-axis frame, turned by −θ about k, back to world.
            let a = SIMD3(dot(d, u[0]), dot(d, u[1]), dot(d, u[2]))
            let t = -degrees * .pi / 180, co = cos(t), si = sin(t)
            let b = SIMD3(co * a.x - si * a.y, si * a.x + co * a.y, a.z)
            return b.x * u[0] + b.y * u[1] + b.z * u[2]
        }
        var entries: [GradientEntry] = []
        for v in 0..<nv { for g in 0..<ng {
            var e = table.entries[v]
            if length(e.direction) > 0 { e.direction = objectDirection(e.direction, degrees: motion[v][g].rotationDegrees) }
            entries.append(e)
        } }
        var quiet = parameters; quiet.snr = nil
        let perGroup = try DWISimulator.simulate(subject, table: GradientTable(entries), parameters: quiet)
        let plain = try DWISimulator.simulate(subject, table: table, parameters: quiet)

        // Assemble in the canonical frame: slice k of volume v from entry (v, group of k), moved.
        let n = grid.voxelCount, perSlice = cg.nx * cg.ny
        let flipK = reo.flipped[2]
        var dropFactor = [Double](repeating: 1, count: nv * ng)
        for d in dropouts { dropFactor[d.volume * ng + d.group] = d.factor }
        let out = SharedBuffer<Float>(repeating: 0, count: n * nv)
        let frames = perGroup.noiseFree
        let planted = motion, drops = dropFactor
        parallelChunks(nv) { range, _ in
            for v in range {
                for g in 0..<ng {
                    let src = reo.apply(frames.frame(v * ng + g))
                    let m = planted[v][g], gain = gains[v][g] * drops[v * ng + g]
                    let d = src.data
                    let t = m.rotationDegrees * .pi / 180, co = cos(t), si = sin(t)
                    for k in groups[g] {
                        let kc = flipK ? nz - 1 - k : k, base = kc * perSlice
                        for j in 0..<cg.ny { for i in 0..<cg.nx {
                            // Output at p reads the object at the inverse motion of p.
                            let p = SIMD2(Double(i) * cg.spacing.x, Double(j) * cg.spacing.y) - m.centre - m.shift
                            let q = SIMD2(co * p.x + si * p.y, -si * p.x + co * p.y) + m.centre
                            let x = q.x / cg.spacing.x, y = q.y / cg.spacing.y
                            var value = 0.0
                            if x >= 0, y >= 0, x <= Double(cg.nx - 1), y <= Double(cg.ny - 1) {
                                let ix = min(Int(x), max(cg.nx - 2, 0)), iy = min(Int(y), max(cg.ny - 2, 0))
                                let fx = x - Double(ix), fy = y - Double(iy)
                                let ix1 = min(ix + 1, cg.nx - 1), iy1 = min(iy + 1, cg.ny - 1)
                                value = (Double(d[base + ix + cg.nx * iy]) * (1 - fx) + Double(d[base + ix1 + cg.nx * iy]) * fx) * (1 - fy)
                                    + (Double(d[base + ix + cg.nx * iy1]) * (1 - fx) + Double(d[base + ix1 + cg.nx * iy1]) * fx) * fy
                            }
                            out[v * n + base + i + cg.nx * j] = Float(value * gain)
                        } }
                    }
                }
            }
        }
        let canonical = Volume(grid: cg, frames: nv, exactly: out.array)
        let corruptedClean = reo.invert(canonical)
        let wmS0 = TissueClass.allCases.filter(\.isWhiteMatter).map { parameters.tissues[Int($0.rawValue)].s0 }.max() ?? 1
        let sigma = parameters.snr.map { wmS0 / $0 } ?? 0
        let image = RicianNoise.apply(to: corruptedClean, sigma: sigma, seed: parameters.seed)
        let reference = RicianNoise.apply(to: plain.noiseFree, sigma: sigma, seed: parameters.seed)
        // Built with groups in slice order; listed in acquisition order.
        let bySlice = MultibandTruth(factor: c.factor, sliceTiming: timing, groups: groups, motion: motion, dropouts: dropouts, gains: gains)
        let truth = bySlice.withGroupOrder(acquisition.map { a in groups.firstIndex(of: a) ?? 0 })
        return MultibandDWISimulation(image: image, reference: reference, table: table, sigma: sigma, truth: truth, diffusion: plain.truth)
    }
}

extension MultibandTruth {
    /// The truth with its groups listed in `index` order (index[new] = old group).
    func withGroupOrder(_ index: [Int]) -> MultibandTruth {
        var r = self
        r.groups = index.map { groups[$0] }
        r.motion = motion.map { row in index.map { row[$0] } }
        let inverse = Dictionary(uniqueKeysWithValues: index.enumerated().map { ($0.element, $0.offset) })
        r.dropouts = dropouts.map { (volume: $0.volume, group: inverse[$0.group] ?? $0.group, factor: $0.factor) }
        r.gains = gains.map { row in index.map { row[$0] } }
        return r
    }
}
