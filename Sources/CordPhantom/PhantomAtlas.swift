// Atlases built from the phantom's anatomy: the ground-truth atlas of a phantom subject on
// its own grid, and the project's straight C1–T2 template (`cordq atlas build`).
import CordAtlas
import CordCore
import Foundation

/// Builds `Atlas` values from CordPhantom's partial-volume tissue composition.
///
/// Tracts are the phantom's cord classes and CSF (`TissueClass`, ids 0…14 in that order);
/// each tract map is the class's volume fraction per voxel, optionally smoothed in-plane.
/// Because every voxel's class fractions sum to 1, the tract maps plus CSF sum to
/// 1 − (fraction of tissue outside the dural sac): exactly 1 inside the sac.
public enum PhantomAtlas {
    /// Classes that become atlas tracts, in id order.
    public static let tractClasses: [TissueClass] = TissueClass.allCases.filter { $0.isCord } + [.csf]

    /// The atlas tracts, combined regions (`TissueClass.groups`, ids from 50) and clusters.
    public static var tracts: [AtlasTract] {
        tractClasses.enumerated().map { n, c in
            AtlasTract(id: n, name: c.name, kind: c.isWhiteMatter ? .whiteMatter : c.isGreyMatter ? .greyMatter : .csf)
        }
    }
    public static var combined: [CombinedRegion] {
        TissueClass.groups.enumerated().map { n, g in
            CombinedRegion(id: 50 + n, name: g.name, tractIDs: g.members.compactMap { m in tractClasses.firstIndex(of: m) })
        }
    }

    /// Fraction map of every `TissueClass` (indexed by raw value). With `smoothingSigma` > 0
    /// the cord's class maps (white-matter tracts, grey-matter parts) are smoothed in-plane
    /// (voxel axes i, j) by a Gaussian of σ mm truncated at 3σ, normalised, edge values
    /// extended; CSF then takes what the cord no longer fills, CSF' = CSF + Σcord − Σcord',
    /// so the tract maps plus CSF still sum to the dural-sac fraction (1 inside the sac; the
    /// sac's own edge keeps the partial volume of the rasterisation). CSF' is clamped at 0,
    /// which matters only if the smoothed cord reached the sac wall (3σ ≥ the cord–sac gap,
    /// ≥ 2.5 mm in the healthy phantom).
    public static func classFractions(_ composition: TissueComposition, smoothingSigma: Double) -> [Volume<Float>] {
        let g = composition.grid
        var maps = (0..<TissueClass.count).map { _ in Volume<Float>(grid: g) }
        for n in 0..<g.voxelCount {
            let row = Int(composition.mixedRow[n])
            if row < 0 { maps[Int(composition.pureClass[n])].data[n] = 1; continue }
            for c in 0..<TissueClass.count { maps[c].data[n] = composition.mixedFractions[row * TissueClass.count + c] }
        }
        guard smoothingSigma > 0 else { return maps }
        let s = g.spacing
        let csf = Int(TissueClass.csf.rawValue)
        for c in TissueClass.allCases where c.isCord {
            let before = maps[Int(c.rawValue)]
            var v = smooth(before, axis: 0, sigmaVoxels: smoothingSigma / s.x)
            v = smooth(v, axis: 1, sigmaVoxels: smoothingSigma / s.y)
            for n in 0..<g.voxelCount { maps[csf].data[n] += before.data[n] - v.data[n] }
            maps[Int(c.rawValue)] = v
        }
        for n in 0..<g.voxelCount where maps[csf].data[n] < 0 { maps[csf].data[n] = 0 }
        return maps
    }

    static func smooth(_ v: Volume<Float>, axis: Int, sigmaVoxels: Double) -> Volume<Float> {
        let r = max(1, CheckedNumber.clamped(3 * sigmaVoxels, .up))
        var w = (-r...r).map { exp(-0.5 * Double($0 * $0) / (sigmaVoxels * sigmaVoxels)) }
        let total = w.reduce(0, +); w = w.map { $0 / total }
        let g = v.grid
        var out = v
        let n = axis == 0 ? g.nx : g.ny
        for k in 0..<g.nz { for a in 0..<(axis == 0 ? g.ny : g.nx) {
            for b in 0..<n {
                var acc = 0.0
                for (t, wt) in w.enumerated() {
                    let q = min(max(b + t - r, 0), n - 1)
                    acc += wt * Double(axis == 0 ? v.data[g.index(q, a, k)] : v.data[g.index(a, q, k)])
                }
                out.data[axis == 0 ? g.index(b, a, k) : g.index(a, b, k)] = Float(acc)
            }
        } }
        return out
    }

    /// The ground-truth atlas of a phantom subject on its own grid: tract maps from its
    /// composition (no smoothing unless asked), its level map and disc labels.
    public static func atlas(of subject: PhantomSubject, smoothingSigma: Double = 0) throws -> Atlas {
        let f = classFractions(subject.composition, smoothingSigma: smoothingSigma)
        return try assemble(source: "phantom subject", fractions: f, contrasts: [:], levels: subject.levels, discs: subject.discs)
    }

    static func assemble(source: String, fractions f: [Volume<Float>], contrasts: [String: Volume<Float>],
                         levels: LabelMap?, discs: LabelMap?) throws -> Atlas {
        let g = f[0].grid
        func sum(_ classes: [TissueClass]) -> Volume<Float> {
            var v = Volume<Float>(grid: g)
            for c in classes { for n in 0..<g.voxelCount { v.data[n] += f[Int(c.rawValue)].data[n] } }
            return v
        }
        let all = TissueClass.allCases
        return try Atlas(source: source, grid: g, contrasts: contrasts, cord: sum(all.filter(\.isCord)),
                         whiteMatter: sum(all.filter(\.isWhiteMatter)), greyMatter: sum(all.filter(\.isGreyMatter)),
                         csf: f[Int(TissueClass.csf.rawValue)], tracts: tracts,
                         tractMaps: tractClasses.map { f[Int($0.rawValue)] }, combined: combined, levels: levels, discs: discs)
    }
}
