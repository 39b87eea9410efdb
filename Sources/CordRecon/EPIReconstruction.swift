// Single-shot and reduced-FOV (ZoomIt) EPI: raw acquisitions → combined complex images.
//
// Chain (per slice and volume): noise pre-whitening → ramp-sampling regridding (band-limited
// least-squares resampling of the trapezoid samples onto the uniform kx grid) → readout FFT →
// Nyquist ghost correction of the reflected lines (phase from the reference lines) → readout
// oversampling removal → ky assembly → partial Fourier → phase FFT → phase-oversampling crop →
// coil combination. Conventions: docs/raw-data.md.
import CordCore
import Foundation

public enum EPIReconstruction {
    /// Reconstructs every slice and volume of a single-shot EPI data set.
    public static func reconstruct(_ raw: RawDataset, options: EPIReconOptions = EPIReconOptions()) throws -> EPIReconResult {
        let h = raw.header
        let plan = try Plan(raw, options: options)
        var report = EPIReconReport(plan: plan, options: options, sequence: h.sequenceName.isEmpty ? "epi" : h.sequenceName, slices: plan.slices.count)
        report.phaseOversamplingCropped = plan.outNy < plan.ny

        // Noise covariance and whitening.
        let noise = try NoiseWhitening.estimate(raw, plan: plan, enabled: options.prewhiten)
        report.noiseSource = noise.source
        report.noiseCovarianceDiagonal = noise.covarianceDiagonal
        if !noise.warning.isEmpty { report.warnings.append(noise.warning) }

        // Each (slice, volume) independently.
        let tasks = plan.volumes.indices.flatMap { v in plan.slices.indices.map { (slice: $0, volume: v) } }
        let progress = ProgressReporter("cordq recon: EPI", total: tasks.count, forceQuiet: options.quiet)
        let outX = plan.outNx, outY = plan.outNy, nz = plan.slices.count
        let out = SharedBuffer<ComplexF>(repeating: .zero, count: outX * outY * nz * plan.volumes.count)
        let slots = ResultSlots<(GhostPhase, [Double], String)>(tasks.count)
        let gOut = SharedBuffer<Float>(repeating: 1, count: outX * outY * nz)
        let firstRefs = plan.slices.indices.map { s in plan.referenceLines(slice: s, volume: 0) }
        parallelChunks(tasks.count) { range, _ in
            for t in range {
                let (s, v) = (tasks[t].slice, tasks[t].volume)
                do {
                    var refs = plan.referenceLines(slice: s, volume: v)
                    if refs.isEmpty { refs = firstRefs[s] }
                    var o = options
                    o.gFactor = options.gFactor && v == 0
                    let (img, ghost, profile, g, note) = try reconstructSlice(plan: plan, slice: s, volume: v, references: refs,
                                                                              whitening: noise.whitening, options: o)
                    let base = (v * nz + s) * outX * outY
                    for i in 0..<(outX * outY) { out[base + i] = img[i] }
                    if let g { for i in 0..<(outX * outY) { gOut[s * outX * outY + i] = g[i] } }
                    slots.set(t, .success((ghost, profile, note)))
                } catch {
                    slots.set(t, .failure(error))
                }
                progress.advance()
            }
        }
        progress.finish()
        let results = slots.results("EPI slice")
        for (t, r) in results.enumerated() {
            let (ghost, profile, note) = try r.get()
            if tasks[t].volume == 0 {
                report.ghostPhases.append(ghost)
                if !note.isEmpty { report.grappa = note }
                if tasks[t].slice == 0 { report.phaseProfile = profile }
            }
        }
        report.matrix = [outX, outY, nz]
        if !plan.hasGeometry { report.warnings.append("the raw data carry no usable read/phase/slice directions: the image affine is the identity orientation (LPS) at the slice position") }
        let grid = plan.outputGrid()
        let image = Volume<ComplexF>(grid: grid, frames: plan.volumes.count, exactly: out.array)
        var gVolume: Volume<Float>?
        if options.gFactor {
            let g = Volume<Float>(grid: grid, frames: 1, exactly: gOut.array)
            // Mean g in the object (first slice): pixels above 20 % of the 99th percentile magnitude.
            let mags = (0..<(outX * outY)).map { Double(image.data[$0].length) }
            let sorted = mags.sorted()
            let p99 = sorted[min(sorted.count - 1, sorted.count * 99 / 100)]
            let inObj = mags.indices.filter { mags[$0] > 0.2 * p99 }
            if !inObj.isEmpty { report.meanGFactor = inObj.reduce(0.0) { $0 + Double(g.data[$1]) } / Double(inObj.count) }
            gVolume = g
        }
        var result = EPIReconResult(image: image, report: report, sliceTiming: plan.sliceTiming(),
                                    phaseEncodingSign: plan.phaseEncodingSign(),
                                    echoSpacingSeconds: h.echoSpacingMs.map { $0 / 1000 }, reconPhaseLines: outY, gFactor: gVolume)
        result.diffusion = try diffusionEncoding(raw, plan: plan)
        return result
    }

    /// b and direction of each volume from its first imaging readout's user fields; every
    /// readout of a volume must agree (a volume whose readouts disagree is refused, naming it).
    static func diffusionEncoding(_ raw: RawDataset, plan: Plan) throws -> [(b: Double, directionLPS: SIMD3<Double>)]? {
        var out: [(b: Double, directionLPS: SIMD3<Double>)] = []
        for v in plan.volumes.indices {
            let lines = plan.slices.indices.flatMap { plan.imageLines(slice: $0, volume: v) }
            guard let first = lines.first else { out.append((0, .zero)); continue }
            let u = raw.acquisitions[first].userFloats
            let b = u.count > 0 ? u[0] : 0
            let d = u.count > 3 ? SIMD3(u[1], u[2], u[3]) : .zero
            for i in lines {
                let w = raw.acquisitions[i].userFloats
                let bi = w.count > 0 ? w[0] : 0
                guard abs(bi - b) <= 1e-3 * max(1, abs(b)) else {
                    throw CordError.invalidValue(what: "diffusion encoding of volume \(v)",
                                                 detail: "its readouts carry different b-values in user_float[0] (\(formatSignificantCore(b)) and \(formatSignificantCore(bi)) s/mm²)")
                }
            }
            guard b.isFinite, b >= 0, b <= 50_000 else {
                throw CordError.invalidValue(what: "diffusion encoding of volume \(v)", detail: "b = \(b) s/mm² in user_float[0] is not a b-value (0–50 000 s/mm²)")
            }
            let n = (d * d).sum().squareRoot()
            if b > 0, n > 0, abs(n - 1) > 0.05 {
                throw CordError.invalidValue(what: "diffusion encoding of volume \(v)", detail: "the direction in user_float[1…3] has length \(formatSignificantCore(n)), not 1")
            }
            out.append((b, n > 0 ? d / n : .zero))
        }
        return out.contains { $0.b > 0 } ? out : nil
    }

    // MARK: - One slice

    static func reconstructSlice(plan: Plan, slice s: Int, volume v: Int, references: [Int],
                                 whitening: [ComplexD]?, options: EPIReconOptions) throws -> ([ComplexF], GhostPhase, [Double], [Float]?, String) {
        let nc = plan.channels, nx = plan.nx, ny = plan.ny
        // Hybrid-space lines (x after the readout FFT), per coil.
        @Sendable func hybrid(_ a: RawAcquisition) -> [ComplexD] {
            var line = plan.uniformLine(a, whitening: whitening)  // nx × nc (coil-major)
            CentredFFT.transform(&line, n: nx, count: nc, stride: 1, distance: nx, inverse: true)
            return line
        }
        // Ghost phase.
        var ghost = GhostPhase(coefficients: [], source: "none")
        let imaging = plan.imageLines(slice: s, volume: v)
        guard !imaging.isEmpty else {
            throw CordError.invalidValue(what: "raw data", detail: "slice \(plan.slices[s]) of volume \(v + 1) has no imaging readout")
        }
        let hasReverse = imaging.contains { plan.raw.acquisitions[$0].flags.contains(.isReverse) }
        if options.ghost != .none && hasReverse {
            if !references.isEmpty {
                let lines = references.map { (hybrid(plan.raw.acquisitions[$0]), plan.raw.acquisitions[$0].flags.contains(.isReverse)) }
                ghost = try GhostEstimation.fromReferences(lines, nx: nx, channels: nc, polynomial: options.ghost == .polynomial)
            } else {
                ghost = GhostPhase(coefficients: [], source: "reference-free")
            }
        }
        // k-space (hybrid x × ky) per coil, with averaging of repeated lines.
        var k = [ComplexD](repeating: .zero, count: nc * nx * ny)
        var counts = [Int](repeating: 0, count: ny)
        var reverseRows = [Bool](repeating: false, count: ny)
        for i in imaging {
            let a = plan.raw.acquisitions[i]
            let row = a.index.kspaceEncodeStep1 - plan.centreLine + ny / 2
            guard row >= 0 && row < ny else {
                throw CordError.invalidValue(what: "raw data", detail: "acquisition \(i + 1): line \(a.index.kspaceEncodeStep1) lies outside the encoded matrix (\(ny) lines, centre \(plan.centreLine)): the counters are inconsistent with the header")
            }
        }
        // The readouts of the slice on the uniform grid, in parallel (each line independent).
        let prepared = ResultSlots<[ComplexD]>(imaging.count)
        parallelChunks(imaging.count) { range, _ in
            for t in range { prepared.set(t, .success(hybrid(plan.raw.acquisitions[imaging[t]]))) }
        }
        let lines = try prepared.results("EPI readout").map { try $0.get() }
        for (t, i) in imaging.enumerated() {
            let a = plan.raw.acquisitions[i]
            let row = a.index.kspaceEncodeStep1 - plan.centreLine + ny / 2
            let line = lines[t]
            counts[row] += 1
            reverseRows[row] = a.flags.contains(.isReverse)
            for c in 0..<nc { for x in 0..<nx { k[(c * ny + row) * nx + x] += line[c * nx + x] } }
        }
        for row in 0..<ny where counts[row] > 1 {
            let f = 1 / Double(counts[row])
            for c in 0..<nc { for x in 0..<nx { let o = (c * ny + row) * nx + x; k[o] = ComplexD(k[o].real * f, k[o].imaginary * f) } }
        }
        let acquired = counts.map { $0 > 0 }
        // Ghost correction (reference-free search when needed).
        if ghost.source == "reference-free" {
            ghost = GhostEstimation.referenceFree(k, nx: nx, ny: ny, channels: nc, reverseRows: reverseRows, acquired: acquired,
                                                  polynomial: options.ghost == .polynomial)
        }
        if !ghost.coefficients.isEmpty {
            GhostEstimation.apply(ghost, to: &k, nx: nx, ny: ny, channels: nc, reverseRows: reverseRows)
        }
        // Readout oversampling removal.
        var kx = k, cx = nx
        if plan.cropX {
            cx = plan.outNx
            let x0 = (nx - cx) / 2
            kx = [ComplexD](repeating: .zero, count: nc * cx * ny)
            for c in 0..<nc { for r in 0..<ny { for x in 0..<cx { kx[(c * ny + r) * cx + x] = k[(c * ny + r) * nx + x0 + x] } } }
        }
        // GRAPPA along ky (kernel in kx-space), with the calibration lines processed alike.
        var acquiredRows = acquired
        var kernel: GRAPPAKernel?
        var grappaNote = ""
        if plan.acceleration > 1 && options.parallelImaging {
            let cal = plan.calibrationLines(slice: s)
            guard !cal.isEmpty else {
                throw CordError.invalidValue(what: "raw data", detail: "R = \(plan.acceleration) but slice \(plan.slices[s]) has no ACQ_IS_PARALLEL_CALIBRATION lines to calibrate GRAPPA")
            }
            // ACS rows (hybrid, ghost-corrected, cropped), averaged per line, contiguous. A
            // calibration train with its own reference lines gets its own ghost phase.
            var calGhost = ghost
            let calRefs = plan.calibrationReferenceLines(slice: s)
            if options.ghost != .none, !calRefs.isEmpty {
                let lines = calRefs.map { (hybrid(plan.raw.acquisitions[$0]), plan.raw.acquisitions[$0].flags.contains(.isReverse)) }
                calGhost = try GhostEstimation.fromReferences(lines, nx: nx, channels: nc, polynomial: options.ghost == .polynomial)
            }
            var byLine: [Int: ([ComplexD], Int)] = [:]
            for i in cal {
                let a = plan.raw.acquisitions[i]
                var line = hybrid(a)
                if a.flags.contains(.isReverse), !calGhost.coefficients.isEmpty {
                    GhostEstimation.apply(calGhost, to: &line, nx: nx, ny: 1, channels: nc, reverseRows: [true])
                }
                var cropped = [ComplexD](repeating: .zero, count: nc * cx)
                let x0 = (nx - cx) / 2
                for c in 0..<nc { for x in 0..<cx { cropped[c * cx + x] = line[c * nx + x0 + x] } }
                if let (sum, n) = byLine[a.index.kspaceEncodeStep1] {
                    byLine[a.index.kspaceEncodeStep1] = (zip(sum, cropped).map { $0 + $1 }, n + 1)
                } else { byLine[a.index.kspaceEncodeStep1] = (cropped, 1) }
            }
            let lines = byLine.keys.sorted()
            guard let first = lines.first, let last = lines.last, last - first + 1 == lines.count else {
                throw CordError.invalidValue(what: "raw data", detail: "the GRAPPA calibration lines of slice \(plan.slices[s]) are not contiguous (\(lines.count) lines between \(lines.first ?? 0) and \(lines.last ?? 0))")
            }
            let rows = lines.count
            var acs = [ComplexD](repeating: .zero, count: nc * cx * rows)
            for (r, l) in lines.enumerated() {
                let (sum, n) = byLine[l]!
                for c in 0..<nc { for x in 0..<cx { acs[(c * rows + r) * cx + x] = sum[c * cx + x] / ComplexD(Double(n), 0) } }
            }
            CentredFFT.transform(&acs, n: cx, count: nc * rows, stride: 1, distance: cx, inverse: false)
            CentredFFT.transform(&kx, n: cx, count: nc * ny, stride: 1, distance: cx, inverse: false)
            let kern = try GRAPPAKernel.fit(acs: acs, nx: cx, rows: rows, channels: nc, acceleration: plan.acceleration)
            acquiredRows = kern.apply(&kx, nx: cx, ny: ny, acquired: acquired)
            CentredFFT.transform(&kx, n: cx, count: nc * ny, stride: 1, distance: cx, inverse: true)
            kernel = kern
            grappaNote = "GRAPPA R = \(plan.acceleration), 2×5 kernel, \(rows) calibration lines"
        }
        // Partial Fourier and phase FFT, per coil.
        var coilImages = [ComplexD](repeating: .zero, count: nc * cx * ny)
        for c in 0..<nc {
            var kc = Array(kx[(c * cx * ny)..<((c + 1) * cx * ny)])
            let img = PartialFourier.reconstruct(&kc, nx: cx, ny: ny, acquired: acquiredRows, method: options.partialFourier,
                                                 iterations: options.pocsIterations)
            for i in 0..<(cx * ny) { coilImages[c * cx * ny + i] = img[i] }
        }
        // Phase-oversampling crop.
        let oy = plan.outNy, y0 = (ny - oy) / 2
        func cropY(_ im: [ComplexD]) -> [ComplexD] {
            var out = [ComplexD](repeating: .zero, count: nc * cx * oy)
            for c in 0..<nc { for y in 0..<oy { for x in 0..<cx { out[(c * oy + y) * cx + x] = im[(c * ny + y0 + y) * cx + x] } } }
            return out
        }
        let cropped = cropY(coilImages)
        let weights = CoilCombiner.weights(cropped, nx: cx, ny: oy, channels: nc, method: options.coilCombination, kernel: options.adaptiveKernel)
        let combined = CoilCombiner.apply(weights, to: cropped, n: cx * oy, channels: nc)
        // g-factor by pseudo-replicas (linear chain: GRAPPA, zero-filled partial Fourier, fixed weights).
        var gmap: [Float]?
        if options.gFactor {
            if let kern = kernel {
                var rng = SeededRNG(seed: 0x6FAC_7012 &+ UInt64(s))
                var variance = [Double](repeating: 0, count: cx * oy)
                let reps = max(8, options.gFactorReplicas)
                for _ in 0..<reps {
                    var noise = [ComplexD](repeating: .zero, count: nc * cx * ny)
                    for c in 0..<nc { for y in 0..<ny where acquired[y] { for x in 0..<cx {
                        noise[(c * ny + y) * cx + x] = ComplexD(rng.normal() * 0.5.squareRoot(), rng.normal() * 0.5.squareRoot())
                    } } }
                    _ = kern.apply(&noise, nx: cx, ny: ny, acquired: acquired)
                    CentredFFT.transform(&noise, n: cx, count: nc * ny, stride: 1, distance: cx, inverse: true)
                    for c in 0..<nc {
                        var kc = Array(noise[(c * cx * ny)..<((c + 1) * cx * ny)])
                        CentredFFT.alongY(&kc, nx: cx, ny: ny, inverse: true)
                        for i in 0..<(cx * ny) { noise[c * cx * ny + i] = kc[i] }
                    }
                    let n = CoilCombiner.apply(weights, to: cropY(noise), n: cx * oy, channels: nc)
                    for i in 0..<(cx * oy) { variance[i] += n[i].lengthSquared }
                }
                let r = Double(plan.acceleration)
                gmap = variance.map { Float(($0 / Double(reps)).squareRoot() / r.squareRoot()) }
            } else {
                gmap = [Float](repeating: 1, count: cx * oy)
            }
        }
        // Excitation profile along PE (mean magnitude per row, normalised; measured, not corrected).
        var profile = (0..<oy).map { y in (0..<cx).reduce(0.0) { $0 + combined[y * cx + $1].length } / Double(cx) }
        let pmax = profile.max() ?? 0
        if pmax > 0 { profile = profile.map { $0 / pmax } }
        return (combined.map { ComplexF(Float($0.real), Float($0.imaginary)) }, ghost, profile, gmap, grappaNote)
    }
}
