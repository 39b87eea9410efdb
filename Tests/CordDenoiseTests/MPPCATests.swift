import Foundation
import Testing
@testable import CordCore
@testable import CordDenoise

/// A low-rank 4D series: `rank` smooth spatial maps times random temporal profiles, plus
/// Gaussian noise with σ(k) per slice. Returns (noisy, clean).
func lowRankSeries(nx: Int = 20, ny: Int = 20, nz: Int = 8, frames: Int = 30, rank: Int = 4,
                   sigma: (Int) -> Double = { _ in 10 }, seed: UInt64 = 1) -> (Volume<Float>, Volume<Float>) {
    var rng = SeededRNG(seed: seed)
    let g = Grid(nx: nx, ny: ny, nz: nz, spacing: [1, 1, 3])
    let profiles = (0..<rank).map { c in (0..<frames).map { _ in c == 0 ? 300 + 50 * rng.uniform() : 120 * rng.normal() } }
    let phases = (0..<rank).map { _ in (rng.uniform() * 6, rng.uniform() * 6, rng.uniform() * 6) }
    var clean = Volume<Float>(grid: g, frames: frames), noisy = clean
    let n = g.voxelCount
    for k in 0..<nz { for j in 0..<ny { for i in 0..<nx {
        let v = g.index(i, j, k)
        for t in 0..<frames {
            var s = 0.0
            for c in 0..<rank {
                let (a, b, d) = phases[c]
                let map = c == 0 ? 1 : sin(0.3 * Double(i) + a) * cos(0.25 * Double(j) + b) * cos(0.4 * Double(k) + d)
                s += map * profiles[c][t]
            }
            clean.data[t * n + v] = Float(s)
            noisy.data[t * n + v] = Float(s + sigma(k) * rng.normal())
        }
    } } }
    return (noisy, clean)
}

func rmse(_ a: Volume<Float>, _ b: Volume<Float>) -> Double {
    (zip(a.data, b.data).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) } / Double(a.data.count)).squareRoot()
}

func median(_ x: [Float]) -> Double { let s = x.sorted(); return Double(s[s.count / 2]) }

@Suite struct MarchenkoPasturTests {
    /// Eigenvalues of XXᵀ for an M×N matrix: signal of `rank` strong components plus N(0, σ²).
    func spectrum(m: Int, n: Int, rank: Int, sigma: Double, seed: UInt64) -> [Double] {
        var rng = SeededRNG(seed: seed)
        var x = [Double](repeating: 0, count: m * n)
        for j in 0..<n { for i in 0..<m { x[i + m * j] = sigma * rng.normal() } }
        for c in 0..<rank {
            let u = (0..<m).map { _ in rng.normal() }, v = (0..<n).map { _ in rng.normal() }
            for j in 0..<n { for i in 0..<m { x[i + m * j] += 4 * sigma * u[i] * v[j] / Double(c + 1) } }
        }
        let r = min(m, n)
        var g = [Double](repeating: 0, count: r * r)
        for a in 0..<r { for b in 0..<r {
            var s = 0.0
            if m <= n { for j in 0..<n { s += x[a + m * j] * x[b + m * j] } } else { for i in 0..<m { s += x[i + m * a] * x[i + m * b] } }
            g[a + r * b] = s
        } }
        let e = SymmetricEigenSolver(size: r)
        _ = g.withUnsafeMutableBufferPointer { e.decompose($0.baseAddress!) }
        return e.values
    }

    @Test(arguments: MPEstimator.allCases)
    func pureNoiseGivesRankNearZeroAndSigma(estimator: MPEstimator) {
        var worst = 0.0
        for seed in 1...5 {
            let s = spectrum(m: 60, n: 125, rank: 0, sigma: 2, seed: UInt64(seed))
            let d = s.withUnsafeBufferPointer { MarchenkoPastur.decide(eigenvalues: $0, m: 60, n: 125, estimator: estimator) }
            #expect(d.rank <= 2)
            worst = max(worst, abs(d.sigma2.squareRoot() - 2) / 2)
        }
        #expect(worst < 0.05)   // σ within 5% on pure noise
    }

    @Test(arguments: MPEstimator.allCases, [(60, 125), (125, 60), (30, 49)])
    func lowRankIsFoundForEitherAspect(estimator: MPEstimator, shape: (Int, Int)) {
        let (m, n) = shape
        let s = spectrum(m: m, n: n, rank: 4, sigma: 1, seed: 9)
        let d = s.withUnsafeBufferPointer { MarchenkoPastur.decide(eigenvalues: $0, m: m, n: n, estimator: estimator) }
        #expect(abs(d.rank - 4) <= 1)                          // strong components: true rank ± 1
        #expect(abs(d.sigma2.squareRoot() - 1) < 0.08)        // small patches: σ within 8%
    }
}

@Suite struct MPPCADenoisingTests {
    @Test(arguments: [MPReconstruction.centre, .overcomplete(stride: 1), .overcomplete(stride: 2)])
    func uniformNoiseSigmaRankAndRMSE(reconstruction: MPReconstruction) throws {
        let (noisy, clean) = lowRankSeries()
        var o = MPPCAOptions(); o.reconstruction = reconstruction; o.extent = SIMD3(5, 5, 3)
        let r = try MPPCA.denoise(noisy, options: o)
        #expect(abs(median(r.sigma.data) - 10) / 10 < 0.05)             // σ within 5%
        #expect(rmse(r.denoised, clean) < rmse(noisy, clean) / 2)        // at least 2× lower RMSE
        #expect(abs(median(r.rank.data) - 4) <= 1)                       // rank near the true 4
    }

    @Test func sliceVaryingNoiseIsTrackedWithInPlaneWindows() throws {
        let sig: (Int) -> Double = { k in 5 + 2.5 * Double(k) }          // σ 5 … 22.5 across slices
        let (noisy, clean) = lowRankSeries(nx: 24, ny: 24, nz: 8, sigma: sig, seed: 3)
        // In-plane windows (N = 81 ≥ M = 30) keep each slice's noise separate.
        var o = MPPCAOptions(); o.extent = SIMD3(9, 9, 1)
        let r = try MPPCA.denoise(noisy, options: o)
        let g = noisy.grid
        for k in 0..<g.nz {
            let slice = (0..<(g.nx * g.ny)).map { r.sigma.data[k * g.nx * g.ny + $0] }
            #expect(abs(median(slice) - sig(k)) / sig(k) < 0.05)       // per-slice σ within 5%
        }
        #expect(rmse(r.denoised, clean) < rmse(noisy, clean) / 2)
    }

    @Test func maskLimitsTheWorkAndKeepsOutsideVoxels() throws {
        let (noisy, _) = lowRankSeries(nx: 12, ny: 12, nz: 4)
        var mask = Mask(grid: noisy.grid, frames: 1, repeating: 0)
        for k in 0..<4 { for j in 3..<8 { for i in 3..<8 { mask[i, j, k] = 1 } } }
        let r = try MPPCA.denoise(noisy, mask: mask)
        let n = noisy.grid.voxelCount
        for v in 0..<n where mask.data[v] == 0 {
            #expect(r.sigma.data[v] == 0 && r.denoised.data[v] == noisy.data[v] && r.denoised.data[5 * n + v] == noisy.data[5 * n + v])
        }
        #expect(mask.data.indices.filter { mask.data[$0] != 0 }.allSatisfy { r.sigma.data[$0] > 0 })
    }

    @Test func badInputIsRefused() throws {
        let g = Grid(nx: 6, ny: 6, nz: 4, spacing: [1, 1, 1])
        #expect(throws: CordError.self) { try MPPCA.denoise(Volume<Float>(grid: g, frames: 1)) }
        var nan = Volume<Float>(grid: g, frames: 4); nan.data[17] = .nan
        do { _ = try MPPCA.denoise(nan); Issue.record("no error") } catch { #expect("\(error)".contains("NaN")) }
        var o = MPPCAOptions(); o.extent = SIMD3(4, 5, 5)
        #expect(throws: CordError.self) { try MPPCA.denoise(Volume<Float>(grid: g, frames: 4), options: o) }
        let other = Mask(grid: Grid(nx: 6, ny: 6, nz: 5, spacing: [1, 1, 1]), frames: 1, repeating: 1)
        #expect(throws: CordError.self) { try MPPCA.denoise(Volume<Float>(grid: g, frames: 4), mask: other) }
    }
}

@Suite struct ComplexMPPCATests {
    @Test func complexInputGivesTheMagnitudeSigmaAtHighSNR() throws {
        let (_, clean) = lowRankSeries(nx: 16, ny: 16, nz: 6, seed: 4)
        var rng = SeededRNG(seed: 8)
        let g = clean.grid, n = g.voxelCount, sigma = 10.0
        var complex = Volume<ComplexF>(grid: g, frames: clean.frames, repeating: .zero)
        var magnitude = Volume<Float>(grid: g, frames: clean.frames)
        for t in 0..<clean.frames { for v in 0..<n {
            // Smooth background phase per voxel, signal well above σ (high SNR), noise in both channels.
            let c = g.coordinates(of: v)
            let phase = 0.2 * Double(c.x) - 0.15 * Double(c.y) + 0.3 * Double(c.z)
            let a = Double(abs(clean.data[t * n + v])) + 200
            let re = a * cos(phase) + sigma * rng.normal(), im = a * sin(phase) + sigma * rng.normal()
            complex.data[t * n + v] = ComplexF(Float(re), Float(im))
            magnitude.data[t * n + v] = Float((re * re + im * im).squareRoot())
        } }
        var o = MPPCAOptions(); o.extent = SIMD3(5, 5, 3)
        let rc = try MPPCA.denoise(complex: complex, options: o)
        let rm = try MPPCA.denoise(magnitude, options: o)
        let sc = median(rc.sigma.data), sm = median(rm.sigma.data)
        #expect(abs(sc - sigma) / sigma < 0.05)       // per-channel σ from complex data within 5%
        #expect(abs(sc - sm) / sm < 0.05)             // same σ as the magnitude series within 5%
        // Denoising complex data reduces the error of the complex signal as well.
        var errIn = 0.0, errOut = 0.0
        for t in 0..<clean.frames { for v in 0..<n {
            let c = g.coordinates(of: v)
            let phase = 0.2 * Double(c.x) - 0.15 * Double(c.y) + 0.3 * Double(c.z)
            let a = Double(abs(clean.data[t * n + v])) + 200
            let truth = ComplexF(Float(a * cos(phase)), Float(a * sin(phase)))
            errIn += Double((complex.data[t * n + v] - truth).lengthSquared)
            errOut += Double((rc.denoised.data[t * n + v] - truth).lengthSquared)
        } }
        #expect(errOut < errIn / 4)                  // RMSE at least 2× lower
    }

    /// Multiband complex data: σ differs between slice groups (here 1.0, 1.5, 2.0, 1.25 × 8 in
    /// the four groups of an MB-2 layout over 8 slices). With the groups the per-channel σ of
    /// every group is recovered within 5 %; without them a 3D window mixes the groups and the
    /// per-slice σ is off by more.
    @Test func complexSliceGroupsRecoverEachGroupsSigma() throws {
        let (_, clean) = lowRankSeries(nx: 16, ny: 16, nz: 8, seed: 5)
        var rng = SeededRNG(seed: 9)
        let g = clean.grid, n = g.voxelCount, plane = g.nx * g.ny, base = 8.0
        let groups = (0..<8).map { $0 % 4 }, factor = [1.0, 1.5, 2.0, 1.25]
        var complex = Volume<ComplexF>(grid: g, frames: clean.frames, repeating: .zero)
        for t in 0..<clean.frames { for v in 0..<n {
            let c = g.coordinates(of: v)
            let phase = 0.2 * Double(c.x) - 0.15 * Double(c.y) + 0.3 * Double(c.z)
            let a = Double(abs(clean.data[t * n + v])) + 200, s = base * factor[groups[c.z]]
            complex.data[t * n + v] = ComplexF(Float(a * cos(phase) + s * rng.normal()), Float(a * sin(phase) + s * rng.normal()))
        } }
        var o = MPPCAOptions(); o.extent = SIMD3(5, 5, 3); o.sliceGroups = groups
        let grouped = try MPPCA.denoise(complex: complex, options: o)
        o.sliceGroups = nil
        let mixed = try MPPCA.denoise(complex: complex, options: o)
        let perGroup = try #require(grouped.sliceGroupSigma)
        for q in 0..<4 { #expect(abs(perGroup[q] / (base * factor[q]) - 1) < 0.05, "group \(q): \(perGroup[q])") }
        func sliceError(_ r: ComplexMPPCAResult) -> Double {   // worst |median σ of a slice / truth − 1|
            (0..<8).map { k in abs(median(Array(r.sigma.data[(k * plane)..<((k + 1) * plane)])) / (base * factor[groups[k]]) - 1) }.max() ?? 1
        }
        let eg = sliceError(grouped), em = sliceError(mixed)
        print("complex MP-PCA, worst per-slice σ error: slice groups \(eg), one noise level \(em)")
        #expect(eg < 0.08)
        #expect(em > eg + 0.05)
    }
}
