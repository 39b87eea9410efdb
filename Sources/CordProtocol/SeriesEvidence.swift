// What one series' sidecar, NIfTI header and bval/bvec say about each card key
// (README §6 sequence rules and §9 "where each value is looked for"). The files were read
// once into the subject's inventory; these are derived values only.
import CordCore

/// A value found for a card key, with where it came from (or why it is unknown).
public struct Found<T: Sendable>: Sendable {
    public var value: T?
    /// The JSON key, header field or rule that gave the value; when `value` is nil, why not.
    public var source: String
    init(_ value: T?, _ source: String) { self.value = value; self.source = source }
}

/// The card values of one series, derived from its sidecar, header and gradients.
extension SubjectSeries {
    // MARK: - Sidecar fields the card rules read

    /// A string field of the sidecar (nil when absent or of another type).
    func sidecarString(_ key: String) -> String? {
        if case let .string(s)? = sidecar?.fields[key] { return s }
        return nil
    }
    /// A number field of the sidecar (nil when absent or of another type).
    func sidecarNumber(_ key: String) -> Double? {
        if case let .number(d)? = sidecar?.fields[key] { return d }
        return nil
    }
    /// `ScanningSequence`, `SequenceVariant`, `ScanOptions` split at `_` and `\` (dcm2niix
    /// writes `GR_IR` in old versions and `GR\IR` in new ones).
    func sidecarTokens(_ key: String) -> Set<String> {
        guard let s = sidecarString(key) else { return [] }
        return Set(s.split(whereSeparator: { $0 == "_" || $0 == "\\" }).map { $0.uppercased() })
    }

    // MARK: - Derived values

    /// The sequence family by the first README §6 rule that fires.
    public var sequenceFamily: Found<SequenceFamily> {
        let details = [sidecarString("PulseSequenceDetails"), sidecarString("SequenceName")].compactMap { $0?.lowercased() }
        let options = sidecarString("ScanOptions")?.lowercased()
        let scanning = sidecarTokens("ScanningSequence"), all = scanning.union(sidecarTokens("SequenceVariant")).union(sidecarTokens("ScanOptions"))
        let type = sidecarString("MRAcquisitionType")?.uppercased()
        let etl = sidecarNumber("EchoTrainLength")
        if details.contains(where: { $0.contains("resolve") }) { return Found(.resolve, "PulseSequenceDetails/SequenceName contain 'resolve'") }
        if (details + [options].compactMap { $0 }).contains(where: { $0.contains("zoom") || $0.contains("focus") }) {
            return Found(.zoomit, "sequence name or ScanOptions contain 'zoom'/'focus'")
        }
        if datatype == "dwi" && (all.contains("EP") || (etl ?? 0) > 1) {
            return Found(.epi, all.contains("EP") ? "dwi with EP in ScanningSequence" : "dwi with EchoTrainLength \(formatCardNumber(etl ?? 0))")
        }
        let gr = all.contains("GR"), se = all.contains("SE")
        if type == "3D" && gr && (all.contains("IR") || all.contains("MP") || sidecar?.inversionTime != nil) {
            return Found(.mprage, "3D GR with IR/MP/InversionTime")
        }
        if type == "3D" && gr { return Found(.flash3d, "3D, GR") }
        if type == "2D" && gr { return Found(.gre, "2D, GR") }
        if type == "3D" && se { return Found(.tse3d, "3D, SE") }
        if type == "2D" && se && datatype != "dwi" { return Found(.tse, "2D, SE") }
        return Found(nil, sidecar == nil ? "no sidecar" : "no rule of README §6 fires (MRAcquisitionType \(type ?? "absent"), ScanningSequence \(sidecarString("ScanningSequence") ?? "absent"))")
    }

    /// Slice normal in RAS+ world space from `ImageOrientationPatientDICOM` (DICOM LPS).
    var dicomSliceNormal: SIMD3<Double>? {
        guard case let .array(a)? = sidecar?.fields["ImageOrientationPatientDICOM"], a.count == 6 else { return nil }
        let v = a.compactMap { e -> Double? in if case let .number(d) = e { return d } else { return nil } }
        guard v.count == 6 else { return nil }
        let n = cross(SIMD3(v[0], v[1], v[2]), SIMD3(v[3], v[4], v[5]))
        return length(n) > 0.5 ? SIMD3(-n.x, -n.y, n.z) : nil
    }

    /// The voxel axis (0, 1, 2) along which slices were acquired: the one most parallel to
    /// the DICOM slice normal; else the header's slice_dim; else the coarsest axis (k on ties).
    var sliceAxis: Int? {
        guard let h = header else { return nil }
        let g = h.grid, rot = g.rotation
        if let n = dicomSliceNormal {
            return (0..<3).max { abs(dot(rot.column($0), n)) < abs(dot(rot.column($1), n)) }
        }
        if (1...3).contains(h.sliceDim) { return h.sliceDim - 1 }
        let s = g.spacing
        let largest = max(s.x, s.y, s.z)
        return s.z == largest ? 2 : (s.y == largest ? 1 : 0)
    }

    /// The acquisition plane: the slice normal's dominant world axis, from
    /// `ImageOrientationPatientDICOM`, else the NIfTI affine along the slice axis.
    public var plane: Found<AcquisitionPlane> {
        func name(_ v: SIMD3<Double>) -> AcquisitionPlane {
            let a = SIMD3(abs(v.x), abs(v.y), abs(v.z))
            return a.x >= a.y && a.x >= a.z ? .sagittal : (a.y >= a.z ? .coronal : .axial)
        }
        if let n = dicomSliceNormal { return Found(name(n), "ImageOrientationPatientDICOM") }
        if let k = sliceAxis, let h = header { return Found(name(h.grid.rotation.column(k)), "NIfTI affine, slice axis \(["i", "j", "k"][k])") }
        return Found(nil, "no ImageOrientationPatientDICOM and no image")
    }

    /// Slice thickness in mm: `SliceThickness`, else the NIfTI spacing along the slice axis.
    public var sliceThickness: Found<Double> {
        if let t = sidecar?.sliceThickness { return Found(t, "SliceThickness") }
        if let k = sliceAxis, let h = header { return Found(h.grid.spacing[k], "NIfTI spacing along the slice axis") }
        return Found(nil, "no SliceThickness and no image")
    }

    /// Both in-plane voxel spacings in mm (from the NIfTI header only).
    public var inPlaneSpacing: Found<[Double]> {
        guard let k = sliceAxis, let h = header else { return Found(nil, "needs the NIfTI image (not in sidecars)") }
        let s = h.grid.spacing
        return Found((0..<3).filter { $0 != k }.map { s[$0] }, "NIfTI spacing in plane")
    }

    /// Slice count; `note` is set when `SliceTiming` disagrees with the image.
    public var sliceCount: (found: Found<Int>, note: String?) {
        let timing = sidecar?.sliceTiming?.count
        if let k = sliceAxis, let h = header {
            let n = h.grid.dims[k]
            let note = timing.flatMap { $0 != n ? "SliceTiming lists \($0) slices but the image has \(n) along its slice axis" : nil }
            return (Found(n, "NIfTI size along the slice axis"), note)
        }
        if let t = timing { return (Found(t, "length of SliceTiming"), nil) }
        return (Found(nil, "no image and no SliceTiming"), nil)
    }

    /// `MultibandAccelerationFactor`; else the largest number of slices sharing one
    /// `SliceTiming` value within 0.5 ms. Never from gaps between times.
    public var multiband: Found<Int> {
        if let m = sidecar?.multibandAccelerationFactor { return Found(m, "MultibandAccelerationFactor") }
        guard let t = sidecar?.sliceTiming?.sorted(), !t.isEmpty else {
            return Found(nil, "no MultibandAccelerationFactor or SliceTiming")
        }
        var best = 1, j = 0
        for i in t.indices {
            while t[i] - t[j] > 0.0005 { j += 1 }
            best = max(best, i - j + 1)
        }
        return Found(best, "SliceTiming (slices sharing one time)")
    }

    /// MT pulse: `MTState`; else Siemens/GE markers in `ScanOptions`/`SequenceVariant`;
    /// else the file's `mt` entity (Philips sidecars carry no marker).
    public var mtPulse: Found<Bool> {
        if let s = sidecar?.mtState { return Found(s, "MTState") }
        if sidecarTokens("ScanOptions").contains("MT") { return Found(true, "MT in ScanOptions") }
        if sidecarTokens("SequenceVariant").contains("MTC") { return Found(true, "MTC in SequenceVariant") }
        let maker = sidecar?.manufacturer?.lowercased() ?? ""
        if maker.hasPrefix("siemens") || maker.hasPrefix("ge") { return Found(false, "no MT marker in ScanOptions/SequenceVariant (\(sidecar?.manufacturer ?? ""))") }
        switch entity("mt")?.lowercased() {
        case "on": return Found(true, "file name (mt-on)")
        case "off": return Found(false, "file name (mt-off)")
        default: return Found(nil, "no MTState, vendor marker or mt entity")
        }
    }

    /// The multiband factor a diffusion acquisition was found with, when ≥ 4.
    public var harmfulMultiband: Int? {
        guard datatype == "dwi", let m = multiband.value, m >= 4 else { return nil }
        return m
    }
}
