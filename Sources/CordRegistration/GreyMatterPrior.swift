// The atlas's grey-matter butterfly placed inside a subject's cord, slice by slice: the
// spatial prior of grey-matter segmentation (issue #25).
import CordAtlas
import CordCore

/// How the atlas slice behind each subject slice was chosen.
public enum GreyMatterPriorSource: String, Sendable, Equatable {
    /// From the subject's vertebral level map (the middle of that level in the atlas).
    case levels
    /// No level map: the middle of the atlas's C4 for every slice.
    case defaultLevel = "default level (C4)"
}

/// An atlas grey-matter prior on a subject grid.
public struct GreyMatterPrior: Sendable {
    /// Grey-matter fraction of each subject voxel (0…1), 0 outside the cord.
    public var fraction: Volume<Float>
    /// The atlas level used per RPI slice (nil where the slice holds no cord).
    public var levelPerSlice: [Int?]
    public var source: GreyMatterPriorSource

    /// Level whose middle slice stands in when no level map is given: C4, the middle of the
    /// cervical cord. On the real `mt1` scan, PAM50's GM placed in the reference cord from its C2,
    /// C3, C4, C5 or C6 middle slice gave Dice 0.79, 0.81, 0.82, 0.77, 0.78 against SCT's GM mask
    /// (prior alone, measured with a NumPy prototype); the CordQ atlas has one shape at every level.
    public static let defaultLevel = 4

    /// Places the atlas GM (`atlas.greyMatter`, on its own grid) into `cord` (soft or binary,
    /// any orientation): for every axial slice (RPI) of the subject holding cord, the atlas
    /// cord's cross-section at the chosen level is taken onto the subject's by the affine that
    /// matches centres and second moments in world millimetres, x ↦ c_t + Σ_t^{1/2}Σ_s^{−1/2}(x − c_s)
    /// (the in-plane step of template registration, De Leener et al. 2018 NeuroImage 165:170;
    /// `TemplateRegistration`), and the atlas GM probability is averaged over `supersampling`²
    /// points per subject pixel (in-plane partial volume), times the subject's cord fraction.
    /// `levels`: vertebral levels on the subject grid (1 = C1 …); the slice's most frequent
    /// level inside the cord picks the atlas slice (the middle of that level). Without it, or
    /// on slices without a label, `defaultLevel`.
    public static func place(atlas: Atlas, cord: Volume<Float>, levels: LabelMap? = nil,
                             supersampling: Int = 3) throws -> GreyMatterPrior {
        guard let gm = atlas.greyMatter else { throw RegistrationError.atlasIncomplete("\(atlas.source) has no grey-matter map") }
        guard let atlasCord = atlas.cord else { throw RegistrationError.atlasIncomplete("\(atlas.source) has no spinal cord map") }
        guard let atlasLevels = atlas.levels else { throw RegistrationError.atlasIncomplete("\(atlas.source) has no vertebral level map") }
        if let levels { try cord.grid.requireCompatible(with: levels.grid, "cord segmentation", "level map") }
        let (subject, back) = cord.reoriented()
        let sg = subject.grid, per = sg.nx * sg.ny
        let subjectLevels = levels.map { $0.volume.reoriented().0 }
        let (atlasC, _) = atlasCord.reoriented(), (atlasL, _) = atlasLevels.volume.reoriented()
        let ag = atlasC.grid, aper = ag.nx * ag.ny

        // MARK: Atlas slice per level (the middle slice of the level in RPI order).
        var middle: [Int: Int] = [:]
        var firstLast: [Int: (Int, Int)] = [:]
        for k in 0..<ag.nz {
            for n in (k * aper)..<((k + 1) * aper) where atlasL.data[n] > 0 {
                let l = Int(atlasL.data[n])
                let e = firstLast[l] ?? (k, k)
                firstLast[l] = (min(e.0, k), max(e.1, k))
            }
        }
        for (l, e) in firstLast { middle[l] = (e.0 + e.1) / 2 }
        guard let fallback = middle[defaultLevel] ?? middle.keys.sorted().first.flatMap({ middle[$0] }) else {
            throw RegistrationError.atlasIncomplete("\(atlas.source)'s level map is empty")
        }

        // MARK: Per subject slice: level, moments, placement.
        let weight = subject.data.map { min(max($0 > 1 ? 1 : $0, 0), 1) }
        var levelPerSlice = [Int?](repeating: nil, count: sg.nz)
        var atlasSlice = [Int](repeating: fallback, count: sg.nz)
        for k in 0..<sg.nz {
            var counts: [Int32: Double] = [:], any = false
            for n in (k * per)..<((k + 1) * per) where weight[n] > 0 {
                any = true
                if let l = subjectLevels?.data[n], l > 0 { counts[l, default: 0] += Double(weight[n]) }
            }
            guard any else { continue }
            if let best = counts.max(by: { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }),
               let m = middle[Int(best.key)] {
                levelPerSlice[k] = Int(best.key); atlasSlice[k] = m
            } else {
                levelPerSlice[k] = middle[defaultLevel] != nil ? defaultLevel : nil
            }
        }
        let out = SharedBuffer<Float>(repeating: 0, count: subject.data.count)
        let s = max(1, supersampling)
        let offsets = (0..<s).map { (Double($0) + 0.5) / Double(s) - 0.5 }
        let ws = weight, chosen = atlasSlice
        parallelChunks(sg.nz) { ks, _ in
            for k in ks {
                guard let sm = SliceMoments(values: ws, offset: k * per, grid: sg, k: k) else { continue }
                let ka = chosen[k]
                guard let am = SliceMoments(values: atlasC.data, offset: ka * aper, grid: ag, k: ka) else { continue }
                let zAtlas = ag.world(0, 0, Double(ka)).z
                let (r0, r1) = Sym2.matching(from: sm.covariance, to: am.covariance)
                for j in 0..<sg.ny {
                    for i in 0..<sg.nx {
                        let n = k * per + j * sg.nx + i
                        guard ws[n] > 0 else { continue }
                        var sum = 0.0
                        for a in offsets {
                            for b in offsets {
                                let w = sg.world(Double(i) + a, Double(j) + b, Double(k))
                                let d = SIMD2(w.x, w.y) - sm.centre
                                let q = SIMD3(am.centre.x + (r0 * d).sum(), am.centre.y + (r1 * d).sum(), zAtlas)
                                sum += Double(gm.trilinear(world: q))
                            }
                        }
                        out[n] = Float(sum / Double(s * s)) * ws[n]
                    }
                }
            }
        }
        let placed = Volume(grid: sg, frames: 1, exactly: out.array)
        return GreyMatterPrior(fraction: back.invert(placed), levelPerSlice: levelPerSlice,
                               source: levels == nil ? .defaultLevel : .levels)
    }
}

/// Centre (world mm, x and y) and 2×2 covariance of one axial slice's weights.
struct SliceMoments {
    var centre: SIMD2<Double>
    /// (xx, xy, yy) in mm².
    var covariance: SIMD3<Double>

    init?(values: [Float], offset: Int, grid g: Grid, k: Int) {
        var w = 0.0, sx = 0.0, sy = 0.0, sxx = 0.0, sxy = 0.0, syy = 0.0
        for j in 0..<g.ny {
            for i in 0..<g.nx {
                let v = Double(values[offset + j * g.nx + i])
                guard v > 0 else { continue }
                let p = g.world(Double(i), Double(j), Double(k))
                w += v; sx += v * p.x; sy += v * p.y
                sxx += v * p.x * p.x; sxy += v * p.x * p.y; syy += v * p.y * p.y
            }
        }
        guard w > 0 else { return nil }
        let cx = sx / w, cy = sy / w
        let pixel = g.spacing.x * g.spacing.y / 12   // a pixel's own spread, so 1-pixel slices are not singular
        let c = SIMD3(sxx / w - cx * cx + pixel, sxy / w - cx * cy, syy / w - cy * cy + pixel)
        guard c.x > 0, c.z > 0, c.x * c.z - c.y * c.y > 0 else { return nil }
        centre = SIMD2(cx, cy); covariance = c
    }
}
