// A phantom subject on a grid: T2w image, masks, labels, centerline and truth.
import CordCore

/// A digital cervical cord (C1–T1) sampled on any grid, with its ground truth.
///
/// Build one with `PhantomSubject(parameters, on: grid)`. Everything is in memory; CordIO
/// writes the volumes and the Codable `truth`. All label maps and masks share `grid`.
public struct PhantomSubject: Sendable {
    /// The continuous anatomy (evaluate tissue, cord coordinates, tangent anywhere).
    public let anatomy: CordAnatomy
    public var parameters: PhantomParameters { anatomy.parameters }
    public let grid: Grid
    /// Partial-volume tissue fractions: the input of acquisition simulators.
    public let composition: TissueComposition
    /// T2-weighted image without and with Rician noise (σ = `truth.noiseSigma`).
    public let t2wNoiseFree: Volume<Float>
    public let t2w: Volume<Float>
    /// Fraction of each voxel inside the cord (0…1).
    public let cordFraction: Volume<Float>
    /// Cord (fraction ≥ ½), grey matter and CSF masks, consistent with `tissueLabels`.
    public let cordMask: Mask, gmMask: Mask, csfMask: Mask
    /// One `TissueClass` label per voxel (`TissueComposition.dominantLabels()` rules):
    /// named white-matter regions, grey-matter parts, CSF, vertebral bodies, discs.
    public let tissueLabels: LabelMap
    /// Vertebral level (1 = C1 … 8 = T1) of every cord-mask voxel, as PAM50_levels.
    public let levels: LabelMap
    /// PAM50 disc labels: one voxel on the centerline per disc, value n at the top of
    /// vertebra n (1 = top of C1, 2 = C1/C2, 3 = C2/C3 … 8 = C7/T1, 9 = T1/T2).
    public let discs: LabelMap
    public let centerline: PhantomCenterline
    public let truth: PhantomTruth

    /// Samples the phantom described by `parameters` on `grid` (any orientation, any
    /// spacing, partial coverage allowed). Throws when a parameter is out of range.
    public init(_ parameters: PhantomParameters, on grid: Grid) throws {
        let anatomy = try CordAnatomy(parameters)
        self.anatomy = anatomy
        self.grid = grid
        let raster = anatomy.rasterise(on: grid)
        composition = raster.composition

        // MARK: Images
        t2wNoiseFree = composition.signal(perClass: parameters.contrast.intensities)
        let sigma = parameters.snr.map { parameters.contrast.whiteMatter / $0 } ?? 0
        t2w = RicianNoise.apply(to: t2wNoiseFree, sigma: sigma, seed: parameters.seed)
        cordFraction = composition.fractionMap(of: TissueClass.allCases.filter(\.isCord))

        // MARK: Labels and masks
        let labels = composition.dominantLabels()
        tissueLabels = LabelMap(volume: labels, names: TissueClass.labelNames)
        var cord = Mask(grid: grid, frames: 1, repeating: 0)
        var gm = cord, csf = cord
        var levelVolume = Volume<Int32>(grid: grid, frames: 1, repeating: 0)
        for n in 0..<grid.voxelCount {
            guard let c = TissueClass(rawValue: labels.data[n]) else { continue }
            if c.isCord {
                cord.data[n] = 1
                levelVolume.data[n] = Int32(raster.levelAtCentre[n])
            }
            if c.isGreyMatter { gm.data[n] = 1 }
            if c == .csf { csf.data[n] = 1 }
        }
        cordMask = cord; gmMask = gm; csfMask = csf
        levels = LabelMap(volume: levelVolume,
                          names: Dictionary(uniqueKeysWithValues: VertebralLevel.allCases.map { ($0.rawValue.int32, $0.name) }))
        var discVolume = Volume<Int32>(grid: grid, frames: 1, repeating: 0)
        var discNames: [Int32: String] = [:]
        for n in 1...9 {
            let v = grid.voxel(ofWorld: anatomy.centerlinePoint(atArcLength: anatomy.discArcLengths[n - 1]))
            let i = CheckedNumber.clamped(v.x, .toNearestOrAwayFromZero), j = CheckedNumber.clamped(v.y, .toNearestOrAwayFromZero), k = CheckedNumber.clamped(v.z, .toNearestOrAwayFromZero)
            guard grid.contains(i, j, k) else { continue }
            discVolume[i, j, k] = Int32(n)
            discNames[Int32(n)] = VertebralLevel.discName(n)
        }
        discs = LabelMap(volume: discVolume, names: discNames)
        centerline = PhantomSubject.sampleCenterline(anatomy, on: grid)

        // MARK: Truth
        var levelTruth: [LevelTruth] = []
        for level in VertebralLevel.allCases {
            let s0 = anatomy.discArcLengths[level.rawValue - 1], s1 = anatomy.discArcLengths[level.rawValue]
            let measured = anatomy.cordIsInside(grid, from: s0, to: s1)
                ? raster.cordVolumePerLevel[level.rawValue - 1] / (s1 - s0) : nil
            levelTruth.append(anatomy.truth(for: level, measured: measured))
        }
        var fractions: [String: Double] = [:]
        for c in TissueClass.allCases where c.isCord {
            fractions[c.name] = CrossSectionTemplate.standardFractions[Int(c.rawValue)]
        }
        truth = PhantomTruth(parameters: parameters, grid: grid.shortDescription, orientation: grid.orientationCode,
                             levels: levelTruth, compression: anatomy.compressionTruth(),
                             regionAreaFractions: fractions, noiseSigma: sigma,
                             csaCitation: HealthyCervicalCord.citation, lengthCitation: HealthyCervicalCord.lengthCitation)
    }

    /// The centerline every 0.5 mm inside the grid, and its crossing with each slice
    /// across the voxel axis closest to world S–I.
    static func sampleCenterline(_ anatomy: CordAnatomy, on grid: Grid) -> PhantomCenterline {
        let l = grid.affine.linear
        let axis = (0..<3).max { abs(l.column($0).z) / length(l.column($0)) < abs(l.column($1).z) / length(l.column($1)) } ?? 2
        let dims = [grid.nx, grid.ny, grid.nz]
        func inside(_ v: SIMD3<Double>) -> Bool {
            (0..<3).allSatisfy { v[$0] >= -0.5 && v[$0] <= Double(dims[$0]) - 0.5 }
        }
        func point(_ s: Double) -> CenterlinePoint {
            let w = anatomy.centerlinePoint(atArcLength: s)
            return CenterlinePoint(arcLength: s, world: w, tangent: anatomy.tangent(atArcLength: s),
                                   voxel: grid.voxel(ofWorld: w), level: anatomy.level(atArcLength: s))
        }
        // Arc-length range spanned by the grid's corners (plus a margin).
        var zs: [Double] = []
        for c in 0..<8 {
            let v = SIMD3(Double(c & 1) * Double(grid.nx - 1), Double((c >> 1) & 1) * Double(grid.ny - 1),
                          Double((c >> 2) & 1) * Double(grid.nz - 1))
            zs.append(grid.world(v.x, v.y, v.z).z)
        }
        let sTop = anatomy.curve.arcLength(z: (zs.max() ?? 0) + 5)
        let sBottom = anatomy.curve.arcLength(z: (zs.min() ?? 0) - 5)
        let count = CheckedNumber.clamped((sBottom - sTop) / 0.5, .up)
        let all = (0...max(count, 1)).map { point(sTop + 0.5 * Double($0)) }
        // Crossings: bracket slice index m between consecutive samples, then bisect.
        var slices = [CenterlinePoint?](repeating: nil, count: dims[axis])
        for n in 1..<all.count {
            let a = all[n - 1], b = all[n]
            let bound = Double(dims[axis])
            let lo = max(-1, min(a.voxel[axis], b.voxel[axis])), hi = min(bound, max(a.voxel[axis], b.voxel[axis]))
            let first = CheckedNumber.clamped(lo, .up), last = CheckedNumber.clamped(hi, .down)
            guard first <= last else { continue }
            for m in first...last where m >= 0 && m < dims[axis] && slices[m] == nil {
                let f0 = a.voxel[axis] - Double(m)
                var s0 = a.arcLength, s1 = b.arcLength
                if f0 == 0 { s1 = s0 }
                for _ in 0..<40 where s0 != s1 {
                    let mid = (s0 + s1) / 2
                    let fm = grid.voxel(ofWorld: anatomy.centerlinePoint(atArcLength: mid))[axis] - Double(m)
                    if (fm < 0) == (f0 < 0) && fm != 0 { s0 = mid } else { s1 = mid }
                }
                let p = point((s0 + s1) / 2)
                if inside(p.voxel) { slices[m] = p }
            }
        }
        return PhantomCenterline(points: all.filter { inside($0.voxel) }, sliceAxis: axis, slices: slices)
    }
}

extension Int {
    fileprivate var int32: Int32 { Int32(self) }
}
