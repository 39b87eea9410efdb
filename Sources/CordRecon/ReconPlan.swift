// What the raw data holds, checked once: channels, readout length, slices, volumes, which
// acquisitions are imaging, reference or noise lines, the regridding operator and the geometry.
import CordCore
import Foundation

/// A checked view of a raw data set for the EPI chain.
struct Plan: @unchecked Sendable {
    let raw: RawDataset
    let channels: Int
    /// Readout samples per acquisition and the uniform (encoded) kx grid.
    let samples: Int
    let nx: Int, ny: Int
    let outNx: Int, outNy: Int
    let cropX: Bool
    let centreLine: Int
    let regrid: RampRegridding?
    /// Distinct slice indices (sorted) and volume keys (repetition, contrast, set, phase).
    let slices: [Int]
    let volumes: [[Int]]
    let acquiredFraction: Double
    private let imageIndex: [[Int]: [Int]]
    private let referenceIndex: [[Int]: [Int]]
    let noiseIndices: [Int]
    /// In-plane acceleration along ky (GRAPPA R) and the calibration (ACS) lines per slice.
    let acceleration: Int
    private let calibrationIndex: [Int: [Int]]
    private let calibrationReferenceIndex: [Int: [Int]]

    init(_ raw: RawDataset, options: EPIReconOptions) throws {
        self.raw = raw
        let h = raw.header
        let acqs = raw.acquisitions
        guard !acqs.isEmpty else { throw CordError.invalidValue(what: "raw data", detail: "no acquisition to reconstruct") }
        func isImage(_ a: RawAcquisition) -> Bool {
            !a.flags.contains(.isNoiseMeasurement) && !a.flags.contains(.isPhaseCorrectionData)
                && !a.flags.contains(.isNavigationData) && !a.flags.contains(.isDummyScan)
                && !a.flags.contains(.isRTFeedbackData)
                && (!a.flags.contains(.isParallelCalibration) || a.flags.contains(.isParallelCalibrationAndImaging))
        }
        let imageAcqs = acqs.indices.filter { isImage(acqs[$0]) }
        guard let first = imageAcqs.first else {
            throw CordError.invalidValue(what: "raw data", detail: "no imaging readout (every acquisition is a noise, reference or calibration scan)")
        }
        channels = acqs[first].channels
        samples = acqs[first].samples
        for i in acqs.indices where !acqs[i].flags.contains(.isNoiseMeasurement) {
            let a = acqs[i]
            guard a.channels == channels else {
                throw CordError.invalidValue(what: "raw data", detail: "acquisition \(i + 1) has \(a.channels) channels, the first imaging readout \(channels)")
            }
            guard a.samples == samples else {
                throw CordError.invalidValue(what: "raw data", detail: "acquisition \(i + 1) has \(a.samples) samples, the first imaging readout \(samples): readouts of different length are not one EPI train")
            }
            guard a.data.count == a.channels * a.samples else {
                throw CordError.countMismatch(what: "raw data: acquisition \(i + 1)", expected: a.channels * a.samples, found: a.data.count, detail: "channels × samples")
            }
        }
        let encX = h.encodedSpace.matrix.x, encY = h.encodedSpace.matrix.y
        guard encX > 1, encY > 1, encX <= 4096, encY <= 4096 else {
            throw CordError.invalidValue(what: "raw header", detail: "encoded matrix \(encX)×\(encY) is not a 2D EPI matrix")
        }
        guard h.reconSpace.fieldOfView.x > 0, h.reconSpace.fieldOfView.y > 0 else {
            throw CordError.invalidValue(what: "raw header", detail: "the reconstruction field of view (\(h.reconSpace.fieldOfView.x) × \(h.reconSpace.fieldOfView.y) mm) is missing")
        }
        nx = encX; ny = encY
        if h.trajectory == .epi, options.rampRegridding {
            guard let t = h.epiTiming else {
                throw CordError.invalidValue(what: "raw header", detail: "trajectory epi without its trajectoryDescription (rampUpTime, flatTopTime, rampDownTime, acqDelayTime, dwellTime)")
            }
            guard t.numberOfSamples == samples else {
                throw CordError.invalidValue(what: "raw header", detail: "trajectoryDescription numSamples \(t.numberOfSamples) but readouts have \(samples) samples")
            }
            regrid = try RampRegridding(timing: t, gridPoints: nx)
        } else {
            regrid = nil
        }
        cropX = options.removeReadoutOversampling && h.readoutOversampling == 2
        outNx = cropX ? nx / 2 : nx
        let os = h.phaseOversampling
        outNy = os > 1.001 ? max(1, CheckedNumber.clamped(Double(ny) / os, .toNearestOrAwayFromZero, to: 1...ny)) : ny
        let limit = h.phaseLimit
        centreLine = limit.center
        guard centreLine >= 0 && centreLine < ny + ny / 2 else {
            throw CordError.invalidValue(what: "raw header", detail: "k-space centre line \(centreLine) outside the \(ny)-line matrix")
        }
        // Index the acquisitions.
        func volumeKey(_ a: RawAcquisition) -> [Int] { [a.index.repetition, a.index.contrast, a.index.set, a.index.phase] }
        var img: [[Int]: [Int]] = [:], ref: [[Int]: [Int]] = [:]
        var sliceSet = Set<Int>(), volumeSet = Set<[Int]>()
        var rows = Set<Int>()
        for i in imageAcqs {
            let a = acqs[i]
            img[[a.index.slice] + volumeKey(a), default: []].append(i)
            sliceSet.insert(a.index.slice); volumeSet.insert(volumeKey(a))
            rows.insert(a.index.kspaceEncodeStep1)
        }
        // Reference lines: those of a separate calibration train (PHASCOR + PATREFSCAN in twix)
        // carry that train's own odd/even phase and are kept apart from the imaging train's.
        var calRef: [Int: [Int]] = [:]
        for i in acqs.indices where acqs[i].flags.contains(.isPhaseCorrectionData) {
            let a = acqs[i]
            if a.flags.contains(.isParallelCalibration) && !a.flags.contains(.isParallelCalibrationAndImaging) {
                calRef[a.index.slice, default: []].append(i)
            } else {
                ref[[a.index.slice] + volumeKey(a), default: []].append(i)
            }
        }
        imageIndex = img; referenceIndex = ref; calibrationReferenceIndex = calRef
        var cal: [Int: [Int]] = [:]
        for i in acqs.indices where acqs[i].flags.contains(.isParallelCalibration) || acqs[i].flags.contains(.isParallelCalibrationAndImaging) {
            guard !acqs[i].flags.contains(.isPhaseCorrectionData) else { continue }
            cal[acqs[i].index.slice, default: []].append(i)
        }
        calibrationIndex = cal
        acceleration = max(1, h.accelerationFactorPE)
        guard acceleration <= 8 else { throw CordError.invalidValue(what: "raw header", detail: "in-plane acceleration R = \(acceleration) is implausible (GRAPPA here handles R ≤ 8)") }
        noiseIndices = acqs.indices.filter { acqs[$0].flags.contains(.isNoiseMeasurement) }
        slices = sliceSet.sorted()
        volumes = volumeSet.sorted { $0.lexicographicallyPrecedes($1) }
        if let sl = h.limits["slice"], let mx = slices.last, mx > sl.maximum {
            throw CordError.invalidValue(what: "raw data", detail: "slice counter reaches \(mx) but the header's encodingLimits.slice maximum is \(sl.maximum): inconsistent counters")
        }
        let lo = rows.min() ?? 0, hi = rows.max() ?? 0
        acquiredFraction = min(1, Double(hi - lo + max(1, h.accelerationFactorPE)) / Double(ny))
    }

    func calibrationLines(slice s: Int) -> [Int] { calibrationIndex[slices[s]] ?? [] }
    /// Reference (phase-correction) lines of the calibration train of slice `s`, if it has its own.
    func calibrationReferenceLines(slice s: Int) -> [Int] { calibrationReferenceIndex[slices[s]] ?? [] }
    func imageLines(slice s: Int, volume v: Int) -> [Int] { imageIndex[[slices[s]] + volumes[v]] ?? [] }
    func referenceLines(slice s: Int, volume v: Int) -> [Int] { referenceIndex[[slices[s]] + volumes[v]] ?? [] }

    /// One acquisition on the uniform kx grid (nx points per coil, coil-major), whitened.
    func uniformLine(_ a: RawAcquisition, whitening: [ComplexD]?) -> [ComplexD] {
        let nc = channels, ns = samples
        var src = [ComplexD](repeating: .zero, count: nc * ns)
        for c in 0..<nc { for n in 0..<ns { let v = a.data[c * ns + n]; src[c * ns + n] = ComplexD(Double(v.real), Double(v.imaginary)) } }
        if let w = whitening {
            var tmp = [ComplexD](repeating: .zero, count: nc)
            for n in 0..<ns {
                for i in 0..<nc {
                    var s = ComplexD.zero
                    for j in 0...i { s = s + w[i * nc + j] * src[j * ns + n] }
                    tmp[i] = s
                }
                for i in 0..<nc { src[i * ns + n] = tmp[i] }
            }
        }
        let reverse = a.flags.contains(.isReverse)
        var out = [ComplexD](repeating: .zero, count: nc * nx)
        if let r = regrid {
            // out[c][q] = Σ_n M[q][n]·src[c][n], on split real/imaginary rows (vectorises).
            let m = reverse ? r.negative : r.positive
            var re = [Double](repeating: 0, count: ns), im = [Double](repeating: 0, count: ns)
            m.withUnsafeBufferPointer { mp in
                for c in 0..<nc {
                    for n in 0..<ns { re[n] = src[c * ns + n].real; im[n] = src[c * ns + n].imaginary }
                    re.withUnsafeBufferPointer { rp in
                        im.withUnsafeBufferPointer { ip in
                            for q in 0..<nx {
                                let row = q * ns
                                var sr = 0.0, si = 0.0
                                for n in 0..<ns { let f = mp[row + n]; sr += f * rp[n]; si += f * ip[n] }
                                out[c * nx + q] = ComplexD(sr, si)
                            }
                        }
                    }
                }
            }
        } else {
            // Uniform readout: sample n at k = ±(n − centre).
            let centre = a.centerSample > 0 ? a.centerSample : ns / 2
            for c in 0..<nc {
                for n in 0..<ns {
                    let kk = reverse ? centre - n : n - centre
                    let q = ((kk + nx / 2) % nx + nx) % nx
                    out[c * nx + q] = src[c * ns + n]
                }
            }
        }
        return out
    }

    /// Output grid (RAS+ affine) from the acquisitions' LPS geometry: x along read, y along
    /// phase, z slices sorted along the slice normal; voxel N/2 at the slice centre.
    func outputGrid() -> Grid {
        let h = raw.header
        let dx = h.reconSpace.fieldOfView.x / Double(outNx)
        // The encoded FOV along y spans ny lines (phase oversampling included).
        let pixelY = (h.reconSpace.fieldOfView.y * max(1, h.phaseOversampling)) / Double(ny)
        var positions: [SIMD3<Double>] = []
        var first = raw.acquisitions[0]
        for s in slices {
            if let i = imageIndex.first(where: { $0.key[0] == s })?.value.first {
                positions.append(raw.acquisitions[i].position)
                if s == slices[0] { first = raw.acquisitions[i] }
            }
        }
        var read = normalized(first.readDirection), phase = normalized(first.phaseDirection), sliceDir = normalized(first.sliceDirection)
        if !Plan.isRotation(read, phase, sliceDir) {
            // No usable directions (e.g. a synthetic file with zero vectors): identity, LPS.
            read = SIMD3(1, 0, 0); phase = SIMD3(0, 1, 0); sliceDir = SIMD3(0, 0, 1)
        }
        var zStep = sliceDir * max(h.reconSpace.fieldOfView.z, 1e-3)
        if positions.count > 1 {
            // Slices in counter order; the step between neighbours along the normal.
            let proj = positions.map { dot($0, sliceDir) }
            let span = (proj.last ?? 0) - (proj.first ?? 0)
            if abs(span) > 1e-6 { zStep = sliceDir * (span / Double(positions.count - 1)) }
        }
        let origin = (positions.first ?? first.position) - Double(outNx / 2) * dx * read - Double(outNy / 2) * pixelY * phase
        // LPS → RAS: negate x and y.
        let flip = SIMD3<Double>(-1, -1, 1)
        let m = Mat3(columns: flip * read * dx, flip * phase * pixelY, flip * zStep)
        return Grid(nx: outNx, ny: outNy, nz: slices.count, affine: Mat4(linear: m, translation: flip * origin))
    }

    /// Whether three vectors are an orthonormal frame (within 1e-3).
    static func isRotation(_ a: SIMD3<Double>, _ b: SIMD3<Double>, _ c: SIMD3<Double>) -> Bool {
        let ok = [a, b, c].allSatisfy { $0.x.isFinite && $0.y.isFinite && $0.z.isFinite && abs(length($0) - 1) < 1e-3 }
        return ok && abs(dot(a, b)) < 1e-3 && abs(dot(a, c)) < 1e-3 && abs(dot(b, c)) < 1e-3
    }
    /// Whether the acquisitions carry usable read/phase/slice directions.
    var hasGeometry: Bool {
        guard let a = raw.acquisitions.first(where: { !$0.flags.contains(.isNoiseMeasurement) }) else { return false }
        return Plan.isRotation(a.readDirection, a.phaseDirection, a.sliceDirection)
    }

    /// Acquisition time of each slice's first imaging readout (first volume) relative to the
    /// earliest, in seconds (time stamps tick every 2.5 ms).
    func sliceTiming() -> [Double] {
        let t = slices.indices.map { s in imageLines(slice: s, volume: 0).map { raw.acquisitions[$0].timeStamp }.min() ?? 0 }
        let t0 = t.min() ?? 0
        return t.map { Double($0 - t0) * 0.0025 }
    }

    /// +1 when ky lines were acquired in increasing order (ky runs along +phase_dir: BIDS "j").
    func phaseEncodingSign() -> Int {
        let lines = imageLines(slice: 0, volume: 0).map { raw.acquisitions[$0].index.kspaceEncodeStep1 }
        guard lines.count > 1 else { return 1 }
        var up = 0
        for i in 1..<lines.count { up += lines[i] > lines[i - 1] ? 1 : (lines[i] < lines[i - 1] ? -1 : 0) }
        return up >= 0 ? 1 : -1
    }
}

extension EPIReconReport {
    /// The report fields the single-band and SMS EPI reconstructions fill the same way from
    /// their plan and options.
    init(plan: Plan, options: EPIReconOptions, sequence: String, slices: Int) {
        self.init()
        self.sequence = sequence
        coils = plan.channels
        self.slices = slices
        volumes = plan.volumes.count
        partialFourier = plan.acquiredFraction
        partialFourierMethod = plan.acquiredFraction < 0.999 ? options.partialFourier.rawValue : "none (full k-space)"
        coilCombination = plan.channels == 1 ? "single channel" : options.coilCombination.rawValue
        rampRegridded = plan.regrid != nil
        readoutOversamplingRemoved = plan.cropX
    }
}
