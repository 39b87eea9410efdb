// MTsat, T1 and A maps from three FLASH images (Helms et al. 2008).
import CordCore

/// How the transmit field (B1) enters MTsat.
public enum B1Correction: String, Sendable, CaseIterable {
    /// Nominal flip angles everywhere (B1 map ignored).
    case none
    /// Every excitation's flip angle scaled by the B1 map (actual = B1 × nominal) in R1, A and
    /// δ. Exact when the MT pulse's saturation does not itself depend on B1.
    case full
    /// `full`, then Weiskopf et al.'s empirical factor for the B1 dependence of the MT pulse:
    /// MTsat × (1 − C)/(1 − C·B1), C = 0.4 (Weiskopf 2013, Front Neurosci 7:95).
    case weiskopf
}

/// Options of an MTsat computation.
public struct MTsatOptions: Sendable {
    public var mt: FLASHTiming, pd: FLASHTiming, t1: FLASHTiming
    public var form: FLASHForm = .smallAngle
    public var b1Correction: B1Correction = .none
    public var convention: MyelinConvention = .cordq
    /// Weiskopf's constant C.
    public static let weiskopfC = 0.4

    public init(mt: FLASHTiming, pd: FLASHTiming, t1: FLASHTiming) {
        self.mt = mt; self.pd = pd; self.t1 = t1
    }
}

/// MTsat (p.u.), T1 (s), R1 (s⁻¹) and A (signal units) maps.
public struct MTsatMaps: Sendable {
    public var mtsat: Volume<Float>
    public var t1: Volume<Float>
    public var r1: Volume<Float>
    public var a: Volume<Float>
    /// Voxels (inside the mask) where no valid solution exists; they hold 0 in every map.
    public var invalidVoxels: Int
    public var computedVoxels: Int
}

extension MagnetizationTransfer {
    /// MTsat = δ·100 in p.u. with δ the extra saturation per TR caused by the MT pulse,
    /// computed voxel by voxel from MT-, PD- and T1-weighted FLASH images (Helms et al. 2008,
    /// MRM 60:1396, erratum MRM 64:1856). See `FLASHForm` for the variants and
    /// `B1Correction` for the B1 conventions. Voxels with no valid solution (a non-positive
    /// signal, R1 outside 0.01–100 s⁻¹, non-finite values) are 0 in every map and counted.
    ///
    /// - Parameters:
    ///   - b1: relative transmit field (actual/nominal flip angle, 1 = nominal), same grid.
    ///   - mask: only voxels inside are computed (others are 0).
    public static func saturation(mt: Volume<Float>, pd: Volume<Float>, t1w: Volume<Float>,
                                  b1: Volume<Float>? = nil, mask: Mask? = nil,
                                  options o: MTsatOptions) throws -> MTsatMaps {
        try mt.grid.requireCompatible(with: pd.grid, "MT-weighted image", "PD-weighted image")
        try mt.grid.requireCompatible(with: t1w.grid, "MT-weighted image", "T1-weighted image")
        if let b = b1 { try mt.grid.requireCompatible(with: b.grid, "MT-weighted image", "B1 map") }
        if let m = mask { try mt.grid.requireCompatible(with: m.grid, "MT-weighted image", "mask"); try m.requireNonEmpty("mask") }
        if o.b1Correction != .none && b1 == nil {
            throw CordError.invalidValue(what: "B1 correction '\(o.b1Correction.rawValue)'", detail: "needs a B1 map")
        }
        for (t, name) in [(o.mt, "MT"), (o.pd, "PD"), (o.t1, "T1")] {
            guard t.repetitionTime > 0, t.flipAngleDegrees > 0, t.flipAngleDegrees < 180 else {
                throw CordError.invalidValue(what: "\(name)-weighted timing", detail: "TR must be > 0 s and the flip angle between 0 and 180°")
            }
        }
        guard o.pd.flipAngleDegrees / o.pd.repetitionTime != o.t1.flipAngleDegrees / o.t1.repetitionTime
                || o.pd.flipAngleDegrees != o.t1.flipAngleDegrees else {
            throw CordError.invalidValue(what: "PD- and T1-weighted timings", detail: "are identical; T1 cannot be separated from PD")
        }
        let n = mt.grid.voxelCount
        let pdMax = pd.data.reduce(Float(0)) { max($0, $1.isFinite ? $1 : 0) }
        guard pdMax > 0 else {
            throw CordError.invalidValue(what: "PD-weighted image", detail: "has no positive signal; MTsat needs a PD-weighted FLASH image")
        }
        let mtsat = SharedBuffer<Float>(repeating: 0, count: n), t1 = SharedBuffer<Float>(repeating: 0, count: n)
        let r1m = SharedBuffer<Float>(repeating: 0, count: n), am = SharedBuffer<Float>(repeating: 0, count: n)
        let invalid = SharedBuffer<Int>(repeating: 0, count: workerCount), computed = SharedBuffer<Int>(repeating: 0, count: workerCount)
        let sct = o.convention == .sct
        let inversion = FLASHInversion(form: sct ? .smallAngle : o.form)
        let c = MTsatOptions.weiskopfC
        let useB1Angles = !sct && o.b1Correction != .none
        let useFactor = (sct && b1 != nil) || o.b1Correction == .weiskopf
        let sMT = mt.data, sPD = pd.data, sT1 = t1w.data, b1p = b1?.data, maskp = mask?.data
        do {
            parallelChunks(n, minimumChunk: 4096) { range, w in
                for v in range {
                    if let m = maskp, m[v] == 0 { continue }
                    computed[w] += 1
                    let b = b1p.map { Double($0[v]) } ?? 1
                    let scale = useB1Angles ? b : 1
                    let sp = Double(sPD[v]), st = Double(sT1[v]), sm = Double(sMT[v])
                    if sct {
                        // SCT keeps every voxel, with its own clipping rules.
                        let r = sctVoxel(sp, st, sm, o)
                        var mts = r.mtsat
                        if useFactor { mts = mts * (1 - c) / (1 - c * b) }
                        mtsat[v] = Float(mts); t1[v] = Float(r.t1); r1m[v] = Float(r.r1); am[v] = Float(r.a)
                        if r.clipped { invalid[w] += 1 }
                        continue
                    }
                    guard sp.isFinite, st.isFinite, sm.isFinite, b.isFinite, b > 0,
                          let (r1, a) = inversion.r1AndA(sPD: sp, alphaPD: o.pd.flipAngle * scale, trPD: o.pd.repetitionTime,
                                                         sT1: st, alphaT1: o.t1.flipAngle * scale, trT1: o.t1.repetitionTime),
                          r1 >= 0.01, r1 <= 100,
                          var d = inversion.delta(sMT: sm, alphaMT: o.mt.flipAngle * scale, trMT: o.mt.repetitionTime, r1: r1, a: a)
                    else { invalid[w] += 1; continue }
                    if useFactor { d = d * (1 - c) / (1 - c * b) }
                    mtsat[v] = Float(100 * d); t1[v] = Float(1 / r1); r1m[v] = Float(r1); am[v] = Float(a)
                }
            }
        }
        func vol(_ s: SharedBuffer<Float>) -> Volume<Float> {
            // Same voxel count as the grid: cannot fail.
            Volume(grid: mt.grid, exactly: s.array)
        }
        return MTsatMaps(mtsat: vol(mtsat), t1: vol(t1), r1: vol(r1m), a: vol(am),
                         invalidVoxels: invalid.array.reduce(0, +), computedVoxels: computed.array.reduce(0, +))
    }

    /// One voxel the way `sct_compute_mtsat` computes it (small-angle Helms, nominal angles):
    /// R1 NaN → 0; R1 < 0.01 s⁻¹ → T1 = 0; MTsat NaN → 0; |MTsat| > 1 (fraction) → 0.
    static func sctVoxel(_ sp: Double, _ st: Double, _ sm: Double, _ o: MTsatOptions) -> (mtsat: Double, t1: Double, r1: Double, a: Double, clipped: Bool) {
        let aP = o.pd.flipAngle, aT = o.t1.flipAngle, aM = o.mt.flipAngle
        let trP = o.pd.repetitionTime, trT = o.t1.repetitionTime, trM = o.mt.repetitionTime
        var r1 = 0.5 * (aT / trT * st - aP / trP * sp) / (sp / aP - st / aT)
        var clipped = false
        if r1.isNaN { r1 = 0 }
        if r1 == .infinity { r1 = .greatestFiniteMagnitude } else if r1 == -.infinity { r1 = -.greatestFiniteMagnitude }
        if r1 < 0.01 { r1 = .infinity; clipped = true }
        let t1 = 1 / r1
        let a = (trP * aT / aP - trT * aP / aT) * (sp * st) / (trP * aT * st - trT * aP * sp)
        var m = trM * (aM * a / sm - 1) * r1 - aM * aM / 2
        if m.isNaN { m = 0 }
        if m == .infinity { m = .greatestFiniteMagnitude } else if m == -.infinity { m = -.greatestFiniteMagnitude }
        if abs(m) > 1 { m = 0; clipped = true }
        return (100 * m, t1, r1.isFinite ? r1 : 0, a.isFinite ? a : 0, clipped)
    }
}
