import CordCore
import CordIO
import Foundation

/// A hand-written BIDS subject made to match `clinical-minimal.yaml`: a sagittal T2w TSE and
/// an axial single-shell DWI as tiny NIfTI images with sidecars and bval/bvec. Every value is
/// written out here (not taken from the card), so the check is compared against numbers a
/// person chose: T2w 6×8×5 voxels of 0.7×0.7×3 mm, TR 3 s, TE 0.1 s; DWI 8×8×4 voxels of
/// 1.25×1.25×4.5 mm, 8 volumes (b = 0 ×2, b = 1000 ×6 in 6 directions), TR 3 s, TE 0.07 s,
/// flip 90°, SliceTiming [0, 0.5, 0, 0.5] (multiband 2), 3 T.
struct SyntheticSubject {
    var label = "synth01"
    /// Keys added to (or, with NSNull, removed from) the DWI sidecar.
    var dwiOverrides: [String: Any] = [:]
    var bvals: [Double] = [0, 1000, 1000, 1000, 1000, 1000, 1000, 0]
    var dwiFrames = 8
    var writeDWI = true

    static let directions: [SIMD3<Double>] = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0.7071068, 0.7071068, 0],
                                             [0.7071068, 0, 0.7071068], [0, 0.7071068, 0.7071068], [0, 0, 0]]

    /// Writes `sub-<label>` under `root` (a dataset folder) and returns the subject path.
    @discardableResult
    func write(in root: String) throws -> String {
        let sub = root + "/sub-" + label
        try TextFile.makeDirectory(sub + "/anat")
        try TextFile.write(#"{"Name": "synthetic", "BIDSVersion": "1.9.0"}"#, to: root + "/dataset_description.json")
        // Sagittal: i runs anterior→posterior and j superior→inferior (0.7 mm), k left→right (3 mm).
        let sag = Grid(nx: 6, ny: 8, nz: 5, affine: Mat4(linear: Mat3(columns: [0, -0.7, 0], [0, 0, -0.7], [3, 0, 0]), translation: [0, 10, 20]))
        let t2 = sub + "/anat/sub-\(label)_acq-sag_T2w"
        try NIfTIFile.write(Volume<Float>(grid: sag, frames: 1, repeating: 100), to: t2 + ".nii.gz", datatype: .int16)
        try Self.json(["RepetitionTime": 3.0, "EchoTime": 0.1, "MRAcquisitionType": "2D", "ScanningSequence": "SE",
                       "SequenceVariant": "SK_SP", "MagneticFieldStrength": 3, "Manufacturer": "Siemens"], to: t2 + ".json")
        guard writeDWI else { return sub }
        try TextFile.makeDirectory(sub + "/dwi")
        let dwi = sub + "/dwi/sub-\(label)_dwi"
        let ax = Grid(nx: 8, ny: 8, nz: 4, spacing: [1.25, 1.25, 4.5])
        try NIfTIFile.write(Volume<Float>(grid: ax, frames: dwiFrames, repeating: 50), to: dwi + ".nii.gz", datatype: .int16)
        var fields: [String: Any] = ["RepetitionTime": 3.0, "EchoTime": 0.07, "FlipAngle": 90, "MRAcquisitionType": "2D",
                                     "ScanningSequence": "EP", "SequenceVariant": "SK_SP", "SliceThickness": 4.5,
                                     "SliceTiming": [0, 0.5, 0, 0.5], "MagneticFieldStrength": 3, "Manufacturer": "Siemens",
                                     "ImageOrientationPatientDICOM": [1, 0, 0, 0, 1, 0]]
        for (k, v) in dwiOverrides { fields[k] = v is NSNull ? nil : v }
        try Self.json(fields, to: dwi + ".json")
        try TextFile.write(bvals.map { String(Int($0)) }.joined(separator: " ") + "\n", to: dwi + ".bval")
        let dirs = (0..<bvals.count).map { Self.directions[$0 % Self.directions.count] }
        let rows = (0..<3).map { c in dirs.map { String($0[c]) }.joined(separator: " ") }
        try TextFile.write(rows.joined(separator: "\n") + "\n", to: dwi + ".bvec")
        return sub
    }

    static func json(_ fields: [String: Any], to path: String) throws {
        let data = try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
        try TextFile.write(String(decoding: data, as: UTF8.self), to: path)
    }
}

/// Editing a copied subject: one sidecar value, or one volume of a bval/bvec pair.
enum SubjectEdit {
    static func copy(_ subject: String, into dir: String) throws -> String {
        let dest = dir + "/" + URL(fileURLWithPath: subject).lastPathComponent
        try FileManager.default.copyItem(atPath: subject, toPath: dest)
        return dest
    }
    static func setSidecar(_ path: String, _ key: String, _ value: Any) throws {
        var obj = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any] ?? [:]
        obj[key] = value
        try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]).write(to: URL(fileURLWithPath: path))
    }
    /// Removes volume `index` from a bval (one row) and bvec (3 rows) pair.
    static func removeVolume(_ index: Int, bval: String, bvec: String) throws {
        func rows(_ p: String) throws -> [[String]] {
            try String(contentsOfFile: p, encoding: .utf8).split(separator: "\n").map { $0.split(separator: " ").map(String.init) }.filter { !$0.isEmpty }
        }
        for p in [bval, bvec] {
            let r = try rows(p).map { row in row.enumerated().filter { $0.offset != index }.map(\.element) }
            try (r.map { $0.joined(separator: " ") }.joined(separator: "\n") + "\n").write(toFile: p, atomically: true, encoding: .utf8)
        }
    }
}
