// The project's straight cervical/upper-thoracic template (C1–T2) from an AtlasDefinition.
import CordAtlas
import CordCore

extension PhantomAtlas {
    /// The phantom anatomy a template is built from: the healthy cord (spine-generic
    /// per-level CSA and diameters, PAM50 level lengths) with a straight centerline along
    /// world z through x = y = 0, no noise.
    public static func templateParameters(_ d: AtlasDefinition) -> PhantomParameters {
        var p = PhantomParameters()
        p.lordosisAmplitude = 0; p.lateralAmplitude = 0; p.centerlineX = 0; p.centerlineY = 0
        p.snr = nil; p.supersampling = d.supersampling
        return p
    }

    /// Arc lengths (mm from the top of C1) of the discs: C1–T1 from the phantom, then one
    /// more per extra level (T2 …).
    public static func templateDiscs(_ d: AtlasDefinition, anatomy: CordAnatomy) -> [Double] {
        var discs = anatomy.discArcLengths
        for l in d.extraLevelLengths { discs.append(discs[discs.count - 1] + l) }
        return discs
    }

    /// Builds the template atlas of `definition` (deterministic: no randomness, and the
    /// phantom rasterisation does not depend on the number of threads).
    ///
    /// Grid: axial RPI, `inPlaneSpacing` × `sliceSpacing` mm, square `fieldOfView`, from
    /// `margin` mm above the top of C1 to `margin` mm below the last level. Maps: class
    /// fractions smoothed in-plane by `smoothingSigma` (see `classFractions`). Contrasts:
    /// Σ fraction × intensity. Levels: 1 = C1 … 9 = T2 on voxels whose cord fraction is ≥ ½,
    /// from the arc length of the voxel centre. Discs: PAM50 convention, value n at the top
    /// of level n on the centerline (1 = top of C1 … 10 = T2/T3).
    public static func template(_ d: AtlasDefinition) throws -> Atlas {
        try d.validate()
        let p = templateParameters(d)
        let anatomy = try CordAnatomy(p)
        let discs = templateDiscs(d, anatomy: anatomy)
        let top = p.topOfC1 + d.margin, bottom = p.topOfC1 - discs[discs.count - 1] - d.margin
        let grid = PhantomGrid.axial(inPlane: d.inPlaneSpacing, sliceThickness: d.sliceSpacing, fieldOfView: d.fieldOfView,
                                     inferior: bottom, superior: top, centre: [0, 0])
        let subject = try PhantomSubject(p, on: grid)
        let f = classFractions(subject.composition, smoothingSigma: d.smoothingSigma)

        var contrasts: [String: Volume<Float>] = [:]
        for (name, c) in d.contrasts {
            var img = Volume<Float>(grid: grid)
            for cls in TissueClass.allCases {
                let value: Double? = switch cls {
                case .background: c["background"]
                case .csf: c["csf"]
                case .vertebralBody: c["vertebralBody"]
                case .intervertebralDisc: c["disc"]
                default: cls.isGreyMatter ? c["greyMatter"] : c["whiteMatter"]
                }
                let w = Float(value ?? 0), m = f[Int(cls.rawValue)]
                for n in 0..<grid.voxelCount { img.data[n] += w * m.data[n] }
            }
            contrasts[name] = img
        }

        var levelVolume = Volume<Int32>(grid: grid, frames: 1, repeating: 0)
        let cordClasses = TissueClass.allCases.filter(\.isCord)
        for n in 0..<grid.voxelCount {
            var cord: Float = 0
            for c in cordClasses { cord += f[Int(c.rawValue)].data[n] }
            guard cord >= 0.5 else { continue }
            let s = anatomy.coordinates(ofWorld: grid.world(grid.coordinates(of: n))).s
            if let l = (0..<(discs.count - 1)).first(where: { s >= discs[$0] && s < discs[$0 + 1] }) { levelVolume.data[n] = Int32(l + 1) }
        }
        let levelNames = Dictionary(uniqueKeysWithValues: (1..<discs.count).map { (Int32($0), VertebralLevelName.name($0)) })
        var discVolume = Volume<Int32>(grid: grid, frames: 1, repeating: 0)
        var discNames: [Int32: String] = [:]
        for (n, s) in discs.enumerated() {
            let v = grid.voxel(ofWorld: anatomy.centerlinePoint(atArcLength: s))
            let i = CheckedNumber.clamped(v.x, .toNearestOrAwayFromZero), j = CheckedNumber.clamped(v.y, .toNearestOrAwayFromZero), k = CheckedNumber.clamped(v.z, .toNearestOrAwayFromZero)
            guard grid.contains(i, j, k) else { continue }
            discVolume[i, j, k] = Int32(n + 1)
            discNames[Int32(n + 1)] = n == 0 ? "top of C1" : "\(VertebralLevelName.name(n))/\(VertebralLevelName.name(n + 1))"
        }
        return try assemble(source: d.name, fractions: f, contrasts: contrasts,
                            levels: LabelMap(volume: levelVolume, names: levelNames),
                            discs: LabelMap(volume: discVolume, names: discNames))
    }
}
