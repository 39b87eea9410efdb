// Readout-segmented EPI (RESOLVE; Porter & Heidemann 2009 MRM 62:468) with 2D-navigator
// phase correction, on the raw-data convention of docs/raw-data.md (segments: uniform-grid
// readouts, `idx.segment`, `user_int[0]` = first sample on the full kx grid; navigator echoes
// `idx.set = 1`; `user_int[1]` = shot counter, a repeated segment a re-acquisition).
//
// Per slice and volume, per shot (one readout segment):
// 1. pre-whitening (as the EPI chain), each readout placed on the full kx grid at its segment;
// 2. readout IFFT, Nyquist ghost correction of reflected lines with the odd/even phase estimated
//    from the shot's own reference lines (the EPI chain's estimator, on the zero-padded segment),
//    IFFT along ky → the segment's (low-resolution along x) coil images;
// 3. the navigator, corrected alike, Hann-tapered over its own (kx, ky) extent — the smoothing:
//    its phase is then band-limited to the navigator's k-space window with a raised-cosine roll-off —
//    and transformed to a low-resolution coil image; its phase is removed from each coil's segment
//    image (per coil, so the coil phase goes too and every shot ends on one common phase);
// 4. back to k-space; the segment's kx band is kept and added to the full kx grid, overlapping
//    columns averaged;
// 5. among re-acquired copies of a segment the one whose navigator keeps the most k-space energy
//    in the central half of its window is used (a shot with bulk motion displaces the echo and
//    loses signal); the others are recorded as rejected;
// 6. readout partial Fourier (segments missing on one side): POCS (or homodyne/zero) along kx;
// 7. 2D image, coil combination (adaptive or SOS).
// `navigator = false` skips 3 (the uncorrected baseline).
import CordCore
import Foundation

/// Options of the RESOLVE reconstruction.
public struct ResolveReconOptions: Sendable {
    /// The EPI options shared with single-shot EPI (coil combination, ghost, partial Fourier along
    /// kx, pre-whitening, complex output, quiet).
    public var base = EPIReconOptions()
    /// 2D-navigator phase correction (off: the uncorrected baseline).
    public var navigator = true
    /// Choose among re-acquired shots by navigator consistency (off: average every copy).
    public var selectShots = true
    public init() {}
}

/// One shot's quality record (JSON beside the output).
public struct ResolveShotRecord: Sendable, Codable {
    public var slice = 0, volume = 0, segment = 0, shot = 0
    /// Centroid of the navigator's k-space energy relative to k = 0 (Δk along kx, ky).
    public var navigatorEchoShift: [Double] = []
    /// Fraction of the navigator's k-space energy in the central half of its window (1 = all).
    public var navigatorCentreEnergy = 0.0
    /// RMS (rad) in the object of the navigator phase relative to the volume's first kept shot:
    /// the shot-to-shot phase the navigator removed.
    public var phaseErrorRMS: Double?
    public var rejected = false
    public var note = ""
}

/// What the RESOLVE reconstruction did.
public struct ResolveReconReport: Sendable, Codable {
    public var segments = 0
    public var segmentWidth = 0
    public var segmentStarts: [Int] = []
    public var overlapSamples = 0
    /// Fraction of the full kx grid covered by the acquired segments.
    public var readoutCoverage = 1.0
    public var readoutPartialFourier = "none (full readout)"
    public var navigator = ""
    public var shots: [ResolveShotRecord] = []
    public var rejectedShots = 0
    public var warnings: [String] = []
}

public enum ResolveReconstruction {
    struct Shot {
        var slice: Int, volume: Int, segment: Int, average: Int, start: Int, counter: Int
        var image: [Int] = [], navigator: [Int] = [], references: [Int] = []
    }

    /// Reconstructs every slice and volume of a RESOLVE data set.
    public static func reconstruct(_ raw: RawDataset, options: ResolveReconOptions = ResolveReconOptions()) throws -> (EPIReconResult, ResolveReconReport) {
        let h = raw.header
        guard h.trajectory != .epi else {
            throw CordError.invalidValue(what: "raw data", detail: "RESOLVE readout segments must be uniform-grid (trajectory cartesian) readouts; this file's trajectory is epi (ramp-sampled)")
        }
        var base = options.base
        base.rampRegridding = false
        let plan = try Plan(raw, options: base)
        let nx = plan.nx, ny = plan.ny, nc = plan.channels, ws = plan.samples
        guard !plan.cropX else {
            throw CordError.invalidValue(what: "raw header", detail: "RESOLVE with readout oversampling (encoded x \(nx) = 2 × recon x) is not supported: segments are expected on the recon kx grid")
        }
        var report = ResolveReconReport()
        var epiReport = EPIReconReport()
        let noise = try NoiseWhitening.estimate(raw, plan: plan, enabled: base.prewhiten)
        epiReport.noiseSource = noise.source
        epiReport.noiseCovarianceDiagonal = noise.covarianceDiagonal
        if !noise.warning.isEmpty { report.warnings.append(noise.warning) }

        // Index shots.
        var shots: [Int: Shot] = [:]
        var volumeKeys = Set<[Int]>()
        for (i, a) in raw.acquisitions.enumerated() where !a.flags.contains(.isNoiseMeasurement) {
            guard a.userInts.count >= 2 else {
                throw CordError.invalidValue(what: "raw data", detail: "acquisition \(i + 1) has no user_int[0…1] (segment start, shot counter)")
            }
            let start = a.userInts[0], counter = a.userInts[1]
            guard start >= 0, start + a.samples <= nx else {
                throw CordError.invalidValue(what: "raw data", detail: "acquisition \(i + 1): segment start user_int[0] = \(start) with \(a.samples) samples runs outside the \(nx)-point kx grid")
            }
            let row = a.index.kspaceEncodeStep1 - plan.centreLine + ny / 2
            guard row >= 0 && row < ny else {
                throw CordError.invalidValue(what: "raw data", detail: "acquisition \(i + 1): line \(a.index.kspaceEncodeStep1) lies outside the encoded matrix (\(ny) lines)")
            }
            let vkey = [a.index.repetition, a.index.contrast, a.index.phase]
            let isNav = a.index.set == 1 || a.flags.contains(.isNavigationData)
            var shot = shots[counter] ?? Shot(slice: a.index.slice, volume: 0, segment: a.index.segment, average: a.index.average,
                                               start: -1, counter: counter)
            if a.flags.contains(.isPhaseCorrectionData) {
                shot.references.append(i)
            } else if isNav {
                shot.navigator.append(i)
            } else {
                if shot.start >= 0, shot.start != start {
                    throw CordError.invalidValue(what: "raw data", detail: "shot \(counter) (acquisition \(i + 1)) mixes segment starts \(shot.start) and \(start)")
                }
                shot.start = start; shot.segment = a.index.segment
                shot.image.append(i)
                volumeKeys.insert(vkey)
            }
            shot.volume = 0
            shots[counter] = shot
        }
        let volumes = volumeKeys.sorted { $0.lexicographicallyPrecedes($1) }
        let volumeIndex = Dictionary(uniqueKeysWithValues: volumes.enumerated().map { ($1, $0) })
        var imageShots: [Shot] = []
        for var s in shots.values {
            guard let first = s.image.first else {
                report.warnings.append("shot \(s.counter) has navigator/reference echoes but no imaging readout: ignored")
                continue
            }
            let a = raw.acquisitions[first]
            s.volume = volumeIndex[[a.index.repetition, a.index.contrast, a.index.phase]] ?? 0
            imageShots.append(s)
        }
        imageShots.sort { $0.counter < $1.counter }
        // The segments: one start per segment index, the same everywhere.
        var startOf: [Int: Int] = [:]
        for s in imageShots {
            if let q = startOf[s.segment], q != s.start {
                throw CordError.invalidValue(what: "raw data", detail: "readout segment \(s.segment) starts at kx \(q) in one shot and \(s.start) in shot \(s.counter)")
            }
            startOf[s.segment] = s.start
        }
        let segmentIDs = startOf.keys.sorted()
        report.segments = segmentIDs.count
        report.segmentWidth = ws
        report.segmentStarts = segmentIDs.map { startOf[$0]! }
        let sortedStarts = report.segmentStarts.sorted()
        if sortedStarts.count > 1 { report.overlapSamples = ws - (sortedStarts[1] - sortedStarts[0]) }
        var covered = [Bool](repeating: false, count: nx)
        for q in sortedStarts { for x in q..<(q + ws) { covered[x] = true } }
        let cols = covered.indices.filter { covered[$0] }
        guard let lo = cols.first, let hi = cols.last, hi - lo + 1 == cols.count else {
            throw CordError.invalidValue(what: "raw data", detail: "the readout segments (starts \(sortedStarts), \(ws) samples) leave a gap in kx: the full kx grid is not covered contiguously")
        }
        guard lo <= nx / 2 - 2, hi >= nx / 2 + 1 else {
            throw CordError.invalidValue(what: "raw data", detail: "the readout segments cover kx columns \(lo)…\(hi) of \(nx), not the k-space centre \(nx / 2)")
        }
        report.readoutCoverage = Double(cols.count) / Double(nx)
        if cols.count < nx { report.readoutPartialFourier = "\(base.partialFourier.rawValue) along kx (\(cols.count) of \(nx) columns)" }
        // Every slice and volume must have every segment.
        var bySliceVolume: [[Int]: [Shot]] = [:]
        for s in imageShots { bySliceVolume[[s.slice, s.volume], default: []].append(s) }
        for sl in plan.slices { for v in volumes.indices {
            let have = Set((bySliceVolume[[sl, v]] ?? []).map(\.segment))
            if let missing = segmentIDs.first(where: { !have.contains($0) }) {
                throw CordError.invalidValue(what: "raw data", detail: "slice \(sl), volume \(v + 1): readout segment \(missing) (kx \(startOf[missing]!)…\(startOf[missing]! + ws - 1)) was not acquired (segments present elsewhere: \(segmentIDs)); a series with a missing segment cannot be combined")
            }
        } }
        var useNavigator = options.navigator
        let withNav = imageShots.filter { !$0.navigator.isEmpty }.count
        if useNavigator && withNav == 0 {
            useNavigator = false
            report.warnings.append("no navigator echoes (idx.set = 1) in the data: reconstructed without navigator phase correction (as --no-navigator)")
        } else if useNavigator && withNav < imageShots.count {
            report.warnings.append("\(imageShots.count - withNav) of \(imageShots.count) shots have no navigator echo: those segments are placed without phase correction")
        }
        report.navigator = useNavigator
            ? "2D navigator phase removed per coil; navigator Hann-tapered over its kx × ky window (\(ws) × \(Set(imageShots.flatMap { $0.navigator.map { raw.acquisitions[$0].index.kspaceEncodeStep1 } }).count) lines before tapering)"
            : "off (segments combined without phase correction)"

        // Reconstruct each (slice, volume).
        let groups = bySliceVolume, coveredColumns = covered, navigatorOn = useNavigator
        let tasks = volumes.indices.flatMap { v in plan.slices.indices.map { (slice: $0, volume: v) } }
        let progress = ProgressReporter("cordq recon: RESOLVE", total: tasks.count, forceQuiet: base.quiet)
        let nz = plan.slices.count
        let out = SharedBuffer<ComplexF>(repeating: .zero, count: nx * ny * nz * volumes.count)
        let slots = ResultSlots<([ResolveShotRecord], [String])>(tasks.count)
        parallelChunks(tasks.count) { range, _ in
            for t in range {
                let (s, v) = (tasks[t].slice, tasks[t].volume)
                do {
                    let group = groups[[plan.slices[s], v]] ?? []
                    let (img, records, notes) = try reconstructSliceVolume(plan: plan, shots: group, segmentIDs: segmentIDs, covered: coveredColumns,
                                                                           whitening: noise.whitening, options: options, useNavigator: navigatorOn,
                                                                           slice: plan.slices[s], volume: v)
                    let baseIndex = (v * nz + s) * nx * ny
                    for i in 0..<(nx * ny) { out[baseIndex + i] = img[i] }
                    slots.set(t, .success((records, notes)))
                } catch {
                    slots.set(t, .failure(error))
                }
                progress.advance()
            }
        }
        progress.finish()
        for r in slots.results("RESOLVE slice") {
            let (records, notes) = try r.get()
            report.shots += records
            report.warnings += notes
        }
        report.shots.sort { ($0.volume, $0.slice, $0.segment, $0.shot) < ($1.volume, $1.slice, $1.segment, $1.shot) }
        report.rejectedShots = report.shots.filter(\.rejected).count
        epiReport.sequence = "resolve"
        epiReport.matrix = [nx, ny, nz]
        epiReport.coils = nc
        epiReport.slices = nz
        epiReport.volumes = volumes.count
        epiReport.partialFourier = report.readoutCoverage
        epiReport.partialFourierMethod = report.readoutCoverage < 0.999 ? "\(base.partialFourier.rawValue) along kx (readout)" : "none (full k-space)"
        epiReport.coilCombination = nc == 1 ? "single channel" : base.coilCombination.rawValue
        epiReport.warnings = report.warnings
        if !plan.hasGeometry { epiReport.warnings.append("the raw data carry no usable read/phase/slice directions: the image affine is the identity orientation (LPS) at the slice position") }
        let image = Volume<ComplexF>(grid: plan.outputGrid(), frames: volumes.count, exactly: out.array)
        var result = EPIReconResult(image: image, report: epiReport, sliceTiming: plan.sliceTiming(), phaseEncodingSign: plan.phaseEncodingSign(),
                                    echoSpacingSeconds: h.echoSpacingMs.map { $0 / 1000 }, reconPhaseLines: ny, gFactor: nil)
        result.diffusion = try diffusionEncoding(raw, shots: imageShots, volumes: volumes.count)
        return (result, report)
    }

    /// b and direction per volume from its imaging readouts' user fields (all must agree).
    static func diffusionEncoding(_ raw: RawDataset, shots: [Shot], volumes: Int) throws -> [(b: Double, directionLPS: SIMD3<Double>)]? {
        var out = [(b: Double, directionLPS: SIMD3<Double>)](repeating: (0, .zero), count: volumes)
        var seen = [Bool](repeating: false, count: volumes)
        for s in shots {
            for i in s.image {
                let u = raw.acquisitions[i].userFloats
                let b = u.count > 0 ? u[0] : 0
                let d = u.count > 3 ? SIMD3(u[1], u[2], u[3]) : .zero
                guard b.isFinite, b >= 0, b <= 50_000 else {
                    throw CordError.invalidValue(what: "diffusion encoding of volume \(s.volume + 1)", detail: "b = \(b) s/mm² in user_float[0] is not a b-value (0–50 000 s/mm²)")
                }
                if !seen[s.volume] {
                    let n = (d * d).sum().squareRoot()
                    if b > 0, n > 0, abs(n - 1) > 0.05 {
                        throw CordError.invalidValue(what: "diffusion encoding of volume \(s.volume + 1)", detail: "the direction in user_float[1…3] has length \(formatSignificantCore(n)), not 1")
                    }
                    out[s.volume] = (b, n > 0 ? d / n : .zero); seen[s.volume] = true
                } else if abs(out[s.volume].b - b) > 1e-3 * max(1, b) {
                    throw CordError.invalidValue(what: "diffusion encoding of volume \(s.volume + 1)",
                                                 detail: "its readouts carry different b-values in user_float[0] (\(formatSignificantCore(out[s.volume].b)) and \(formatSignificantCore(b)) s/mm²)")
                }
            }
        }
        return out.contains { $0.b > 0 } ? out : nil
    }

    // MARK: - One slice and volume

    /// Ghost-corrected hybrid (x, ky) data of a set of readouts (nc × ny × nx, coil-major), each
    /// placed at its kx band; repeated lines averaged. Returns the data and the ky rows present.
    static func hybrid(_ plan: Plan, _ indices: [Int], ghost: GhostPhase, whitening: [ComplexD]?) -> ([ComplexD], [Bool]) {
        let nx = plan.nx, ny = plan.ny, nc = plan.channels
        var k = [ComplexD](repeating: .zero, count: nc * ny * nx)
        var count = [Int](repeating: 0, count: ny)
        var reverseRows = [Bool](repeating: false, count: ny)
        var line = [ComplexD](repeating: .zero, count: nc * nx)
        for i in indices {
            let a = plan.raw.acquisitions[i]
            placeLine(a, nx: nx, whitening: whitening, into: &line)
            CentredFFT.transform(&line, n: nx, count: nc, stride: 1, distance: nx, inverse: true)
            if a.flags.contains(.isReverse), !ghost.coefficients.isEmpty {
                GhostEstimation.apply(ghost, to: &line, nx: nx, ny: 1, channels: nc, reverseRows: [true])
            }
            let row = a.index.kspaceEncodeStep1 - plan.centreLine + ny / 2
            count[row] += 1
            reverseRows[row] = a.flags.contains(.isReverse)
            for c in 0..<nc { for x in 0..<nx { k[(c * ny + row) * nx + x] += line[c * nx + x] } }
        }
        for r in 0..<ny where count[r] > 1 {
            let f = 1 / Double(count[r])
            for c in 0..<nc { for x in 0..<nx { let o = (c * ny + r) * nx + x; k[o] = ComplexD(k[o].real * f, k[o].imaginary * f) } }
        }
        return (k, count.map { $0 > 0 })
    }

    /// One readout on the full kx grid (nc × nx, coil-major), whitened; zero outside its band.
    static func placeLine(_ a: RawAcquisition, nx: Int, whitening w: [ComplexD]?, into out: inout [ComplexD]) {
        let nc = a.channels, ns = a.samples, start = a.userInts[0]
        let reverse = a.flags.contains(.isReverse)
        for i in out.indices { out[i] = .zero }
        for n in 0..<ns {
            let q = start + (reverse ? ns - 1 - n : n)
            for i in 0..<nc {
                var s = ComplexD.zero
                if let w {
                    for j in 0...i { let v = a.data[j * ns + n]; s = s + w[i * nc + j] * ComplexD(Double(v.real), Double(v.imaginary)) }
                } else {
                    let v = a.data[i * ns + n]; s = ComplexD(Double(v.real), Double(v.imaginary))
                }
                out[i * nx + q] = s
            }
        }
    }

    static func reconstructSliceVolume(plan: Plan, shots: [Shot], segmentIDs: [Int], covered: [Bool], whitening: [ComplexD]?,
                                       options: ResolveReconOptions, useNavigator: Bool, slice: Int, volume: Int) throws
        -> ([ComplexF], [ResolveShotRecord], [String]) {
        let nx = plan.nx, ny = plan.ny, nc = plan.channels, ws = plan.samples, n2 = nx * ny
        let base = options.base
        var notes: [String] = []
        var records: [ResolveShotRecord] = []
        var sumK = [ComplexD](repeating: .zero, count: nc * n2)
        var weight = [Double](repeating: 0, count: nx)
        var lastGhost = GhostPhase(coefficients: [], source: "none")
        let starts = Set(shots.map(\.start)).sorted()
        let overlap = starts.count > 1 ? max(0, ws - (starts[1] - starts[0])) : 0
        var referenceNav: [ComplexD]?
        for g in segmentIDs {
            let candidates = shots.filter { $0.segment == g }
            // Per average: the copies with the same average index are re-acquisitions.
            let averages = Set(candidates.map(\.average)).sorted()
            for av in averages {
                let copies = candidates.filter { $0.average == av }
                var prepared: [(shot: Shot, image: [ComplexD], nav: [ComplexD]?, record: ResolveShotRecord)] = []
                for shot in copies {
                    var record = ResolveShotRecord()
                    record.slice = slice; record.volume = volume; record.segment = g; record.shot = shot.counter
                    // Ghost phase from the shot's reference lines (else the previous shot's).
                    var ghost = GhostPhase(coefficients: [], source: "none")
                    if base.ghost != .none {
                        let refs = shot.references
                        if refs.contains(where: { plan.raw.acquisitions[$0].flags.contains(.isReverse) }) && refs.count >= 2 {
                            var line = [ComplexD](repeating: .zero, count: nc * nx)
                            let lines: [([ComplexD], Bool)] = refs.map { i in
                                placeLine(plan.raw.acquisitions[i], nx: nx, whitening: whitening, into: &line)
                                var l = line
                                CentredFFT.transform(&l, n: nx, count: nc, stride: 1, distance: nx, inverse: true)
                                return (l, plan.raw.acquisitions[i].flags.contains(.isReverse))
                            }
                            ghost = try GhostEstimation.fromReferences(lines, nx: nx, channels: nc, polynomial: base.ghost == .polynomial)
                            lastGhost = ghost
                        } else if !lastGhost.coefficients.isEmpty {
                            ghost = lastGhost
                            record.note = "no reference lines: the previous shot's ghost phase used"
                        } else {
                            record.note = "no reference lines: no ghost correction"
                        }
                    }
                    // Segment coil images (low resolution along x).
                    var (img, _) = hybrid(plan, shot.image, ghost: ghost, whitening: whitening)
                    perCoil(&img, nx: nx, ny: ny, nc: nc) { CentredFFT.alongY(&$0, nx: nx, ny: ny, inverse: true) }
                    // Navigator: k-space (ghost-corrected), metrics, Hann-tapered low-resolution image.
                    var navImage: [ComplexD]?
                    if !shot.navigator.isEmpty {
                        let (navH, rows) = hybrid(plan, shot.navigator, ghost: ghost, whitening: whitening)
                        var navK = navH
                        CentredFFT.transform(&navK, n: nx, count: nc * ny, stride: 1, distance: nx, inverse: false)
                        let navRows = rows.indices.filter { rows[$0] }
                        let navStart = plan.raw.acquisitions[shot.navigator[0]].userInts[0]
                        let (shift, centre) = navigatorMetrics(navK, nx: nx, ny: ny, nc: nc, rows: navRows, start: navStart, width: ws)
                        record.navigatorEchoShift = shift
                        record.navigatorCentreEnergy = centre
                        // Hann taper over the navigator's window (the smoothing), then the image.
                        if let r0 = navRows.first, let r1 = navRows.last {
                            for c in 0..<nc { for r in 0..<ny { for x in 0..<nx {
                                let o = (c * ny + r) * nx + x
                                let inX = x >= navStart && x < navStart + ws, inY = r >= r0 && r <= r1
                                guard inX && inY else { navK[o] = .zero; continue }
                                let wx = 0.5 - 0.5 * cos(2 * Double.pi * (Double(x - navStart) + 0.5) / Double(ws))
                                let wy = 0.5 - 0.5 * cos(2 * Double.pi * (Double(r - r0) + 0.5) / Double(r1 - r0 + 1))
                                navK[o] = ComplexD(navK[o].real * wx * wy, navK[o].imaginary * wx * wy)
                            } } }
                        }
                        perCoil(&navK, nx: nx, ny: ny, nc: nc) {
                            CentredFFT.alongX(&$0, nx: nx, ny: ny, inverse: true)
                            CentredFFT.alongY(&$0, nx: nx, ny: ny, inverse: true)
                        }
                        navImage = navK
                    }
                    prepared.append((shot, img, navImage, record))
                }
                // Choose among re-acquisitions by navigator consistency.
                var keep = Array(prepared.indices)
                if prepared.count > 1 && options.selectShots {
                    if prepared.allSatisfy({ $0.nav != nil }) {
                        let best = prepared.indices.max { prepared[$0].record.navigatorCentreEnergy < prepared[$1].record.navigatorCentreEnergy }!
                        keep = [best]
                        for i in prepared.indices where i != best {
                            prepared[i].record.rejected = true
                            prepared[i].record.note = "re-acquired segment: navigator keeps \(formatSignificantCore(prepared[i].record.navigatorCentreEnergy)) of its energy centrally vs \(formatSignificantCore(prepared[best].record.navigatorCentreEnergy)) for shot \(prepared[best].shot.counter)"
                        }
                    } else {
                        notes.append("slice \(slice), volume \(volume + 1), segment \(g): \(prepared.count) copies without navigators to choose by: all averaged")
                    }
                }
                for i in keep {
                    var img = prepared[i].image
                    if useNavigator, let nav = prepared[i].nav {
                        // Phase error: coil-combined navigator phase vs the volume's first kept shot.
                        if let ref = referenceNav {
                            var num = 0.0, den = 0.0
                            var mags = [Double](repeating: 0, count: n2)
                            for p in 0..<n2 { mags[p] = (0..<nc).reduce(0.0) { $0 + nav[$1 * n2 + p].lengthSquared } }
                            let top = mags.max() ?? 0
                            for p in 0..<n2 where mags[p] > 0.04 * top {
                                var z = ComplexD.zero
                                for c in 0..<nc { z = z + nav[c * n2 + p] * ref[c * n2 + p].conjugate }
                                let ang = atan2(z.imaginary, z.real)
                                num += ang * ang; den += 1
                            }
                            prepared[i].record.phaseErrorRMS = den > 0 ? (num / den).squareRoot() : nil
                        } else {
                            referenceNav = nav
                            prepared[i].record.phaseErrorRMS = 0
                        }
                        for p in 0..<(nc * n2) {
                            let z = nav[p], l = z.length
                            if l > 0 { img[p] = img[p] * ComplexD(z.real / l, -z.imaginary / l) }
                        }
                    }
                    // Back to k-space; keep the segment's band; accumulate.
                    perCoil(&img, nx: nx, ny: ny, nc: nc) {
                        CentredFFT.alongX(&$0, nx: nx, ny: ny, inverse: false)
                        CentredFFT.alongY(&$0, nx: nx, ny: ny, inverse: false)
                    }
                    let start = prepared[i].shot.start
                    let taper = bandWeights(start: start, width: ws, overlap: overlap, covered: covered)
                    for c in 0..<nc { for r in 0..<ny { for x in start..<(start + ws) {
                        let o = (c * ny + r) * nx + x, f = taper[x - start]
                        sumK[o] += ComplexD(img[o].real * f, img[o].imaginary * f)
                    } } }
                    for x in start..<(start + ws) { weight[x] += taper[x - start] }
                }
                records += prepared.map(\.record)
            }
        }
        // Overlap averaging (weights normalised per column).
        for x in 0..<nx where weight[x] > 0 && abs(weight[x] - 1) > 1e-12 {
            let f = 1 / weight[x]
            for c in 0..<nc { for r in 0..<ny { let o = (c * ny + r) * nx + x; sumK[o] = ComplexD(sumK[o].real * f, sumK[o].imaginary * f) } }
        }
        // Readout partial Fourier along kx, then the image, per coil.
        var coils = [ComplexD](repeating: .zero, count: nc * n2)
        let full = covered.allSatisfy { $0 }
        for c in 0..<nc {
            var kc = Array(sumK[(c * n2)..<((c + 1) * n2)])
            if full {
                CentredFFT.alongX(&kc, nx: nx, ny: ny, inverse: true)
                CentredFFT.alongY(&kc, nx: nx, ny: ny, inverse: true)
                for i in 0..<n2 { coils[c * n2 + i] = kc[i] }
            } else {
                // Hybrid (y, kx), transposed so that kx is the partial-Fourier axis.
                CentredFFT.alongY(&kc, nx: nx, ny: ny, inverse: true)
                var t = [ComplexD](repeating: .zero, count: n2)
                for y in 0..<ny { for x in 0..<nx { t[x * ny + y] = kc[y * nx + x] } }
                let im = PartialFourier.reconstruct(&t, nx: ny, ny: nx, acquired: covered, method: base.partialFourier, iterations: base.pocsIterations)
                for y in 0..<ny { for x in 0..<nx { coils[c * n2 + y * nx + x] = im[x * ny + y] } }
            }
        }
        let w = CoilCombiner.weights(coils, nx: nx, ny: ny, channels: nc, method: base.coilCombination, kernel: base.adaptiveKernel)
        let combined = CoilCombiner.apply(w, to: coils, n: n2, channels: nc)
        return (combined.map { ComplexF(Float($0.real), Float($0.imaginary)) }, records, notes)
    }

    /// Weights of a segment's columns in the overlap average: a linear ramp over the `overlap`
    /// columns shared with a neighbour (its edge columns carry the most residual from shot-phase
    /// correction, which moves data across the band edge), 1 elsewhere and at the edges of the
    /// covered kx range.
    static func bandWeights(start: Int, width: Int, overlap: Int, covered: [Bool]) -> [Double] {
        guard overlap > 0 else { return [Double](repeating: 1, count: width) }
        let lo = covered.firstIndex(of: true) ?? 0, hi = covered.lastIndex(of: true) ?? (covered.count - 1)
        return (0..<width).map { j in
            var w = 1.0
            if start > lo { w = min(w, (Double(j) + 0.5) / Double(overlap + 1)) }
            if start + width - 1 < hi { w = min(w, (Double(width - 1 - j) + 0.5) / Double(overlap + 1)) }
            return w
        }
    }

    /// Navigator k-space metrics (coil-summed energy): centroid relative to k = 0 (Δk) and the
    /// fraction of energy in the central half of the navigator window.
    static func navigatorMetrics(_ k: [ComplexD], nx: Int, ny: Int, nc: Int, rows: [Int], start: Int, width: Int) -> ([Double], Double) {
        guard let r0 = rows.first, let r1 = rows.last else { return ([0, 0], 0) }
        var total = 0.0, centre = 0.0, mx = 0.0, my = 0.0
        let cx = Double(start) + Double(width) / 2, cy = Double(r0 + r1 + 1) / 2
        let hx = Double(width) / 4, hy = Double(r1 - r0 + 1) / 4
        for r in r0...r1 { for x in start..<(start + width) {
            var e = 0.0
            for c in 0..<nc { e += k[(c * ny + r) * nx + x].lengthSquared }
            total += e
            mx += e * Double(x - nx / 2); my += e * Double(r - ny / 2)
            if abs(Double(x) + 0.5 - cx) <= hx && abs(Double(r) + 0.5 - cy) <= hy { centre += e }
        } }
        guard total > 0 else { return ([0, 0], 0) }
        return ([mx / total, my / total], centre / total)
    }

    /// Applies `f` to each coil's nx × ny block of a coil-major array.
    static func perCoil(_ d: inout [ComplexD], nx: Int, ny: Int, nc: Int, _ f: (inout [ComplexD]) -> Void) {
        let n2 = nx * ny
        for c in 0..<nc {
            var block = Array(d[(c * n2)..<((c + 1) * n2)])
            f(&block)
            d.replaceSubrange((c * n2)..<((c + 1) * n2), with: block)
        }
    }
}

