// Slice geometry of a twix file: each scan header's slice position and quaternion (what the
// reconstruction uses for the NIfTI affine) checked against the protocol's sSliceArray
// (asSlice[k].sPosition, sNormal, dInPlaneRot), slice k = the scan's slice counter.
import CordCore
import Foundation

public enum TwixGeometry {
    /// Largest disagreement between the scan headers and sSliceArray.
    public struct Check: Sendable {
        public var slices = 0
        /// mm, between scan-header and protocol slice centres.
        public var positionError = 0.0
        /// 1 − |cos| between scan-header slice direction and protocol normal.
        public var normalError = 0.0
        /// 1 − cos between scan-header phase direction and the one sSliceArray implies
        /// (checked for transverse main orientation with dInPlaneRot ≈ 0 only; nil otherwise).
        public var phaseError: Double?
    }

    /// Compares every imaging scan with its sSliceArray entry; nil when the protocol has none.
    static func check(_ acqs: [RawAcquisition], protocolText p: TwixProtocol) -> Check? {
        var out = Check()
        var seen = Set<Int>()
        for a in acqs where !a.flags.contains(.isNoiseMeasurement) {
            let k = a.index.slice
            let key = "sSliceArray.asSlice[\(k)]"
            let pos = SIMD3(p.double("\(key).sPosition.dSag") ?? 0, p.double("\(key).sPosition.dCor") ?? 0,
                            p.double("\(key).sPosition.dTra") ?? 0)
            var n = SIMD3(p.double("\(key).sNormal.dSag") ?? 0, p.double("\(key).sNormal.dCor") ?? 0,
                          p.double("\(key).sNormal.dTra") ?? 0)
            let nn = (n * n).sum().squareRoot()
            guard nn > 0.5 else { continue }   // no entry for this slice
            n /= nn
            seen.insert(k)
            out.positionError = max(out.positionError, ((a.position - pos) * (a.position - pos)).sum().squareRoot())
            out.normalError = max(out.normalError, 1 - abs((a.sliceDirection * n).sum()))
            let rot = p.double("\(key).dInPlaneRot") ?? 0
            if abs(n.z) >= abs(n.y), abs(n.z) >= abs(n.x), abs(rot) < 1e-6 {
                // Transverse main orientation, no in-plane rotation: phase = (0, n_tra, −n_cor)/‖·‖.
                let ph = SIMD3(0, n.z, -n.y) / (n.z * n.z + n.y * n.y).squareRoot()
                out.phaseError = max(out.phaseError ?? 0, 1 - (a.phaseDirection * ph).sum())
            }
        }
        guard !seen.isEmpty else { return nil }
        out.slices = seen.count
        return out
    }

    /// The check as reader notes (`cordq info`), flagging a disagreement above 0.1 mm or 1e-4.
    static func checkSlices(_ acqs: [RawAcquisition], protocolText p: TwixProtocol) -> [String] {
        guard let c = check(acqs, protocolText: p) else { return [] }
        let ok = c.positionError < 0.1 && c.normalError < 1e-4 && (c.phaseError ?? 0) < 1e-4
        let what = "\(c.slices) slice\(c.slices == 1 ? "" : "s"): scan headers vs sSliceArray, position within \(formatSignificantCore(c.positionError)) mm, normal 1−|cos| \(formatSignificantCore(c.normalError))"
            + (c.phaseError.map { ", phase direction 1−cos \(formatSignificantCore($0))" } ?? "")
        return [ok ? "geometry: \(what)" : "WARNING geometry disagrees: \(what); the affine follows the scan headers"]
    }

    /// The check on a twix file's bytes (tests; `cordq info` shows it as a note).
    public static func check(_ bytes: [UInt8], path: String, mapping: RawCounterMapping) throws -> Check? {
        let (ds, p) = try TwixFile.parseWithProtocol(bytes, path: path, mapping: mapping, measurement: nil)
        return check(ds.acquisitions, protocolText: p)
    }
}
