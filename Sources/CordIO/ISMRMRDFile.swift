// ISMRMRD HDF5 (`/dataset/xml` + `/dataset/data`) through libismrmrd 1.8's C API, to and from
// CordCore's raw model with the convention of docs/raw-data.md. The C API stores the XML
// header as a string: it is written and parsed here (schema order of ismrmrd.xsd 1.8).
@preconcurrency import CISMRMRD
import CordCore
import Foundation

public enum ISMRMRDFile {
    /// Debian's HDF5 is the serial build, which is not thread-safe: every libismrmrd call of the
    /// process goes through this lock (two tests reading at once corrupted memory without it).
    private static let hdf5Lock = NSLock()

    // MARK: - Reading

    /// Reads every acquisition and the header of `path` (group `dataset`).
    public static func read(_ path: String, group: String = "dataset") throws -> RawDataset {
        hdf5Lock.lock(); defer { hdf5Lock.unlock() }
        InputGuard.recordRead(path)
        guard TextFile.exists(path) else { throw CordIOError.notFound(path: path) }
        cordq_ismrmrd_silence()
        var dset = ISMRMRD_Dataset()
        guard ismrmrd_init_dataset(&dset, path, group) == 0 else {
            throw CordIOError.unreadable(path: path, reason: "libismrmrd could not set up the dataset")
        }
        guard ismrmrd_open_dataset(&dset, false) == 0 else {
            throw CordIOError.corrupt(path: path, reason: "not a readable ISMRMRD HDF5 file (HDF5 could not open it: truncated or damaged?)")
        }
        defer { ismrmrd_close_dataset(&dset) }
        guard let cxml = ismrmrd_read_header(&dset) else {
            throw CordIOError.missingField(path: path, key: "/\(group)/xml", expected: "the ISMRMRD XML header")
        }
        let xml = String(cString: cxml)
        free(cxml)
        let header = try ISMRMRDHeaderXML.parse(xml, path: path)
        let n = Int(ismrmrd_get_number_of_acquisitions(&dset))
        guard n > 0 else { throw CordIOError.invalidContent(path: path, reason: "/\(group)/data holds no acquisition") }
        var acqs: [RawAcquisition] = []
        acqs.reserveCapacity(n)
        var acq = ISMRMRD_Acquisition()
        ismrmrd_init_acquisition(&acq)
        defer { ismrmrd_cleanup_acquisition(&acq) }
        for i in 0..<n {
            guard ismrmrd_read_acquisition(&dset, UInt32(i), &acq) == 0 else {
                throw CordIOError.corrupt(path: path, reason: "acquisition \(i + 1) of \(n) cannot be read (truncated file?)")
            }
            let h = acq.head
            let ns = Int(h.number_of_samples), nc = Int(h.active_channels)
            guard ns > 0, nc > 0, let p = cordq_ismrmrd_data(&acq) else {
                throw CordIOError.invalidContent(path: path, reason: "acquisition \(i + 1) has \(ns) samples and \(nc) channels")
            }
            var data = [ComplexF](repeating: .zero, count: ns * nc)
            for j in 0..<(ns * nc) { data[j] = ComplexF(p[2 * j], p[2 * j + 1]) }
            var a = RawAcquisition(channels: nc, samples: ns, data: data)
            a.flags = RawAcquisitionFlags(rawValue: h.flags)
            a.index.kspaceEncodeStep1 = Int(h.idx.kspace_encode_step_1)
            a.index.kspaceEncodeStep2 = Int(h.idx.kspace_encode_step_2)
            a.index.average = Int(h.idx.average); a.index.slice = Int(h.idx.slice)
            a.index.contrast = Int(h.idx.contrast); a.index.phase = Int(h.idx.phase)
            a.index.repetition = Int(h.idx.repetition); a.index.set = Int(h.idx.set)
            a.index.segment = Int(h.idx.segment)
            a.centerSample = Int(h.center_sample)
            a.sampleTimeMicroseconds = Double(h.sample_time_us)
            a.discardPre = Int(h.discard_pre); a.discardPost = Int(h.discard_post)
            a.position = SIMD3(Double(h.position.0), Double(h.position.1), Double(h.position.2))
            a.readDirection = SIMD3(Double(h.read_dir.0), Double(h.read_dir.1), Double(h.read_dir.2))
            a.phaseDirection = SIMD3(Double(h.phase_dir.0), Double(h.phase_dir.1), Double(h.phase_dir.2))
            a.sliceDirection = SIMD3(Double(h.slice_dir.0), Double(h.slice_dir.1), Double(h.slice_dir.2))
            a.userInts = withUnsafeBytes(of: h.user_int) { Array($0.bindMemory(to: Int32.self)).map(Int.init) }
            a.userFloats = withUnsafeBytes(of: h.user_float) { Array($0.bindMemory(to: Float.self)).map(Double.init) }
            a.scanCounter = Int(h.scan_counter)
            a.timeStamp = Int(h.acquisition_time_stamp)
            acqs.append(a)
        }
        var ds = RawDataset(header: header, acquisitions: acqs, source: .ismrmrd)
        if ds.header.receiverChannels <= 1 { ds.header.receiverChannels = acqs.map(\.channels).max() ?? 1 }
        return ds
    }

    /// Image `index` of the image group `variable` (e.g. `cpp`, written by
    /// `ismrmrd_recon_cartesian_2d`) as magnitudes, x fastest, with its matrix size.
    public static func readImage(_ path: String, variable: String, index: Int = 0, group: String = "dataset") throws -> (values: [Float], matrix: [Int]) {
        hdf5Lock.lock(); defer { hdf5Lock.unlock() }
        InputGuard.recordRead(path)
        guard TextFile.exists(path) else { throw CordIOError.notFound(path: path) }
        cordq_ismrmrd_silence()
        var dset = ISMRMRD_Dataset()
        guard ismrmrd_init_dataset(&dset, path, group) == 0, ismrmrd_open_dataset(&dset, false) == 0 else {
            throw CordIOError.corrupt(path: path, reason: "not a readable ISMRMRD HDF5 file")
        }
        defer { ismrmrd_close_dataset(&dset) }
        let n = Int(ismrmrd_get_number_of_images(&dset, variable))
        guard index >= 0 && index < n else {
            throw CordIOError.missingField(path: path, key: "/\(group)/\(variable)", expected: "image \(index + 1) (the file has \(n))")
        }
        var im = ISMRMRD_Image()
        ismrmrd_init_image(&im)
        defer { ismrmrd_cleanup_image(&im) }
        guard ismrmrd_read_image(&dset, variable, UInt32(index), &im) == 0, let raw = im.data else {
            throw CordIOError.corrupt(path: path, reason: "image \(index + 1) of /\(group)/\(variable) cannot be read")
        }
        let m = [Int(im.head.matrix_size.0), Int(im.head.matrix_size.1), Int(im.head.matrix_size.2)]
        let count = m.reduce(1, *) * max(1, Int(im.head.channels))
        var out = [Float](repeating: 0, count: count)
        switch Int(im.head.data_type) {
        case 1: let p = raw.assumingMemoryBound(to: UInt16.self); for i in 0..<count { out[i] = Float(p[i]) }
        case 5: let p = raw.assumingMemoryBound(to: Float.self); for i in 0..<count { out[i] = p[i] }
        case 6: let p = raw.assumingMemoryBound(to: Double.self); for i in 0..<count { out[i] = Float(p[i]) }
        case 7: let p = raw.assumingMemoryBound(to: Float.self); for i in 0..<count { out[i] = (p[2 * i] * p[2 * i] + p[2 * i + 1] * p[2 * i + 1]).squareRoot() }
        default: throw CordIOError.unsupported(path: path, reason: "image data type \(im.head.data_type) is not read")
        }
        return (out, m)
    }

    // MARK: - Writing

    /// Writes `raw` to `path` atomically (a temporary file in the same folder, then renamed).
    public static func write(_ raw: RawDataset, to path: String) throws {
        try InputGuard.check(path)
        if StagingNames.isStaging(path) {   // already a staged name of an OutputFiles group
            try writeDirect(raw, to: path, reportAs: StagingNames.display(path))
            return
        }
        let files = OutputFiles()
        let temp = try files.stage(path)
        try writeDirect(raw, to: temp, reportAs: path)
        try files.commit()
    }

    static func writeDirect(_ raw: RawDataset, to temp: String, reportAs path: String) throws {
        hdf5Lock.lock(); defer { hdf5Lock.unlock() }
        cordq_ismrmrd_silence()
        var dset = ISMRMRD_Dataset()
        guard ismrmrd_init_dataset(&dset, temp, "dataset") == 0, ismrmrd_open_dataset(&dset, true) == 0 else {
            throw CordIOError.writeFailed(path: path, reason: "libismrmrd could not create the file")
        }
        var closed = false
        defer { if !closed { ismrmrd_close_dataset(&dset) } }
        let xml = ISMRMRDHeaderXML.serialise(raw.header)
        guard ismrmrd_write_header(&dset, xml) == 0 else { throw CordIOError.writeFailed(path: path, reason: "the XML header could not be written") }
        for (i, a) in raw.acquisitions.enumerated() {
            var acq = ISMRMRD_Acquisition()
            ismrmrd_init_acquisition(&acq)
            defer { ismrmrd_cleanup_acquisition(&acq) }
            acq.head.number_of_samples = UInt16(clamping: a.samples)
            acq.head.active_channels = UInt16(clamping: a.channels)
            acq.head.available_channels = UInt16(clamping: a.channels)
            guard ismrmrd_make_consistent_acquisition(&acq) == 0, let p = cordq_ismrmrd_data(&acq) else {
                throw CordIOError.writeFailed(path: path, reason: "acquisition \(i + 1) could not be allocated")
            }
            for j in 0..<(a.samples * a.channels) { p[2 * j] = a.data[j].real; p[2 * j + 1] = a.data[j].imaginary }
            acq.head.flags = a.flags.rawValue
            acq.head.scan_counter = UInt32(clamping: a.scanCounter)
            acq.head.acquisition_time_stamp = UInt32(clamping: a.timeStamp)
            acq.head.center_sample = UInt16(clamping: a.centerSample)
            acq.head.discard_pre = UInt16(clamping: a.discardPre); acq.head.discard_post = UInt16(clamping: a.discardPost)
            acq.head.sample_time_us = Float(a.sampleTimeMicroseconds)
            acq.head.position = (Float(a.position.x), Float(a.position.y), Float(a.position.z))
            acq.head.read_dir = (Float(a.readDirection.x), Float(a.readDirection.y), Float(a.readDirection.z))
            acq.head.phase_dir = (Float(a.phaseDirection.x), Float(a.phaseDirection.y), Float(a.phaseDirection.z))
            acq.head.slice_dir = (Float(a.sliceDirection.x), Float(a.sliceDirection.y), Float(a.sliceDirection.z))
            acq.head.idx.kspace_encode_step_1 = UInt16(clamping: a.index.kspaceEncodeStep1)
            acq.head.idx.kspace_encode_step_2 = UInt16(clamping: a.index.kspaceEncodeStep2)
            acq.head.idx.average = UInt16(clamping: a.index.average); acq.head.idx.slice = UInt16(clamping: a.index.slice)
            acq.head.idx.contrast = UInt16(clamping: a.index.contrast); acq.head.idx.phase = UInt16(clamping: a.index.phase)
            acq.head.idx.repetition = UInt16(clamping: a.index.repetition); acq.head.idx.set = UInt16(clamping: a.index.set)
            acq.head.idx.segment = UInt16(clamping: a.index.segment)
            withUnsafeMutableBytes(of: &acq.head.user_int) { b in
                let q = b.bindMemory(to: Int32.self)
                for k in 0..<min(q.count, a.userInts.count) { q[k] = Int32(clamping: a.userInts[k]) }
            }
            withUnsafeMutableBytes(of: &acq.head.user_float) { b in
                let q = b.bindMemory(to: Float.self)
                for k in 0..<min(q.count, a.userFloats.count) { q[k] = Float(a.userFloats[k]) }
            }
            guard ismrmrd_append_acquisition(&dset, &acq) == 0 else {
                throw CordIOError.writeFailed(path: path, reason: "acquisition \(i + 1) could not be appended")
            }
        }
        closed = true
        guard ismrmrd_close_dataset(&dset) == 0 else { throw CordIOError.writeFailed(path: path, reason: "the HDF5 file could not be closed") }
    }
}

// MARK: - The XML header

/// The ISMRMRD 1.8 XML header, serialised in ismrmrd.xsd's element order and parsed back.
public enum ISMRMRDHeaderXML {
    /// Model limit names → XML names (`kspace_encode_step_1` → `kspace_encoding_step_1`).
    static func xmlLimitName(_ n: String) -> String { n.replacingOccurrences(of: "kspace_encode_step", with: "kspace_encoding_step") }

    public static func serialise(_ h: RawHeader) -> String {
        // Shortest representation that reads back to the same Double (dwell 2.8125 µs stays exact).
        func num(_ x: Double) -> String { x.isFinite ? "\(x)" : "0" }
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        var x = "<?xml version=\"1.0\"?>\n<ismrmrdHeader xmlns=\"http://www.ismrm.org/ISMRMRD\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" xsi:schemaLocation=\"http://www.ismrm.org/ISMRMRD ismrmrd.xsd\">\n"
        if !h.patientPosition.isEmpty || !h.protocolName.isEmpty {
            x += "  <measurementInformation>\n"
            x += "    <patientPosition>\(h.patientPosition.isEmpty ? "HFS" : esc(h.patientPosition))</patientPosition>\n"
            if !h.protocolName.isEmpty { x += "    <protocolName>\(esc(h.protocolName))</protocolName>\n" }
            x += "  </measurementInformation>\n"
        }
        x += "  <acquisitionSystemInformation>\n"
        if !h.systemVendor.isEmpty { x += "    <systemVendor>\(esc(h.systemVendor))</systemVendor>\n" }
        if !h.systemModel.isEmpty { x += "    <systemModel>\(esc(h.systemModel))</systemModel>\n" }
        if let b = h.fieldStrengthTesla { x += "    <systemFieldStrength_T>\(num(b))</systemFieldStrength_T>\n" }
        x += "    <receiverChannels>\(h.receiverChannels)</receiverChannels>\n"
        x += "  </acquisitionSystemInformation>\n"
        let larmor = CheckedNumber.clamped((h.fieldStrengthTesla ?? 3) * 42_577_478.5, .toNearestOrAwayFromZero)
        x += "  <experimentalConditions>\n    <H1resonanceFrequency_Hz>\(larmor)</H1resonanceFrequency_Hz>\n  </experimentalConditions>\n"
        x += "  <encoding>\n"
        for (name, s) in [("encodedSpace", h.encodedSpace), ("reconSpace", h.reconSpace)] {
            x += "    <\(name)>\n      <matrixSize><x>\(s.matrix.x)</x><y>\(s.matrix.y)</y><z>\(s.matrix.z)</z></matrixSize>\n"
            x += "      <fieldOfView_mm><x>\(num(s.fieldOfView.x))</x><y>\(num(s.fieldOfView.y))</y><z>\(num(s.fieldOfView.z))</z></fieldOfView_mm>\n    </\(name)>\n"
        }
        x += "    <encodingLimits>\n"
        for name in ["kspace_encode_step_1", "kspace_encode_step_2", "average", "slice", "contrast", "phase", "repetition", "set", "segment"] {
            if let l = h.limits[name] {
                x += "      <\(xmlLimitName(name))><minimum>\(l.minimum)</minimum><maximum>\(l.maximum)</maximum><center>\(l.center)</center></\(xmlLimitName(name))>\n"
            }
        }
        x += "    </encodingLimits>\n"
        x += "    <trajectory>\(h.trajectory.rawValue)</trajectory>\n"
        if h.trajectory == .epi, let t = h.epiTiming {
            x += "    <trajectoryDescription>\n      <identifier>ConventionalEPI</identifier>\n"
            for (n, v) in [("numSamples", Double(t.numberOfSamples)), ("rampUpTime", t.rampUp), ("rampDownTime", t.rampDown),
                           ("flatTopTime", t.flatTop), ("acqDelayTime", t.acquisitionDelay)] {
                x += "      <userParameterLong><name>\(n)</name><value>\(CheckedNumber.clamped(v, .toNearestOrAwayFromZero))</value></userParameterLong>\n"
            }
            x += "      <userParameterDouble><name>dwellTime</name><value>\(num(t.dwell))</value></userParameterDouble>\n"
            x += "    </trajectoryDescription>\n"
        }
        if h.accelerationFactorPE > 1 {
            x += "    <parallelImaging>\n      <accelerationFactor><kspace_encoding_step_1>\(h.accelerationFactorPE)</kspace_encoding_step_1><kspace_encoding_step_2>1</kspace_encoding_step_2></accelerationFactor>\n"
            x += "      <calibrationMode>embedded</calibrationMode>\n    </parallelImaging>\n"
        }
        x += "  </encoding>\n"
        if h.repetitionTimeMs != nil || h.echoTimeMs != nil || h.echoSpacingMs != nil {
            x += "  <sequenceParameters>\n"
            if let v = h.repetitionTimeMs { x += "    <TR>\(num(v))</TR>\n" }
            if let v = h.echoTimeMs { x += "    <TE>\(num(v))</TE>\n" }
            if !h.sequenceName.isEmpty { x += "    <sequence_type>\(esc(h.sequenceName))</sequence_type>\n" }
            if let v = h.echoSpacingMs { x += "    <echo_spacing>\(num(v))</echo_spacing>\n" }
            x += "  </sequenceParameters>\n"
        }
        // Top-level user parameters: everything but the EPI trajectory description's.
        let trajectoryKeys: Set<String> = ["numSamples", "rampUpTime", "rampDownTime", "flatTopTime", "acqDelayTime", "dwellTime"]
        let longs = h.userParameterLong.filter { !trajectoryKeys.contains($0.key) }.sorted { $0.key < $1.key }
        let doubles = h.userParameterDouble.filter { !trajectoryKeys.contains($0.key) }.sorted { $0.key < $1.key }
        let strings = h.userParameterString.sorted { $0.key < $1.key }
        if !longs.isEmpty || !doubles.isEmpty || !strings.isEmpty {
            x += "  <userParameters>\n"
            for (k, v) in longs { x += "    <userParameterLong><name>\(esc(k))</name><value>\(v)</value></userParameterLong>\n" }
            for (k, v) in doubles { x += "    <userParameterDouble><name>\(esc(k))</name><value>\(num(v))</value></userParameterDouble>\n" }
            for (k, v) in strings { x += "    <userParameterString><name>\(esc(k))</name><value>\(esc(v))</value></userParameterString>\n" }
            x += "  </userParameters>\n"
        }
        return x + "</ismrmrdHeader>\n"
    }

    /// Parses the header; missing required elements are named in the error.
    public static func parse(_ xml: String, path: String) throws -> RawHeader {
        let root = try MiniXML.parse(xml, path: path)
        guard root.name == "ismrmrdHeader" else {
            throw CordIOError.invalidContent(path: path, reason: "the XML header's root is <\(root.name)>, not <ismrmrdHeader>")
        }
        guard let enc = root.child("encoding") else { throw CordIOError.missingField(path: path, key: "ismrmrdHeader/encoding", expected: "the encoding (matrix, FOV, limits)") }
        func space(_ name: String) throws -> RawEncodingSpace {
            guard let s = enc.child(name), let m = s.child("matrixSize"), let f = s.child("fieldOfView_mm") else {
                throw CordIOError.missingField(path: path, key: "encoding/\(name)", expected: "matrixSize and fieldOfView_mm")
            }
            func i(_ e: MiniXML.Element, _ k: String) throws -> Int {
                guard let v = e.child(k)?.text, let n = Int(v.trimmingCharacters(in: .whitespaces)) else {
                    throw CordIOError.missingField(path: path, key: "encoding/\(name)/\(e.name)/\(k)", expected: "an integer")
                }
                return n
            }
            func d(_ e: MiniXML.Element, _ k: String) throws -> Double {
                guard let v = e.child(k)?.text, let n = Double(v.trimmingCharacters(in: .whitespaces)) else {
                    throw CordIOError.missingField(path: path, key: "encoding/\(name)/\(e.name)/\(k)", expected: "a number (mm)")
                }
                return n
            }
            return RawEncodingSpace(matrix: SIMD3(try i(m, "x"), try i(m, "y"), try i(m, "z")),
                                    fieldOfView: SIMD3(try d(f, "x"), try d(f, "y"), try d(f, "z")))
        }
        var h = RawHeader(encodedSpace: try space("encodedSpace"), reconSpace: try space("reconSpace"))
        if let lim = enc.child("encodingLimits") {
            for name in RawEncodingIndex.counterNames {
                if let l = lim.child(xmlLimitName(name)) {
                    h.limits[name] = RawLimit(minimum: Int(l.child("minimum")?.text ?? "") ?? 0, maximum: Int(l.child("maximum")?.text ?? "") ?? 0,
                                              center: Int(l.child("center")?.text ?? "") ?? 0)
                }
            }
        }
        guard let traj = enc.child("trajectory")?.text else {
            throw CordIOError.missingField(path: path, key: "encoding/trajectory", expected: "cartesian, epi, …")
        }
        h.trajectory = RawTrajectory(rawValue: traj) ?? .other
        if let td = enc.child("trajectoryDescription") {
            var longs: [String: Int] = [:], doubles: [String: Double] = [:]
            for p in td.children where p.name == "userParameterLong" {
                if let n = p.child("name")?.text, let v = Int(p.child("value")?.text ?? "") { longs[n] = v }
            }
            for p in td.children where p.name == "userParameterDouble" {
                if let n = p.child("name")?.text, let v = Double(p.child("value")?.text ?? "") { doubles[n] = v }
            }
            h.userParameterLong.merge(longs) { a, _ in a }
            h.userParameterDouble.merge(doubles) { a, _ in a }
            if h.trajectory == .epi {
                guard let ns = longs["numSamples"], let ru = longs["rampUpTime"], let ft = longs["flatTopTime"],
                      let rd = longs["rampDownTime"], let delay = longs["acqDelayTime"], let dwell = doubles["dwellTime"] else {
                    throw CordIOError.missingField(path: path, key: "encoding/trajectoryDescription",
                                                   expected: "numSamples, rampUpTime, flatTopTime, rampDownTime, acqDelayTime (userParameterLong, µs) and dwellTime (userParameterDouble, µs)")
                }
                h.epiTiming = EPIReadoutTiming(numberOfSamples: ns, rampUp: Double(ru), flatTop: Double(ft), rampDown: Double(rd),
                                               acquisitionDelay: Double(delay), dwell: dwell)
            }
        }
        if let r = enc.child("parallelImaging")?.child("accelerationFactor")?.child("kspace_encoding_step_1")?.text, let v = Int(r) {
            h.accelerationFactorPE = v
        }
        if let sys = root.child("acquisitionSystemInformation") {
            h.systemVendor = sys.child("systemVendor")?.text ?? ""
            h.systemModel = sys.child("systemModel")?.text ?? ""
            h.fieldStrengthTesla = sys.child("systemFieldStrength_T")?.text.flatMap { Double($0) }
            h.receiverChannels = sys.child("receiverChannels")?.text.flatMap { Int($0) } ?? 1
        }
        if let m = root.child("measurementInformation") {
            h.patientPosition = m.child("patientPosition")?.text ?? ""
            h.protocolName = m.child("protocolName")?.text ?? ""
        }
        if let sp = root.child("sequenceParameters") {
            h.repetitionTimeMs = sp.child("TR")?.text.flatMap { Double($0) }
            h.echoTimeMs = sp.child("TE")?.text.flatMap { Double($0) }
            h.echoSpacingMs = sp.child("echo_spacing")?.text.flatMap { Double($0) }
            h.sequenceName = sp.child("sequence_type")?.text ?? ""
        }
        if let up = root.child("userParameters") {
            for p in up.children {
                guard let n = p.child("name")?.text, let valueText = p.child("value")?.text else { continue }
                switch p.name {
                case "userParameterLong": if let i = Int(valueText) { h.userParameterLong[n] = i }
                case "userParameterDouble": if let d = Double(valueText) { h.userParameterDouble[n] = d }
                case "userParameterString": h.userParameterString[n] = valueText
                default: break
                }
            }
        }
        return h
    }
}

/// A minimal XML reader for the ISMRMRD header: elements, text, comments, declarations;
/// attributes are skipped; the five predefined entities are decoded.
enum MiniXML {
    final class Element {
        let name: String
        var children: [Element] = []
        var textParts = ""
        init(name: String) { self.name = name }
        var text: String? { let t = textParts.trimmingCharacters(in: .whitespacesAndNewlines); return t.isEmpty ? nil : t }
        func child(_ n: String) -> Element? { children.first { $0.name == n } }
    }

    static func parse(_ s: String, path: String) throws -> Element {
        let c = Array(s.utf8)
        var i = 0
        var stack: [Element] = []
        var root: Element?
        func fail(_ why: String) -> CordIOError { .invalidContent(path: path, reason: "the XML header is malformed (\(why) at byte \(i))") }
        func decode(_ b: ArraySlice<UInt8>) -> String {
            String(decoding: b, as: UTF8.self).replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
                .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'").replacingOccurrences(of: "&amp;", with: "&")
        }
        while i < c.count {
            if c[i] == UInt8(ascii: "<") {
                if i + 3 < c.count, c[i + 1] == UInt8(ascii: "!"), c[i + 2] == UInt8(ascii: "-"), c[i + 3] == UInt8(ascii: "-") {
                    var j = i + 4
                    while j + 2 < c.count && !(c[j] == UInt8(ascii: "-") && c[j + 1] == UInt8(ascii: "-") && c[j + 2] == UInt8(ascii: ">")) { j += 1 }
                    guard j + 2 < c.count else { throw fail("unterminated comment") }
                    i = j + 3; continue
                }
                var j = i + 1
                while j < c.count && c[j] != UInt8(ascii: ">") { j += 1 }
                guard j < c.count else { throw fail("unterminated tag") }
                let body = c[(i + 1)..<j]
                i = j + 1
                guard let first = body.first else { throw fail("empty tag") }
                if first == UInt8(ascii: "?") || first == UInt8(ascii: "!") { continue }
                if first == UInt8(ascii: "/") {
                    let name = String(decoding: body.dropFirst(), as: UTF8.self).trimmingCharacters(in: .whitespaces)
                    guard let top = stack.popLast(), top.name == name else { throw fail("</\(name)> closes nothing open") }
                    if stack.isEmpty { root = top }
                    continue
                }
                let selfClosing = body.last == UInt8(ascii: "/")
                let inner = selfClosing ? body.dropLast() : body
                let nameEnd = inner.firstIndex { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\r") } ?? inner.endIndex
                var name = String(decoding: inner[inner.startIndex..<nameEnd], as: UTF8.self)
                if let colon = name.firstIndex(of: ":") { name = String(name[name.index(after: colon)...]) }
                let e = Element(name: name)
                stack.last?.children.append(e)
                if selfClosing { if stack.isEmpty { root = e } } else { stack.append(e) }
            } else {
                var j = i
                while j < c.count && c[j] != UInt8(ascii: "<") { j += 1 }
                stack.last?.textParts += decode(c[i..<j])
                i = j
            }
        }
        guard stack.isEmpty, let r = root else { throw fail(stack.isEmpty ? "no root element" : "<\(stack.last?.name ?? "")> is never closed") }
        return r
    }
}
