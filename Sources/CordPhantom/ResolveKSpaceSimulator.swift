// Readout-segmented EPI (RESOLVE; Porter & Heidemann 2009 MRM 62:468) k-space of a diffusion
// series, with ground truth, in CordQ's raw model (docs/raw-data.md, RESOLVE convention):
// - object: an axial cord slice (white matter, a central grey-matter core, CSF ring, muscle)
//   with diffusion tensors (cord fibres along the slice normal), S = S₀·exp(−b gᵀDg);
// - each shot = one readout segment: a uniform-grid (`cartesian`) readout of `segmentWidth`
//   samples starting at `user_int[0]` on the full kx grid, all ky lines, odd lines reflected with
//   an odd/even phase φ(x) = a + b·(x − N/2) (the EPI simulator's model), three reference lines,
//   then a 2D navigator echo train (`idx.set = 1`: the central kx segment × `navigatorLines`
//   central ky lines); `idx.segment`, `user_int[1]` = shot counter;
// - every shot carries its own smooth random 2D phase (a random quadratic over the FOV) plus a
//   linear term (an echo shift of up to `shotShift` Δk), identically in its navigator;
// - corrupted shots (a large echo shift beyond the navigator window and 40 % signal loss, as
//   bulk motion during diffusion encoding does) are re-acquired: both copies are written, the
//   corrupted one first or second at random;
// - readout partial Fourier: the first `omittedSegments` segments (−kx side) are not acquired.
// The sampling uses the same centred DFT convention as CordRecon (k = q − N/2, x − N/2), so the
// simulator and the reconstruction share their equations: NRMSE against the truth checks them
// against each other, not against the scanner.
import CordCore
import Foundation

public struct ResolveSimulationSettings: Sendable {
    /// Full kx grid (= reconstructed x) and ky lines.
    public var nx = 32, ny = 32
    public var fieldOfView = 48.0, sliceThickness = 5.0
    public var coils = 4
    public var segments = 5, segmentWidth = 8
    /// Readout partial Fourier: segments left out on the −kx side.
    public var omittedSegments = 0
    public var navigatorLines = 16
    public var ghostConstant = 0.3, ghostLinear = 0.02
    public var noise = 0.004, noiseCorrelation = 0.2, noiseScans = 4
    public var slices = 1
    public var sliceGap = 1.0
    /// b = 0 volumes, then `directions` volumes at `bValue` (s/mm²).
    public var b0Volumes = 1, directions = 6, bValue = 1000.0
    /// Peak of the smooth random shot phase (rad) and the largest random echo shift (Δk).
    public var shotPhase = 3.0, shotShift = 0.5
    /// Shots corrupted (and re-acquired), counted over the whole series.
    public var corruptedShots = 0
    /// Timing only: slices after the first reuse the first slice's k-space (same work to
    /// reconstruct, a fraction of the time to simulate).
    public var replicateSlices = false
    public var seed: UInt64 = 7
    public init() {}

    public var segmentStep: Int { segments > 1 ? (nx - segmentWidth) / (segments - 1) : 0 }
}

/// A simulated RESOLVE series with its truth.
public struct ResolveSimulation: Sendable {
    public var raw: RawDataset
    /// Per volume (slices × volumes, x fastest): noise-free combined magnitude |ρ|·√(SᴴΨ⁻¹S).
    public var truth: [[Double]]
    /// Object support and the cord (white + grey matter) on the slice grid.
    public var mask: [Bool]
    public var cordMask: [Bool]
    /// True FA and MD (µm²/ms) on the slice grid.
    public var fa: [Double], md: [Double]
    /// b (s/mm²) and unit direction (LPS) per volume.
    public var encodings: [(b: Double, direction: SIMD3<Double>)]
    /// Shot counters of the corrupted copies.
    public var corruptedShotCounters: [Int]
}

public enum ResolveKSpaceSimulator {
    public static func simulate(_ s: ResolveSimulationSettings) throws -> ResolveSimulation {
        let nx = s.nx, ny = s.ny, nc = s.coils, ws = s.segmentWidth, nseg = s.segments
        guard nx >= 16, ny >= 16, nx % 2 == 0, ny % 2 == 0, nc >= 1, nseg >= 2, ws >= 4, ws <= nx,
              (nx - ws) % (nseg - 1) == 0, s.segmentStep <= ws, s.omittedSegments >= 0, s.omittedSegments < nseg / 2,
              s.navigatorLines >= 4, s.navigatorLines <= ny, s.slices >= 1, s.b0Volumes >= 0, s.directions >= 0,
              s.b0Volumes + s.directions >= 1 else {
            throw CordError.invalidValue(what: "RESOLVE simulation", detail: "needs even nx, ny ≥ 16, ≥ 2 segments whose width ≥ 4 tiles the readout ((nx − width) divisible by segments − 1, step ≤ width), fewer omitted segments than half, 4 ≤ navigator lines ≤ ny, ≥ 1 volume")
        }
        var rng = SeededRNG(seed: s.seed)
        let pix = s.fieldOfView / Double(nx)
        // Tissue on the slice grid (mm from the centre; cord fibres along the slice normal, LPS z).
        struct T { var s0: Double; var l1: Double; var l2: Double }
        var tissue = [T](repeating: T(s0: 0, l1: 0, l2: 0), count: nx * ny)
        var cord = [Bool](repeating: false, count: nx * ny)
        for y in 0..<ny {
            for x in 0..<nx {
                let u = (Double(x) - Double(nx) / 2 + 0.5) * pix, v = (Double(y) - Double(ny) / 2 + 0.5) * pix
                func inside(_ a: Double, _ b: Double) -> Bool { (u * u) / (a * a) + (v * v) / (b * b) < 1 }
                var t = T(s0: 0, l1: 0, l2: 0)
                if inside(0.42 * s.fieldOfView, 0.36 * s.fieldOfView) { t = T(s0: 0.6, l1: 1.4e-3, l2: 1.4e-3) }   // muscle
                if inside(9, 7.5) { t = T(s0: 1.6, l1: 3.0e-3, l2: 3.0e-3) }                                        // CSF
                if inside(6, 4.5) { t = T(s0: 1.0, l1: 1.8e-3, l2: 0.45e-3); cord[y * nx + x] = true }              // WM
                if inside(2.5, 1.8) { t = T(s0: 1.15, l1: 1.2e-3, l2: 0.65e-3) }                                    // GM core
                tissue[y * nx + x] = t
            }
        }
        let fa = tissue.map { t -> Double in
            let m = (t.l1 + 2 * t.l2) / 3
            let num = (t.l1 - m) * (t.l1 - m) + 2 * (t.l2 - m) * (t.l2 - m), den = t.l1 * t.l1 + 2 * t.l2 * t.l2
            return den > 0 ? (1.5 * num / den).squareRoot() : 0
        }
        let md = tissue.map { ($0.l1 + 2 * $0.l2) / 3 * 1000 }
        // Encodings: b = 0 volumes, then directions on a Fibonacci half-sphere (LPS).
        var encodings: [(b: Double, direction: SIMD3<Double>)] = Array(repeating: (0, .zero), count: s.b0Volumes)
        for d in 0..<s.directions {
            let z = 1 - (Double(d) + 0.5) / Double(s.directions)
            let r = (1 - z * z).squareRoot(), phi = Double(d) * Double.pi * (3 - 5.0.squareRoot())
            encodings.append((s.bValue, SIMD3(r * cos(phi), r * sin(phi), z)))
        }
        // Coil sensitivities (posterior/lateral arc) and the object's own smooth phase.
        var sens = [ComplexD](repeating: .zero, count: nc * nx * ny)
        for c in 0..<nc {
            let theta = Double.pi * (0.1 + 0.8 * (nc > 1 ? Double(c) / Double(nc - 1) : 0.5))
            let cx = Double(nx) / 2 + 0.6 * Double(nx) * cos(theta), cy = Double(ny) / 2 - 0.6 * Double(ny) * sin(theta)
            let w = Double(nx) * 0.5, ph = 0.7 * Double(c)
            for y in 0..<ny { for x in 0..<nx {
                let d2 = (Double(x) - cx) * (Double(x) - cx) + (Double(y) - cy) * (Double(y) - cy)
                let a = exp(-d2 / (2 * w * w))
                sens[(c * ny + y) * nx + x] = ComplexD(a * cos(ph + 0.02 * Double(x)), a * sin(ph + 0.02 * Double(x)))
            } }
        }
        // Noise covariance Ψ = C Cᴴ (neighbour correlation).
        let coilNoise = CoilNoise(coils: nc, noise: s.noise, correlation: s.noiseCorrelation)
        let psi = coilNoise.covariance
        var psiInv = psi
        EPIKSpaceSimulator.invertHermitian(&psiInv, n: nc)
        var coilGain = [Double](repeating: 0, count: nx * ny)
        for p in 0..<(nx * ny) {
            var q = ComplexD.zero
            for i in 0..<nc { for j in 0..<nc { q = q + sens[i * nx * ny + p].conjugate * psiInv[i * nc + j] * sens[j * nx * ny + p] } }
            coilGain[p] = max(q.real, 0).squareRoot()
        }
        // Header.
        var header = RawHeader(encodedSpace: RawEncodingSpace(matrix: SIMD3(nx, ny, 1), fieldOfView: SIMD3(s.fieldOfView, s.fieldOfView, s.sliceThickness)),
                               reconSpace: RawEncodingSpace(matrix: SIMD3(nx, ny, 1), fieldOfView: SIMD3(s.fieldOfView, s.fieldOfView, s.sliceThickness)))
        header.limits["kspace_encode_step_1"] = RawLimit(minimum: 0, maximum: ny - 1, center: ny / 2)
        header.limits["slice"] = RawLimit(minimum: 0, maximum: s.slices - 1, center: 0)
        header.limits["repetition"] = RawLimit(minimum: 0, maximum: encodings.count - 1, center: 0)
        header.limits["segment"] = RawLimit(minimum: 0, maximum: nseg - 1, center: nseg / 2)
        header.trajectory = .cartesian
        header.receiverChannels = nc
        header.sequenceName = "cordq_resolve_phantom"
        header.systemVendor = "CordQ phantom"
        header.echoSpacingMs = 0.32; header.echoTimeMs = 60; header.repetitionTimeMs = 3000
        // Twix-representable geometry: read = slice × phase.
        let phaseDir = SIMD3<Double>(0, 1, 0), sliceDir = SIMD3<Double>(0, 0, 1), readDir = cross(sliceDir, phaseDir)
        var acqs: [RawAcquisition] = []
        func noiseVector() -> [ComplexD] { coilNoise.sample(&rng) }
        let noiseSamples = max(ws, 128)   // enough samples for the channel covariance
        for _ in 0..<s.noiseScans {
            var a = RawAcquisition(channels: nc, samples: noiseSamples, data: [ComplexF](repeating: .zero, count: nc * noiseSamples))
            for n in 0..<noiseSamples { let e = noiseVector(); for c in 0..<nc { a.data[c * noiseSamples + n] = ComplexF(Float(e[c].real), Float(e[c].imaginary)) } }
            a.flags = .isNoiseMeasurement
            acqs.append(a)
        }
        // Shots to corrupt: (volume, slice, segment) picked at random.
        var corruptKeys = Set<[Int]>()
        let allShots = encodings.count * s.slices * (nseg - s.omittedSegments)
        while corruptKeys.count < min(s.corruptedShots, allShots) {
            let v = Int(rng.next() % UInt64(encodings.count))
            let k = s.replicateSlices ? 0 : Int(rng.next() % UInt64(s.slices))   // replicas copy slice 0's shots
            let g = s.omittedSegments + Int(rng.next() % UInt64(nseg - s.omittedSegments))
            corruptKeys.insert([v, k, g])
        }
        var truth: [[Double]] = []
        var corruptedCounters: [Int] = []
        var shotCounter = 0, time = 0
        let navStart = nx / 2 - ws / 2
        for (v, enc) in encodings.enumerated() {
            var firstSliceRange = 0..<0, firstSliceShots = 0..<0
            for k in 0..<s.slices {
                if s.replicateSlices && k > 0 {
                    let offset = shotCounter - firstSliceShots.lowerBound
                    let position = SIMD3<Double>(0, 0, (Double(k) - Double(s.slices - 1) / 2) * (s.sliceThickness + s.sliceGap))
                    for i in firstSliceRange {
                        var a = acqs[i]
                        a.index.slice = k; a.position = position; a.userInts[1] += offset
                        a.timeStamp = time; a.scanCounter = acqs.count + 1
                        acqs.append(a)
                    }
                    corruptedCounters += corruptedCounters.filter { firstSliceShots.contains($0) }.map { $0 + offset }
                    shotCounter += firstSliceShots.count; time += 1
                    truth.append(truth[truth.count - 1])
                    continue
                }
                let acqStart = acqs.count, shotStart = shotCounter
                defer { if k == 0 { firstSliceRange = acqStart..<acqs.count; firstSliceShots = shotStart..<shotCounter } }
                let position = SIMD3<Double>(0, 0, (Double(k) - Double(s.slices - 1) / 2) * (s.sliceThickness + s.sliceGap))
                // The object of this volume.
                var rho = [ComplexD](repeating: .zero, count: nx * ny)
                var mag = [Double](repeating: 0, count: nx * ny)
                for p in 0..<(nx * ny) {
                    let t = tissue[p]
                    guard t.s0 > 0 else { continue }
                    let g = enc.direction
                    let adc = t.l2 + (t.l1 - t.l2) * g.z * g.z   // fibres along LPS z
                    let m = t.s0 * exp(-enc.b * adc)
                    let x = Double(p % nx) / Double(nx) - 0.5, y = Double(p / nx) / Double(ny) - 0.5
                    let ph = 0.4 * x - 0.3 * y + 0.2
                    rho[p] = ComplexD(m * cos(ph), m * sin(ph)); mag[p] = m
                }
                truth.append((0..<(nx * ny)).map { mag[$0] * coilGain[$0] })
                for g in s.omittedSegments..<nseg {
                    let start = g * s.segmentStep
                    let corrupt = corruptKeys.contains([v, k, g])
                    var copies = [false]
                    if corrupt { copies = rng.next() % 2 == 0 ? [true, false] : [false, true] }
                    for bad in copies {
                        // The shot's phase: random quadratic (peak ≈ shotPhase) + echo shift (linear).
                        let c = (0..<6).map { _ in rng.normal() }
                        let norm = c.reduce(0) { $0 + abs($1) }
                        var sx = (2 * rng.uniform() - 1) * s.shotShift, sy = (2 * rng.uniform() - 1) * s.shotShift
                        var gain = 1.0
                        if bad {
                            sx = (rng.next() % 2 == 0 ? 1 : -1) * (Double(ws) / 2 + 3)
                            sy = (rng.next() % 2 == 0 ? 1 : -1) * (Double(s.navigatorLines) / 4 + 2)
                            gain = 0.6
                            corruptedCounters.append(shotCounter)
                        }
                        var shotImage = [[ComplexD]](repeating: [], count: nc)
                        for coil in 0..<nc {
                            var img = [ComplexD](repeating: .zero, count: nx * ny)
                            for y in 0..<ny { for x in 0..<nx {
                                let p = y * nx + x
                                guard rho[p].real != 0 || rho[p].imaginary != 0 else { continue }
                                let u = 2 * (Double(x) - Double(nx) / 2) / Double(nx), w = 2 * (Double(y) - Double(ny) / 2) / Double(ny)
                                let quad = (c[0] + c[1] * u + c[2] * w + c[3] * u * u + c[4] * w * w + c[5] * u * w) / max(norm, 1e-9)
                                let phi = s.shotPhase * quad + 2 * Double.pi * (sx * Double(x - nx / 2) / Double(nx) + sy * Double(y - ny / 2) / Double(ny))
                                img[p] = sens[coil * nx * ny + p] * rho[p] * ComplexD(gain * cos(phi), gain * sin(phi))
                            } }
                            shotImage[coil] = img
                        }
                        // Hybrid (x, ky) per coil, then forward and reflected kx samples of a line.
                        let hyb = shotImage.map { SimpleDFT.alongY($0, nx: nx, ny: ny) }
                        func line(_ ky: Int, band: Int, reverse: Bool) -> [ComplexD] {
                            var out = [ComplexD](repeating: .zero, count: nc * ws)
                            for coil in 0..<nc {
                                var row = Array(hyb[coil][(ky * nx)..<((ky + 1) * nx)])
                                if reverse {
                                    for x in 0..<nx {
                                        let p = -(s.ghostConstant + s.ghostLinear * Double(x - nx / 2))
                                        row[x] = row[x] * ComplexD(cos(p), sin(p))
                                    }
                                }
                                for n in 0..<ws {
                                    let q = band + (reverse ? ws - 1 - n : n)
                                    out[coil * ws + n] = SimpleDFT.sample(row, k: Double(q - nx / 2))
                                }
                            }
                            return out
                        }
                        func emit(_ samples: [ComplexD], ky: Int, band: Int, reverse: Bool, flags: RawAcquisitionFlags, set: Int) {
                            var a = RawAcquisition(channels: nc, samples: ws, data: [ComplexF](repeating: .zero, count: nc * ws))
                            for n in 0..<ws {
                                let e = noiseVector()
                                for coil in 0..<nc { let z = samples[coil * ws + n] + e[coil]; a.data[coil * ws + n] = ComplexF(Float(z.real), Float(z.imaginary)) }
                            }
                            a.flags = reverse ? flags.union(.isReverse) : flags
                            a.index.kspaceEncodeStep1 = ky; a.index.slice = k; a.index.repetition = v
                            a.index.segment = g; a.index.set = set
                            a.userInts[0] = band; a.userInts[1] = shotCounter
                            a.userFloats[0] = enc.b
                            a.userFloats[1] = enc.direction.x; a.userFloats[2] = enc.direction.y; a.userFloats[3] = enc.direction.z
                            a.centerSample = ws / 2
                            a.position = position; a.readDirection = readDir; a.phaseDirection = phaseDir; a.sliceDirection = sliceDir
                            a.timeStamp = time; a.scanCounter = acqs.count + 1
                            acqs.append(a)
                        }
                        for q in 0..<3 { emit(line(ny / 2, band: start, reverse: q % 2 == 0), ky: ny / 2, band: start, reverse: q % 2 == 0, flags: .isPhaseCorrectionData, set: 0) }
                        for ky in 0..<ny { emit(line(ky, band: start, reverse: ky % 2 == 1), ky: ky, band: start, reverse: ky % 2 == 1, flags: [], set: 0) }
                        let n0 = ny / 2 - s.navigatorLines / 2
                        for (j, ky) in (n0..<(n0 + s.navigatorLines)).enumerated() {
                            emit(line(ky, band: navStart, reverse: j % 2 == 1), ky: ky, band: navStart, reverse: j % 2 == 1, flags: .isNavigationData, set: 1)
                        }
                        shotCounter += 1
                        time += 1
                    }
                }
            }
        }
        let ds = RawDataset(header: header, acquisitions: acqs, source: .simulated)
        return ResolveSimulation(raw: ds, truth: truth, mask: tissue.map { $0.s0 > 0 }, cordMask: cord, fa: fa, md: md,
                                 encodings: encodings, corruptedShotCounters: corruptedCounters)
    }
}

/// Direct centred DFTs for the simulators (exact at any k; sizes are small).
enum SimpleDFT {
    /// Forward DFT along y of an nx × ny image (x fastest): rows become ky (centred, unitary).
    static func alongY(_ img: [ComplexD], nx: Int, ny: Int) -> [ComplexD] {
        var out = [ComplexD](repeating: .zero, count: nx * ny)
        let f = 1 / Double(ny).squareRoot()
        var tw = [ComplexD](repeating: .zero, count: ny * ny)
        for ky in 0..<ny { for y in 0..<ny {
            let ang = -2 * Double.pi * Double(ky - ny / 2) * Double(y - ny / 2) / Double(ny)
            tw[ky * ny + y] = ComplexD(cos(ang) * f, sin(ang) * f)
        } }
        for y in 0..<ny {
            for x in 0..<nx {
                let v = img[y * nx + x]
                if v.real == 0 && v.imaginary == 0 { continue }
                for ky in 0..<ny { out[ky * nx + x] = out[ky * nx + x] + tw[ky * ny + y] * v }
            }
        }
        return out
    }
    /// One sample of the centred unitary DFT of `row` at (possibly fractional) k.
    static func sample(_ row: [ComplexD], k: Double) -> ComplexD {
        let n = row.count
        var acc = ComplexD.zero
        for x in 0..<n {
            let v = row[x]
            if v.real == 0 && v.imaginary == 0 { continue }
            let ang = -2 * Double.pi * k * Double(x - n / 2) / Double(n)
            acc = acc + v * ComplexD(cos(ang), sin(ang))
        }
        return ComplexD(acc.real / Double(n).squareRoot(), acc.imaginary / Double(n).squareRoot())
    }
}
