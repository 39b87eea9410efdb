import Testing
@testable import CordCore
import Foundation

@Suite struct GeometryTests {
    @Test func canonicalGridIsRPI() {
        let g = Grid(nx: 4, ny: 5, nz: 6, spacing: [0.5, 0.5, 3])
        #expect(g.orientationCode == "RPI")
        #expect(g.orientation.towardCode == "LAS")
        #expect(abs(g.spacing.z - 3) < 1e-12)  // exact arithmetic
        #expect(abs(g.voxelVolume - 0.75) < 1e-12)
    }

    @Test func affineInverseRoundTrips() throws {
        let m = Mat4(rows: [0.1, -0.9, 0.2, 10], [0.95, 0.05, -0.1, -20], [0.0, 0.3, 2.8, 5])
        let inv = try #require(m.inverse)
        let p = SIMD3<Double>(3, -7, 11)
        #expect(length(inv.apply(m.apply(p)) - p) < 1e-10)  // floating-point round-off only
    }

    @Test(arguments: ["RPI", "LAS", "ASR", "PIL", "SLA", "IRP"])
    func reorientationPreservesWorldPositions(code: String) throws {
        // An oblique-free grid stored in an arbitrary order (sagittal, AIL-like).
        let src = Grid(nx: 3, ny: 4, nz: 5, affine: Mat4(rows: [0, 0, -0.8, 12], [1.2, 0, 0, -30], [0, -0.5, 0, 40]))
        var v = Volume<Float>(grid: src, frames: 2)
        for n in 0..<v.data.count { v.data[n] = Float(n) }
        let target = try OrientationCode(code)
        let (w, r) = v.reoriented(to: target)
        #expect(w.grid.orientationCode == code)
        // Every voxel keeps its value at the same world position.
        for k in 0..<w.grid.nz { for j in 0..<w.grid.ny { for i in 0..<w.grid.nx {
            let p = w.grid.world(SIMD3(i, j, k))
            let s = src.voxel(ofWorld: p)
            let si = Int(s.x.rounded()), sj = Int(s.y.rounded()), sk = Int(s.z.rounded())
            #expect(src.contains(si, sj, sk))
            #expect(w[i, j, k, 1] == v[si, sj, sk, 1])
        } } }
        let back = r.invert(w)
        #expect(back.data == v.data)       // exact permutation
        #expect(back.grid == src)          // exact header restored
    }

    @Test func invalidOrientationCodeIsRejected() {
        #expect(throws: CordError.self) { try OrientationCode("RLA") }
        #expect(throws: CordError.self) { try OrientationCode("RP") }
    }

    @Test func trilinearInterpolatesExactlyAtNodesAndMidpoints() {
        var v = Volume<Float>(grid: Grid(nx: 3, ny: 3, nz: 3, spacing: [1, 1, 1]))
        for k in 0..<3 { for j in 0..<3 { for i in 0..<3 { v[i, j, k] = Float(i + 10 * j + 100 * k) } } }
        #expect(v.trilinear(SIMD3(1, 2, 0)) == 21)
        // Linear field: interpolation is exact (to float precision).
        #expect(abs(v.trilinear(SIMD3(0.5, 1.25, 1.5)) - (0.5 + 12.5 + 150)) < 1e-4)
        #expect(v.trilinear(SIMD3(-0.6, 0, 0), outside: -1) == -1)
        #expect(v.nearest(SIMD3(1.4, 0.6, 2.2), outside: -1) == 211)  // voxel (1, 1, 2)
    }

    @Test func volumeRejectsWrongBufferSize() {
        let g = Grid(nx: 2, ny: 2, nz: 2, spacing: [1, 1, 1])
        #expect(throws: CordError.self) { try Volume<Float>(grid: g, frames: 2, data: [Float](repeating: 0, count: 15)) }
    }

    @Test func gridMismatchNamesBothInputs() {
        let a = Grid(nx: 2, ny: 2, nz: 2, spacing: [1, 1, 1]), b = Grid(nx: 2, ny: 2, nz: 3, spacing: [1, 1, 1])
        do {
            try a.requireCompatible(with: b, "dwi.nii.gz", "mask.nii.gz")
            Issue.record("expected a mismatch")
        } catch {
            #expect("\(error)".contains("dwi.nii.gz") && "\(error)".contains("mask.nii.gz"))
        }
    }
}

@Suite struct GradientTableTests {
    @Test func bTensorShapesHaveTraceBAndRightEigenvalues() {
        let n = normalized(SIMD3<Double>(1, 2, 2))
        let expected: [(BTensorShape, SIMD3<Double>)] = [
            (.linear, [1000, 0, 0]), (.planar, [500, 500, 0]), (.spherical, [1000.0 / 3, 1000.0 / 3, 1000.0 / 3]),
        ]
        for (shape, eig) in expected {
            let B = GradientEntry(b: 1000, direction: n, shape: shape).bTensor
            #expect(abs(B.trace - 1000) < 1e-9)
            let e = SymmetricEigen3(B)
            #expect(length(e.values - eig) < 1e-8)  // Jacobi converges to round-off
        }
    }

    @Test func shellsGroupByBValueAndShape() {
        let d = SIMD3<Double>(1, 0, 0)
        let t = GradientTable([GradientEntry(b: 0, direction: .zero), GradientEntry(b: 995, direction: d),
                               GradientEntry(b: 1005, direction: d), GradientEntry(b: 1000, direction: d, shape: .spherical),
                               GradientEntry(b: 2000, direction: d)])
        let s = t.shells()
        #expect(s.map(\.indices) == [[0], [1, 2], [3], [4]])
        #expect(abs(s[1].b - 1000) < 1e-9)
        #expect(t.summary == "b=0 ×1, b=1000 linear ×2, b=1000 spherical ×1, b=2000 linear ×1")
        #expect(throws: CordError.self) { try t.requireCount(matching: 6, image: "dwi.nii.gz", table: "dwi.bval") }
    }
}

@Suite struct NumericsTests {
    @Test func seededRNGIsReproducibleAndNormal() {
        var a = SeededRNG(seed: 42), b = SeededRNG(seed: 42), c = SeededRNG(seed: 43)
        let xa = (0..<5).map { _ in a.next() }, xb = (0..<5).map { _ in b.next() }, xc = (0..<5).map { _ in c.next() }
        #expect(xa == xb)
        #expect(xa != xc)
        var r = SeededRNG(seed: 7)
        let n = 200_000
        var s = 0.0, s2 = 0.0
        for _ in 0..<n { let z = r.normal(); s += z; s2 += z * z }
        #expect(abs(s / Double(n)) < 0.01)            // SE of the mean ≈ 0.0022
        #expect(abs(s2 / Double(n) - 1) < 0.02)       // SE of the variance ≈ 0.0032
    }

    @Test func jacobiEigenReconstructsTheMatrix() {
        var r = SeededRNG(seed: 3)
        for _ in 0..<100 {
            let a = r.uniform(), b = r.uniform(), c = r.uniform(), d = r.uniform() - 0.5, e = r.uniform() - 0.5, f = r.uniform() - 0.5
            let m = Mat3(rows: [a, d, e], [d, b, f], [e, f, c])
            let eig = SymmetricEigen3(m)
            let rec = eig.vectors * Mat3.diagonal(eig.values) * eig.vectors.transposed
            #expect(rec.isApproximatelyEqual(to: m, tolerance: 1e-10))
            #expect(eig.values.x >= eig.values.y && eig.values.y >= eig.values.z)
        }
    }

    @Test func parallelChunksVisitEveryIndexOnce() {
        let n = 10_007
        let hits = SharedBuffer<Int32>(repeating: 0, count: n)
        parallelChunks(n) { range, _ in for i in range { hits[i] += 1 } }
        #expect(hits.array.allSatisfy { $0 == 1 })
    }

    @Test func formatFixedRounds() {
        #expect(formatFixed(1.23456, 2) == "1.23")
        #expect(formatFixed(-0.0004, 3) == "0.000")
        #expect(formatFixed(-2.5, 0) == "-3")
        #expect(formatFixed(0.05, 1) == "0.1")
    }

    @Test func progressStaysQuietWhenAskedAndCounts() {
        let p = ProgressReporter("test", total: 10, forceQuiet: true)
        p.advance(by: 3)
        #expect(p.percent == 30)
        p.finish()
        #expect(p.percent == 100)
        #expect(!p.isDrawing)
    }
}

@Suite struct NumericLibraryTests {
    @Test func lapackEigenMatchesJacobiAndReconstructs() {
        var r = SeededRNG(seed: 11)
        let n = 12
        let solver = SymmetricEigenSolver(size: n)
        var a = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0...i { let v = r.normal(); a[i + n * j] = v; a[j + n * i] = v } }
        var v = a
        #expect(v.withUnsafeMutableBufferPointer { solver.decompose($0.baseAddress!) })
        // A·v_k = λ_k·v_k for every eigenpair.
        for k in 0..<n {
            for i in 0..<n {
                var av = 0.0
                for j in 0..<n { av += a[i + n * j] * v[j + n * k] }
                #expect(abs(av - solver.values[k] * v[i + n * k]) < 1e-10)  // double round-off
            }
        }
        #expect(zip(solver.values, solver.values.dropFirst()).allSatisfy { $0 <= $1 })
        // 3×3 case agrees with CordCore's Jacobi solver.
        let m = Mat3(rows: [2, 0.5, 0.1], [0.5, 1, 0.3], [0.1, 0.3, 0.4])
        let s3 = SymmetricEigenSolver(size: 3)
        var b = [m[0, 0], m[1, 0], m[2, 0], m[0, 1], m[1, 1], m[2, 1], m[0, 2], m[1, 2], m[2, 2]]
        b.withUnsafeMutableBufferPointer { _ = s3.decompose($0.baseAddress!) }
        let j = SymmetricEigen3(m)
        #expect(abs(s3.values[2] - j.values.x) < 1e-12 && abs(s3.values[0] - j.values.z) < 1e-12)
    }

    @Test func fftwRoundTripsAndFindsAPureFrequency() throws {
        let shape = [8, 6, 4]
        var x = (0..<192).map { i -> Complex<Double> in
            let ix = i % 8
            return Complex(cos(2 * .pi * 3 * Double(ix) / 8), sin(2 * .pi * 3 * Double(ix) / 8))
        }
        let original = x
        try FourierTransform.transform(&x, shape: shape)
        // All energy at kx = 3, ky = kz = 0: amplitude N = 192.
        #expect(abs(x[3].real - 192) < 1e-9 && abs(x[3].imaginary) < 1e-9)
        #expect(x.enumerated().allSatisfy { $0.offset == 3 || $0.element.length < 1e-9 })
        try FourierTransform.transform(&x, shape: shape, inverse: true)
        #expect(zip(x, original).allSatisfy { ($0 - $1).length < 1e-12 })
        #expect(throws: CordError.self) { try FourierTransform.transform(&x, shape: [7, 7]) }
    }

    @Test func gslBesselFunctions() {
        // I0(1) = 1.2660658777520082, I1(1) = 0.5651591039924851 (Abramowitz & Stegun table 9.8).
        #expect(abs(SpecialFunctions.besselI0Scaled(1) * exp(1.0) - 1.2660658777520082) < 1e-14)
        #expect(abs(SpecialFunctions.besselI1Scaled(1) * exp(1.0) - 0.5651591039924851) < 1e-14)
        #expect(SpecialFunctions.besselI0Scaled(800) < 0.02)  // scaled form does not overflow
    }
}
