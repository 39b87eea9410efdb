// A Siemens twix VD/VE writer for tests only: turns a RawDataset (e.g. CordPhantom's simulated
// EPI) into the multi-raid layout TwixFile reads (10240-byte raid header, measurement header with
// MeasYaps ASCCONV and Meas XProtocol buffers, 192-byte scan headers with counters, EvalInfoMask,
// slice position + quaternion and ICE program parameters, 32-byte channel headers). The byte
// offsets are the public layout (twixtools, mapVBVD) that CordIO's reader also follows, so a file
// written here checks the reader's *mapping* logic (flags, diffusion, geometry), not the layout.
import CordCore
import CordIO
import Foundation

struct SyntheticTwix {
    var ascconv: [(String, String)] = []
    var xprot: [(String, String)] = []
    /// Per acquisition: ICE program parameters (24) and geometry overrides.
    var ice: [Int: [UInt16]] = [:]
    var repetitionOf: (RawAcquisition) -> Int = { $0.index.repetition }

    static func bit(_ name: String) -> Int { TwixFile.evalInfoBits.firstIndex(of: name)! }

    /// Scalar-first quaternion (w, x, y, z) of the rotation whose columns are phase, read, slice.
    static func quaternion(phase p: SIMD3<Double>, read r: SIMD3<Double>, slice s: SIMD3<Double>) -> [Double] {
        let m = [[p.x, r.x, s.x], [p.y, r.y, s.y], [p.z, r.z, s.z]]
        let tr = m[0][0] + m[1][1] + m[2][2]
        if tr > 0 {
            let q = (tr + 1).squareRoot() * 2
            return [0.25 * q, (m[2][1] - m[1][2]) / q, (m[0][2] - m[2][0]) / q, (m[1][0] - m[0][1]) / q]
        } else if m[0][0] > m[1][1] && m[0][0] > m[2][2] {
            let q = (1 + m[0][0] - m[1][1] - m[2][2]).squareRoot() * 2
            return [(m[2][1] - m[1][2]) / q, 0.25 * q, (m[0][1] + m[1][0]) / q, (m[0][2] + m[2][0]) / q]
        } else if m[1][1] > m[2][2] {
            let q = (1 + m[1][1] - m[0][0] - m[2][2]).squareRoot() * 2
            return [(m[0][2] - m[2][0]) / q, (m[0][1] + m[1][0]) / q, 0.25 * q, (m[1][2] + m[2][1]) / q]
        } else {
            let q = (1 + m[2][2] - m[0][0] - m[1][1]).squareRoot() * 2
            return [(m[1][0] - m[0][1]) / q, (m[0][2] + m[2][0]) / q, (m[1][2] + m[2][1]) / q, 0.25 * q]
        }
    }

    /// The protocol fields a simulated EPI needs (matrix, FOV, ramp timing, dwell, R).
    mutating func describe(_ raw: RawDataset, slices: Int = 1) {
        let h = raw.header
        ascconv += [("tSequenceFileName", "\"%SiemensSeq%\\ep2d_diff\""), ("tProtocolName", "\"synthetic\""),
                    ("sKSpace.lBaseResolution", "\(h.reconSpace.matrix.x)"),
                    ("sKSpace.lPhaseEncodingLines", "\(h.reconSpace.matrix.y)"),
                    ("sSliceArray.asSlice[0].dReadoutFOV", "\(h.reconSpace.fieldOfView.x)"),
                    ("sSliceArray.asSlice[0].dPhaseFOV", "\(h.reconSpace.fieldOfView.y)"),
                    ("sSliceArray.asSlice[0].dThickness", "\(h.reconSpace.fieldOfView.z)"),
                    ("sSliceArray.lSize", "\(slices)"), ("sPat.lAccelFactPE", "\(h.accelerationFactorPE)"),
                    ("alTE[0]", "30000"), ("alTR[0]", "3000000")]
        if let t = h.epiTiming {
            ascconv.append(("sRXSPEC.alDwellTime[0]", "\(Int((t.dwell * 1000).rounded()))"))
            xprot += [("alRegridMode", "2"), ("alRegridRampupTime", "\(Int(t.rampUp))"), ("alRegridFlattopTime", "\(Int(t.flatTop))"),
                      ("alRegridRampdownTime", "\(Int(t.rampDown))"), ("alRegridDelaySamplesTime", "\(Int(t.acquisitionDelay))")]
        }
        xprot += [("iNoOfFourierColumns", "\(h.encodedSpace.matrix.x)"), ("iNoOfFourierLines", "\(h.encodedSpace.matrix.y)"),
                  ("tPatientPosition", "\"HFS\"")]
    }

    func bytes(_ raw: RawDataset) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 10240)
        func put32(_ v: UInt32, _ o: Int, _ b: inout [UInt8]) { for i in 0..<4 { b[o + i] = UInt8((v >> (8 * UInt32(i))) & 0xFF) } }
        func put16(_ v: UInt16, _ o: Int, _ b: inout [UInt8]) { b[o] = UInt8(v & 0xFF); b[o + 1] = UInt8(v >> 8) }
        func put64(_ v: UInt64, _ o: Int, _ b: inout [UInt8]) { for i in 0..<8 { b[o + i] = UInt8((v >> (8 * UInt64(i))) & 0xFF) } }
        func putF(_ v: Double, _ o: Int, _ b: inout [UInt8]) { put32(Float(v).bitPattern, o, &b) }
        put32(0, 0, &out); put32(1, 4, &out)
        // Measurement header: u32 length, u32 buffer count, named buffers.
        let yaps = "### ASCCONV BEGIN ###\n" + ascconv.map { "\($0.0)\t = \t\($0.1)" }.joined(separator: "\n") + "\n### ASCCONV END ###\n"
        let meas = xprot.map { "<ParamLong.\"\($0.0)\">  { \($0.1) }" }.joined(separator: "\n") + "\n"
        var hdr: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0]
        put32(2, 4, &hdr)
        for (name, text) in [("Meas", meas), ("MeasYaps", yaps)] {
            hdr += Array(name.utf8) + [0]
            let t = Array(text.utf8) + [0]
            var len = [UInt8](repeating: 0, count: 4); put32(UInt32(t.count), 0, &len)
            hdr += len + t
        }
        put32(UInt32(hdr.count), 0, &hdr)
        var scans: [UInt8] = []
        let flagBits: [(RawAcquisitionFlags, String)] = [(.isPhaseCorrectionData, "PHASCOR"), (.isReverse, "REFLECT"),
                                                         (.isNoiseMeasurement, "NOISEADJSCAN"), (.isParallelCalibration, "PATREFSCAN"),
                                                         (.isParallelCalibrationAndImaging, "PATREFANDIMASCAN"),
                                                         (.firstInSlice, "FIRSTSCANINSLICE"), (.lastInSlice, "LASTSCANINSLICE")]
        for (n, a) in raw.acquisitions.enumerated() {
            let size = 192 + a.channels * (32 + 8 * a.samples)
            var s = [UInt8](repeating: 0, count: size)
            put32(UInt32(size), 0, &s)
            put32(UInt32(n + 1), 8, &s); put32(UInt32(a.timeStamp), 12, &s)
            var mask: UInt64 = 0
            for (f, name) in flagBits where a.flags.contains(f) { mask |= 1 << UInt64(Self.bit(name)) }
            if n == raw.acquisitions.count - 1 { mask |= 1 << UInt64(Self.bit("LASTSCANINMEAS")) }
            put64(mask, 40, &s)
            put16(UInt16(a.samples), 48, &s); put16(UInt16(a.channels), 50, &s)
            let counters = [a.index.kspaceEncodeStep1, a.index.average, a.index.slice, a.index.kspaceEncodeStep2, a.index.contrast,
                            a.index.phase, repetitionOf(a), a.index.set, a.flags.contains(.isReverse) ? 1 : 0, 0, 0, 0, 0, 0]
            for (i, c) in counters.enumerated() { put16(UInt16(c), 52 + 2 * i, &s) }
            put16(UInt16(a.centerSample), 84, &s)
            put16(UInt16(raw.header.phaseLimit.center), 96, &s)
            putF(a.position.x, 100, &s); putF(a.position.y, 104, &s); putF(a.position.z, 108, &s)
            let q = Self.quaternion(phase: a.phaseDirection, read: a.readDirection, slice: a.sliceDirection)
            for i in 0..<4 { putF(q[i], 112 + 4 * i, &s) }
            if let p = ice[n] { for (i, v) in p.enumerated() { put16(v, 128 + 2 * i, &s) } }
            for c in 0..<a.channels {
                let o = 192 + c * (32 + 8 * a.samples) + 32
                for k in 0..<a.samples {
                    let v = a.data[c * a.samples + k]
                    put32(v.real.bitPattern, o + 8 * k, &s); put32(v.imaginary.bitPattern, o + 8 * k + 4, &s)
                }
            }
            scans += s
        }
        let measStart = out.count
        put64(UInt64(measStart), 8 + 8, &out)
        put64(UInt64(hdr.count + scans.count), 8 + 16, &out)
        return out + hdr + scans
    }

    /// The simulated acquisitions with a twix-representable geometry (read = slice × phase) and
    /// copies for `slices` slices × `volumes` volumes at `positions` (LPS mm).
    static func replicate(_ raw: RawDataset, slices: Int, volumes: Int, phase: SIMD3<Double>, slice n: SIMD3<Double>,
                          positions: [SIMD3<Double>]) -> RawDataset {
        var out = raw
        let read = cross(n, phase)
        out.acquisitions = []
        var t = 0
        for v in 0..<volumes {
            for k in 0..<slices {
                for a in raw.acquisitions {
                    if a.flags.contains(.isNoiseMeasurement) && (v > 0 || k > 0) { continue }
                    var b = a
                    b.index.slice = k; b.index.repetition = v
                    b.position = positions[k]; b.phaseDirection = phase; b.readDirection = read; b.sliceDirection = n
                    b.timeStamp = t; t += 1
                    out.acquisitions.append(b)
                }
            }
        }
        out.header.limits["slice"] = RawLimit(minimum: 0, maximum: slices - 1, center: 0)
        return out
    }
}
