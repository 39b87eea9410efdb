// Where QTI's error on the noise-free phantom comes from: the second-order cumulant
// expansion, not the fit. Signals of the form the model assumes are recovered exactly;
// the exact signal of a dispersed population is not, by an amount that falls with b.
import Testing
import CordCore
@testable import CordDiffusion
import CordPhantom
#if canImport(Glibc)
import Glibc
#endif

/// A Watson-dispersed population of identical axisymmetric tensors, discretised as the
/// phantom does (Fibonacci sphere, weights ∝ exp(κ((u·n)² − 1))), with its exact moments.
struct DispersedPopulation {
    var weights: [Double] = [], tensors: [Mat3] = []

    init(axial: Double = 2.0, radial: Double = 0.4, kappa: Double, fibre: SIMD3<Double>, samples: Int = 400) {
        let n = normalized(fibre), golden = Double.pi * (3 - 5.0.squareRoot())
        for i in 0..<samples {
            let z = 1 - (2 * Double(i) + 1) / Double(samples), r = (1 - z * z).squareRoot(), phi = golden * Double(i)
            let u = SIMD3(r * cos(phi), r * sin(phi), z)
            weights.append(exp(kappa * (dot(u, n) * dot(u, n) - 1)))
            tensors.append(Mat3.diagonal(SIMD3(repeating: radial)) + (axial - radial) * Mat3.outer(u, u))
        }
        let total = weights.reduce(0, +)
        weights = weights.map { $0 / total }
    }

    static func mandel(_ m: Mat3) -> [Double] { let v = Mandel.vector(m); return [v.0, v.1, v.2, v.3, v.4, v.5] }

    /// ⟨D⟩ and the covariance ℂ (6×6, Mandel) of the discrete distribution.
    var moments: (mean: [Double], covariance: [Double]) {
        var mean = [Double](repeating: 0, count: 6)
        for (w, d) in zip(weights, tensors) { for (i, x) in Self.mandel(d).enumerated() { mean[i] += w * x } }
        var c = [Double](repeating: 0, count: 36)
        for (w, d) in zip(weights, tensors) {
            let x = Self.mandel(d)
            for i in 0..<6 { for j in 0..<6 { c[i * 6 + j] += w * (x[i] - mean[i]) * (x[j] - mean[j]) } }
        }
        return (mean, c)
    }

    /// FA and MD of ⟨D⟩, and μFA (Westin 2016: C_μ = (3/2)·⟨D⊗D⟩:𝔼_shear/⟨D⊗D⟩:𝔼_iso).
    var truth: (fa: Double, md: Double, microFA: Double) {
        let m = moments.mean
        let md = (m[0] + m[1] + m[2]) / 3, norm = m.reduce(0) { $0 + $1 * $1 }
        var norm2 = 0.0, trace2 = 0.0
        for (w, d) in zip(weights, tensors) {
            let x = Self.mandel(d)
            norm2 += w * x.reduce(0) { $0 + $1 * $1 }
            trace2 += w * (x[0] + x[1] + x[2]) * (x[0] + x[1] + x[2])
        }
        return ((1.5 * (norm - 3 * md * md) / norm).squareRoot(), md, (1.5 * (norm2 - trace2 / 3) / norm2).squareRoot())
    }

    /// ln S/S₀ for a b-tensor (ms/µm²): exact (Σ w·e^(−⟨B,D⟩)) or its cumulant form
    /// −⟨B,⟨D⟩⟩ + ½·bᵀℂb, the model QTI fits.
    func logSignal(_ b: Mat3, cumulantForm: Bool) -> Double {
        if cumulantForm {
            let (mean, c) = moments, bv = Self.mandel(b)
            var q = 0.0
            for i in 0..<6 { for j in 0..<6 { q += bv[i] * c[i * 6 + j] * bv[j] } }
            return -zip(bv, mean).reduce(0) { $0 + $1.0 * $1.1 } + q / 2
        }
        var s = 0.0
        for (w, d) in zip(weights, tensors) {
            var bd = 0.0
            for r in 0..<3 { for k in 0..<3 { bd += b[r, k] * d[r, k] } }
            s += w * exp(-bd)
        }
        return log(s)
    }
}

@Suite struct QTITruncationTests {
    /// A scheme with every b scaled (lte-ste: b = 500, 1000, 2000 s/mm² at scale 1).
    static func scaled(_ name: String, _ scale: Double) throws -> GradientTable {
        GradientTable(try #require(DiffusionSchemes.named(name)).entries.map { e in var e = e; e.b *= scale; return e })
    }

    /// Fits QTI to one voxel per population; returns (FA, MD, μFA) − truth per voxel.
    static func qtiErrors(_ table: GradientTable, _ populations: [DispersedPopulation], cumulantForm: Bool) throws -> [(fa: Double, md: Double, microFA: Double)] {
        let grid = Grid(nx: populations.count, ny: 1, nz: 1, spacing: [1, 1, 1])
        var image = Volume<Float>(grid: grid, frames: table.count, repeating: 0)
        for (v, p) in populations.enumerated() {
            for (t, e) in table.entries.enumerated() {
                image.data[t * populations.count + v] = Float(1000 * exp(p.logSignal((1.0 / 1000) * e.bTensor, cumulantForm: cumulantForm)))
            }
        }
        let values = try QTIModel(try EncodingScheme(table)).fit(try MaskedSignals(image, mask: nil))
        return populations.enumerated().map { v, p in
            let row = v * QTIOutput.count, t = p.truth
            return (values[row + QTIOutput.fa.rawValue] - t.fa, values[row + QTIOutput.md.rawValue] - t.md,
                    values[row + QTIOutput.microFA.rawValue] - t.microFA)
        }
    }

    static let populations = [6.0, 8, 12].flatMap { k in
        [SIMD3<Double>(0, 0, 1), SIMD3(0.3, 0.2, 1)].map { DispersedPopulation(kappa: k, fibre: $0) }
    }

    /// Signals exactly of the cumulant form: FA, MD and μFA come back to the Float precision
    /// of the signals, so the fit (design, weighting, rank-23 solution) adds no error.
    @Test(arguments: ["lte-ste", "lte-pte-ste"])
    func cumulantFormSignalsAreRecovered(scheme: String) throws {
        let errors = try Self.qtiErrors(try Self.scaled(scheme, 1), Self.populations, cumulantForm: true)
        let worst = errors.map { max(abs($0.fa), abs($0.md), abs($0.microFA)) }.max() ?? 1
        print("QTI on cumulant-form signals (\(scheme)): max |Δ| \(worst)")
        #expect(worst < 1e-5)  // Float signals (measured ≈ 1e-7)
    }

    /// The same populations' exact signals: the error is the truncation of the expansion.
    /// With b up to 2000 s/mm² it is FA +0.0015…+0.0065 and MD −0.0008…−0.0033 µm²/ms
    /// (κ 12…6, as the README says); it falls faster than b (÷10 from b ≤ 2000 to b ≤ 500),
    /// and at b ≤ 500 every FA and MD error is below 10⁻³.
    @Test func exactSignalErrorIsTheTruncationAndFallsWithB() throws {
        let high = try Self.qtiErrors(try Self.scaled("lte-ste", 1), Self.populations, cumulantForm: false)
        let low = try Self.qtiErrors(try Self.scaled("lte-ste", 0.25), Self.populations, cumulantForm: false)
        print("QTI truncation, b ≤ 2000: \(high.map { ($0.fa, $0.md, $0.microFA) })")
        print("QTI truncation, b ≤ 500:  \(low.map { ($0.fa, $0.md, $0.microFA) })")
        let faHigh = high.map { abs($0.fa) }.max()!, mdHigh = high.map { abs($0.md) }.max()!
        #expect(faHigh > 0.005 && faHigh < 0.008)                  // README: up to +0.0065 (κ = 6)
        #expect(mdHigh > 0.0025 && mdHigh < 0.004)                 // µm²/ms; README: up to −0.0033
        #expect(high.allSatisfy { $0.fa > 0 && $0.md < 0 })        // FA overestimated, MD underestimated
        #expect(low.allSatisfy { abs($0.fa) < 1e-3 && abs($0.md) < 1e-3 })  // issue 4's 10⁻³ where the expansion holds
        #expect(low.allSatisfy { abs($0.microFA) < 0.01 })
        #expect(faHigh > 5 * (low.map { abs($0.fa) }.max()!))      // faster than linear in b (measured ×10)
    }

    /// The phantom itself at b ≤ 500 s/mm² (lte-ste scaled by ¼): QTI's FA and MD to 10⁻³
    /// and μFA to 0.01 in white matter, as issue 4 asks; the gamma model's MD too.
    @Test(arguments: [MicroFAMethod.qti, .gamma])
    func noiseFreePhantomAtLowB(method: MicroFAMethod) throws {
        let table = try Self.scaled("lte-ste", 0.25)
        let sim = Phantoms.simulate(table)
        let wm = Phantoms.pureWhiteMatter
        let r = try MicroFA.fit(try MaskedSignals(sim.image, mask: wm), table: table, method: method)
        let md = Errors(try #require(r.map("MD")), sim.truth.md, mask: wm)
        let mufa = Errors(try #require(r.map("microFA")), sim.truth.microFA, mask: wm)
        print("\(method) on lte-ste ×¼, noise-free WM: MD \(md); μFA \(mufa)")
        #expect(md.count > 150)
        #expect(md.maxAbs < 1e-3)    // µm²/ms (issue 4)
        #expect(mufa.maxAbs < 0.01)  // issue 4
        if method == .qti {
            let fa = Errors(try #require(r.map("FA")), sim.truth.fa, mask: wm)
            print("  QTI FA \(fa)")
            #expect(fa.maxAbs < 1e-3)  // issue 4
        }
    }
}
