// Simultaneous multi-slice (SMS) separation: slice-GRAPPA (Setsompop et al. 2012 MRM 67:1210)
// and split slice-GRAPPA (Cauley et al. 2014 MRM 72:93), kernels trained on the single-band
// calibration (docs/raw-data.md, "SMS").
//
// For a group of MB slices, the collapsed k-space is M = Σ_k T_k where T_k is slice k's k-space
// after its CAIPI shift (+k·FOV/D along phase: row ky × e^{−2πi(ky−c)k/D}). A kernel W_k maps a
// (rows × columns × coils) neighbourhood of M, rows R apart (R = in-plane acceleration), to slice
// k's coil values at the centre. Slice-GRAPPA fits ‖(Σ_j A_j)W_k − B_k‖² (A_j: neighbourhoods of
// T_j, B_k: centres of T_k); split slice-GRAPPA fits ‖A_k W_k − B_k‖² + Σ_{j≠k}‖A_j W_k‖², i.e.
// (Σ_j A_jᴴA_j) W_k = A_kᴴB_k, which also asks every other slice to map to zero and so trades a
// little noise for less inter-slice leakage. Both are Tikhonov-regularised (λ·trace/n).
//
// Odd/even (Nyquist) phase: slice-specific, so one correction of the collapsed data cannot remove
// it. CordQ uses odd/even-aware kernels instead of ghost correction before separation: each
// calibration slice is ghost-corrected with its own reference lines (φ_s), and the training
// sources are built with the collapsed train's polarity pattern (a reflected row of slice s
// carries e^{−iφ_s(x)}, as acquired), while the targets are the corrected rows. Two kernels per
// slice, one for target rows read forward and one for reflected ones, so the separated slices
// come out ghost-corrected. The CAIPI shift is undone after separation, then in-plane GRAPPA
// (the existing kernel, trained on the slice's corrected calibration), partial Fourier, the phase
// FFT and coil combination run per slice as in the single-band chain.
//
// Leakage (L-factor, after Cauley 2014): every calibration slice alone, shifted and with the
// collapsed polarity pattern, is pushed through all kernels of its group; the energy that comes
// out in the other slices' outputs, relative to the energy in its own output, is the leakage
// (in-sample: measured on the data the kernels were trained on; the expected energy of the
// calibration's own white noise through each kernel is subtracted on pre-whitened data). g-factor: pseudo-replicas
// (Robson et al. 2008 MRM 60:895) — unit white noise on the acquired collapsed samples through
// the same separation, in-plane GRAPPA and coil weights; g = σ / (√R·σ_single-band), σ_sb = 1.
@preconcurrency import CLAPACK
import CordCore
import Foundation

/// How the slices of a collapsed acquisition are separated.
public enum SMSSeparation: String, Sendable, CaseIterable, Codable {
    /// Slice-GRAPPA (Setsompop 2012): kernels fitted on the synthetic collapse of the calibration.
    case sliceGRAPPA = "slice-grappa"
    /// Split slice-GRAPPA (Cauley 2014): kernels that also null the other slices' calibration.
    case splitSliceGRAPPA = "split-slice-grappa"
}

/// Options of the SMS separation.
public struct SMSReconOptions: Sendable {
    public var method: SMSSeparation = .splitSliceGRAPPA
    /// Kernel extent along ky (rows, odd, R apart) and kx (columns, odd).
    public var kernelRows = 3, kernelColumns = 5
    /// Tikhonov regularisation relative to the mean diagonal of the normal matrix.
    public var lambda = 1e-3
    public init() {}
}

/// What the SMS separation measured (the JSON report of `cordq recon --sms-report`).
public struct SMSReport: Sendable, Codable {
    public var multibandFactor = 1
    public var slices = 0
    public var groups = 0
    public var caipiShiftDenominator = 1
    public var method = ""
    public var ghostHandling = ""
    public var kernel = ""
    public var calibrationLines = 0
    public var inPlaneAcceleration = 1
    /// Leakage into each slice from the other slices of its group, as an amplitude ratio
    /// (√(Σ_{k≠j} E_{k→j} / E_{j→j})), slices in output order; E_{k→j} is the energy slice k's
    /// calibration alone produces in slice j's output, minus the expected energy of its noise
    /// through slice j's kernel when the data were pre-whitened (`leakageNoiseCorrected`).
    public var leakagePerSlice: [Double] = []
    public var meanLeakage = 0.0, maxLeakage = 0.0
    public var leakageNoiseCorrected = false
    /// Mean amplitude ratio the calibration noise alone would have shown as leakage (what was
    /// subtracted): leakage well below it is at the limit of what the calibration can measure.
    public var noiseEquivalentLeakage = 0.0
    /// g-factor in the object per slice (mean and maximum), when computed.
    public var gFactorMeanPerSlice: [Double] = []
    public var gFactorMaxPerSlice: [Double] = []
    public var meanGFactor: Double?
    public var maxGFactor: Double?
}

/// A reconstructed SMS series: the EPI result (slices in slice order) and the SMS report.
public struct SMSReconResult: Sendable {
    public var epi: EPIReconResult
    public var sms: SMSReport
}

public enum SMSReconstruction {
    /// Separates and reconstructs every slice of a multiband data set.
    public static func reconstruct(_ raw: RawDataset, options: EPIReconOptions = EPIReconOptions(),
                                   sms: SMSReconOptions = SMSReconOptions()) throws -> SMSReconResult {
        let h = raw.header
        let mb = h.multibandFactor
        guard mb >= 2, mb <= 16 else {
            throw CordError.invalidValue(what: "raw header", detail: "MultibandFactor \(mb) is not an SMS factor (2–16)")
        }
        guard let sl = h.limits["slice"] else {
            throw CordError.invalidValue(what: "raw header", detail: "MultibandFactor \(mb) but no encodingLimits.slice: the number of slices is unknown")
        }
        let nSlices = sl.maximum - sl.minimum + 1
        guard sl.minimum == 0, nSlices >= mb, nSlices % mb == 0 else {
            throw CordError.invalidValue(what: "raw header", detail: "MultibandFactor \(mb) is inconsistent with the \(nSlices) slices of encodingLimits.slice (\(sl.minimum)…\(sl.maximum)): the slices must split into groups of \(mb)")
        }
        let groups = nSlices / mb
        let den = h.userParameterLong["MultibandCaipiShiftDenominator"] ?? 1
        guard den >= 1, den <= 64 else {
            throw CordError.invalidValue(what: "raw header", detail: "MultibandCaipiShiftDenominator \(den) is not a CAIPI shift denominator (1–64)")
        }
        guard sms.kernelRows >= 1, sms.kernelRows % 2 == 1, sms.kernelColumns >= 1, sms.kernelColumns % 2 == 1, sms.lambda >= 0 else {
            throw CordError.invalidValue(what: "slice-GRAPPA kernel", detail: "rows and columns must be odd and positive, λ ≥ 0")
        }
        let plan = try Plan(raw, options: options)
        if let last = plan.slices.last, last >= groups {
            throw CordError.invalidValue(what: "raw data", detail: "collapsed readouts carry slice-group counter \(last), but \(nSlices) slices / MultibandFactor \(mb) make \(groups) groups (0…\(groups - 1)): MultibandFactor is inconsistent with the slices")
        }
        guard plan.slices == Array(0..<groups) else {
            let missing = Set(0..<groups).subtracting(plan.slices).sorted()
            throw CordError.invalidValue(what: "raw data", detail: "slice group(s) \(missing.map(String.init).joined(separator: ", ")) have no collapsed readout (\(groups) groups expected for \(nSlices) slices at MultibandFactor \(mb))")
        }
        var report = EPIReconReport(plan: plan, options: options, sequence: h.sequenceName.isEmpty ? "sms-epi" : h.sequenceName, slices: nSlices)
        let noise = try NoiseWhitening.estimate(raw, plan: plan, enabled: options.prewhiten)
        report.noiseSource = noise.source
        report.noiseCovarianceDiagonal = noise.covarianceDiagonal
        if !noise.warning.isEmpty { report.warnings.append(noise.warning) }

        let progress = ProgressReporter("cordq recon: SMS", total: nSlices + groups * (1 + plan.volumes.count), forceQuiet: options.quiet)
        // Single-band calibration per slice, ghost-corrected.
        let cal = try calibration(plan: plan, slices: nSlices, whitening: noise.whitening, options: options, progress: progress)
        let calRows = cal[0].rows
        // Collapsed polarity pattern and the shared geometry.
        let ctx = Context(plan: plan, mb: mb, groups: groups, den: den, sms: sms, cal: cal)
        ctx.replicas = max(8, options.gFactorReplicas)
        ctx.whitened = noise.whitening != nil
        try ctx.checkPolarity()
        // Kernels per group (trained in parallel over groups).
        let kernelSlots = ResultSlots<GroupKernels>(groups)
        parallelChunks(groups) { range, _ in
            for g in range {
                do { kernelSlots.set(g, .success(try ctx.train(group: g))) } catch { kernelSlots.set(g, .failure(error)) }
                progress.advance()
            }
        }
        let kernels = try kernelSlots.results("slice-GRAPPA kernel").map { try $0.get() }
        // In-plane GRAPPA kernels per slice.
        var inPlane: [GRAPPAKernel?] = Array(repeating: nil, count: nSlices)
        if plan.acceleration > 1 && options.parallelImaging {
            for s in 0..<nSlices {
                // kx-space calibration of the slice, unshifted and ghost-corrected.
                inPlane[s] = try GRAPPAKernel.fit(acs: cal[s].forward, nx: ctx.cx, rows: calRows.count, channels: plan.channels,
                                                  acceleration: plan.acceleration)
            }
        }
        ctx.inPlane = inPlane
        // Separate and reconstruct each (group, volume).
        let outX = plan.outNx, outY = plan.outNy
        let tasks = plan.volumes.indices.flatMap { v in (0..<groups).map { (group: $0, volume: v) } }
        let out = SharedBuffer<ComplexF>(repeating: .zero, count: outX * outY * nSlices * plan.volumes.count)
        let gOut = SharedBuffer<Float>(repeating: 1, count: outX * outY * nSlices)
        let done = ResultSlots<Bool>(tasks.count)
        parallelChunks(tasks.count) { range, _ in
            for t in range {
                let (g, v) = (tasks[t].group, tasks[t].volume)
                do {
                    let res = try ctx.reconstructGroup(g, volume: v, kernels: kernels[g], whitening: noise.whitening,
                                                       options: options, gFactor: options.gFactor && v == 0)
                    for (k, img) in res.images.enumerated() {
                        let s = g + k * groups
                        let base = (v * nSlices + s) * outX * outY
                        for i in 0..<(outX * outY) { out[base + i] = img[i] }
                        if let gm = res.gFactor?[k] { for i in 0..<(outX * outY) { gOut[s * outX * outY + i] = gm[i] } }
                    }
                    done.set(t, .success(true))
                } catch { done.set(t, .failure(error)) }
                progress.advance()
            }
        }
        progress.finish()
        for r in done.results("SMS slice group") { _ = try r.get() }

        var smsReport = SMSReport()
        smsReport.multibandFactor = mb; smsReport.slices = nSlices; smsReport.groups = groups
        smsReport.caipiShiftDenominator = den; smsReport.method = sms.method.rawValue
        smsReport.ghostHandling = options.ghost == .none
            ? "none"
            : "odd/even-aware kernels: calibration slices ghost-corrected with their own reference lines (\(options.ghost.rawValue)), separate kernels for forward and reflected target rows"
        smsReport.kernel = "\(sms.kernelRows) rows (\(plan.acceleration) apart) × \(sms.kernelColumns) columns × \(plan.channels) coils, λ = \(formatSignificantCore(sms.lambda))"
        smsReport.calibrationLines = calRows.count
        smsReport.inPlaneAcceleration = plan.acceleration
        // Leakage per slice.
        var leak = [Double](repeating: 0, count: nSlices), floor = [Double](repeating: 0, count: nSlices)
        for g in 0..<groups {
            let e = kernels[g].leakageEnergy   // [source][target]
            for j in 0..<mb {
                let own = e[j][j]
                let other = (0..<mb).filter { $0 != j }.reduce(0.0) { $0 + e[$1][j] }
                if own > 0 {
                    leak[g + j * groups] = (other / own).squareRoot()
                    floor[g + j * groups] = (Double(mb - 1) * kernels[g].noiseEnergy[j] / own).squareRoot()
                } else {
                    leak[g + j * groups] = 1
                    report.warnings.append("slice \(g + j * groups) has no signal in its single-band calibration: its leakage is reported as 1 (not measurable)")
                }
            }
        }
        smsReport.leakagePerSlice = leak
        smsReport.leakageNoiseCorrected = noise.whitening != nil
        smsReport.noiseEquivalentLeakage = floor.reduce(0, +) / Double(max(1, floor.count))
        smsReport.meanLeakage = leak.reduce(0, +) / Double(max(1, leak.count))
        smsReport.maxLeakage = leak.max() ?? 0
        report.ghostPhases = cal.map(\.ghost)
        report.grappa = "SMS \(sms.method.rawValue), MB \(mb), CAIPI FOV/\(den)" + (plan.acceleration > 1 ? "; in-plane GRAPPA R = \(plan.acceleration)" : "")
        report.matrix = [outX, outY, nSlices]
        let grid = outputGrid(plan: plan, positions: cal.map(\.position), spacing: h.userParameterDouble["SliceSpacing_mm"])
        if !plan.hasGeometry { report.warnings.append("the raw data carry no usable read/phase/slice directions: the image affine is the identity orientation (LPS) at the slice position") }
        let image = Volume<ComplexF>(grid: grid, frames: plan.volumes.count, exactly: out.array)
        var gVolume: Volume<Float>?
        if options.gFactor {
            let g = Volume<Float>(grid: grid, frames: 1, exactly: gOut.array)
            let n = outX * outY
            for s in 0..<nSlices {
                let mags = (0..<n).map { Double(image.data[s * n + $0].length) }
                let sorted = mags.sorted()
                let p99 = sorted[min(sorted.count - 1, sorted.count * 99 / 100)]
                let inObj = mags.indices.filter { mags[$0] > 0.2 * p99 }
                let vals = inObj.map { Double(g.data[s * n + $0]) }
                smsReport.gFactorMeanPerSlice.append(vals.isEmpty ? 1 : vals.reduce(0, +) / Double(vals.count))
                smsReport.gFactorMaxPerSlice.append(vals.max() ?? 1)
            }
            smsReport.meanGFactor = smsReport.gFactorMeanPerSlice.reduce(0, +) / Double(nSlices)
            smsReport.maxGFactor = smsReport.gFactorMaxPerSlice.max()
            report.meanGFactor = smsReport.meanGFactor
            gVolume = g
        }
        let groupTiming = plan.sliceTiming()
        let timing = (0..<nSlices).map { groupTiming[$0 % groups] }
        var result = EPIReconResult(image: image, report: report, sliceTiming: timing, phaseEncodingSign: plan.phaseEncodingSign(),
                                    echoSpacingSeconds: h.echoSpacingMs.map { $0 / 1000 }, reconPhaseLines: outY, gFactor: gVolume)
        result.diffusion = try EPIReconstruction.diffusionEncoding(raw, plan: plan)
        return SMSReconResult(epi: result, sms: smsReport)
    }

    // MARK: - Calibration

    /// One slice's single-band calibration: corrected kx-space rows (coil-major, rows × cx),
    /// its odd/even phase and position.
    struct Calibration: @unchecked Sendable {
        var forward: [ComplexD]
        /// Hybrid (x, ky) corrected rows, for building the polarity-mixed training data.
        var hybrid: [ComplexD]
        var ghost: GhostPhase
        var rows: [Int]          // k-space row indices (0…ny−1), contiguous
        var position: SIMD3<Double>
    }

    static func calibration(plan: Plan, slices n: Int, whitening: [ComplexD]?, options: EPIReconOptions,
                            progress: ProgressReporter) throws -> [Calibration] {
        let acqs = plan.raw.acquisitions
        var calLines = [[Int]](repeating: [], count: n), calRefs = [[Int]](repeating: [], count: n)
        for i in acqs.indices where acqs[i].flags.contains(.isParallelCalibration) {
            let s = acqs[i].index.slice
            guard s >= 0 && s < n else {
                throw CordError.invalidValue(what: "raw data", detail: "calibration readout \(i + 1) has slice counter \(s), outside the \(n) slices of encodingLimits.slice")
            }
            if acqs[i].flags.contains(.isPhaseCorrectionData) { calRefs[s].append(i) } else { calLines[s].append(i) }
        }
        let missing = (0..<n).filter { calLines[$0].isEmpty }
        guard missing.isEmpty else {
            let list = missing.count > 8 ? missing.prefix(8).map(String.init).joined(separator: ", ") + ", …" : missing.map(String.init).joined(separator: ", ")
            throw CordError.invalidValue(what: "raw data", detail: "SMS data (MultibandFactor \(plan.raw.header.multibandFactor)) need a single-band calibration (ACQ_IS_PARALLEL_CALIBRATION readouts with idx.slice = slice) for every slice; \(missing.count) of \(n) slices have none (\(list))")
        }
        let nc = plan.channels, nx = plan.nx, ny = plan.ny
        let cx = plan.outNx, x0 = (nx - cx) / 2
        let slots = ResultSlots<Calibration>(n)
        let (lines, refs) = (calLines, calRefs)
        parallelChunks(n) { range, _ in
            for s in range {
                do {
                    func hybrid(_ a: RawAcquisition) -> [ComplexD] {
                        var l = plan.uniformLine(a, whitening: whitening)
                        CentredFFT.transform(&l, n: nx, count: nc, stride: 1, distance: nx, inverse: true)
                        return l
                    }
                    // Rows, averaged when repeated.
                    var byRow: [Int: ([ComplexD], Int, Bool)] = [:]
                    for i in lines[s] {
                        let a = acqs[i]
                        let row = a.index.kspaceEncodeStep1 - plan.centreLine + ny / 2
                        guard row >= 0 && row < ny else {
                            throw CordError.invalidValue(what: "raw data", detail: "calibration readout \(i + 1): line \(a.index.kspaceEncodeStep1) lies outside the encoded matrix (\(ny) lines, centre \(plan.centreLine))")
                        }
                        let l = hybrid(a), rev = a.flags.contains(.isReverse)
                        if let (sum, c, r) = byRow[row] {
                            guard r == rev else {
                                throw CordError.invalidValue(what: "raw data", detail: "calibration line \(a.index.kspaceEncodeStep1) of slice \(s) is repeated with both readout polarities")
                            }
                            byRow[row] = (zip(sum, l).map { $0 + $1 }, c + 1, r)
                        } else { byRow[row] = (l, 1, rev) }
                    }
                    let rows = byRow.keys.sorted()
                    guard let first = rows.first, let last = rows.last, last - first + 1 == rows.count else {
                        throw CordError.invalidValue(what: "raw data", detail: "the single-band calibration of slice \(s) is not a contiguous block of ky lines (\(rows.count) lines between \(rows.first ?? 0) and \(rows.last ?? 0))")
                    }
                    let nr = rows.count
                    var block = [ComplexD](repeating: .zero, count: nc * nr * nx)
                    var reverse = [Bool](repeating: false, count: nr)
                    for (r, row) in rows.enumerated() {
                        let (sum, c, rev) = byRow[row]!
                        reverse[r] = rev
                        let f = 1 / Double(c)
                        for ch in 0..<nc { for x in 0..<nx { block[(ch * nr + r) * nx + x] = sum[ch * nx + x] * ComplexD(f, 0) } }
                    }
                    var ghost = GhostPhase(coefficients: [], source: "none")
                    if options.ghost != .none && reverse.contains(true) {
                        if !refs[s].isEmpty {
                            let rl = refs[s].map { (hybrid(acqs[$0]), acqs[$0].flags.contains(.isReverse)) }
                            ghost = try GhostEstimation.fromReferences(rl, nx: nx, channels: nc, polynomial: options.ghost == .polynomial)
                        } else {
                            // Image entropy needs k-space along y: the block as rows of an nr-line matrix.
                            ghost = GhostEstimation.referenceFree(block, nx: nx, ny: nr, channels: nc, reverseRows: reverse,
                                                                  acquired: [Bool](repeating: true, count: nr), polynomial: options.ghost == .polynomial)
                        }
                        GhostEstimation.apply(ghost, to: &block, nx: nx, ny: nr, channels: nc, reverseRows: reverse)
                    }
                    // Readout-oversampling crop (hybrid), then kx.
                    var hyb = [ComplexD](repeating: .zero, count: nc * nr * cx)
                    for ch in 0..<nc { for r in 0..<nr { for x in 0..<cx { hyb[(ch * nr + r) * cx + x] = block[(ch * nr + r) * nx + x0 + x] } } }
                    var fwd = hyb
                    CentredFFT.transform(&fwd, n: cx, count: nc * nr, stride: 1, distance: cx, inverse: false)
                    // φ is a function of x − nx/2, which the crop keeps (x' − cx/2 = x − nx/2).
                    let g = ghost
                    let pos = acqs[lines[s][0]].position
                    slots.set(s, .success(Calibration(forward: fwd, hybrid: hyb, ghost: g, rows: rows, position: pos)))
                } catch { slots.set(s, .failure(error)) }
                progress.advance()
            }
        }
        let cal = try slots.results("single-band calibration").map { try $0.get() }
        let r0 = cal[0].rows
        for (s, c) in cal.enumerated() where c.rows != r0 {
            throw CordError.invalidValue(what: "raw data", detail: "the single-band calibration of slice \(s) covers lines \(c.rows.first ?? 0)…\(c.rows.last ?? 0), slice 0 covers \(r0.first ?? 0)…\(r0.last ?? 0): all slices need the same calibration block")
        }
        return cal
    }

    // MARK: - Kernels

    struct GroupKernels: @unchecked Sendable {
        /// weights[parity] (0: forward target row, 1: reflected): ns × (nc·MB), row-major,
        /// column k·nc + c = slice k, coil c.
        var weights: [[ComplexD]]
        /// leakageEnergy[source][target] over the calibration region (noise expectation removed).
        var leakageEnergy: [[Double]]
        /// Expected energy of one source slice's calibration noise through each target's kernel.
        var noiseEnergy: [Double]
    }

    /// Shared read-only state of one reconstruction.
    final class Context: @unchecked Sendable {
        let plan: Plan, mb: Int, groups: Int, den: Int, sms: SMSReconOptions, cal: [Calibration]
        let nc: Int, cx: Int, ny: Int, r: Int, hr: Int, hc: Int, ns: Int
        /// Whether k-space row y is read reflected in the collapsed train (rows off the acquired
        /// lattice get the polarity of the alternating pattern continued).
        var reflected: [Bool]
        let os: Double

        init(plan: Plan, mb: Int, groups: Int, den: Int, sms: SMSReconOptions, cal: [Calibration]) {
            self.plan = plan; self.mb = mb; self.groups = groups; self.den = den; self.sms = sms; self.cal = cal
            nc = plan.channels; cx = plan.outNx; ny = plan.ny; r = plan.acceleration
            hr = sms.kernelRows / 2; hc = sms.kernelColumns / 2
            ns = sms.kernelRows * sms.kernelColumns * plan.channels
            reflected = [Bool](repeating: false, count: plan.ny)
            os = max(1, plan.raw.header.phaseOversampling)
        }

        /// Reads the collapsed train's polarity pattern (group 0, first volume) and checks that
        /// every group and volume follows it.
        func checkPolarity() throws {
            let acqs = plan.raw.acquisitions
            var seen: [Int: Bool] = [:]
            for g in 0..<groups {
                for v in plan.volumes.indices {
                    for i in plan.imageLines(slice: g, volume: v) {
                        let row = acqs[i].index.kspaceEncodeStep1 - plan.centreLine + ny / 2
                        guard row >= 0 && row < ny else {
                            throw CordError.invalidValue(what: "raw data", detail: "acquisition \(i + 1): line \(acqs[i].index.kspaceEncodeStep1) lies outside the encoded matrix (\(ny) lines, centre \(plan.centreLine))")
                        }
                        let rev = acqs[i].flags.contains(.isReverse)
                        if let p = seen[row], p != rev {
                            throw CordError.invalidValue(what: "raw data", detail: "ky line \(acqs[i].index.kspaceEncodeStep1) is read forward in one collapsed train and reflected in another: the odd/even-aware slice-GRAPPA kernels need one polarity pattern for all groups and volumes")
                        }
                        seen[row] = rev
                    }
                }
            }
            guard let y0 = seen.keys.min() else { return }
            let r0 = seen[y0] ?? false
            for y in 0..<ny {
                let d = y - y0
                let step = d >= 0 ? d / r : -((-d + r - 1) / r)   // floor((y − y0)/R)
                reflected[y] = (abs(step) % 2 == 1) != r0
            }
            for (y, rev) in seen where reflected[y] != rev {
                throw CordError.invalidValue(what: "raw data", detail: "the collapsed EPI train does not alternate readout polarity line by line (ky line \(y + plan.centreLine - ny / 2)); slice-GRAPPA here assumes alternating EPI polarity")
            }
        }

        /// CAIPI phase of k-space row y for group member k: e^{−2πi(y − ny/2)k/(D·os)}.
        func caipi(_ y: Int, _ k: Int, undo: Bool = false) -> ComplexD {
            let a = (undo ? 2.0 : -2.0) * Double.pi * Double(y - ny / 2) * Double(k) / (Double(den) * os)
            return ComplexD(cos(a), sin(a))
        }

        /// kx-space calibration of slice s as the collapsed train would see it (shifted; reflected
        /// rows carrying e^{−iφ_s}), and the corrected shifted target.
        func trainingData(slice s: Int, member k: Int) -> (source: [ComplexD], target: [ComplexD]) {
            let c = cal[s], nr = c.rows.count
            var src = c.hybrid
            if !c.ghost.coefficients.isEmpty {
                let ph = (0..<cx).map { x -> ComplexD in let p = -c.ghost.phase(at: Double(x - cx / 2)); return ComplexD(cos(p), sin(p)) }
                for ch in 0..<nc { for (ri, y) in c.rows.enumerated() where reflected[y] {
                    for x in 0..<cx { let o = (ch * nr + ri) * cx + x; src[o] = src[o] * ph[x] }
                } }
            }
            CentredFFT.transform(&src, n: cx, count: nc * nr, stride: 1, distance: cx, inverse: false)
            var tgt = c.forward
            for ch in 0..<nc { for (ri, y) in c.rows.enumerated() {
                let e = caipi(y, k)
                for x in 0..<cx { let o = (ch * nr + ri) * cx + x; src[o] = src[o] * e; tgt[o] = tgt[o] * e }
            } }
            return (src, tgt)
        }

        /// Source neighbourhoods (row-major P × ns) of k-space `k` (nc × rows × cx, row list
        /// `rowOf`) at positions `pos` (row index in the block, column); rows outside → 0.
        func sources(_ k: [ComplexD], blockRows nr: Int, positions pos: [(Int, Int)], present: (Int) -> Bool) -> [ComplexD] {
            var a = [ComplexD](repeating: .zero, count: pos.count * ns)
            for (p, (ri, x)) in pos.enumerated() {
                var i = p * ns
                for dy in -hr...hr {
                    let rr = ri + dy * r
                    let ok = rr >= 0 && rr < nr && present(rr)
                    for dx in -hc...hc {
                        let xx = x + dx
                        for ch in 0..<nc {
                            if ok && xx >= 0 && xx < cx { a[i] = k[(ch * nr + rr) * cx + xx] }
                            i += 1
                        }
                    }
                }
            }
            return a
        }

        func train(group g: Int) throws -> GroupKernels {
            let members = (0..<mb).map { g + $0 * groups }
            let data = members.enumerated().map { trainingData(slice: $0.element, member: $0.offset) }
            let rows = cal[0].rows, nr = rows.count
            guard nr > 2 * hr * r else {
                throw CordError.invalidValue(what: "slice-GRAPPA", detail: "\(nr) calibration lines cannot hold a \(sms.kernelRows)-row kernel with rows \(r) apart")
            }
            var collapsed = [ComplexD](repeating: .zero, count: nc * nr * cx)
            for d in data { for i in collapsed.indices { collapsed[i] = collapsed[i] + d.source[i] } }
            let m = nc * mb
            var weights: [[ComplexD]] = []
            for parity in 0..<2 {
                var pos: [(Int, Int)] = []
                for ri in (hr * r)..<(nr - hr * r) where reflected[rows[ri]] == (parity == 1) {
                    for x in hc..<(cx - hc) { pos.append((ri, x)) }
                }
                guard pos.count >= ns else {
                    throw CordError.invalidValue(what: "slice-GRAPPA", detail: "the calibration region (\(nr) lines × \(cx) columns) has \(pos.count) fitting positions for a \(ns)-source kernel")
                }
                // Targets B (P × m): slice k, coil c at column k·nc + c.
                var b = [ComplexD](repeating: .zero, count: pos.count * m)
                for (k, d) in data.enumerated() {
                    for (p, (ri, x)) in pos.enumerated() { for ch in 0..<nc { b[p * m + k * nc + ch] = d.target[(ch * nr + ri) * cx + x] } }
                }
                var aha = [ComplexD](repeating: .zero, count: ns * ns)
                var ahb = [ComplexD](repeating: .zero, count: ns * m)
                if sms.method == .sliceGRAPPA {
                    let a = sources(collapsed, blockRows: nr, positions: pos) { _ in true }
                    gram(a, rows: pos.count, into: &aha)
                    cross(a, b, rows: pos.count, cols: m, into: &ahb)
                } else {
                    for (k, d) in data.enumerated() {
                        let a = sources(d.source, blockRows: nr, positions: pos) { _ in true }
                        gram(a, rows: pos.count, into: &aha)
                        // Only slice k's own targets: A_kᴴ B_k in columns k·nc ..< (k+1)·nc.
                        var bk = [ComplexD](repeating: .zero, count: pos.count * m)
                        for p in 0..<pos.count { for ch in 0..<nc { bk[p * m + k * nc + ch] = b[p * m + k * nc + ch] } }
                        cross(a, bk, rows: pos.count, cols: m, into: &ahb)
                    }
                }
                let trace = (0..<ns).reduce(0.0) { $0 + aha[$1 * ns + $1].real }
                for i in 0..<ns { aha[i * ns + i] = aha[i * ns + i] + ComplexD(sms.lambda * trace / Double(ns), 0) }
                guard trace > 0, let l = SmallLinearAlgebra.cholesky(aha, n: ns) else {
                    throw CordError.invalidValue(what: "slice-GRAPPA", detail: "the calibration of slice group \(g) does not determine the kernels (no signal in the single-band calibration?)")
                }
                weights.append(SmallLinearAlgebra.choleskySolve(l, n: ns, ahb, m: m))
            }
            // Leakage: each slice's calibration alone through every kernel (both parities). The
            // calibration's own noise also comes out of every kernel; on whitened data (unit
            // complex variance per sample) its expected energy is Σ_positions ‖W_j‖², which is
            // subtracted so that the leakage measures signal, not noise propagation.
            var noiseEnergy = [Double](repeating: 0, count: mb)
            if whitened {
                for parity in 0..<2 {
                    var count = 0
                    for ri in (hr * r)..<(nr - hr * r) where reflected[rows[ri]] == (parity == 1) { count += cx - 2 * hc }
                    for j in 0..<mb {
                        var w2 = 0.0
                        for i in 0..<ns { for ch in 0..<nc { w2 += weights[parity][i * m + j * nc + ch].lengthSquared } }
                        noiseEnergy[j] += Double(count) * w2
                    }
                }
            }
            var energy = [[Double]](repeating: [Double](repeating: 0, count: mb), count: mb)
            for (k, d) in data.enumerated() {
                let out = apply(weights, to: d.source, blockRows: nr, rowIndex: rows, acquired: [Bool](repeating: true, count: nr), interiorOnly: true)
                for j in 0..<mb { energy[k][j] = max(0, out[j].reduce(0.0) { $0 + $1.lengthSquared } - noiseEnergy[j]) }
            }
            return GroupKernels(weights: weights, leakageEnergy: energy, noiseEnergy: noiseEnergy)
        }

        /// AᴴA += for row-major A (P × ns), via zgemm (column-major X = Aᵀ: C = X·Xᴴ = (AᴴA)ᵀ,
        /// which read row-major is AᴴA).
        func gram(_ a: [ComplexD], rows p: Int, into c: inout [ComplexD]) {
            var n = Int32(ns), k = Int32(p), tN = Int8(UInt8(ascii: "N")), tC = Int8(UInt8(ascii: "C"))
            var one = ComplexD(1, 0)
            a.withUnsafeBufferPointer { ap in
                c.withUnsafeMutableBufferPointer { cp in
                    zgemm_(&tN, &tC, &n, &n, &k, &one, ap.baseAddress!, &n, ap.baseAddress!, &n, &one, cp.baseAddress!, &n)
                }
            }
        }

        /// AᴴB += for row-major A (P × ns), B (P × m): column-major D (m × ns) = Bᵀ·conj(A)
        /// = Y·Xᴴ, read row-major as AᴴB (ns × m).
        func cross(_ a: [ComplexD], _ b: [ComplexD], rows p: Int, cols m: Int, into c: inout [ComplexD]) {
            var n = Int32(ns), mm = Int32(m), k = Int32(p), tN = Int8(UInt8(ascii: "N")), tC = Int8(UInt8(ascii: "C"))
            var one = ComplexD(1, 0)
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    c.withUnsafeMutableBufferPointer { cp in
                        zgemm_(&tN, &tC, &mm, &n, &k, &one, bp.baseAddress!, &mm, ap.baseAddress!, &n, &one, cp.baseAddress!, &mm)
                    }
                }
            }
        }

        /// Applies the group's kernels to collapsed kx-space `k` (nc × nr × cx; row ri is
        /// k-space row rowIndex[ri]) at the acquired rows; returns MB arrays (nc × nr × cx).
        /// `interiorOnly`: only positions whose whole neighbourhood lies inside (leakage).
        func apply(_ weights: [[ComplexD]], to k: [ComplexD], blockRows nr: Int, rowIndex: [Int], acquired: [Bool],
                   interiorOnly: Bool) -> [[ComplexD]] {
            let m = nc * mb
            var out = [[ComplexD]](repeating: [ComplexD](repeating: .zero, count: nc * nr * cx), count: mb)
            for parity in 0..<2 {
                var pos: [(Int, Int)] = []
                for ri in 0..<nr where acquired[ri] && reflected[rowIndex[ri]] == (parity == 1) {
                    if interiorOnly && (ri < hr * r || ri >= nr - hr * r) { continue }
                    for x in 0..<cx {
                        if interiorOnly && (x < hc || x >= cx - hc) { continue }
                        pos.append((ri, x))
                    }
                }
                guard !pos.isEmpty else { continue }
                let a = sources(k, blockRows: nr, positions: pos) { acquired[$0] }
                var res = [ComplexD](repeating: .zero, count: pos.count * m)
                var mm = Int32(m), n = Int32(ns), p = Int32(pos.count), tN = Int8(UInt8(ascii: "N"))
                var one = ComplexD(1, 0), zero = ComplexD.zero
                a.withUnsafeBufferPointer { ap in
                    weights[parity].withUnsafeBufferPointer { wp in
                        res.withUnsafeMutableBufferPointer { rp in
                            // Column-major: res (m × P) = Wᵀ (m × ns) · Aᵀ (ns × P).
                            zgemm_(&tN, &tN, &mm, &p, &n, &one, wp.baseAddress!, &mm, ap.baseAddress!, &n, &zero, rp.baseAddress!, &mm)
                        }
                    }
                }
                for (q, (ri, x)) in pos.enumerated() {
                    for kk in 0..<mb { for ch in 0..<nc { out[kk][(ch * nr + ri) * cx + x] = res[q * m + kk * nc + ch] } }
                }
            }
            return out
        }

        /// Separates group g of volume v and reconstructs its MB slices (combined images on the
        /// output grid, group-member order), with pseudo-replica g-factor maps when asked.
        func reconstructGroup(_ g: Int, volume v: Int, kernels: GroupKernels, whitening: [ComplexD]?,
                              options: EPIReconOptions, gFactor: Bool) throws -> (images: [[ComplexF]], gFactor: [[Float]]?) {
            let nx = plan.nx
            let lines = plan.imageLines(slice: g, volume: v)
            guard !lines.isEmpty else {
                throw CordError.invalidValue(what: "raw data", detail: "slice group \(g) of volume \(v + 1) has no collapsed readout")
            }
            var k = [ComplexD](repeating: .zero, count: nc * ny * cx)
            var counts = [Int](repeating: 0, count: ny)
            let x0 = (nx - cx) / 2
            for i in lines {
                let a = plan.raw.acquisitions[i]
                let row = a.index.kspaceEncodeStep1 - plan.centreLine + ny / 2
                var l = plan.uniformLine(a, whitening: whitening)
                if plan.cropX {
                    CentredFFT.transform(&l, n: nx, count: nc, stride: 1, distance: nx, inverse: true)
                    var c = [ComplexD](repeating: .zero, count: nc * cx)
                    for ch in 0..<nc { for x in 0..<cx { c[ch * cx + x] = l[ch * nx + x0 + x] } }
                    CentredFFT.transform(&c, n: cx, count: nc, stride: 1, distance: cx, inverse: false)
                    l = c
                }
                counts[row] += 1
                for ch in 0..<nc { for x in 0..<cx { k[(ch * ny + row) * cx + x] = k[(ch * ny + row) * cx + x] + l[ch * cx + x] } }
            }
            for row in 0..<ny where counts[row] > 1 {
                let f = ComplexD(1 / Double(counts[row]), 0)
                for ch in 0..<nc { for x in 0..<cx { k[(ch * ny + row) * cx + x] = k[(ch * ny + row) * cx + x] * f } }
            }
            let acquired = counts.map { $0 > 0 }
            let rowIndex = Array(0..<ny)
            let separated = apply(kernels.weights, to: k, blockRows: ny, rowIndex: rowIndex, acquired: acquired, interiorOnly: false)
            var images: [[ComplexF]] = []
            var weights: [[ComplexD]] = []
            let oy = plan.outNy
            for m in 0..<mb {
                let coil = coilImages(separated[m], member: m, slice: g + m * groups, acquired: acquired, options: options, zeroFill: false)
                let w = CoilCombiner.weights(coil, nx: cx, ny: oy, channels: nc, method: options.coilCombination, kernel: options.adaptiveKernel)
                let combined = CoilCombiner.apply(w, to: coil, n: cx * oy, channels: nc)
                images.append(combined.map { ComplexF(Float($0.real), Float($0.imaginary)) })
                weights.append(w)
            }
            let gmaps = gFactor ? pseudoReplica(g, kernels: kernels, weights: weights, acquired: acquired, options: options) : nil
            return (images, gmaps)
        }

        /// One separated slice's kx-space (nc × ny × cx) → coil images on the output grid: the
        /// CAIPI shift undone, in-plane GRAPPA, partial Fourier (or zero filling), phase FFT, crop.
        func coilImages(_ kk: [ComplexD], member m: Int, slice s: Int, acquired: [Bool], options: EPIReconOptions,
                        zeroFill: Bool) -> [ComplexD] {
            let oy = plan.outNy, y0 = (ny - oy) / 2
            var ks = kk
            for ch in 0..<nc { for y in 0..<ny where acquired[y] {
                let e = caipi(y, m, undo: true)
                for x in 0..<cx { ks[(ch * ny + y) * cx + x] = ks[(ch * ny + y) * cx + x] * e }
            } }
            var rowsNow = acquired
            if let kern = inPlane[s] { rowsNow = kern.apply(&ks, nx: cx, ny: ny, acquired: acquired) }
            CentredFFT.transform(&ks, n: cx, count: nc * ny, stride: 1, distance: cx, inverse: true)
            var coil = [ComplexD](repeating: .zero, count: nc * cx * oy)
            for ch in 0..<nc {
                var kc = Array(ks[(ch * cx * ny)..<((ch + 1) * cx * ny)])
                let img: [ComplexD]
                if zeroFill { CentredFFT.alongY(&kc, nx: cx, ny: ny, inverse: true); img = kc } else {
                    img = PartialFourier.reconstruct(&kc, nx: cx, ny: ny, acquired: rowsNow, method: options.partialFourier,
                                                     iterations: options.pocsIterations)
                }
                for y in 0..<oy { for x in 0..<cx { coil[(ch * oy + y) * cx + x] = img[(y0 + y) * cx + x] } }
            }
            return coil
        }

        /// Pseudo-replica g-factor maps of the group's members: unit complex white noise on the
        /// acquired collapsed samples, separated like the data (linear chain: kernels, in-plane
        /// GRAPPA, zero-filled partial Fourier, the image's coil weights).
        func pseudoReplica(_ g: Int, kernels: GroupKernels, weights: [[ComplexD]], acquired: [Bool], options: EPIReconOptions) -> [[Float]] {
            let oy = plan.outNy, n = cx * oy
            var rng = SeededRNG(seed: 0x5A5_6FAC &+ UInt64(g))
            var variance = [[Double]](repeating: [Double](repeating: 0, count: n), count: mb)
            let rowIndex = Array(0..<ny)
            for _ in 0..<replicas {
                var noise = [ComplexD](repeating: .zero, count: nc * ny * cx)
                for ch in 0..<nc { for y in 0..<ny where acquired[y] { for x in 0..<cx {
                    noise[(ch * ny + y) * cx + x] = ComplexD(rng.normal() * 0.5.squareRoot(), rng.normal() * 0.5.squareRoot())
                } } }
                let sep = apply(kernels.weights, to: noise, blockRows: ny, rowIndex: rowIndex, acquired: acquired, interiorOnly: false)
                for m in 0..<mb {
                    let coil = coilImages(sep[m], member: m, slice: g + m * groups, acquired: acquired, options: options, zeroFill: true)
                    let c = CoilCombiner.apply(weights[m], to: coil, n: n, channels: nc)
                    for i in 0..<n { variance[m][i] += c[i].lengthSquared }
                }
            }
            let rr = Double(plan.acceleration)
            return variance.map { v in v.map { Float(($0 / Double(replicas)).squareRoot() / rr.squareRoot()) } }
        }

        var replicas = 40
        var inPlane: [GRAPPAKernel?] = []
        /// Whether the data were pre-whitened (unit noise variance per sample).
        var whitened = false
    }

    // MARK: - Geometry

    /// Output grid: x along read, y along phase, z the slices in order (positions from each
    /// slice's calibration readouts; the step from their spread, or SliceSpacing_mm).
    static func outputGrid(plan: Plan, positions: [SIMD3<Double>], spacing: Double?) -> Grid {
        let base = plan.outputGrid()
        let h = plan.raw.header
        var m = base.affine
        // Slice step along the slice normal from the first to the last slice position.
        let a = plan.raw.acquisitions.first { !$0.flags.contains(.isNoiseMeasurement) } ?? plan.raw.acquisitions[0]
        var sliceDir = normalized(a.sliceDirection)
        if !Plan.isRotation(normalized(a.readDirection), normalized(a.phaseDirection), sliceDir) { sliceDir = SIMD3(0, 0, 1) }
        var step = sliceDir * (spacing ?? max(h.reconSpace.fieldOfView.z, 1e-3))
        if positions.count > 1, let f = positions.first, let l = positions.last {
            let span = dot(l - f, sliceDir)
            if abs(span) > 1e-6 { step = sliceDir * (span / Double(positions.count - 1)) }
        }
        let dx = h.reconSpace.fieldOfView.x / Double(plan.outNx)
        let pixelY = (h.reconSpace.fieldOfView.y * max(1, h.phaseOversampling)) / Double(plan.ny)
        var read = normalized(a.readDirection), phase = normalized(a.phaseDirection)
        if !Plan.isRotation(read, phase, sliceDir) { read = SIMD3(1, 0, 0); phase = SIMD3(0, 1, 0) }
        let p0 = positions.first ?? a.position
        let origin = p0 - Double(plan.outNx / 2) * dx * read - Double(plan.outNy / 2) * pixelY * phase
        let flip = SIMD3<Double>(-1, -1, 1)
        m = Mat4(linear: Mat3(columns: flip * read * dx, flip * phase * pixelY, flip * step), translation: flip * origin)
        return Grid(nx: base.nx, ny: base.ny, nz: positions.count, affine: m)
    }
}
