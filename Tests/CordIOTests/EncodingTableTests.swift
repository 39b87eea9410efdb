// The per-volume encoding TSV: shapes, DDE directions, full tensors, and bad input.
import Foundation
import Testing
import CordTestSupport
@testable import CordCore
@testable import CordIO

@Suite struct EncodingTableTests {
    func write(_ text: String, _ path: String) throws { try text.write(toFile: path, atomically: true, encoding: .utf8) }

    @Test func readsEveryShapeAndTransformsDirectionsToWorld() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        try write("0 1000 1000 1000 1000 1000 1000\n", dir + "/d.bval")
        try write("0 1 1 0 1 1 1\n0 0 0 0 0 0 0\n0 0 0 0 0 0 0\n", dir + "/d.bvec")
        try write("""
        shape\tb_delta\tdde_x\tdde_y\tdde_z\ttxx\ttyy\ttzz\ttxy\ttxz\ttyz
        none\tn/a\tn/a\tn/a\tn/a\tn/a\tn/a\tn/a\tn/a\tn/a\tn/a
        linear\t\t\t\t\t\t\t\t\t\t
        planar\t\t\t\t\t\t\t\t\t\t
        ste\t\t\t\t\t\t\t\t\t\t
        axisymmetric\t0.5\t\t\t\t\t\t\t\t\t
        dde\t\t0\t1\t0\t\t\t\t\t\t
        tensor\t\t\t\t\t2\t1\t1\t0\t0\t0

        """, dir + "/d_encoding.tsv")
        // Neurological storage (det > 0): FSL's x is negated on the way to world.
        let g = Grid(nx: 2, ny: 2, nz: 2, affine: Mat4(linear: .identity, translation: .zero))
        let path = try #require(EncodingTable.locate(besides: dir + "/d.nii.gz"))
        let t = try EncodingTable.read(bval: dir + "/d.bval", bvec: dir + "/d.bvec", encoding: .table(path), grid: g, frames: 7, image: "d.nii.gz")
        #expect(t.entries[1].shape == .linear && t.entries[1].direction == SIMD3(-1, 0, 0))
        #expect(t.entries[2].shape == .planar && t.entries[3].shape == .spherical)
        #expect(t.entries[4].shape == .axisymmetric(bDelta: 0.5))
        #expect(t.entries[5].shape == .doubleDiffusion(second: SIMD3(0, 1, 0)))
        // Tensor normalised to unit trace, x flipped like the bvec (a diagonal tensor is unchanged).
        #expect(t.entries[6].bTensor.isApproximatelyEqual(to: Mat3.diagonal([500, 250, 250]), tolerance: 1e-9))
        // DDE b-tensor: b/2 along each block → planar for orthogonal blocks.
        #expect(t.entries[5].bTensor.isApproximatelyEqual(to: Mat3.diagonal([500, 500, 0]), tolerance: 1e-9))
    }

    @Test func writeThenReadReproducesTheTableOnAnObliqueGrid() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let c = cos(0.3), s = sin(0.3)
        let g = Grid(nx: 2, ny: 2, nz: 2, affine: Mat4(linear: Mat3(rows: [c, -s, 0], [s, c, 0], [0, 0, 1]), translation: .zero))
        let u = normalized(SIMD3(0.3, 0.4, 0.8)), v = normalized(cross(u, [1, 0, 0]))
        let table = GradientTable([GradientEntry(b: 0, direction: .zero),
                                   GradientEntry(b: 1000, direction: u, shape: .doubleDiffusion(second: v)),
                                   GradientEntry(b: 2000, direction: v, shape: .spherical),
                                   GradientEntry(b: 1500, direction: u, shape: .general(0.5 * (Mat3.outer(u, u) + Mat3.outer(v, v))))])
        try GradientFiles.write(table, grid: g, bval: dir + "/x.bval", bvec: dir + "/x.bvec")
        try EncodingTable.write(table, grid: g, to: dir + "/x_encoding.tsv")
        let back = try EncodingTable.read(bval: dir + "/x.bval", bvec: dir + "/x.bvec", encoding: .table(dir + "/x_encoding.tsv"),
                                          grid: g, frames: 4, image: "x.nii.gz")
        for (a, b) in zip(table.entries, back.entries) {
            #expect(a.bTensor.isApproximatelyEqual(to: b.bTensor, tolerance: 1e-2))  // s/mm²; 6-decimal text round trip
        }
    }

    /// The DDE example of README.md, "Diffusion encodings".
    @Test func readmeDDEExampleReadsAsParallelAndOrthogonalPairs() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        try write("0 2000 2000 2000\n", dir + "/dwi.bval")
        try write("0 1 1 0\n0 0 0 0\n0 0 0 0\n", dir + "/dwi.bvec")
        try write("shape\tdde_x\tdde_y\tdde_z\nnone\tn/a\tn/a\tn/a\ndde\t1\t0\t0\ndde\t0\t1\t0\nspherical\tn/a\tn/a\tn/a\n", dir + "/dwi_encoding.tsv")
        let g = Grid(nx: 2, ny: 2, nz: 2, spacing: [1, 1, 1])  // radiological: FSL x kept
        let t = try EncodingTable.read(bval: dir + "/dwi.bval", bvec: dir + "/dwi.bvec",
                                       encoding: .table(try #require(EncodingTable.locate(besides: dir + "/dwi.nii.gz"))),
                                       grid: g, frames: 4, image: "dwi.nii.gz")
        #expect(t.entries[1].bTensor.isApproximatelyEqual(to: Mat3.diagonal([2000, 0, 0]), tolerance: 1e-9))     // parallel: linear
        #expect(t.entries[2].bTensor.isApproximatelyEqual(to: Mat3.diagonal([1000, 1000, 0]), tolerance: 1e-9))  // orthogonal: planar
        #expect(t.entries[3].bTensor.isApproximatelyEqual(to: Mat3.diagonal([2000.0 / 3, 2000.0 / 3, 2000.0 / 3]), tolerance: 1e-9))
    }

    @Test func badTablesAreRefusedWithTheFileAndTheReason() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let g = Grid(nx: 2, ny: 2, nz: 2, spacing: [1, 1, 1])
        try write("0 1000 1000\n", dir + "/d.bval")
        try write("0 1 0\n0 0 1\n0 0 0\n", dir + "/d.bvec")
        func message(_ tsv: String) -> String {
            do {
                try write(tsv, dir + "/e.tsv")
                _ = try EncodingTable.read(bval: dir + "/d.bval", bvec: dir + "/d.bvec", encoding: .table(dir + "/e.tsv"), grid: g, frames: 3, image: "d.nii.gz")
                return "accepted"
            } catch { return "\(error)" }
        }
        #expect(message("shape\nnone\nlinear\n").contains("lists 2 volumes but \(dir)/d.bval lists 3 b-values"))
        #expect(message("shape\nnone\nlinear\ncurved\n").contains("line 4: unknown shape \"curved\""))
        #expect(message("shape\nnone\nlinear\ndde\n").contains("shape dde needs a column dde_x"))
        #expect(message("shape\tb_delta\nnone\t\nlinear\t\naxisymmetric\t2\n").contains("b_delta 2.0 is outside"))
        #expect(message("kind\nnone\nlinear\nlinear\n").contains("\"shape\""))
    }
}
