// Per-volume b-tensor encodings: the encoding TSV beside a diffusion series.
import CordCore
import Foundation

/// How the b-tensor shape of a series' volumes is given.
public enum EncodingSource: Sendable, Equatable {
    /// Every diffusion-weighted volume has this shape (the protocol cards' series-level
    /// `diffusion.encoding`: linear, planar, spherical). The direction comes from the bvec.
    case shape(BTensorShape)
    /// One row per volume in an encoding TSV (see `EncodingTable`).
    case table(String)
}

/// The encoding TSV: one header row, then one row per volume in acquisition order (the
/// same order as the bval/bvec files), tab-separated. Columns:
///
/// | column | required | meaning |
/// |---|---|---|
/// | `shape` | yes | `linear` (LTE), `planar` (PTE; the bvec is the plane's normal), `spherical` (STE; the bvec is ignored), `axisymmetric` (needs `b_delta`), `dde` (double diffusion encoding; needs `dde_x dde_y dde_z`), `tensor` (needs `txx tyy tzz txy txz tyz`), or `none` for b = 0 |
/// | `b_delta` | for `axisymmetric` | b_Δ in [−0.5, 1] (1 linear, 0 spherical, −0.5 planar) |
/// | `dde_x`, `dde_y`, `dde_z` | for `dde` | direction of the second gradient block, in the bvec's frame; the first block is the bvec; each block carries b/2 (bval = total b) |
/// | `txx` … `tyz` | for `tensor` | the b-tensor's shape in the bvec's frame, any scale (normalised to unit trace; bval gives b) |
///
/// Fields a row does not need may be empty or `n/a`. Short names `lte`, `pte`, `ste` are
/// accepted. b = 0 rows may carry any shape.
public enum EncodingTable {
    /// `<image stem>_encoding.tsv` beside the image, when it exists.
    public static func locate(besides image: String) -> String? {
        var stem = image
        for ext in [".nii.gz", ".nii"] where stem.hasSuffix(ext) { stem.removeLast(ext.count); break }
        let p = stem + "_encoding.tsv"
        return FileManager.default.fileExists(atPath: p) ? p : nil
    }

    /// Reads bval/bvec and the encodings of an image on `grid` with `frames` volumes into a
    /// gradient table in world space (directions and tensors transformed like FSL
    /// b-vectors, see `GradientFiles`).
    public static func read(bval: String, bvec: String, encoding: EncodingSource, grid: Grid, frames: Int, image: String) throws -> GradientTable {
        switch encoding {
        case let .shape(shape):
            var table = try GradientFiles.read(bval: bval, bvec: bvec, grid: grid, frames: frames, image: image,
                                               directionless: { _ in shape == .spherical })
            for i in table.entries.indices { table.entries[i].shape = shape }
            return table
        case let .table(path):
            let count = try GradientFiles.numbers(bval).flatMap { $0 }.count
            let shapes = try readShapes(path, bvalPath: bval, count: count)
            var table = try GradientFiles.read(bval: bval, bvec: bvec, grid: grid, frames: frames, image: image,
                                               directionless: { $0 < shapes.count && shapes[$0] == .spherical })
            let m = bvecToWorld(grid)
            for i in table.entries.indices {
                switch shapes[i] {
                case let .doubleDiffusion(second):
                    table.entries[i].shape = .doubleDiffusion(second: normalized(m * second))
                case let .general(t):
                    table.entries[i].shape = .general(m * t * m.transposed)
                default:
                    table.entries[i].shape = shapes[i]
                }
            }
            for (i, e) in table.entries.enumerated() where e.b > 50 {
                if case .doubleDiffusion = e.shape, length(e.direction) == 0 {
                    throw CordIOError.invalidContent(path: bvec, reason: "volume \(i) is DDE but has a zero first direction")
                }
            }
            return table
        }
    }

    /// The FSL b-vector frame → world rotation (x negated for a positive-determinant affine).
    static func bvecToWorld(_ grid: Grid) -> Mat3 {
        let flip = grid.affine.linear.determinant > 0 ? -1.0 : 1.0
        return grid.rotation * Mat3.diagonal(SIMD3(flip, 1, 1))
    }

    /// Parses the TSV into one shape per volume (directions still in the bvec frame).
    public static func readShapes(_ path: String, bvalPath: String, count: Int) throws -> [BTensorShape] {
        let t = try TSVTable.read(path)
        guard let shapeColumn = t.columnIndex("shape") else {
            throw CordIOError.missingField(path: path, key: "shape", expected: "a column named shape (linear, planar, spherical, axisymmetric, dde, tensor or none)")
        }
        guard t.rows.count == count else {
            throw CordIOError.invalidContent(path: path, reason: "lists \(t.rows.count) volume\(t.rows.count == 1 ? "" : "s") but \(bvalPath) lists \(count) b-value\(count == 1 ? "" : "s"); the encoding table needs one row per volume")
        }
        func number(_ row: [String], _ name: String, _ line: Int, _ shape: String) throws -> Double {
            guard let c = t.columnIndex(name) else {
                throw CordIOError.invalidContent(path: path, reason: "line \(line): shape \(shape) needs a column \(name)")
            }
            guard let v = Double(row[c].trimmingCharacters(in: .whitespaces)), v.isFinite else {
                throw CordIOError.invalidContent(path: path, reason: "line \(line): shape \(shape) needs a number in column \(name), found \"\(row[c])\"")
            }
            return v
        }
        return try t.rows.enumerated().map { n, row -> BTensorShape in
            let line = n + 2
            let name = row[shapeColumn].trimmingCharacters(in: .whitespaces).lowercased()
            switch name {
            case "linear", "lte": return .linear
            case "planar", "pte": return .planar
            case "spherical", "ste": return .spherical
            case "none", "b0", "n/a", "": return .linear
            case "axisymmetric":
                let d = try number(row, "b_delta", line, name)
                guard d >= -0.5 - 1e-9, d <= 1 + 1e-9 else {
                    throw CordIOError.invalidContent(path: path, reason: "line \(line): b_delta \(d) is outside [−0.5, 1]")
                }
                return .axisymmetric(bDelta: d)
            case "dde":
                let v = SIMD3(try number(row, "dde_x", line, name), try number(row, "dde_y", line, name), try number(row, "dde_z", line, name))
                guard length(v) > 1e-6 else {
                    throw CordIOError.invalidContent(path: path, reason: "line \(line): the second DDE direction (dde_x, dde_y, dde_z) is zero")
                }
                return .doubleDiffusion(second: normalized(v))
            case "tensor":
                let c = try ["txx", "tyy", "tzz", "txy", "txz", "tyz"].map { try number(row, $0, line, name) }
                let m = Mat3(rows: SIMD3(c[0], c[3], c[4]), SIMD3(c[3], c[1], c[5]), SIMD3(c[4], c[5], c[2]))
                guard m.trace > 0 else {
                    throw CordIOError.invalidContent(path: path, reason: "line \(line): the b-tensor's trace must be positive")
                }
                return .general((1 / m.trace) * m)
            default:
                throw CordIOError.invalidContent(path: path, reason: "line \(line): unknown shape \"\(row[shapeColumn])\" (use linear, planar, spherical, axisymmetric, dde, tensor or none)")
            }
        }
    }

    /// Writes the encodings of `table` (world space) as an encoding TSV in the bvec frame of
    /// an image on `grid` (the inverse of `read`).
    public static func write(_ table: GradientTable, grid: Grid, to path: String) throws {
        let inv = bvecToWorld(grid).transposed  // a rotation (with reflection): inverse = transpose
        var t = TSVTable(columns: ["shape", "b_delta", "dde_x", "dde_y", "dde_z", "txx", "tyy", "tzz", "txy", "txz", "tyz"])
        let empty = Array(repeating: "n/a", count: 10)
        for e in table.entries {
            let name: String
            switch e.shape {
            case .general: name = "tensor"
            default: name = e.shape.name
            }
            var row = [e.b < 50 ? "none" : name] + empty
            switch e.shape {
            case let .axisymmetric(d): row[1] = formatFixed(d, 6)
            case let .doubleDiffusion(second):
                let v = inv * second
                row[2] = formatFixed(v.x, 6); row[3] = formatFixed(v.y, 6); row[4] = formatFixed(v.z, 6)
            case let .general(m):
                let v = inv * m * inv.transposed
                for (k, (r, c)) in [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)].enumerated() { row[5 + k] = formatFixed(v[r, c], 6) }
            default: break
            }
            t.append(row)
        }
        try t.write(to: path)
    }
}
