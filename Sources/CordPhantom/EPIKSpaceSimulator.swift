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
    /// In-plane acceleration (every R-th ky line, the centre line acquired) and the number of
    /// fully sampled calibration lines in a separate ACQ_IS_PARALLEL_CALIBRATION train.
    public var acceleration = 1
    public var calibrationLines = 24
    /// Reduced FOV (ZoomIt): phase oversampling (encoded FOV = (1 + this) × FOV along y) and a
    /// 2D-selective excitation profile along PE: 1 inside ±`excitationHalfWidth` × FOV/2, a
    /// raised-cosine edge `excitationEdge` × FOV wide, `excitationResidual` outside.
    public var phaseOversampling = 0.0
    public var reducedFOV = false
    public var excitationHalfWidth = 0.85, excitationEdge = 0.15, excitationResidual = 0.03
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
    /// SENSE g-factor of the true sensitivities and noise covariance for the acceleration
    /// (Pruessmann 1999 MRM 42:952), on the recon grid; ones when R = 1.
    public var senseGFactor: [Double]
    /// The excitation profile along PE on the recon grid rows (1 without reduced FOV).
    public var excitationProfile: [Double]
}

public enum EPIKSpaceSimulator {
    public static func simulate(_ s: EPISimulationSettings) throws -> EPISimulation {
        let nx = s.nx, ny = s.ny, nc = s.coils, nxe = 2 * nx, ns = 2 * nx
        // Encoded lines (phase oversampling adds an even number of lines, half on each side).
        let pad = CheckedNumber.clamped(Double(ny) * max(0, s.phaseOversampling) / 2, .toNearestOrAwayFromZero, to: 0...ny)
        let nye = ny + 2 * pad
        let r = max(1, s.acceleration)
        guard nx >= 8, ny >= 8, nx % 2 == 0, ny % 2 == 0, nc >= 1, s.partialFourier > 0.5, s.partialFourier <= 1, r <= 4 else {
            throw CordError.invalidValue(what: "EPI simulation", detail: "needs even nx, ny ≥ 8, ≥ 1 coil, partial Fourier in (0.5, 1] and R ≤ 4")
        }
        var rng = SeededRNG(seed: s.seed)
        // Excitation profile along y on the encoded grid (recon FOV = rows pad ..< pad + ny).
        let profileE: [Double] = (0..<nye).map { y in
            guard s.reducedFOV else { return 1 }
            let d = abs((Double(y) + 0.5 - Double(nye) / 2) / (Double(ny) / 2))   // 1 at the recon FOV edge
            let inner = s.excitationHalfWidth, edge = s.excitationEdge * 2
            if d <= inner { return 1 }
            if d >= inner + edge { return s.excitationResidual }
            let t = (d - inner) / edge
            return s.excitationResidual + (1 - s.excitationResidual) * 0.5 * (1 + cos(Double.pi * t))
        }
        // Object on the encoded grid (nxe × nye): an ellipse with inner structures and a smooth
        // phase; with reduced FOV it extends beyond the FOV along y (a neck in a small FOV).
        var rho = [ComplexD](repeating: .zero, count: nxe * nye)
        var objectMagE = [Double](repeating: 0, count: nx * nye)
        let vRadius = s.reducedFOV ? Double(nye) * 0.48 : Double(ny) * 0.42
        for y in 0..<nye {
            for x in 0..<nx {
                let u = (Double(x) - Double(nx) / 2) / (Double(nx) * 0.38), v = (Double(y) - Double(nye) / 2) / vRadius
                var m = 0.0
                if u * u + v * v < 1 { m = 1 }
                let u2 = u + 0.3, v2 = v - 0.2
                if u2 * u2 / 0.05 + v2 * v2 / 0.09 < 1 { m = 0.4 }
                let u3 = u - 0.35, v3 = v + 0.25
                if u3 * u3 / 0.03 + v3 * v3 / 0.03 < 1 { m = 0.7 }
                let phase = 0.6 * u - 0.4 * v + 0.3
                let mm = m * profileE[y]
                objectMagE[y * nx + x] = mm
                rho[y * nxe + x + nx / 2] = ComplexD(mm * cos(phase), mm * sin(phase))
            }
        }
        // Coil sensitivities: Gaussian blobs of a posterior/lateral array, each with its own phase.
        var sens = [ComplexD](repeating: .zero, count: nc * nxe * nye)
        for c in 0..<nc {
            // Elements on an arc behind and beside the object (posterior at low y).
            let theta = Double.pi * (0.1 + 0.8 * (nc > 1 ? Double(c) / Double(nc - 1) : 0.5))
            let cx = Double(nxe) / 2 + 0.55 * Double(nx) * cos(theta)
            let cy = Double(nye) / 2 - 0.55 * Double(ny) * sin(theta), w = Double(nx) * 0.45, ph = 0.7 * Double(c)
            for y in 0..<nye {
                for x in 0..<nxe {
                    let d2 = (Double(x) - cx) * (Double(x) - cx) + (Double(y) - cy) * (Double(y) - cy)
                    let a = exp(-d2 / (2 * w * w))
                    sens[(c * nye + y) * nxe + x] = ComplexD(a * cos(ph + 0.01 * Double(x)), a * sin(ph + 0.01 * Double(x)))
                }
            }
        }
        // Noise covariance Ψ = C Cᴴ with C lower bidiagonal (neighbour correlation).
        let coilNoise = CoilNoise(coils: nc, noise: s.noise, correlation: s.noiseCorrelation)
        let psi = coilNoise.covariance
        func noiseVector() -> [ComplexD] { coilNoise.sample(&rng) }
        // Readout positions.
        let dwell = (s.rampUp + s.flatTop + s.rampDown - 2 * s.acquisitionDelay) / Double(ns)
        let timing = EPIReadoutTiming(numberOfSamples: ns, rampUp: s.rampUp, flatTop: s.flatTop, rampDown: s.rampDown,
                                      acquisitionDelay: s.acquisitionDelay, dwell: dwell)
        let kpos = timing.kPositions(encodedSamples: nxe)
        let echoSpacing = (s.rampUp + s.flatTop + s.rampDown) * 1e-6
        // Coil images → hybrid (x, ky) by a centred DFT along y.
        func hybridRow(_ c: Int, _ ky: Int, _ time: Double) -> [ComplexD] {
            var row = [ComplexD](repeating: .zero, count: nxe)
            let kk = Double(ky - nye / 2)
            let b0 = 2 * Double.pi * s.offResonanceHz * time
            for y in 0..<nye {
                let ang = -2 * Double.pi * kk * Double(y - nye / 2) / Double(nye) + b0
                let e = ComplexD(cos(ang), sin(ang))
                for x in 0..<nxe {
                    let v = rho[y * nxe + x]
                    if v.real == 0 && v.imaginary == 0 { continue }
                    row[x] = row[x] + sens[(c * nye + y) * nxe + x] * v * e
                }
            }
            let f = 1 / Double(nye).squareRoot()
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
        let fovYE = s.fieldOfView * Double(nye) / Double(ny)
        var header = RawHeader(encodedSpace: RawEncodingSpace(matrix: SIMD3(nxe, nye, 1), fieldOfView: SIMD3(2 * s.fieldOfView, fovYE, 5)),
                               reconSpace: RawEncodingSpace(matrix: SIMD3(nx, ny, 1), fieldOfView: SIMD3(s.fieldOfView, s.fieldOfView, 5)))
        var firstLine = nye - CheckedNumber.clamped(s.partialFourier * Double(nye), .toNearestOrAwayFromZero, to: nye / 2...nye)
        while (firstLine - nye / 2) % r != 0 { firstLine += 1 }   // the centre line is acquired
        header.limits["kspace_encode_step_1"] = RawLimit(minimum: firstLine, maximum: nye - 1, center: nye / 2)
        header.limits["slice"] = RawLimit(minimum: 0, maximum: 0, center: 0)
        header.trajectory = .epi
        header.epiTiming = timing
        header.userParameterLong = ["numSamples": ns]
        header.userParameterDouble = ["dwellTime": dwell]
        header.receiverChannels = nc
        header.accelerationFactorPE = r
        header.sequenceName = s.reducedFOV ? "cordq_zoomit_phantom" : "cordq_epi_phantom"
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
            a.timeStamp = acqs.count
            return a
        }
        for _ in 0..<s.noiseScans {
            acqs.append(make([[ComplexD]](repeating: [ComplexD](repeating: .zero, count: ns), count: nc), flags: .isNoiseMeasurement, line: 0, noise: true))
        }
        // Separate, fully sampled calibration train around the centre (its own polarity pattern).
        if r > 1 {
            let half = min(s.calibrationLines, nye) / 2
            var rev = false, tc = 0.0
            for ky in (nye / 2 - half)..<(nye / 2 + half) {
                let rows = (0..<nc).map { c in sample(hybridRow(c, ky, tc), reverse: rev) }
                acqs.append(make(rows, flags: rev ? [.isParallelCalibration, .isReverse] : .isParallelCalibration, line: ky, noise: true))
                rev.toggle(); tc += echoSpacing
            }
        }
        var t = 0.0
        var reverse = false
        if s.referenceLines {
            for q in 0..<3 {
                reverse = q % 2 == 0
                let rows = (0..<nc).map { c in sample(hybridRow(c, nye / 2, 0), reverse: reverse) }
                acqs.append(make(rows, flags: reverse ? [.isPhaseCorrectionData, .isReverse] : .isPhaseCorrectionData, line: nye / 2, noise: true))
            }
        }
        reverse = false
        for ky in stride(from: firstLine, to: nye, by: r) {
            let rows = (0..<nc).map { c in sample(hybridRow(c, ky, t), reverse: reverse) }
            var flags: RawAcquisitionFlags = reverse ? .isReverse : []
            if ky == firstLine { flags.insert(.firstInSlice) }
            if ky + r >= nye { flags.insert([.lastInSlice, .lastInMeasurement]) }
            acqs.append(make(rows, flags: flags, line: ky, noise: true))
            reverse.toggle()
            t += echoSpacing
        }
        // Truth on the recon grid (rows pad ..< pad + ny): |ρ|·√(Sᴴ Ψ⁻¹ S), and the SENSE g-factor.
        var psiInv = psi
        invertHermitian(&psiInv, n: nc)
        func sv(_ x: Int, _ y: Int) -> [ComplexD] { (0..<nc).map { sens[($0 * nye + y) * nxe + x + nx / 2] } }
        func gram(_ cols: [[ComplexD]]) -> [ComplexD] {
            let m = cols.count
            var g = [ComplexD](repeating: .zero, count: m * m)
            for a in 0..<m { for b in 0..<m { var q = ComplexD.zero
                for i in 0..<nc { for j in 0..<nc { q = q + cols[a][i].conjugate * psiInv[i * nc + j] * cols[b][j] } }
                g[a * m + b] = q } }
            return g
        }
        var combined = [Double](repeating: 0, count: nx * ny), objectMag = [Double](repeating: 0, count: nx * ny)
        var gSense = [Double](repeating: 1, count: nx * ny)
        for y in 0..<ny {
            for x in 0..<nx {
                let ye = y + pad
                let q = gram([sv(x, ye)])[0]
                objectMag[y * nx + x] = objectMagE[ye * nx + x]
                combined[y * nx + x] = objectMagE[ye * nx + x] * max(q.real, 0).squareRoot()
                if r > 1 {
                    let cols = (0..<r).map { k in sv(x, (ye + k * nye / r) % nye) }
                    var g = gram(cols)
                    let g00 = g[0].real
                    invertHermitian(&g, n: r)
                    gSense[y * nx + x] = max(g[0].real * g00, 0).squareRoot()
                }
            }
        }
        let ds = RawDataset(header: header, acquisitions: acqs, source: .simulated)
        let mask = objectMag.map { $0 > 0.05 }
        return EPISimulation(raw: ds, objectMagnitude: objectMag, combinedTruth: combined, mask: mask,
                             senseGFactor: gSense, excitationProfile: (0..<ny).map { profileE[$0 + pad] })
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
