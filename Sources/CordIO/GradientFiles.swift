// FSL bval/bvec files: both layouts, checked against the image, converted to world space.
import CordCore
import Foundation

/// Reads and writes FSL-style b-value and b-vector files.
///
/// FSL b-vectors live in the image's voxel axes with the x component negated when the
/// voxel→world matrix has a positive determinant (FSL's "radiological" convention); CordQ
/// keeps directions in world space (RAS+), as MRtrix3 does on import.
public enum GradientFiles {
    /// `dwi.nii.gz` → (`dwi.bval`, `dwi.bvec`) when both exist beside it, else the SCT
    /// names `bvals.txt`/`bvecs.txt` in the same folder.
    public static func locate(besides image: String) -> (bval: String, bvec: String)? {
        let url = URL(fileURLWithPath: image)
        var stem = url.lastPathComponent
        for ext in [".nii.gz", ".nii"] where stem.hasSuffix(ext) { stem.removeLast(ext.count) }
        let dir = url.deletingLastPathComponent().path
        let candidates = [(dir + "/" + stem + ".bval", dir + "/" + stem + ".bvec"),
                          (dir + "/bvals.txt", dir + "/bvecs.txt"), (dir + "/bvals", dir + "/bvecs")]
        return candidates.first { FileManager.default.fileExists(atPath: $0.0) && FileManager.default.fileExists(atPath: $0.1) }
    }

    /// b-values and b-vectors as written (the type lives in CordCore as `RawGradients`).
    public typealias RawGradients = CordCore.RawGradients

    /// Reads a b-value file and a b-vector file (3 rows × N, or N rows × 3) as written.
    public static func readRaw(bval: String, bvec: String) throws -> RawGradients {
        let bvals = try numbers(bval)
        let flatB = bvals.flatMap { $0 }
        guard bvals.count == 1 || bvals.allSatisfy({ $0.count == 1 }) else {
            throw CordIOError.invalidContent(path: bval, reason: "b-values must be one row or one column of numbers")
        }
        if let bad = flatB.first(where: { $0 < 0 }) {
            throw CordIOError.invalidContent(path: bval, reason: "negative b-value \(bad)")
        }
        try checkBValueUnits(flatB, path: bval)
        let rows = try numbers(bvec)
        let n = flatB.count
        let dirs: [SIMD3<Double>]
        if rows.count == 3 && rows.allSatisfy({ $0.count == n }) {
            dirs = (0..<n).map { SIMD3(rows[0][$0], rows[1][$0], rows[2][$0]) }
        } else if rows.count == n && rows.allSatisfy({ $0.count == 3 }) {
            dirs = rows.map { SIMD3($0[0], $0[1], $0[2]) }
        } else {
            let shape = "\(rows.count) rows of \(Set(rows.map(\.count)).sorted().map(String.init).joined(separator: "/")) numbers"
            throw CordIOError.invalidContent(path: bvec, reason: "has \(shape); with \(n) b-values in \(bval) it should have 3 rows of \(n) or \(n) rows of 3")
        }
        if let i = dirs.firstIndex(where: { v in !(abs(v.x) <= 1e3 && abs(v.y) <= 1e3 && abs(v.z) <= 1e3) }) {
            throw CordIOError.invalidContent(path: bvec, reason: "volume \(i) has the b-vector (\(formatSignificantCore(dirs[i].x)), \(formatSignificantCore(dirs[i].y)), \(formatSignificantCore(dirs[i].z))); b-vectors are unit directions")
        }
        return RawGradients(bValues: flatB, vectors: dirs)
    }

    /// Largest b-value CordQ accepts (s/mm²): above every human and preclinical scheme
    /// (connectome scanners reach about 17 800 s/mm²).
    public static let maximumBValue = 50_000.0
    /// Below this, a largest b-value cannot weigh diffusion: the file is in ms/µm².
    public static let smallestUsefulMaximumB = 10.0

    /// b-values must be in s/mm²: files in other units (×1000 too large, or ms/µm² ×1000
    /// too small) would give diffusivities 1000 times off without any other sign.
    static func checkBValueUnits(_ b: [Double], path: String) throws {
        guard let top = b.max(), top > 0 else { return }
        if top > maximumBValue {
            throw CordIOError.invalidContent(path: path, reason: "the largest b-value is \(formatSignificantCore(top)) s/mm², beyond any diffusion scheme (≤ \(formatSignificantCore(maximumBValue)) s/mm²): b-values must be in s/mm² (are these scaled by 1000?)")
        }
        if top < smallestUsefulMaximumB {
            throw CordIOError.invalidContent(path: path, reason: "the largest b-value is \(formatSignificantCore(top)) s/mm², too small to weight diffusion: b-values must be in s/mm² (these look like ms/µm²; multiply by 1000)")
        }
    }

    /// Reads a b-value file and a b-vector file (3 rows × N, or N rows × 3) for an image on
    /// `grid` (its own stored voxel order) with `frames` volumes. Volumes in
    /// `directionless` (spherical encoding) may have a zero b-vector at b > 0.
    public static func read(bval: String, bvec: String, grid: Grid, frames: Int, image: String,
                            directionless: (Int) -> Bool = { _ in false }) throws -> GradientTable {
        let raw = try readRaw(bval: bval, bvec: bvec)
        let flatB = raw.bValues
        let n = flatB.count
        var dirs = raw.vectors
        guard n == frames else {
            throw CordIOError.invalidContent(path: image, reason: "has \(frames) volume\(frames == 1 ? "" : "s") but \(bval) lists \(n) b-value\(n == 1 ? "" : "s")")
        }
        let flipX = grid.affine.linear.determinant > 0
        let r = grid.rotation
        dirs = dirs.map { v in
            guard length(v) > 1e-6 else { return .zero }
            var u = normalized(v)
            if flipX { u.x = -u.x }
            return normalized(r * u)
        }
        for (i, (b, d)) in zip(flatB, dirs).enumerated() where b > 50 && d == .zero && !directionless(i) {
            throw CordIOError.invalidContent(path: bvec, reason: "volume \(i) has b=\(formatFixed(b, 0)) s/mm² but a zero direction")
        }
        return GradientTable(zip(flatB, dirs).map { GradientEntry(b: $0.0, direction: $0.1, shape: .linear) })
    }

    /// Writes a table as FSL files (3 rows × N) for an image on `grid`.
    public static func write(_ table: GradientTable, grid: Grid, bval: String, bvec: String) throws {
        let flipX = grid.affine.linear.determinant > 0
        let inv = grid.rotation.inverse ?? .identity
        let dirs = table.entries.map { e -> SIMD3<Double> in
            guard length(e.direction) > 0 else { return .zero }
            var u = normalized(inv * e.direction)
            if flipX { u.x = -u.x }
            return u
        }
        let bText = table.entries.map { formatFixed($0.b, 0) }.joined(separator: " ") + "\n"
        let vText = (0..<3).map { c in dirs.map { formatFixed($0[c], 6) }.joined(separator: " ") }.joined(separator: "\n") + "\n"
        try FileAccess.writeAtomically(text: bText, to: bval)
        try FileAccess.writeAtomically(text: vText, to: bvec)
    }

    /// Parses whitespace-separated numbers, one array per non-empty line.
    static func numbers(_ path: String) throws -> [[Double]] {
        let text = try FileAccess.readText(path)
        var rows: [[Double]] = []
        for (ln, line) in TextLines.split(text).enumerated() {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "," })
            if fields.isEmpty { continue }
            var row: [Double] = []
            for f in fields {
                guard let v = Double(f), v.isFinite else {
                    throw CordIOError.invalidContent(path: path, reason: "line \(ln + 1): \"\(f)\" is not a number")
                }
                row.append(v)
            }
            rows.append(row)
        }
        if rows.isEmpty { throw CordIOError.invalidContent(path: path, reason: "holds no numbers") }
        return rows
    }
}
