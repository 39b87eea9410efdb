// Simultaneous multi-slice (SMS, multiband) EPI k-space with ground truth, in CordQ's raw model
// (docs/raw-data.md, "SMS"): N slices in N/MB groups; a collapsed readout of group g is the sum
// of the k-space of slices g + k·(N/MB), k = 0…MB−1, slice k shifted by +k·FOV/D along phase
// (blipped CAIPI, Setsompop et al. 2012 MRM 67:1210), seen by a receive array whose elements sit
// at different positions along z (a spine array) so that the slices are separable. Reflected
// lines carry a slice-specific odd/even phase φ_s(x) = a_s + b_s·(x − N/2); channel noise has a
// covariance Ψ (noise scans included). A single-band calibration train per slice (flagged
// ACQ_IS_PARALLEL_CALIBRATION, with its own three reference lines) is written first.
//
// Simplifications, stated: readouts are uniform Cartesian (trajectory `cartesian`, no ramp
// sampling, no readout oversampling) and every k-space sample is the exact centred DFT of the
// shifted coil image, so the simulator and CordRecon's slice-GRAPPA share only the equations
// of the convention (shift direction, polarity, slice order), not code.
import CordCore
import Foundation

/// Settings of a simulated SMS EPI acquisition.
public struct SMSSimulationSettings: Sendable {
    /// Reconstructed matrix (square, even) and field of view (mm).
    public var nx = 48, ny = 48
    public var fieldOfView = 192.0
    public var coils = 8
    /// Total slices (N) and multiband factor (MB); N must be a multiple of MB.
    public var slices = 12
    public var multiband = 2
    /// CAIPI shift denominator D (slice k of a group is shifted by k·FOV/D); nil → MB.
    public var caipiDenominator: Int?
    /// Distance between neighbouring slices (mm) and slice thickness (mm).
    public var sliceSpacing = 5.0, sliceThickness = 4.0
    /// In-plane acceleration R of the collapsed acquisitions (the calibration is fully sampled).
    public var acceleration = 1
    /// Odd/even phase: constant (rad) and linear (rad per pixel) terms; each slice adds its own
    /// offsets (`ghostSliceVariation` × a fixed per-slice pattern) so that the slices of one
    /// group carry different phases.
    public var ghostConstant = 0.35, ghostLinear = 0.02, ghostSliceVariation = 1.0
    /// Noise SD per channel relative to the object's peak; neighbour-channel correlation.
    public var noise = 0.01, noiseCorrelation = 0.3
    /// Noise scans (readouts of noise only); 16 × nx samples estimate Ψ to a few per cent.
    public var noiseScans = 16
    /// Collapsed volumes (repetitions).
    public var volumes = 1
    /// Excite only slice position k of every group in the collapsed acquisitions (the others
    /// are absent): an out-of-sample leakage test. nil: all slices.
    public var onlyGroupMember: Int?
    /// Receive elements along z cover this multiple of the slab.
    public var coilZCoverage = 1.0
    public var seed: UInt64 = 1
    public init() {}
}

/// A simulated SMS acquisition with per-slice truth.
public struct SMSSimulation: Sendable {
    public var raw: RawDataset
    /// Noise-free SNR-optimal combined magnitude in whitened units, |ρ_s|·√(S_sᴴ Ψ⁻¹ S_s),
    /// nx × ny per slice, slices in order 0…N−1 (unshifted).
    public var combinedTruth: [Double]
    /// |ρ_s| per slice.
    public var objectMagnitude: [Double]
    /// Object support per slice (|ρ| > 5 % of its maximum).
    public var mask: [Bool]
    /// Odd/even phase (constant, linear) of each slice.
    public var ghostPhases: [(constant: Double, linear: Double)]
}

public enum SMSKSpaceSimulator {
    public static func simulate(_ s: SMSSimulationSettings) throws -> SMSSimulation {
        let nx = s.nx, ny = s.ny, nc = s.coils, ns = s.slices, mb = s.multiband
        let r = max(1, s.acceleration)
        let den = s.caipiDenominator ?? mb
        guard nx >= 8, ny >= 8, nx % 2 == 0, ny % 2 == 0, nx <= 512, ny <= 512, nc >= 1, nc <= 64 else {
            throw CordError.invalidValue(what: "SMS simulation", detail: "needs an even matrix 8–512 and 1–64 coils")
        }
        guard mb >= 1, mb <= 8, ns >= mb, ns % mb == 0, ns <= 256 else {
            throw CordError.invalidValue(what: "SMS simulation", detail: "\(ns) slices cannot be split into groups of multiband factor \(mb) (slices must be a multiple of MB, MB 1–8)")
        }
        guard den >= 1, den <= 16, r <= 4, s.volumes >= 1, s.volumes <= 64, s.sliceSpacing > 0 else {
            throw CordError.invalidValue(what: "SMS simulation", detail: "CAIPI denominator 1–16, R ≤ 4, 1–64 volumes and a positive slice spacing are required")
        }
        if let k = s.onlyGroupMember, k < 0 || k >= mb {
            throw CordError.invalidValue(what: "SMS simulation", detail: "onlyGroupMember \(k) outside 0…\(mb - 1)")
        }
        let groups = ns / mb
        var rng = SeededRNG(seed: s.seed)
        let npx = nx * ny
        // Slice positions (mm along the slice normal, centred on the slab).
        let z = (0..<ns).map { (Double($0) - Double(ns - 1) / 2) * s.sliceSpacing }
        let slab = Double(ns) * s.sliceSpacing
        // Objects: an ellipse whose size, inner structures and phase change from slice to slice.
        var rho = [ComplexD](repeating: .zero, count: ns * npx)
        var objectMag = [Double](repeating: 0, count: ns * npx)
        for sl in 0..<ns {
            let t = Double(sl) / Double(max(1, ns - 1))
            let ru = 0.34 + 0.06 * sin(2.1 * Double(sl)), rv = 0.40 + 0.05 * cos(1.3 * Double(sl))
            let du = 0.25 * cos(0.9 * Double(sl)), dv = 0.2 * sin(1.7 * Double(sl))
            for y in 0..<ny {
                for x in 0..<nx {
                    let u = (Double(x) - Double(nx) / 2) / (Double(nx) * ru), v = (Double(y) - Double(ny) / 2) / (Double(ny) * rv)
                    var m = 0.0
                    if u * u + v * v < 1 { m = 0.8 + 0.2 * t }
                    let u2 = u + du, v2 = v - dv
                    if u2 * u2 / 0.05 + v2 * v2 / 0.08 < 1 { m = 0.35 }
                    let u3 = u - 0.3 + 0.1 * t, v3 = v + 0.25 - 0.2 * t
                    if u3 * u3 / 0.03 + v3 * v3 / 0.04 < 1 { m = 1.0 }
                    let phase = 0.5 * u - 0.3 * v + 0.2 * Double(sl)
                    objectMag[sl * npx + y * nx + x] = m
                    rho[sl * npx + y * nx + x] = ComplexD(m * cos(phase), m * sin(phase))
                }
            }
        }
        // Receive array: elements on a posterior/lateral arc in plane and spread along z, each a
        // Gaussian in 3D distance with its own phase.
        var sens = [ComplexD](repeating: .zero, count: ns * nc * npx)
        let rows = nc >= 4 ? 2 : 1
        let perRow = (nc + rows - 1) / rows
        let fovPix = Double(nx)
        for c in 0..<nc {
            let ring = c % rows, slot = c / rows
            let theta = Double.pi * (0.1 + 0.8 * (perRow > 1 ? Double(slot) / Double(perRow - 1) : 0.5))
            let cx = Double(nx) / 2 + 0.55 * fovPix * cos(theta), cy = Double(ny) / 2 - 0.55 * Double(ny) * sin(theta)
            // z: elements staggered along the slab (ring and slot both move the element).
            let frac = nc > 1 ? (Double(slot) + 0.5 * Double(ring)) / Double(perRow) - 0.5 + 0.25 / Double(perRow) : 0
            let cz = frac * slab * s.coilZCoverage
            let wz = max(slab * s.coilZCoverage / Double(max(2, perRow)), s.sliceSpacing), w = fovPix * 0.45
            let ph = 0.7 * Double(c)
            for sl in 0..<ns {
                let az = exp(-(z[sl] - cz) * (z[sl] - cz) / (2 * wz * wz))
                for y in 0..<ny {
                    for x in 0..<nx {
                        let d2 = (Double(x) - cx) * (Double(x) - cx) + (Double(y) - cy) * (Double(y) - cy)
                        let a = az * exp(-d2 / (2 * w * w))
                        let p = ph + 0.012 * Double(x) + 0.05 * z[sl] / s.sliceSpacing
                        sens[(sl * nc + c) * npx + y * nx + x] = ComplexD(a * cos(p), a * sin(p))
                    }
                }
            }
        }
        // Noise covariance Ψ = C Cᴴ, C lower bidiagonal.
        let coilNoise = CoilNoise(coils: nc, noise: s.noise, correlation: s.noiseCorrelation)
        let psi = coilNoise.covariance
        // Slice-specific odd/even phase.
        var ghost: [(constant: Double, linear: Double)] = []
        for sl in 0..<ns {
            let a: Double = s.ghostConstant + s.ghostSliceVariation * 0.25 * sin(1.9 * Double(sl) + 0.4)
            let b: Double = s.ghostLinear + s.ghostSliceVariation * 0.012 * cos(2.3 * Double(sl))
            ghost.append((constant: a, linear: b))
        }
        // Centred DFT matrices (index N/2 ↔ N/2), scaled 1/√N.
        func dft(_ n: Int) -> [ComplexD] {
            var m = [ComplexD](repeating: .zero, count: n * n)
            let f = 1 / Double(n).squareRoot()
            for k in 0..<n { for x in 0..<n {
                let a = -2 * Double.pi * Double(k - n / 2) * Double(x - n / 2) / Double(n)
                m[k * n + x] = ComplexD(cos(a) * f, sin(a) * f)
            } }
            return m
        }
        let fy = dft(ny), fx = dft(nx)
        // Hybrid (x, ky) coil data of every slice, CAIPI-shifted for its place in the group:
        // shift by +k·FOV/D along y ⇔ row ky multiplied by e^{−2πi·(ky − N/2)·k/D}.
        var hybrid = [ComplexD](repeating: .zero, count: ns * nc * npx)
        var caipiHybrid = [ComplexD](repeating: .zero, count: ns * nc * npx)
        for sl in 0..<ns {
            let k = sl / groups
            for c in 0..<nc {
                let base = (sl * nc + c) * npx
                var img = [ComplexD](repeating: .zero, count: npx)
                for i in 0..<npx { img[i] = sens[base + i] * rho[sl * npx + i] }
                for ky in 0..<ny {
                    let shift = -2 * Double.pi * Double(ky - ny / 2) * Double(k) / Double(den)
                    let e = ComplexD(cos(shift), sin(shift))
                    for x in 0..<nx {
                        var acc = ComplexD.zero
                        for y in 0..<ny { acc = acc + fy[ky * ny + y] * img[y * nx + x] }
                        hybrid[base + ky * nx + x] = acc
                        caipiHybrid[base + ky * nx + x] = acc * e
                    }
                }
            }
        }
        // One k-space readout (all coils, kx order) of hybrid rows, with the odd/even phase on
        // reflected lines; stored in acquisition (time) order, reflected lines reversed.
        func readout(_ rowsOf: [(slice: Int, caipi: Bool)], ky: Int, reverse: Bool) -> [ComplexD] {
            var out = [ComplexD](repeating: .zero, count: nc * nx)
            for (sl, caipi) in rowsOf {
                let src = caipi ? caipiHybrid : hybrid
                let g = ghost[sl]
                for c in 0..<nc {
                    let base = (sl * nc + c) * npx + ky * nx
                    var row = [ComplexD](repeating: .zero, count: nx)
                    for x in 0..<nx {
                        var v = src[base + x]
                        if reverse { let p = -(g.constant + g.linear * Double(x - nx / 2)); v = v * ComplexD(cos(p), sin(p)) }
                        row[x] = v
                    }
                    for q in 0..<nx {
                        var acc = ComplexD.zero
                        for x in 0..<nx { acc = acc + fx[q * nx + x] * row[x] }
                        // Sample n holds kx index q: forward n = q; reflected q = (nx − n) mod nx.
                        let n = reverse ? (nx - q) % nx : q
                        out[c * nx + n] = out[c * nx + n] + acc
                    }
                }
            }
            return out
        }
        func noiseVector() -> [ComplexD] { coilNoise.sample(&rng) }
        let echoSpacingMs = 0.5, trMs = 3000.0
        let ticksPerTR = CheckedNumber.clamped(trMs / 2.5, .toNearestOrAwayFromZero, to: 1...1_000_000)
        // Interleaved group order (0, 2, 4, …, 1, 3, …) within the TR.
        let order = Array(stride(from: 0, to: groups, by: 2)) + Array(stride(from: 1, to: groups, by: 2))
        var groupTick = [Int](repeating: 0, count: groups)
        for (i, g) in order.enumerated() { groupTick[g] = i * ticksPerTR / groups }
        var acqs: [RawAcquisition] = []
        func position(_ sl: Int) -> SIMD3<Double> { SIMD3(0, 0, z[sl]) }
        func make(_ samples: [ComplexD], flags: RawAcquisitionFlags, line: Int, slice: Int, pos: SIMD3<Double>,
                  repetition: Int, tick: Int, noise addNoise: Bool) -> RawAcquisition {
            var data = [ComplexF](repeating: .zero, count: nc * nx)
            for n in 0..<nx {
                let e = addNoise ? noiseVector() : [ComplexD](repeating: .zero, count: nc)
                for c in 0..<nc { let v = samples[c * nx + n] + e[c]; data[c * nx + n] = ComplexF(Float(v.real), Float(v.imaginary)) }
            }
            var a = RawAcquisition(channels: nc, samples: nx, data: data)
            a.flags = flags; a.index.kspaceEncodeStep1 = line; a.index.slice = slice; a.index.repetition = repetition
            a.sampleTimeMicroseconds = 2.5; a.centerSample = nx / 2
            a.readDirection = SIMD3(1, 0, 0); a.phaseDirection = SIMD3(0, 1, 0); a.sliceDirection = SIMD3(0, 0, 1)
            a.position = pos
            a.scanCounter = acqs.count + 1
            a.timeStamp = tick
            return a
        }
        let zeros = [ComplexD](repeating: .zero, count: nc * nx)
        for _ in 0..<s.noiseScans {
            acqs.append(make(zeros, flags: .isNoiseMeasurement, line: 0, slice: 0, pos: position(0), repetition: 0, tick: 0, noise: true))
        }
        // Single-band calibration: every slice on its own (no CAIPI shift), three reference
        // lines then a fully sampled train of alternating polarity.
        for sl in 0..<ns {
            for q in 0..<3 {
                let rev = q % 2 == 0
                acqs.append(make(readout([(sl, false)], ky: ny / 2, reverse: rev),
                                 flags: rev ? [.isParallelCalibration, .isPhaseCorrectionData, .isReverse] : [.isParallelCalibration, .isPhaseCorrectionData],
                                 line: ny / 2, slice: sl, pos: position(sl), repetition: 0, tick: 0, noise: true))
            }
            var rev = false
            for ky in 0..<ny {
                acqs.append(make(readout([(sl, false)], ky: ky, reverse: rev), flags: rev ? [.isParallelCalibration, .isReverse] : .isParallelCalibration,
                                 line: ky, slice: sl, pos: position(sl), repetition: 0, tick: 0, noise: true))
                rev.toggle()
            }
        }
        // Collapsed acquisitions: per volume and group, three (collapsed) reference lines and
        // the R-undersampled train; the centre line is acquired.
        var firstLine = 0
        while (firstLine - ny / 2) % r != 0 { firstLine += 1 }
        for v in 0..<s.volumes {
            for g in order {
                let members = (0..<mb).filter { s.onlyGroupMember == nil || s.onlyGroupMember == $0 }.map { (slice: g + $0 * groups, caipi: true) }
                let tick = v * ticksPerTR + groupTick[g]
                for q in 0..<3 {
                    let rev = q % 2 == 0
                    acqs.append(make(readout(members.map { ($0.slice, false) }, ky: ny / 2, reverse: rev),
                                     flags: rev ? [.isPhaseCorrectionData, .isReverse] : .isPhaseCorrectionData,
                                     line: ny / 2, slice: g, pos: position(g), repetition: v, tick: tick, noise: true))
                }
                var rev = false
                for ky in stride(from: firstLine, to: ny, by: r) {
                    var flags: RawAcquisitionFlags = rev ? .isReverse : []
                    if ky == firstLine { flags.insert(.firstInSlice) }
                    if ky + r >= ny { flags.insert(.lastInSlice) }
                    acqs.append(make(readout(members, ky: ky, reverse: rev), flags: flags, line: ky, slice: g, pos: position(g),
                                     repetition: v, tick: tick, noise: true))
                    rev.toggle()
                }
            }
        }
        if !acqs.isEmpty { acqs[acqs.count - 1].flags.insert(.lastInMeasurement) }
        var header = RawHeader(encodedSpace: RawEncodingSpace(matrix: SIMD3(nx, ny, 1), fieldOfView: SIMD3(s.fieldOfView, s.fieldOfView, s.sliceThickness)),
                               reconSpace: RawEncodingSpace(matrix: SIMD3(nx, ny, 1), fieldOfView: SIMD3(s.fieldOfView, s.fieldOfView, s.sliceThickness)))
        header.limits["kspace_encode_step_1"] = RawLimit(minimum: firstLine, maximum: ny - 1, center: ny / 2)
        header.limits["slice"] = RawLimit(minimum: 0, maximum: ns - 1, center: ns / 2)
        header.limits["repetition"] = RawLimit(minimum: 0, maximum: s.volumes - 1, center: 0)
        header.trajectory = .cartesian
        header.receiverChannels = nc
        header.accelerationFactorPE = r
        header.sequenceName = "cordq_sms_epi_phantom"
        header.systemVendor = "CordQ phantom"
        header.echoSpacingMs = echoSpacingMs
        header.echoTimeMs = 60
        header.repetitionTimeMs = trMs
        header.userParameterLong = ["MultibandFactor": mb, "MultibandCaipiShiftDenominator": den]
        header.userParameterDouble = ["SliceSpacing_mm": s.sliceSpacing]
        // Truth: |ρ_s|·√(S_sᴴ Ψ⁻¹ S_s) (unshifted).
        var psiInv = psi
        EPIKSpaceSimulator.invertHermitian(&psiInv, n: nc)
        var combined = [Double](repeating: 0, count: ns * npx)
        for sl in 0..<ns {
            for i in 0..<npx {
                var q = 0.0
                for a in 0..<nc { for b in 0..<nc {
                    q += (sens[(sl * nc + a) * npx + i].conjugate * psiInv[a * nc + b] * sens[(sl * nc + b) * npx + i]).real
                } }
                combined[sl * npx + i] = objectMag[sl * npx + i] * max(q, 0).squareRoot()
            }
        }
        let ds = RawDataset(header: header, acquisitions: acqs, source: .simulated)
        return SMSSimulation(raw: ds, combinedTruth: combined, objectMagnitude: objectMag,
                             mask: objectMag.map { $0 > 0.05 }, ghostPhases: ghost)
    }
}
