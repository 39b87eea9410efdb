// The diffusion encoding of Siemens twix scans, written into the raw model's per-acquisition
// user fields (docs/raw-data.md: `user_float[0]` = b in s/mm², `user_float[1…3]` = unit
// direction in the patient frame, LPS). Where the encoding lives is read from the counter
// mapping's `diffusion:` block (protocols/raw/siemens-ep2d.yaml), never written here:
// 1. per scan, the B-matrix in the ICE program parameters (VD/VE), when the scan carries one;
// 2. otherwise the protocol's table (`sDiffusion`), indexed by the mapping's volume counter:
//    weighting w = 0…lDiffWeightings−1 with b = alBValue[w] (absent = 0) in that order, a
//    b = 0 weighting one volume, a b > 0 weighting one volume per direction; directions from
//    `sFreeDiffusionData.asDiffDirVector[d]` (dSag, dCor, dTra; absent components 0) with
//    b = b_w·|v|²/max|v|² (a zero vector is b = 0). A protocol that gives no directions (the
//    scanner's built-in tables) leaves the fields at 0 and says so in the notes.
import CordCore
import Foundation

enum TwixDiffusion {
    /// Fills `userFloats[0…3]` of `acqs` (imaging scans) and returns notes for `cordq info`.
    static func assign(_ acqs: inout [RawAcquisition], ice: [[UInt16]], volumeCounter: [Int],
                       protocolText: TwixProtocol, mapping: RawDiffusionMapping, path: String) throws -> [String] {
        let bValues = (0..<128).compactMap { w in protocolText.double("sDiffusion.alBValue[\(w)]").map { (w, $0) } }
        let bmax = bValues.map(\.1).max() ?? 0
        guard bmax > 0 else { return [] }   // not a diffusion protocol
        let position = protocolText.xprot("tPatientPosition").first ?? "HFS"
        guard let toPatient = mapping.magnetToPatient[position] else {
            throw CordIOError.invalidContent(path: path, reason: "patient position \(position): the counter mapping's diffusion.magnet_to_patient has no entry for it, so the diffusion directions cannot be put in the patient frame")
        }
        var notes: [String] = []
        // 1. ICE B-matrix per scan.
        var fromICE = 0
        if mapping.iceBMatrix.count == 6, let nb = mapping.iceNominalB {
            for i in acqs.indices where i < ice.count {
                let p = ice[i]
                guard p.count > max(nb, mapping.iceBMatrix.max() ?? 0), p[nb] != 0 else { continue }
                let v = mapping.iceBMatrix.map { Double(p[$0]) - mapping.iceOffset }
                let nominal = Double(p[nb]) - mapping.iceOffset
                guard nominal >= 0, nominal <= 50_000 else {
                    throw CordIOError.invalidContent(path: path, reason: "scan \(i + 1): the nominal b-value in ICE parameter \(nb) is \(nominal) s/mm² (not 0–50 000): the diffusion ICE layout of the counter mapping does not fit this file")
                }
                let (b, d) = bMatrixDecomposition(xx: v[0], yy: v[1], zz: v[2], xy: v[3], xz: v[4], yz: v[5])
                let dirPatient = mapping.iceFrame == "prs"
                    ? d.x * acqs[i].phaseDirection + d.y * acqs[i].readDirection + d.z * acqs[i].sliceDirection
                    : d * toPatient
                setFields(&acqs[i], b: b, direction: dirPatient)
                fromICE += 1
            }
        }
        if fromICE > 0 {
            notes.append("diffusion: b and direction of \(fromICE) scans from the ICE B-matrix (frame \(mapping.iceFrame), patient position \(position))")
            return notes
        }
        // 2. The protocol table.
        let nWeightings = protocolText.int("sDiffusion.lDiffWeightings") ?? (bValues.map(\.0).max().map { $0 + 1 } ?? 1)
        let nFree = protocolText.int("sDiffusion.sFreeDiffusionData.lDiffDirections") ?? 0
        var vectors: [SIMD3<Double>] = []
        var any = false
        for d in 0..<max(0, nFree) {
            let key = "sDiffusion.sFreeDiffusionData.asDiffDirVector[\(d)]"
            let c = ["dSag", "dCor", "dTra"].map { protocolText.double("\(key).\($0)") }
            if c.contains(where: { $0 != nil }) { any = true }
            vectors.append(SIMD3(c[0] ?? 0, c[1] ?? 0, c[2] ?? 0))
        }
        guard nFree > 0, any else {
            notes.append("diffusion: b-values \(bValues.map { formatSignificantCore($0.1) }.joined(separator: ", ")) s/mm² but the protocol lists no free diffusion directions (sDiffusion.sFreeDiffusionData) and the scans carry no ICE B-matrix: the directions are the scanner's built-in table, so no bval/bvec is written")
            return notes
        }
        let system = protocolText.int("sDiffusion.sFreeDiffusionData.ulCoordinateSystem") ?? 1
        guard let frame = mapping.freeCoordinateSystems[system] else {
            throw CordIOError.invalidContent(path: path, reason: "sDiffusion.sFreeDiffusionData.ulCoordinateSystem = \(system) is not in the counter mapping's diffusion.free_coordinate_system (\(mapping.freeCoordinateSystems.keys.sorted().map(String.init).joined(separator: ", ")))")
        }
        let maxNorm2 = vectors.map { ($0 * $0).sum() }.max() ?? 0
        var table: [(b: Double, v: SIMD3<Double>)] = []
        for w in 0..<max(1, nWeightings) {
            let bw = protocolText.double("sDiffusion.alBValue[\(w)]") ?? 0
            if bw <= 0 { table.append((0, .zero)); continue }
            for v in vectors {
                let n2 = (v * v).sum()
                table.append(n2 > 0 && maxNorm2 > 0 ? (bw * n2 / maxNorm2, v / n2.squareRoot()) : (0, .zero))
            }
        }
        var assigned = 0
        for i in acqs.indices where i < volumeCounter.count {
            let e = volumeCounter[i]
            guard e < table.count else {
                throw CordIOError.invalidContent(path: path, reason: "scan \(i + 1): diffusion volume counter \(mapping.volumeCounter) = \(e) but sDiffusion gives \(table.count) encodings (\(nWeightings) weightings, \(nFree) free directions)")
            }
            let (b, v) = table[e]
            let dir = frame == "prs"
                ? v.x * acqs[i].phaseDirection + v.y * acqs[i].readDirection + v.z * acqs[i].sliceDirection
                : v * toPatient
            setFields(&acqs[i], b: b, direction: dir)
            assigned += 1
        }
        notes.append("diffusion: \(table.count) encodings from sDiffusion (\(nFree) free directions, frame \(frame), patient position \(position)) indexed by \(mapping.volumeCounter)")
        return notes
    }

    static func setFields(_ a: inout RawAcquisition, b: Double, direction: SIMD3<Double>) {
        if a.userFloats.count < 4 { a.userFloats += [Double](repeating: 0, count: 4 - a.userFloats.count) }
        a.userFloats[0] = b
        a.userFloats[1] = direction.x; a.userFloats[2] = direction.y; a.userFloats[3] = direction.z
    }

    /// b-value and unit direction of a B-matrix whose diagonal signs carry the gradient
    /// polarity: b = the largest eigenvalue of the matrix with |diagonal|, direction its
    /// eigenvector, signed so that it agrees with the diagonal signs.
    static func bMatrixDecomposition(xx: Double, yy: Double, zz: Double, xy: Double, xz: Double, yz: Double) -> (Double, SIMD3<Double>) {
        let m = Mat3(columns: SIMD3(abs(xx), xy, xz), SIMD3(xy, abs(yy), yz), SIMD3(xz, yz, abs(zz)))
        let e = SymmetricEigen3(m)
        let b = max(0, e.values.x)
        guard b > 0 else { return (0, .zero) }
        var v = e.vectors.column(0)
        let signs = SIMD3(xx < 0 ? -1.0 : 1, yy < 0 ? -1.0 : 1, zz < 0 ? -1.0 : 1)
        if (v * (signs * SIMD3(abs(v.x), abs(v.y), abs(v.z)))).sum() < 0 { v = -v }
        return (b, v / (v * v).sum().squareRoot())
    }
}
