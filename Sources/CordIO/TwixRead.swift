// Siemens twix (`.dat`) raw data into CordCore's raw model (docs/raw-data.md).
//
// Layout (public; as read by twixtools and mapVBVD):
// - VD/VE ("multi-raid"): a 10240-byte MrParcRaidFileHeader (u32 0, u32 count, then up to 64
//   entries of 152 bytes: measId, fileId, u64 offset, u64 length, patient and protocol names);
//   each measurement starts with u32 header length, u32 buffer count and named text buffers
//   (Config, Dicom, Meas, MeasYaps, Phoenix, Spice); its scans follow: a 192-byte scan header
//   then, per channel, a 32-byte channel header and `samples` complex float32 values.
// - VB: one measurement, u32 header length then the same text buffers; each channel of a scan
//   carries its own 128-byte MDH followed by its samples.
// Scan counters and EvalInfoMask bits map onto ISMRMRD's through a `RawCounterMapping`
// (protocols/raw/siemens-ep2d.yaml), never through names written here.
import CordCore
import Foundation

/// Reading Siemens twix files.
public enum TwixFile {
    /// EvalInfoMask bit names (bit 0 first), as twixtools and mapVBVD name them.
    public static let evalInfoBits: [String] = [
        "ACQEND", "RTFEEDBACK", "HPFEEDBACK", "ONLINE", "OFFLINE", "SYNCDATA", "noname6", "noname7",
        "LASTSCANINCONCAT", "noname9", "RAWDATACORRECTION", "LASTSCANINMEAS", "SCANSCALEFACTOR",
        "2NDHADAMARPULSE", "REFPHASESTABSCAN", "PHASESTABSCAN", "D3FFT", "SIGNREV", "PHASEFFT", "SWAPPED",
        "POSTSHAREDLINE", "PHASCOR", "PATREFSCAN", "PATREFANDIMASCAN", "REFLECT", "NOISEADJSCAN", "SHARENOW",
        "LASTMEASUREDLINE", "FIRSTSCANINSLICE", "LASTSCANINSLICE", "TREFFECTIVEBEGIN", "TREFFECTIVEEND",
        "REF_POSITION", "SLC_AVERAGED", "TAGFLAG1", "CT_NORMALIZE", "SCAN_FIRST", "SCAN_LAST",
        "SLICE_ACCEL_REFSCAN", "SLICE_ACCEL_PHASCOR", "FIRST_SCAN_IN_BLADE", "LAST_SCAN_IN_BLADE",
        "LAST_BLADE_IN_TR", "noname43", "PACE", "RETRO_LASTPHASE", "RETRO_ENDOFMEAS",
        "RETRO_REPEATTHISHEARTBEAT", "RETRO_REPEATPREVHEARTBEAT", "RETRO_ABORTSCANNOW", "RETRO_LASTHEARTBEAT",
        "RETRO_DUMMYSCAN", "RETRO_ARRDETDISABLED", "B1_CONTROLLOOP", "SKIP_ONLINE_PHASCOR", "SKIP_REGRIDDING",
        "MDH_VOP",
    ]
    /// Scan-header loop counters in their stored order.
    public static let counterNames = ["Lin", "Ave", "Sli", "Par", "Eco", "Phs", "Rep", "Set", "Seg", "Ida", "Idb", "Idc", "Idd", "Ide"]

    /// Whether the file starts like a twix file (VD/VE raid header or a VB header length).
    public static func looksLikeTwix(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 8 else { return false }
        let a = bytes.u32(0), b = bytes.u32(4)
        return (a == 0 && b >= 1 && b <= 64) || (a >= 32 && a < 64 << 20 && Int(a) < bytes.count)
    }

    /// Reads the measurement `measurement` (default: the last, the imaging scan; earlier ones
    /// are adjustment scans) of a twix file.
    public static func read(_ path: String, mapping: RawCounterMapping, measurement: Int? = nil) throws -> RawDataset {
        InputGuard.recordRead(path)
        guard TextFile.exists(path) else { throw CordIOError.notFound(path: path) }
        let bytes = try FileAccess.readRaw(path)
        return try parse(bytes, path: path, mapping: mapping, measurement: measurement)
    }

    /// Parses twix bytes (`path` names the file in errors).
    public static func parse(_ bytes: [UInt8], path: String, mapping: RawCounterMapping, measurement: Int? = nil) throws -> RawDataset {
        try parseWithProtocol(bytes, path: path, mapping: mapping, measurement: measurement).0
    }

    static func parseWithProtocol(_ bytes: [UInt8], path: String, mapping: RawCounterMapping, measurement: Int?) throws -> (RawDataset, TwixProtocol) {
        guard bytes.count >= 8 else {
            throw CordIOError.truncated(path: path, expectedBytes: 8, foundBytes: bytes.count)
        }
        let isVD = bytes.u32(0) == 0 && bytes.u32(4) >= 1 && bytes.u32(4) <= 64
        var measStart = 0, measEnd = bytes.count
        var notes: [String] = []
        if isVD {
            let count = Int(bytes.u32(4))
            guard bytes.count >= 8 + 152 * count else {
                throw CordIOError.truncated(path: path, expectedBytes: 8 + 152 * count, foundBytes: bytes.count)
            }
            let m = measurement ?? (count - 1)
            guard m >= 0 && m < count else {
                throw CordIOError.invalidContent(path: path, reason: "the file holds \(count) measurement\(count == 1 ? "" : "s"); measurement \(m) does not exist")
            }
            let e = 8 + 152 * m
            measStart = Int(bytes.u64(e + 8)); let len = Int(bytes.u64(e + 16))
            guard measStart > 0, measStart < bytes.count, len > 0 else {
                throw CordIOError.corrupt(path: path, reason: "measurement \(m) of \(count) starts at byte \(measStart), outside the file (\(bytes.count) bytes)")
            }
            measEnd = min(bytes.count, measStart + len)
            if measStart + len > bytes.count {
                notes.append("the raid header gives measurement \(m) \(len) bytes; the file holds \(bytes.count - measStart) of them")
            }
            if count > 1 { notes.append("measurement \(m + 1) of \(count) read (the others are adjustment scans)") }
        } else if !looksLikeTwix(bytes) {
            throw CordIOError.unsupported(path: path, reason: "not a Siemens twix file (neither a VD/VE raid header nor a VB header length at its start)")
        }
        // Text buffers.
        guard measStart + 8 <= measEnd else { throw CordIOError.truncated(path: path, expectedBytes: measStart + 8, foundBytes: bytes.count) }
        let headerLength = Int(bytes.u32(measStart))
        guard headerLength >= 8, measStart + headerLength <= measEnd else {
            throw CordIOError.truncated(path: path, expectedBytes: measStart + max(headerLength, 8), foundBytes: measEnd)
        }
        let buffers = try parseBuffers(bytes, from: measStart + 4, to: measStart + headerLength, path: path)
        let protocolText = TwixProtocol(buffers: buffers)
        // Scans.
        let scanStart = measStart + headerLength
        var acquisitions: [RawAcquisition] = []
        var vendorFlags: [String: Int] = [:], vendorCounters: [String: Int] = [:]
        var sawLast = false
        var pos = scanStart
        let headerSize = isVD ? 192 : 128
        let channelHeaderSize = isVD ? 32 : 128
        var scanNumber = 0
        var centreLines = Set<Int>()
        // Per scan: ICE program parameters and the diffusion volume counter (docs/raw-data.md).
        var iceParameters: [[UInt16]] = []
        var diffusionCounter: [Int] = []
        let diffusionCounterIndex = mapping.diffusion.flatMap { counterNames.firstIndex(of: $0.volumeCounter) }
        let flagMap: [(bit: Int, flag: RawAcquisitionFlags)] = evalInfoBits.enumerated().compactMap { i, name in
            mapping.flags[name].flatMap { RawAcquisitionFlags.flag(named: $0) }.map { (i, $0) }
        }
        let skipBits: UInt64 = mapping.skipFlags.reduce(0) { acc, name in
            evalInfoBits.firstIndex(of: name).map { acc | (1 << UInt64($0)) } ?? acc
        }
        let counterTargets: [(Int, String)] = counterNames.enumerated().compactMap { i, name in
            if let t = mapping.counters[name], let target = t { return (i, target) }
            return nil
        }
        while pos + headerSize <= measEnd, !sawLast {
            let h = pos
            let dma = Int(bytes.u32(h) & 0x1FF_FFFF)
            let mask = bytes.u64(h + (isVD ? 40 : 20))
            if mask & 1 != 0 { break }  // ACQEND
            if mask & skipBits != 0 {
                guard dma > 0 else { throw CordIOError.corrupt(path: path, reason: "scan \(scanNumber + 1) at byte \(h) is a sync-data block of length 0") }
                pos += dma; continue
            }
            let o = isVD ? 48 : 28
            let samples = Int(bytes.u16(h + o)), channels = Int(bytes.u16(h + o + 2))
            guard samples > 0, channels > 0, samples <= 1 << 16, channels <= 1024 else {
                throw CordIOError.corrupt(path: path, reason: "scan \(scanNumber + 1) at byte \(h) claims \(samples) samples and \(channels) channels")
            }
            let blockSize = isVD ? headerSize + channels * (channelHeaderSize + 8 * samples) : channels * (channelHeaderSize + 8 * samples)
            guard h + blockSize <= measEnd else {
                throw CordIOError.truncated(path: path, expectedBytes: h + blockSize, foundBytes: measEnd)
            }
            scanNumber += 1
            var acq = RawAcquisition(channels: channels, samples: samples, data: [ComplexF](repeating: .zero, count: channels * samples))
            // Flags.
            for bit in 0..<evalInfoBits.count where mask & (1 << UInt64(bit)) != 0 {
                vendorFlags[evalInfoBits[bit], default: 0] += 1
            }
            for (bit, flag) in flagMap where mask & (1 << UInt64(bit)) != 0 { acq.flags.insert(flag) }
            if mask & (1 << 11) != 0 { sawLast = true }  // LASTSCANINMEAS
            // Counters.
            let c0 = h + o + 4
            for (i, name) in counterNames.enumerated() where bytes.u16(c0 + 2 * i) != 0 {
                vendorCounters[name, default: 0] += 1
            }
            centreLines.insert(Int(bytes.u16(h + (isVD ? 96 : 76))))
            for (i, target) in counterTargets { acq.index[target] = Int(bytes.u16(c0 + 2 * i)) }
            acq.discardPre = Int(bytes.u16(c0 + 28)); acq.discardPost = Int(bytes.u16(c0 + 30))
            acq.centerSample = Int(bytes.u16(c0 + 32))
            acq.scanCounter = Int(bytes.u32(h + 8)); acq.timeStamp = Int(bytes.u32(h + 12))
            // Geometry: slice position (Sag, Cor, Tra = LPS) and quaternion (scalar first).
            let g = isVD ? h + 100 : h + 96
            acq.position = SIMD3(Double(bytes.f32(g)), Double(bytes.f32(g + 4)), Double(bytes.f32(g + 8)))
            let q = (0..<4).map { Double(bytes.f32(g + 12 + 4 * $0)) }
            let dirs = siemensQuaternionDirections(w: q[0], x: q[1], y: q[2], z: q[3])
            acq.phaseDirection = dirs.phase; acq.readDirection = dirs.read; acq.sliceDirection = dirs.slice
            acq.sampleTimeMicroseconds = protocolText.dwellMicroseconds ?? 0
            // ICE program parameters (VD/VE: 24 at byte 128; VB: 4 at byte 80).
            let iceStart = isVD ? h + 128 : h + 80
            iceParameters.append((0..<(isVD ? 24 : 4)).map { bytes.u16(iceStart + 2 * $0) })
            diffusionCounter.append(diffusionCounterIndex.map { Int(bytes.u16(c0 + 2 * $0)) } ?? 0)
            // Channel data.
            var p = isVD ? h + headerSize : h
            acq.data.withUnsafeMutableBufferPointer { out in
                for c in 0..<channels {
                    p += channelHeaderSize
                    bytes.withUnsafeBytes { raw in
                        for s in 0..<samples {
                            let re = raw.loadUnaligned(fromByteOffset: p + 8 * s, as: Float.self)
                            let im = raw.loadUnaligned(fromByteOffset: p + 8 * s + 4, as: Float.self)
                            out[c * samples + s] = ComplexF(re, im)
                        }
                    }
                    p += 8 * samples
                }
            }
            acquisitions.append(acq)
            pos = h + blockSize
        }
        guard !acquisitions.isEmpty else {
            throw CordIOError.invalidContent(path: path, reason: "the measurement holds no k-space readout")
        }
        if !sawLast {
            throw CordIOError.truncated(path: path, expectedBytes: pos + headerSize, foundBytes: measEnd)
        }
        if pos < measEnd, measEnd - pos < headerSize {
            notes.append("\(measEnd - pos) bytes after the last scan (an incomplete end-of-acquisition block) ignored")
        }
        if let d = mapping.diffusion {
            notes += try TwixDiffusion.assign(&acquisitions, ice: iceParameters, volumeCounter: diffusionCounter,
                                              protocolText: protocolText, mapping: d, path: path)
        }
        notes += TwixGeometry.checkSlices(acquisitions, protocolText: protocolText)
        var header = try protocolText.header(path: path, acquisitions: acquisitions, centreLine: centreLines.max())
        header.receiverChannels = acquisitions.map(\.channels).max() ?? 1
        var ds = RawDataset(header: header, acquisitions: acquisitions, source: isVD ? .siemensTwixVD : .siemensTwixVB)
        ds.vendorFlags = vendorFlags; ds.vendorCounters = vendorCounters
        ds.protocolFields = protocolText.summaryFields
        ds.notes = notes + ["counter mapping: \(mapping.source)"]
        return (ds, protocolText)
    }

    /// ISMRMRD read/phase/slice directions from a Siemens quaternion (scalar w first):
    /// the rotation's columns are phase, read and slice (siemens_to_ismrmrd's convention).
    public static func siemensQuaternionDirections(w: Double, x: Double, y: Double, z: Double)
        -> (read: SIMD3<Double>, phase: SIMD3<Double>, slice: SIMD3<Double>) {
        let c0 = SIMD3(1 - 2 * (y * y + z * z), 2 * (x * y + z * w), 2 * (x * z - y * w))
        let c1 = SIMD3(2 * (x * y - z * w), 1 - 2 * (x * x + z * z), 2 * (y * z + x * w))
        let c2 = SIMD3(2 * (x * z + y * w), 2 * (y * z - x * w), 1 - 2 * (x * x + y * y))
        return (c1, c0, c2)
    }

    static func parseBuffers(_ bytes: [UInt8], from start: Int, to end: Int, path: String) throws -> [String: String] {
        var p = start
        let n = Int(bytes.u32(p)); p += 4
        guard n >= 0 && n < 64 else { throw CordIOError.corrupt(path: path, reason: "the measurement header lists \(n) text buffers") }
        var out: [String: String] = [:]
        for _ in 0..<n {
            var q = p
            while q < end && bytes[q] != 0 { q += 1 }
            guard q < end else { throw CordIOError.corrupt(path: path, reason: "a protocol buffer name runs past the measurement header") }
            let name = String(decoding: bytes[p..<q], as: UTF8.self)
            p = q + 1
            guard p + 4 <= end else { throw CordIOError.truncated(path: path, expectedBytes: p + 4, foundBytes: end) }
            let len = Int(bytes.u32(p)); p += 4
            guard len >= 0, p + len <= end else {
                throw CordIOError.corrupt(path: path, reason: "protocol buffer \(name) claims \(len) bytes, past the measurement header")
            }
            var text = bytes[p..<(p + len)]
            while let last = text.last, last == 0 { text = text.dropLast() }
            out[name] = String(decoding: text, as: UTF8.self)
            p += len
        }
        return out
    }
}

/// The ASCII protocol of a twix measurement: the `ASCCONV` key = value block (MeasYaps) and
/// XProtocol parameters (Meas), read by name.
struct TwixProtocol {
    var ascconv: [String: String] = [:]
    var meas: String

    init(buffers: [String: String]) {
        meas = buffers["Meas"] ?? ""
        for name in ["MeasYaps", "Meas", "Phoenix"] {
            guard let text = buffers[name], let b = text.range(of: "### ASCCONV BEGIN") else { continue }
            let body = text[b.upperBound...]
            let endIndex = body.range(of: "### ASCCONV END")?.lowerBound ?? body.endIndex
            for line in body[..<endIndex].split(separator: "\n").dropFirst() {
                guard let eq = line.firstIndex(of: "=") else { continue }
                let key = line[..<eq].trimmingCharacters(in: .whitespaces)
                var value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
                if let hash = value.range(of: "#") , !value.hasPrefix("\"") { value = String(value[..<hash.lowerBound]).trimmingCharacters(in: .whitespaces) }
                if value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2 { value = String(value.dropFirst().dropLast()) }
                if ascconv[key] == nil { ascconv[key] = value }
            }
        }
    }

    func double(_ key: String) -> Double? { ascconv[key].flatMap { parseNumber($0) } }
    func int(_ key: String) -> Int? { double(key).flatMap { CheckedNumber.intOrNil($0) } }

    /// Values of the XProtocol parameter `name` in the Meas buffer (`<ParamLong."name"> { 160 0 }`).
    func xprot(_ name: String) -> [String] {
        guard let r = meas.range(of: "\"\(name)\">") else { return [] }
        let rest = meas[r.upperBound...]
        guard let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") else { return [] }
        let inner = rest[rest.index(after: open)..<close]
        if inner.contains("{") { return [] }
        var out: [String] = []
        var skipNext = false
        for token in inner.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }) {
            if skipNext { skipNext = false; continue }
            if token.hasPrefix("<") { skipNext = true; continue }
            var t = String(token)
            if t.hasPrefix("\"") && t.hasSuffix("\"") && t.count >= 2 { t = String(t.dropFirst().dropLast()) }
            out.append(t)
        }
        return out
    }
    func xprotDouble(_ name: String) -> Double? { xprot(name).first.flatMap { parseNumber($0) } }

    func parseNumber(_ s: String) -> Double? {
        if s.hasPrefix("0x"), let v = UInt64(s.dropFirst(2), radix: 16) { return Double(v) }
        return Double(s)
    }

    var dwellMicroseconds: Double? {
        (double("sRXSPEC.alDwellTime[0]") ?? xprotDouble("alDwellTime")).map { $0 / 1000 }
    }

    /// Protocol fields shown by `cordq info` (keys as in the ASCII protocol).
    var summaryFields: [String: String] {
        var out: [String: String] = [:]
        let keys = ["tSequenceFileName", "tProtocolName", "sKSpace.lBaseResolution", "sKSpace.lPhaseEncodingLines",
                    "sKSpace.ucPhasePartialFourier", "sKSpace.dPhaseOversamplingForDialog", "sFastImaging.lEPIFactor",
                    "sFastImaging.lSegments", "sPat.lAccelFactPE", "sPat.lRefLinesPE", "sSliceAcceleration.lMultiBandFactor",
                    "sSliceAcceleration.lFOVShiftFactor", "sDiffusion.lDiffDirections", "sDiffusion.lDiffWeightings",
                    "sSliceArray.lSize", "sSliceArray.asSlice[0].dReadoutFOV", "sSliceArray.asSlice[0].dPhaseFOV",
                    "sSliceArray.asSlice[0].dThickness", "alTR[0]", "alTE[0]", "sRXSPEC.alDwellTime[0]"]
        for k in keys { if let v = ascconv[k] { out[k] = v } }
        for k in ["alRegridMode", "alRegridRampupTime", "alRegridFlattopTime", "alRegridRampdownTime",
                  "alRegridDelaySamplesTime", "alRegridDestSamples", "iNoOfFourierColumns", "iNoOfFourierLines",
                  "tPatientPosition", "Manufacturer", "ManufacturersModelName", "SoftwareVersions", "flMagneticFieldStrength"] {
            if let v = xprot(k).first { out[k] = v }
        }
        return out
    }

    /// The ISMRMRD-like header from the protocol and the scans' counters.
    func header(path: String, acquisitions: [RawAcquisition], centreLine: Int?) throws -> RawHeader {
        func need(_ v: Double?, _ key: String, _ what: String) throws -> Double {
            guard let v else { throw CordIOError.missingField(path: path, key: key, expected: what) }
            return v
        }
        let baseRes = try need(double("sKSpace.lBaseResolution"), "sKSpace.lBaseResolution", "the readout matrix")
        let peLines = try need(double("sKSpace.lPhaseEncodingLines"), "sKSpace.lPhaseEncodingLines", "the phase-encoding matrix")
        let roFOV = try need(double("sSliceArray.asSlice[0].dReadoutFOV"), "sSliceArray.asSlice[0].dReadoutFOV", "the readout FOV (mm)")
        let peFOV = try need(double("sSliceArray.asSlice[0].dPhaseFOV"), "sSliceArray.asSlice[0].dPhaseFOV", "the phase FOV (mm)")
        let thick = double("sSliceArray.asSlice[0].dThickness") ?? 1
        let phaseRes = double("sKSpace.dPhaseResolution") ?? 1
        let phaseOS = max(0, double("sKSpace.dPhaseOversamplingForDialog") ?? 0)
        let nImage = acquisitions.filter { !$0.flags.contains(.isNoiseMeasurement) && !$0.flags.contains(.isPhaseCorrectionData) }
        let maxSamples = nImage.map(\.samples).max() ?? 0
        let fourierColumns = xprotDouble("iNoOfFourierColumns").flatMap { CheckedNumber.intOrNil($0) } ?? maxSamples
        let encodedY = xprotDouble("iNoOfFourierLines").flatMap { CheckedNumber.intOrNil($0) }
            ?? CheckedNumber.clamped(peLines * (1 + phaseOS), .toNearestOrAwayFromZero, to: 1...65536)
        let reconX = try CheckedNumber.int(baseRes, field: "sKSpace.lBaseResolution", in: path, range: 1...4096)
        let reconY = CheckedNumber.clamped(baseRes * phaseRes, .toNearestOrAwayFromZero, to: 1...4096)
        let nSlices = int("sSliceArray.lSize") ?? 1
        var header = RawHeader(
            encodedSpace: RawEncodingSpace(matrix: SIMD3(fourierColumns, encodedY, 1),
                                           fieldOfView: SIMD3(roFOV * Double(fourierColumns) / Double(reconX), peFOV * (1 + phaseOS), thick)),
            reconSpace: RawEncodingSpace(matrix: SIMD3(reconX, reconY, 1), fieldOfView: SIMD3(roFOV, peFOV, thick)))
        // Limits from the counters of the imaging scans (the k-space centre from the scan header).
        let lines = nImage.map(\.index.kspaceEncodeStep1)
        if let lo = lines.min(), let hi = lines.max() {
            header.limits["kspace_encode_step_1"] = RawLimit(minimum: lo, maximum: hi, center: centreLine ?? encodedY / 2)
        }
        for name in ["slice", "repetition", "average", "contrast", "set", "phase"] {
            let v = nImage.map { $0.index[name] ?? 0 }
            header.limits[name] = RawLimit(minimum: v.min() ?? 0, maximum: v.max() ?? 0, center: 0)
        }
        if nSlices > 0 { header.limits["slice"] = RawLimit(minimum: 0, maximum: max(nSlices - 1, header.limits["slice"]?.maximum ?? 0), center: 0) }
        // Ramp sampling.
        let regridMode = xprotDouble("alRegridMode") ?? 1
        if regridMode > 1, let dwell = dwellMicroseconds {
            let ru = xprotDouble("alRegridRampupTime") ?? 0, ft = xprotDouble("alRegridFlattopTime") ?? 0
            let rd = xprotDouble("alRegridRampdownTime") ?? 0, delay = xprotDouble("alRegridDelaySamplesTime") ?? 0
            guard ru >= 0, ft > 0, rd >= 0, delay >= 0, dwell > 0 else {
                throw CordIOError.invalidContent(path: path, reason: "the ramp-sampling timing (alRegrid… ramp up \(ru) µs, flat top \(ft) µs, ramp down \(rd) µs, delay \(delay) µs, dwell \(dwell) µs) is not a trapezoid")
            }
            header.trajectory = .epi
            header.epiTiming = EPIReadoutTiming(numberOfSamples: maxSamples, rampUp: ru, flatTop: ft, rampDown: rd, acquisitionDelay: delay, dwell: dwell)
            header.userParameterLong["numSamples"] = maxSamples
            header.userParameterLong["rampUpTime"] = CheckedNumber.intOrNil(ru)
            header.userParameterLong["flatTopTime"] = CheckedNumber.intOrNil(ft)
            header.userParameterLong["rampDownTime"] = CheckedNumber.intOrNil(rd)
            header.userParameterLong["acqDelayTime"] = CheckedNumber.intOrNil(delay)
            header.userParameterDouble["dwellTime"] = dwell
        }
        header.accelerationFactorPE = int("sPat.lAccelFactPE") ?? 1
        header.systemVendor = xprot("Manufacturer").first ?? "SIEMENS"
        header.systemModel = xprot("ManufacturersModelName").first ?? ""
        header.fieldStrengthTesla = xprotDouble("flMagneticFieldStrength")
        header.patientPosition = xprot("tPatientPosition").first ?? ""
        let seq = ascconv["tSequenceFileName"] ?? ""
        header.sequenceName = String(seq.split(whereSeparator: { $0 == "\\" || $0 == "/" }).last ?? Substring(seq))
        header.protocolName = ascconv["tProtocolName"] ?? ""
        header.repetitionTimeMs = double("alTR[0]").map { $0 / 1000 }
        header.echoTimeMs = double("alTE[0]").map { $0 / 1000 }
        if let es = xprotDouble("iEffectiveEpiEchoSpacing") ?? xprotDouble("lEchoSpacing") {
            header.echoSpacingMs = es / 1000
        } else if let t = header.epiTiming {
            header.echoSpacingMs = (t.rampUp + t.flatTop + t.rampDown) / 1000
        }
        if let mb = int("sSliceAcceleration.lMultiBandFactor"), mb > 1 {
            header.userParameterLong["MultibandFactor"] = mb
            header.userParameterLong["MultibandCaipiShiftDenominator"] = int("sSliceAcceleration.lFOVShiftFactor") ?? 1
        }
        return header
    }

}

// MARK: - Little-endian loads

extension Array where Element == UInt8 {
    @inline(__always) func u16(_ o: Int) -> UInt16 { withUnsafeBytes { UInt16(littleEndian: $0.loadUnaligned(fromByteOffset: o, as: UInt16.self)) } }
    @inline(__always) func u32(_ o: Int) -> UInt32 { withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: o, as: UInt32.self)) } }
    @inline(__always) func u64(_ o: Int) -> UInt64 { withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: o, as: UInt64.self)) } }
    @inline(__always) func f32(_ o: Int) -> Float { Float(bitPattern: u32(o)) }
}
