import Foundation
import Testing
@testable import CordCore
@testable import CordDenoise

/// `count` magnitudes of an N-coil sum-of-squares acquisition with underlying signal `a`
/// (all in coil 1: the distribution depends only on A² = Σ|A_c|²) and noise σ per real and
/// imaginary channel.
func coilMagnitudes(a: Double, sigma: Double, coils: Int, count: Int, seed: UInt64) -> [Float] {
    var rng = SeededRNG(seed: seed)
    return (0..<count).map { _ in
        var sum = 0.0
        for c in 0..<coils {
            let re = (c == 0 ? a : 0) + sigma * rng.normal(), im = sigma * rng.normal()
            sum += re * re + im * im
        }
        return Float(sum.squareRoot())
    }
}

/// Relative error of `x` against `a`.
func relativeError(_ x: Double, _ a: Double) -> Double { abs(x - a) / a }

@Suite struct NoncentralChiTests {
    @Test func seriesAgreesWithRicianBesselForm() {
        var worst = 0.0
        for theta in [0.0, 0.01, 0.3, 1, 2, 4, 6.3, 7, 10, 30, 300] {
            let u = theta * theta
            let bessel = NoncentralChi.mean(u: u, coils: 1), series = NoncentralChi.seriesMean(u: u, coils: 1)
            worst = max(worst, relativeError(series.value, bessel.value), relativeError(series.slope, bessel.slope))
        }
        print("Rician E[M]: series vs Bessel form, worst relative difference \(worst)")
        #expect(worst < 1e-10)   // Poisson / asymptotic series = √(π/2)·e^{−z/2}[(1+z)I₀ + zI₁] to 1e-10
        #expect(abs(NoncentralChi.noiseFloor(coils: 1) - (Double.pi / 2).squareRoot()) < 1e-14)
        #expect(abs(NoncentralChi.noiseFloor(coils: 4) - 105.0 / 48 * (Double.pi / 2).squareRoot()) < 1e-13)   // √(π/2)·7!!/(2³·3!)
    }

    @Test func seriesMatchesIndependentPoissonSum() {
        var worst = 0.0, asymptotic = 0
        for n in [2, 4, 8, 16, 32] {
            for theta in [0.1, 1, 3, 6, 6.5, 8, 12, 20] {
                let u = theta * theta
                if NoncentralChi.asymptoticMean(u: u, coils: n) != nil { asymptotic += 1 }
                let s = NoncentralChi.seriesMean(u: u, coils: n), p = poissonOnly(u: u, coils: n)
                worst = max(worst, relativeError(s.value, p.value), relativeError(s.slope, p.slope))
            }
        }
        print("nc-χ E[M]: series vs plain Poisson sum, worst relative difference \(worst); asymptotic used \(asymptotic)×")
        #expect(asymptotic >= 12)   // the large-z expansion is exercised (z ≥ 20 from θ ≈ 6.3)
        #expect(worst < 1e-10)      // recurrences and expansion agree with the plain sum to 1e-10
    }

    /// The exact Poisson-mixture sum written out term by term, each term from lgamma.
    func poissonOnly(u: Double, coils n: Int) -> (value: Double, slope: Double) {
        let z = u / 2
        var value = 0.0, dz = 0.0
        for k in 0..<Int(z + 12 * z.squareRoot() + 30) {
            let w = Double.exp(-z + Double(k) * Double.log(z) - Double.logGamma(Double(k + 1)))
            let g = 2.0.squareRoot() * Double.exp(Double.logGamma(Double(n + k) + 0.5) - Double.logGamma(Double(n + k)))
            value += w * g
            dz += w * g / (2 * Double(n + k))
        }
        return (value, dz / 2)
    }

    @Test func inversionRoundTrips() {
        var worst = 0.0
        for n in [1, 2, 4, 8, 32] {
            for theta in [0.05, 0.5, 1, 2, 5, 20, 100, 1000] {
                let y = NoncentralChi.mean(u: theta * theta, coils: n).value
                worst = max(worst, relativeError(NoncentralChi.invertMean(y, coils: n), theta))
            }
            #expect(NoncentralChi.invertMean(NoncentralChi.noiseFloor(coils: n) * 0.99, coils: n) == 0)   // below the floor → 0
        }
        print("E[M] inversion round trip, worst relative error \(worst)")
        #expect(worst < 1e-6)    // θ = 0.05 is the ill-conditioned end (E[M] − floor ∝ θ²)
    }
}

@Suite struct MagnitudeBiasTests {
    static let snrs: [Double] = [1, 2, 5, 20]
    let sigma = 10.0
    let one = Grid(nx: 1, ny: 1, nz: 1, spacing: [1, 1, 1])

    /// Tolerance on |Â/A − 1| for an estimate from 200 000 samples: at least 6 standard errors
    /// of that estimate (the standard error is ≈ 0.3–0.5% of A at A/σ = 1, 0.05% at 5).
    func aggregateTolerance(_ snr: Double) -> Double { snr <= 1 ? 0.03 : (snr <= 2 ? 0.012 : 0.004) }

    @Test(arguments: [1, 4])
    func correctedMeanOverManySamplesRecoversSignal(coils: Int) throws {
        for (s, snr) in Self.snrs.enumerated() {
            let a = snr * sigma
            let m = coilMagnitudes(a: a, sigma: sigma, coils: coils, count: 200_000, seed: UInt64(10 * coils + s))
            let mean = m.reduce(0.0) { $0 + Double($1) } / Double(m.count)
            let rms = (m.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(m.count)).squareRoot()
            let koay = try MagnitudeBias.correct(Volume(grid: one, data: [Float(mean)]), sigma: sigma, coils: coils)
            let moments = try MagnitudeBias.correct(Volume(grid: one, data: [Float(rms)]), sigma: sigma, coils: coils, method: .moments)
            let eKoay = relativeError(Double(koay.data[0]), a), eMoments = relativeError(Double(moments.data[0]), a)
            let eRaw = relativeError(mean, a)
            print("N=\(coils) A/σ=\(snr): uncorrected mean \(eRaw), Koay–Basser(mean) \(eKoay), moments(rms) \(eMoments)")
            #expect(eKoay < aggregateTolerance(snr))      // 3% at A/σ = 1, 1.2% at 2, 0.4% at ≥ 5 (measured ≤ 0.33%)
            #expect(eMoments < aggregateTolerance(snr))   // same (measured ≤ 0.36%)
            if snr <= 2 { #expect(eRaw > 0.1 && eRaw > 8 * max(eKoay, eMoments)) }   // uncorrected: +14% … +190% at A/σ ≤ 2
        }
    }

    @Test(arguments: [1, 4])
    func correctingSingleValuesReducesBias(coils: Int) throws {
        let g = Grid(nx: 100, ny: 200, nz: 1, spacing: [1, 1, 1])
        for (s, snr) in Self.snrs.enumerated() {
            let a = snr * sigma
            let v = try Volume(grid: g, data: coilMagnitudes(a: a, sigma: sigma, coils: coils, count: g.voxelCount, seed: UInt64(100 + 10 * coils + s)))
            func meanBias(_ x: Volume<Float>) -> Double { x.data.reduce(0.0) { $0 + Double($1) } / Double(x.data.count) / a - 1 }
            let raw = meanBias(v)
            let koay = meanBias(try MagnitudeBias.correct(v, sigma: sigma, coils: coils))
            let moments = meanBias(try MagnitudeBias.correct(v, sigma: sigma, coils: coils, method: .moments))
            print("N=\(coils) A/σ=\(snr) per value: mean bias uncorrected \(raw), Koay–Basser \(koay), moments \(moments)")
            // Standard error of these means ≈ 0.6% of A at A/σ = 1, 0.04% at 20.
            if snr <= 2 {
                #expect(raw > 0.13)                  // uncorrected: +14% … +191%
                #expect(abs(koay) < 0.15)            // measured −1.5%, −5.5% (N=1); +11%, −8.3% (N=4)
                #expect(abs(koay) * 2 < raw)         // at least halves the bias (measured 2.5× … 130×)
                #expect(abs(moments) < 0.25)         // measured −20%, −16% (N=1); −1.5%, −15% (N=4): over-subtracts
            } else {
                #expect(abs(koay) < (snr <= 5 ? 0.02 : 0.002))       // measured ≤ 0.56% at 5, ≤ 0.03% at 20
                #expect(abs(moments) < (snr <= 5 ? 0.035 : 0.004))   // measured −2.4% at 5, −0.15% at 20
            }
        }
    }

    @Test(arguments: MagnitudeBiasMethod.allCases)
    func sigmaMapMatchesScalarPath(method: MagnitudeBiasMethod) throws {
        let g = Grid(nx: 8, ny: 6, nz: 3, spacing: [1, 1, 2])
        let data = coilMagnitudes(a: 25, sigma: sigma, coils: 2, count: g.voxelCount * 3, seed: 7)
        let v = try Volume(grid: g, frames: 3, data: data)
        let scalar = try MagnitudeBias.correct(v, sigma: sigma, coils: 2, method: method)
        let map = try MagnitudeBias.correct(v, sigma: Volume(grid: g, repeating: Float(sigma)), coils: 2, method: method)
        #expect(map.data == scalar.data)                  // identical, value for value
        #expect(map.frames == 3 && map.grid == g)
        // One σ per frame.
        var perFrame = Volume<Float>(grid: g, frames: 3)
        for t in 0..<3 { for i in 0..<g.voxelCount { perFrame.data[t * g.voxelCount + i] = Float(5 * (t + 1)) } }
        let framewise = try MagnitudeBias.correct(v, sigma: perFrame, coils: 2, method: method)
        for t in 0..<3 {
            let alone = try MagnitudeBias.correct(v.frame(t), sigma: Double(5 * (t + 1)), coils: 2, method: method)
            #expect(Array(framewise.data[(t * g.voxelCount)..<((t + 1) * g.voxelCount)]) == alone.data)
        }
        // σ = 0 (outside a denoising mask) leaves the value as it is.
        var holes = Volume<Float>(grid: g, repeating: Float(sigma))
        holes.data[5] = 0
        let kept = try MagnitudeBias.correct(v, sigma: holes, coils: 2, method: method)
        #expect(kept.data[5] == v.data[5] && kept.data[5 + g.voxelCount] == v.data[5 + g.voxelCount])
        #expect(kept.data[6] == scalar.data[6])
    }

    @Test func badInputIsRefusedClearly() throws {
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "" } catch { return "\(error)" }
        }
        let g = Grid(nx: 4, ny: 4, nz: 2, spacing: [1, 1, 1])
        let v = Volume<Float>(grid: g, frames: 3, repeating: 20)
        #expect(message { _ = try MagnitudeBias.correct(v, sigma: 5, coils: 0) }.contains("must be at least 1"))
        for bad in [0.0, -2, .nan, .infinity] {
            #expect(message { _ = try MagnitudeBias.correct(v, sigma: bad, coils: 1) }.contains("noise level σ: must be a positive number"))
        }
        let other = Volume<Float>(grid: Grid(nx: 4, ny: 5, nz: 2, spacing: [1, 1, 1]), repeating: 5)
        #expect(message { _ = try MagnitudeBias.correct(v, sigma: other, coils: 1) }.contains("are not on the same voxel grid"))
        let twoFrames = Volume<Float>(grid: g, frames: 2, repeating: 5)
        #expect(message { _ = try MagnitudeBias.correct(v, sigma: twoFrames, coils: 1) } == "σ map volumes: expected 3, found 2 (give one σ volume for all frames or one per frame)")
        var nanMap = Volume<Float>(grid: g, repeating: 5)
        nanMap.data[3] = .nan
        #expect(message { _ = try MagnitudeBias.correct(v, sigma: nanMap, coils: 1) } == "σ map holds 1 NaN or infinite value")
        var negative = Volume<Float>(grid: g, repeating: 5)
        negative.data[1] = -1; negative.data[2] = -3
        #expect(message { _ = try MagnitudeBias.correct(v, sigma: negative, coils: 1) }.contains("2 values are negative"))
        #expect(message { _ = try MagnitudeBias.correct(v, sigma: Volume<Float>(grid: g, repeating: 0), coils: 1) }.contains("zero everywhere"))
        var nanInput = v
        nanInput.data[7] = .infinity
        #expect(message { _ = try MagnitudeBias.correct(nanInput, sigma: 5, coils: 1) } == "magnitude image holds 1 NaN or infinite value")
    }
}
