// Multi-coil single-shot EPI k-space with ground truth, in CordQ's raw model (the ISMRMRD
// convention of docs/raw-data.md): a smooth complex object, posterior-array-like coil
// sensitivities, correlated channel noise (with noise scans), ramp-sampled trapezoid readouts
// (each sample the exact DFT of the object row at its kx), a readout oversampling of 2,
// reflected odd lines carrying an odd/even phase φ(x) = a + b·(x − N/2), B0 off-resonance
// along the echo train, partial Fourier and three reference lines at the k-space centre.
import CordCore
import Foundation

/// Settings of a simulated EPI acquisition.
public struct EPISimulationSettings: Sendable {
    /// Reconstructed matrix (the readout is sampled at 2× oversampling).
    public var nx = 48, ny = 48
    public var fieldOfView = 192.0
    public var coils = 4
    /// Fraction of ky lines acquired (1 = full, 0.75 = 6/8); the early lines are skipped.
    public var partialFourier = 1.0
    /// Odd/even phase of reflected lines: constant (rad) and linear (rad per oversampled pixel).
    public var ghostConstant = 0.4, ghostLinear = 0.03
    /// Ramp timing (µs); the readout has 2·nx samples.
    public var rampUp = 80.0, flatTop = 240.0, rampDown = 80.0, acquisitionDelay = 20.0
    /// Uniform off-resonance (Hz) along the echo train.
    public var offResonanceHz = 0.0
    /// Noise SD per channel (before correlation) relative to the object's peak, and the
    /// correlation between neighbouring channels.
    public var noise = 0.01, noiseCorrelation = 0.3
    public var noiseScans = 4
    public var referenceLines = true
    public var seed: UInt64 = 1
    public init() {}
}

/// A simulated acquisition with its truth.
public struct EPISimulation: Sendable {
    public var raw: RawDataset
    /// |object| on the recon grid (nx × ny).
    public var objectMagnitude: [Double]
    /// Noise-free SNR-optimal combined magnitude in whitened units: |ρ|·√(Sᴴ Ψ⁻¹ S).
    public var combinedTruth: [Double]
    /// Object support (|ρ| > 5 % of its maximum).
    public var mask: [Bool]
}

public enum EPIKSpaceSimulator {
    public static func simulate(_ s: EPISimulationSettings) throws -> EPISimulation {
        let nx = s.nx, ny = s.ny, nc = s.coils, nxe = 2 * nx, ns = 2 * nx
        guard nx >= 8, ny >= 8, nx % 2 == 0, ny % 2 == 0, nc >= 1, s.partialFourier > 0.5, s.partialFourier <= 1 else {
            throw CordError.invalidValue(what: "EPI simulation", detail: "needs even nx, ny ≥ 8, ≥ 1 coil and partial Fourier in (0.5, 1]")
        }
        var rng = SeededRNG(seed: s.seed)
        // Object on the encoded grid (nxe × ny): an ellipse with inner structures and a smooth phase.
        var rho = [ComplexD](repeating: .zero, count: nxe * ny)
        var objectMag = [Double](repeating: 0, count: nx * ny)
        for y in 0..<ny {
            for x in 0..<nx {
                let u = (Double(x) - Double(nx) / 2) / (Double(nx) * 0.38), v = (Double(y) - Double(ny) / 2) / (Double(ny) * 0.42)
                var m = 0.0
                if u * u + v * v < 1 { m = 1 }
                let u2 = u + 0.3, v2 = v - 0.2
                if u2 * u2 / 0.05 + v2 * v2 / 0.09 < 1 { m = 0.4 }
                let u3 = u - 0.35, v3 = v + 0.25
                if u3 * u3 / 0.03 + v3 * v3 / 0.03 < 1 { m = 0.7 }
                let phase = 0.6 * u - 0.4 * v + 0.3
                objectMag[y * nx + x] = m
                rho[y * nxe + x + nx / 2] = ComplexD(m * cos(phase), m * sin(phase))
            }
        }
        // Coil sensitivities: Gaussian blobs along the posterior edge, each with its own phase.
        var sens = [ComplexD](repeating: .zero, count: nc * nxe * ny)
        for c in 0..<nc {
            let cx = Double(nxe) / 2 + (Double(c) - Double(nc - 1) / 2) * Double(nx) / Double(max(nc, 2)) * 1.2
            let cy = Double(ny) * 0.1, w = Double(nx) * 0.6, ph = 0.7 * Double(c)
            for y in 0..<ny {
                for x in 0..<nxe {
                    let d2 = (Double(x) - cx) * (Double(x) - cx) + (Double(y) - cy) * (Double(y) - cy)
                    let a = exp(-d2 / (2 * w * w))
                    sens[(c * ny + y) * nxe + x] = ComplexD(a * cos(ph + 0.01 * Double(x)), a * sin(ph + 0.01 * Double(x)))
                }
            }
        }
        // Noise covariance Ψ = C Cᴴ with C lower bidiagonal (neighbour correlation).
        var chol = [ComplexD](repeating: .zero, count: nc * nc)
        for i in 0..<nc {
            chol[i * nc + i] = ComplexD(s.noise * (1 + 0.1 * Double(i)), 0)
            if i > 0 { chol[i * nc + i - 1] = ComplexD(s.noise * s.noiseCorrelation, 0) }
        }
        var psi = [ComplexD](repeating: .zero, count: nc * nc)
        for i in 0..<nc { for j in 0..<nc { var t = ComplexD.zero; for k in 0..<nc { t = t + chol[i * nc + k] * chol[j * nc + k].conjugate }; psi[i * nc + j] = t } }
        func noiseVector() -> [ComplexD] {
            let z = (0..<nc).map { _ in ComplexD(rng.normal() / 2.0.squareRoot(), rng.normal() / 2.0.squareRoot()) }
            return (0..<nc).map { i in (0...i).reduce(ComplexD.zero) { $0 + chol[i * nc + $1] * z[$1] } }
        }
        // Readout positions.
        let dwell = (s.rampUp + s.flatTop + s.rampDown - 2 * s.acquisitionDelay) / Double(ns)
        let timing = EPIReadoutTiming(numberOfSamples: ns, rampUp: s.rampUp, flatTop: s.flatTop, rampDown: s.rampDown,
                                      acquisitionDelay: s.acquisitionDelay, dwell: dwell)
        let kpos = timing.kPositions(encodedSamples: nxe)
        let echoSpacing = (s.rampUp + s.flatTop + s.rampDown) * 1e-6
        // Coil images → hybrid (x, ky) by a centred DFT along y.
        func hybridRow(_ c: Int, _ ky: Int, _ time: Double) -> [ComplexD] {
            var row = [ComplexD](repeating: .zero, count: nxe)
            let kk = Double(ky - ny / 2)
            let b0 = 2 * Double.pi * s.offResonanceHz * time
            for y in 0..<ny {
                let ang = -2 * Double.pi * kk * Double(y - ny / 2) / Double(ny) + b0
                let e = ComplexD(cos(ang), sin(ang))
                for x in 0..<nxe {
                    let o = y * nxe + x
                    let v = rho[o]
                    if v.real == 0 && v.imaginary == 0 { continue }
                    row[x] = row[x] + sens[(c * ny + y) * nxe + x] * v * e
                }
            }
            let f = 1 / Double(ny).squareRoot()
            return row.map { ComplexD($0.real * f, $0.imaginary * f) }
        }
        func sample(_ row: [ComplexD], reverse: Bool) -> [ComplexD] {
            (0..<ns).map { n in
                let k = reverse ? -kpos[n] : kpos[n]
                var acc = ComplexD.zero
                for x in 0..<nxe {
                    var v = row[x]
                    if reverse {
                        let p = -(s.ghostConstant + s.ghostLinear * Double(x - nxe / 2))
                        v = v * ComplexD(cos(p), sin(p))
                    }
                    let ang = -2 * Double.pi * k * Double(x - nxe / 2) / Double(nxe)
                    acc = acc + v * ComplexD(cos(ang), sin(ang))
                }
                return ComplexD(acc.real / Double(nxe).squareRoot(), acc.imaginary / Double(nxe).squareRoot())
            }
        }
        var header = RawHeader(encodedSpace: RawEncodingSpace(matrix: SIMD3(nxe, ny, 1), fieldOfView: SIMD3(2 * s.fieldOfView, s.fieldOfView, 5)),
                               reconSpace: RawEncodingSpace(matrix: SIMD3(nx, ny, 1), fieldOfView: SIMD3(s.fieldOfView, s.fieldOfView, 5)))
        let firstLine = ny - CheckedNumber.clamped(s.partialFourier * Double(ny), .toNearestOrAwayFromZero, to: ny / 2...ny)
        header.limits["kspace_encode_step_1"] = RawLimit(minimum: firstLine, maximum: ny - 1, center: ny / 2)
        header.limits["slice"] = RawLimit(minimum: 0, maximum: 0, center: 0)
        header.trajectory = .epi
        header.epiTiming = timing
        header.userParameterLong = ["numSamples": ns]
        header.userParameterDouble = ["dwellTime": dwell]
        header.receiverChannels = nc
        header.sequenceName = "cordq_epi_phantom"
        header.systemVendor = "CordQ phantom"
        header.echoSpacingMs = echoSpacing * 1000
        header.echoTimeMs = 30
        header.repetitionTimeMs = 3000
        var acqs: [RawAcquisition] = []
        func make(_ samples: [[ComplexD]], flags: RawAcquisitionFlags, line: Int, noise addNoise: Bool) -> RawAcquisition {
            var data = [ComplexF](repeating: .zero, count: nc * ns)
            for n in 0..<ns {
                let e = addNoise ? noiseVector() : [ComplexD](repeating: .zero, count: nc)
                for c in 0..<nc { let v = samples[c][n] + e[c]; data[c * ns + n] = ComplexF(Float(v.real), Float(v.imaginary)) }
            }
            var a = RawAcquisition(channels: nc, samples: ns, data: data)
            a.flags = flags; a.index.kspaceEncodeStep1 = line
            a.sampleTimeMicroseconds = dwell; a.centerSample = ns / 2
            a.readDirection = SIMD3(1, 0, 0); a.phaseDirection = SIMD3(0, 1, 0); a.sliceDirection = SIMD3(0, 0, 1)
            a.position = SIMD3(0, 0, 0)
            a.scanCounter = acqs.count + 1
            return a
        }
        for _ in 0..<s.noiseScans {
            acqs.append(make([[ComplexD]](repeating: [ComplexD](repeating: .zero, count: ns), count: nc), flags: .isNoiseMeasurement, line: 0, noise: true))
        }
        var t = 0.0
        var reverse = false
        if s.referenceLines {
            for r in 0..<3 {
                reverse = r % 2 == 0
                let rows = (0..<nc).map { c in sample(hybridRow(c, ny / 2, 0), reverse: reverse) }
                acqs.append(make(rows, flags: reverse ? [.isPhaseCorrectionData, .isReverse] : .isPhaseCorrectionData, line: ny / 2, noise: true))
            }
        }
        reverse = false
        for ky in firstLine..<ny {
            let rows = (0..<nc).map { c in sample(hybridRow(c, ky, t), reverse: reverse) }
            var flags: RawAcquisitionFlags = reverse ? .isReverse : []
            if ky == firstLine { flags.insert(.firstInSlice) }
            if ky == ny - 1 { flags.insert([.lastInSlice, .lastInMeasurement]) }
            acqs.append(make(rows, flags: flags, line: ky, noise: true))
            reverse.toggle()
            t += echoSpacing
        }
        // Truth: |ρ|·√(Sᴴ Ψ⁻¹ S) on the recon grid.
        var psiInv = psi
        invertHermitian(&psiInv, n: nc)
        var combined = [Double](repeating: 0, count: nx * ny)
        for y in 0..<ny {
            for x in 0..<nx {
                let xe = x + nx / 2
                let sv = (0..<nc).map { sens[($0 * ny + y) * nxe + xe] }
                var q = ComplexD.zero
                for i in 0..<nc { for j in 0..<nc { q = q + sv[i].conjugate * psiInv[i * nc + j] * sv[j] } }
                combined[y * nx + x] = objectMag[y * nx + x] * max(q.real, 0).squareRoot()
            }
        }
        let ds = RawDataset(header: header, acquisitions: acqs, source: .simulated)
        let mask = objectMag.map { $0 > 0.05 }
        return EPISimulation(raw: ds, objectMagnitude: objectMag, combinedTruth: combined, mask: mask)
    }

    /// In-place inverse of a small Hermitian positive-definite matrix (Gauss–Jordan).
    static func invertHermitian(_ a: inout [ComplexD], n: Int) {
        var inv = [ComplexD](repeating: .zero, count: n * n)
        for i in 0..<n { inv[i * n + i] = ComplexD(1, 0) }
        for col in 0..<n {
            let p = a[col * n + col]
            for j in 0..<n { a[col * n + j] = a[col * n + j] / p; inv[col * n + j] = inv[col * n + j] / p }
            for r in 0..<n where r != col {
                let f = a[r * n + col]
                for j in 0..<n { a[r * n + j] = a[r * n + j] - f * a[col * n + j]; inv[r * n + j] = inv[r * n + j] - f * inv[col * n + j] }
            }
        }
        a = inv
    }
}

typealias ComplexD = Complex<Double>
