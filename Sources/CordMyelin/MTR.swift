// Magnetization transfer ratio.
import CordCore

/// How divisions by zero and implausible values are handled.
public enum MyelinConvention: Sendable {
    /// CordQ: a voxel whose reference signal is ≤ 0 or not finite gets 0 and is counted;
    /// no clipping of plausible values.
    case cordq
    /// Spinal Cord Toolbox (`sct_compute_mtr`/`sct_compute_mtsat`): MTR where MT-off is 0 is
    /// NaN and every MTR is clipped to ±100 p.u.; MTsat uses the small-angle form, R1 below
    /// 0.01 s⁻¹ gives T1 = 0, |MTsat| above 100 p.u. is set to 0, NaN becomes 0, and B1 enters
    /// only through Weiskopf's factor on MTsat.
    case sct
}

/// A map with the count of voxels where the rule for invalid input applied.
public struct MapResult: Sendable {
    public var map: Volume<Float>
    public var invalidVoxels: Int
}

extension MagnetizationTransfer {
    /// Whether the CordQ convention computes MTR at a voxel (MT-off > 0, both finite); the
    /// map holds 0 elsewhere, and tables must leave those voxels out.
    @inline(__always)
    public static func mtrIsValid(mtOn ms: Float, mtOff m0: Float) -> Bool { m0 > 0 && m0.isFinite && ms.isFinite }
}

public enum MagnetizationTransfer {
    /// MTR = 100·(M₀ − M_sat)/M₀ in percent units (p.u.), voxel by voxel.
    ///
    /// - Parameters: `mtOff` is M₀ (no saturation pulse), `mtOn` is M_sat; same grid.
    public static func ratio(mtOn: Volume<Float>, mtOff: Volume<Float>,
                             convention: MyelinConvention = .cordq) throws -> MapResult {
        try mtOn.grid.requireCompatible(with: mtOff.grid, "MT-on image", "MT-off image")
        guard mtOn.frames == 1, mtOff.frames == 1 else {
            throw CordError.invalidValue(what: "MTR inputs", detail: "need 3D images (found \(mtOn.frames) and \(mtOff.frames) frames)")
        }
        var out = Volume<Float>(grid: mtOn.grid)
        var invalid = 0
        for n in 0..<out.data.count {
            let m0 = mtOff.data[n], ms = mtOn.data[n]
            switch convention {
            case .cordq:
                if mtrIsValid(mtOn: ms, mtOff: m0) { out.data[n] = 100 * (m0 - ms) / m0 } else { invalid += 1 }
            case .sct:
                if m0 != 0 {
                    out.data[n] = min(max(100 * (m0 - ms) / m0, -100), 100)
                } else { out.data[n] = .nan; invalid += 1 }
            }
        }
        if convention == .cordq {
            // Where MT-on has signal, MT-off must have it too: an MT-off that is zero or
            // negative there (a blank or sign-flipped series) would give an all-zero MTR map
            // and 0 p.u. in every table. Background without signal does not count.
            var withSignal = 0, unusable = 0
            for n in 0..<out.data.count where mtOn.data[n] > 0 && mtOn.data[n].isFinite {
                withSignal += 1
                let m0 = mtOff.data[n]
                if !(m0 > 0 && m0.isFinite) { unusable += 1 }
            }
            if withSignal > 0 && 2 * unusable > withSignal {
                throw CordError.invalidValue(what: "MT-off image", detail: "is zero, negative or not finite in \(unusable) of the \(withSignal) voxels where MT-on has signal; MTR cannot be computed (is it the right series, with its scaling?)")
            }
        }
        return MapResult(map: out, invalidVoxels: invalid)
    }
}
