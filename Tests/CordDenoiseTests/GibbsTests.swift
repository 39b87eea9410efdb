import Foundation
import Testing
@testable import CordCore
@testable import CordDenoise

/// A sharp-edged object (a 150-unit rectangle inside a 100-unit ellipse on 0) imaged with
/// Gibbs ringing exactly as a scanner does: the object is sampled `up`× finer, its DFT is
/// cropped to the n0 × n1 lowest frequencies and transformed back. `ideal` holds the
/// object itself at the same sample positions (no ringing, sharp edges).
func truncatedKSpaceObject(n0: Int, n1: Int, up: Int = 8, shift: Double = 0) throws -> (ringing: [Float], ideal: [Float]) {
    let m0 = n0 * up, m1 = n1 * up
    func object(_ i: Int, _ j: Int) -> Double {
        let x = Double(i) / Double(m0) - 0.5 - shift, y = Double(j) / Double(m1) - 0.5
        var v = x * x / 0.09 + y * y / 0.0625 < 1 ? 100.0 : 0
        if abs(x - 0.05) < 0.08 && abs(y + 0.05) < 0.12 { v += 50 }
        return v
    }
    var hi = [Complex<Double>](repeating: .zero, count: m0 * m1)
    for j in 0..<m1 { for i in 0..<m0 { hi[i + m0 * j] = Complex(object(i, j), 0) } }
    try FourierTransform.transform(&hi, shape: [m0, m1])
    // Frequencies −⌊n/2⌋ … ⌈n/2⌉ − 1 of the fine grid, in DFT order for the coarse one.
    func source(_ k: Int, _ n: Int, _ m: Int) -> Int { k < (n + 1) / 2 ? k : m - (n - k) }
    var lo = [Complex<Double>](repeating: .zero, count: n0 * n1)
    for q in 0..<n1 { for p in 0..<n0 { lo[p + n0 * q] = hi[source(p, n0, m0) + m0 * source(q, n1, m1)] } }
    try FourierTransform.transform(&lo, shape: [n0, n1], inverse: true)
    let scale = 1 / Double(up * up)
    var ringing = [Float](repeating: 0, count: n0 * n1), ideal = ringing
    for j in 0..<n1 { for i in 0..<n0 {
        ringing[i + n0 * j] = Float(lo[i + n0 * j].real * scale)
        ideal[i + n0 * j] = Float(object(i * up, j * up))
    } }
    return (ringing, ideal)
}

@Suite struct GibbsTests {
    let grid64 = Grid(nx: 64, ny: 64, nz: 1, spacing: [1, 1, 3])

    @Test func ringingAroundSharpEdgesIsRemoved() throws {
        let (ringing, ideal) = try truncatedKSpaceObject(n0: 64, n1: 64)
        let input = try Volume(grid: grid64, data: ringing)
        let out = try GibbsUnringing.apply(input)
        #expect(out.data.allSatisfy { $0.isFinite })
        // Ringing away from the edges: voxels with no edge voxel (one whose 4-neighbour differs
        // in the ideal object) within 2 voxels (Chebyshev).
        var edge = [Bool](repeating: false, count: 64 * 64)
        for j in 0..<64 { for i in 0..<64 {
            let v = i + 64 * j, right = (i + 1) % 64 + 64 * j, up = i + 64 * ((j + 1) % 64)
            if ideal[v] != ideal[right] { edge[v] = true; edge[right] = true }
            if ideal[v] != ideal[up] { edge[v] = true; edge[up] = true }
        } }
        var far: [Int] = []
        for j in 0..<64 { for i in 0..<64 {
            var near = false
            for dj in -2...2 { for di in -2...2 where edge[(i + di + 64) % 64 + 64 * ((j + dj + 64) % 64)] { near = true } }
            if !near { far.append(i + 64 * j) }
        } }
        func rms(_ x: [Float]) -> Double {
            (far.reduce(0.0) { $0 + Double(x[$1] - ideal[$1]) * Double(x[$1] - ideal[$1]) } / Double(far.count)).squareRoot()
        }
        let before = rms(ringing), after = rms(out.data)
        print("Gibbs ringing RMS away from edges: \(before) → \(after) (\(before / after)×) over \(far.count) voxels")
        #expect(far.count > 1500)             // most of the image is away from the edges
        #expect(before > 0.5)                 // the phantom does ring (≈1 unit of 150)
        #expect(after * 5 < before)           // ≥ 5× less ringing (measured 11×: 0.92 → 0.083)
        // Overshoot above the brightest plateau (150).
        let overBefore = Double(ringing.max() ?? 0) - 150, overAfter = Double(out.maximum) - 150
        print("Gibbs overshoot above 150: \(overBefore) → \(overAfter)")
        #expect(overBefore > 5)               // ≈ 9% Gibbs overshoot of the 100-unit step
        #expect(overAfter * 2 < overBefore)   // overshoot at least halved (measured 9.1 → 2.4)
    }

    @Test func smoothImageIsNearlyUnchanged() throws {
        let n = 48
        var data = [Float](repeating: 0, count: n * n)
        for j in 0..<n { for i in 0..<n {
            let x = 2 * Double.pi * Double(i) / Double(n), y = 2 * Double.pi * Double(j) / Double(n)
            data[i + n * j] = Float(100 + 20 * sin(x + 0.3) * cos(2 * y + 1.1) + 10 * cos(3 * (x + y)))
        } }
        let v = try Volume(grid: Grid(nx: n, ny: n, nz: 1, spacing: [1, 1, 1]), data: data)
        let out = try GibbsUnringing.apply(v)
        let diffs = zip(out.data, data).map { Double(abs($0 - $1)) }
        let maxDiff = diffs.max() ?? 0, rmsDiff = (diffs.reduce(0) { $0 + $1 * $1 } / Double(diffs.count)).squareRoot()
        print("Gibbs on a smooth image (range ≈ 59): max |Δ| \(maxDiff), RMS Δ \(rmsDiff)")
        #expect(maxDiff < 0.6)    // < 1% of the 59-unit range (measured 0.30): the linear-interpolation smoothing
        #expect(rmsDiff < 0.2)    // < 0.35% of the range (measured 0.14)
        let flat = try GibbsUnringing.apply(Volume(grid: grid64, repeating: 42))
        #expect(flat.data.allSatisfy { abs($0 - 42) < 1e-4 })   // a constant stays constant (float rounding)
    }

    @Test func framesAndSlicesAreProcessedIndependently() throws {
        let n = 32, slices = 3, frames = 2
        let g = Grid(nx: n, ny: n, nz: slices, spacing: [1, 1, 4])
        var series = Volume<Float>(grid: g, frames: frames)
        var planes: [[Float]] = []
        for t in 0..<frames { for k in 0..<slices {
            let plane = try truncatedKSpaceObject(n0: n, n1: n, up: 4, shift: 0.03 * Double(k + slices * t)).ringing
            let scaled = plane.map { $0 * Float(1 + t) }
            planes.append(scaled)
            for v in 0..<(n * n) { series.data[t * g.voxelCount + k * n * n + v] = scaled[v] }
        } }
        let out = try GibbsUnringing.apply(series)
        #expect(out.frames == frames && out.grid == g)
        #expect(out.data.allSatisfy { $0.isFinite })
        var worst: Float = 0
        let single = Grid(nx: n, ny: n, nz: 1, spacing: [1, 1, 4])
        for t in 0..<frames { for k in 0..<slices {
            let alone = try GibbsUnringing.apply(Volume(grid: single, data: planes[k + slices * t]))
            for v in 0..<(n * n) { worst = max(worst, abs(alone.data[v] - out.data[t * g.voxelCount + k * n * n + v])) }
        } }
        #expect(worst == 0)   // each slice of each frame unrung exactly as on its own
    }

    @Test func planeAxesFollowSpacingOrOption() throws {
        #expect(try GibbsUnringing.planeAxes(for: Grid(nx: 16, ny: 16, nz: 16, spacing: [1, 1, 1])) == SIMD2(0, 1))
        #expect(try GibbsUnringing.planeAxes(for: Grid(nx: 16, ny: 16, nz: 16, spacing: [3, 0.8, 0.8])) == SIMD2(1, 2))
        #expect(try GibbsUnringing.planeAxes(for: Grid(nx: 16, ny: 16, nz: 16, spacing: [0.8, 2.5, 0.8])) == SIMD2(0, 2))
        // The same slices laid out as x–y planes or as x–z planes (axes 0, 2) give the same result.
        let n0 = 24, n1 = 20
        let plane = try truncatedKSpaceObject(n0: n0, n1: n1, up: 4).ringing
        var xy = Volume<Float>(grid: Grid(nx: n0, ny: n1, nz: 2, spacing: [1, 1, 1]))
        var xz = Volume<Float>(grid: Grid(nx: n0, ny: 2, nz: n1, spacing: [1, 1, 1]))
        for s in 0..<2 { for j in 0..<n1 { for i in 0..<n0 {
            xy[i, j, s] = plane[i + n0 * j] * Float(s + 1)
            xz[i, s, j] = plane[i + n0 * j] * Float(s + 1)
        } } }
        let a = try GibbsUnringing.apply(xy), b = try GibbsUnringing.apply(xz, options: GibbsOptions(axes: SIMD2(0, 2)))
        var worst: Float = 0
        for s in 0..<2 { for j in 0..<n1 { for i in 0..<n0 { worst = max(worst, abs(a[i, j, s] - b[i, s, j])) } } }
        #expect(worst == 0)   // identical arithmetic whatever the memory layout
        let c = try GibbsUnringing.apply(xy, options: GibbsOptions(axes: SIMD2(1, 0)))
        #expect(zip(a.data, c.data).allSatisfy { abs($0 - $1) < 1e-3 })   // axis order only reorders the sum
    }

    @Test func badInputIsRefusedClearly() throws {
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "" } catch { return "\(error)" }
        }
        let thin = Volume<Float>(grid: Grid(nx: 6, ny: 40, nz: 40, spacing: [1, 1, 1]), repeating: 1)
        #expect(message { _ = try GibbsUnringing.apply(thin) }.contains("6×40"))
        #expect(message { _ = try GibbsUnringing.apply(thin) }.contains("smaller than 8×8"))
        #expect(message { _ = try GibbsUnringing.apply(thin, options: GibbsOptions(axes: SIMD2(1, 2))) } == "")
        let v = Volume<Float>(grid: grid64, repeating: 1)
        #expect(message { _ = try GibbsUnringing.apply(v, options: GibbsOptions(axes: SIMD2(1, 1))) }.contains("two different axes"))
        #expect(message { _ = try GibbsUnringing.apply(v, options: GibbsOptions(axes: SIMD2(0, 3))) }.contains("two different axes"))
        #expect(message { _ = try GibbsUnringing.apply(v, options: GibbsOptions(shifts: 0)) }.contains("at least 1"))
        #expect(message { _ = try GibbsUnringing.apply(v, options: GibbsOptions(minW: 3, maxW: 3)) }.contains("minW < maxW"))
        #expect(message { _ = try GibbsUnringing.apply(v, options: GibbsOptions(maxW: 32)) }.contains("half the in-plane size"))
        var bad = v
        bad.data[100] = .nan
        #expect(message { _ = try GibbsUnringing.apply(bad) } == "image to unring holds 1 NaN or infinite value")
    }
}
