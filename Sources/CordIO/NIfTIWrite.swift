// Writing NIfTI images atomically, carrying the input's header fields.
import CNIfTI
import CordCore

/// A value type NIfTI data can be written from.
public protocol NIfTIWritable: Sendable {
    var realPart: Double { get }
    var imaginaryPart: Double { get }
}
extension Float: NIfTIWritable {
    public var realPart: Double { Double(self) }
    public var imaginaryPart: Double { 0 }
}
extension Double: NIfTIWritable {
    public var realPart: Double { self }
    public var imaginaryPart: Double { 0 }
}
extension Int32: NIfTIWritable {
    public var realPart: Double { Double(self) }
    public var imaginaryPart: Double { 0 }
}
extension UInt8: NIfTIWritable {
    public var realPart: Double { Double(self) }
    public var imaginaryPart: Double { 0 }
}
extension Complex: NIfTIWritable where RealType == Float {
    public var realPart: Double { Double(real) }
    public var imaginaryPart: Double { Double(imaginary) }
}

extension NIfTIFile {
    /// Writes `volume` to `path` (.nii or .nii.gz) atomically.
    ///
    /// - Parameters:
    ///   - datatype: stored type; integers are rounded and clamped to their range, NaN → 0.
    ///   - like: an input's header whose fields (units, descrip, intent, slice timing, TR in
    ///     pixdim[4], qform/sform codes) are kept. When the volume is still on that header's
    ///     grid, its qform and sform matrices are kept as they were; otherwise both are set
    ///     to the volume's grid.
    ///   - scaling: (slope, intercept) stored in the header for integer outputs; values are
    ///     written as (v − intercept)/slope.
    public static func write<Scalar: NIfTIWritable>(
        _ volume: Volume<Scalar>, to path: String, datatype: NIfTIDatatype = .float32,
        like template: NIfTIHeader? = nil, scaling: (slope: Double, intercept: Double)? = nil,
        description: String? = nil
    ) throws {
        guard path.hasSuffix(".nii") || path.hasSuffix(".nii.gz") else {
            throw CordIOError.writeFailed(path: path, reason: "NIfTI output names end in .nii or .nii.gz")
        }
        let g = volume.grid
        var h = template ?? NIfTIHeader(grid: g, frames: volume.frames, datatype: datatype)
        let sameGrid = template.map { $0.dims.count >= 3 && $0.grid.isCompatible(with: g) } ?? false
        if !sameGrid {
            h.qform = g.affine; h.sform = g.affine
            if h.qformCode <= 0 { h.qformCode = 1 }
            if h.sformCode <= 0 { h.sformCode = 1 }
        } else if h.qformCode <= 0 && h.sformCode <= 0 {
            h.qform = g.affine; h.sform = g.affine
        }
        h.datatype = datatype
        if datatype.isInteger, let s = scaling { h.sclSlope = s.slope; h.sclInter = s.intercept } else { h.sclSlope = 1; h.sclInter = 0 }
        if let d = description { h.descrip = d }
        let frameDims = volume.frames > 1 ? [volume.frames] : []
        h.dims = [g.nx, g.ny, g.nz] + frameDims
        let tr = template.flatMap { $0.pixdim.count > 3 ? $0.pixdim[3] : nil } ?? 1
        h.pixdim = Array(h.pixdim.prefix(3)) + (volume.frames > 1 ? [tr] : [])
        let headerBytes = try encodeHeader(h, path: path)
        var bytes = headerBytes
        bytes.append(contentsOf: [0, 0, 0, 0])  // no extensions
        bytes.reserveCapacity(bytes.count + volume.data.count * datatype.size)
        encode(volume.data, datatype: datatype, slope: h.sclSlope, inter: h.sclInter, into: &bytes)
        try FileAccess.writeAtomically(bytes, to: path)
    }

    /// Converts a header to NIfTI-1 (NIfTI-2 when a dimension exceeds 32767) bytes through
    /// nifticlib, which derives the quaternion from the qform matrix.
    static func encodeHeader(_ h: NIfTIHeader, path: String) throws -> [UInt8] {
        var dims64 = [Int64](repeating: 1, count: 8)
        dims64[0] = Int64(h.dims.count)
        for (a, d) in h.dims.enumerated() { dims64[a + 1] = Int64(d) }
        guard let nim = nifti_make_new_nim(dims64, Int32(h.datatype.rawValue), 0) else {
            throw CordIOError.writeFailed(path: path, reason: "nifticlib could not make a header")
        }
        defer { nifti_image_free(nim) }
        func dmat(_ m: Mat4) -> nifti_dmat44 {
            var d = nifti_dmat44()
            d.m = ((m[0, 0], m[0, 1], m[0, 2], m[0, 3]), (m[1, 0], m[1, 1], m[1, 2], m[1, 3]),
                   (m[2, 0], m[2, 1], m[2, 2], m[2, 3]), (0, 0, 0, 1))
            return d
        }
        var qb = 0.0, qc = 0.0, qd = 0.0, qx = 0.0, qy = 0.0, qz = 0.0, dx = 0.0, dy = 0.0, dz = 0.0, qfac = 0.0
        nifti_dmat44_to_quatern(dmat(h.qform), &qb, &qc, &qd, &qx, &qy, &qz, &dx, &dy, &dz, &qfac)
        let p = nim
        p.pointee.quatern_b = qb; p.pointee.quatern_c = qc; p.pointee.quatern_d = qd
        p.pointee.qoffset_x = qx; p.pointee.qoffset_y = qy; p.pointee.qoffset_z = qz
        p.pointee.qfac = qfac
        p.pointee.qto_xyz = dmat(h.qform)
        p.pointee.sto_xyz = dmat(h.sform)
        p.pointee.qform_code = Int32(h.qformCode)
        p.pointee.sform_code = Int32(h.sformCode)
        // Spacing follows the qform (or the sform when only it is set).
        let s = h.sformCode > 0 && h.qformCode <= 0 ? Grid(nx: 1, ny: 1, nz: 1, affine: h.sform).spacing : SIMD3(dx, dy, dz)
        p.pointee.dx = s.x; p.pointee.dy = s.y; p.pointee.dz = s.z
        p.pointee.pixdim.1 = s.x; p.pointee.pixdim.2 = s.y; p.pointee.pixdim.3 = s.z
        if h.pixdim.count > 3 { p.pointee.dt = h.pixdim[3]; p.pointee.pixdim.4 = h.pixdim[3] }
        p.pointee.scl_slope = h.sclSlope; p.pointee.scl_inter = h.sclInter
        p.pointee.cal_min = h.calMin; p.pointee.cal_max = h.calMax
        p.pointee.xyz_units = Int32(h.xyzUnitsCode == 0 ? 2 : h.xyzUnitsCode)
        p.pointee.time_units = Int32(h.timeUnitsCode == 0 ? 8 : h.timeUnitsCode)
        p.pointee.intent_code = Int32(h.intentCode)
        if h.intentParameters.count == 3 {
            p.pointee.intent_p1 = h.intentParameters[0]; p.pointee.intent_p2 = h.intentParameters[1]; p.pointee.intent_p3 = h.intentParameters[2]
        }
        p.pointee.toffset = h.toffset
        p.pointee.freq_dim = Int32(h.freqDim); p.pointee.phase_dim = Int32(h.phaseDim); p.pointee.slice_dim = Int32(h.sliceDim)
        p.pointee.slice_code = Int32(h.sliceCode); p.pointee.slice_start = Int64(h.sliceStart)
        p.pointee.slice_end = Int64(h.sliceEnd); p.pointee.slice_duration = h.sliceDuration
        setCString(&p.pointee.descrip, h.descrip)
        setCString(&p.pointee.aux_file, h.auxFile)
        setCString(&p.pointee.intent_name, h.intentName)

        let needsV2 = h.dims.contains { $0 > 32767 }
        if needsV2 {
            var hdr = nifti_2_header()
            guard nifti_convert_nim2n2hdr(nim, &hdr) == 0 else {
                throw CordIOError.writeFailed(path: path, reason: "nifticlib could not encode a NIfTI-2 header")
            }
            hdr.vox_offset = 544
            return withUnsafeBytes(of: &hdr) { Array($0.prefix(540)) }
        }
        var hdr = nifti_1_header()
        guard nifti_convert_nim2n1hdr(nim, &hdr) == 0 else {
            throw CordIOError.writeFailed(path: path, reason: "nifticlib could not encode the header")
        }
        hdr.vox_offset = 352
        return withUnsafeBytes(of: &hdr) { Array($0.prefix(348)) }
    }

    private static func setCString<T>(_ field: inout T, _ s: String) {
        withUnsafeMutableBytes(of: &field) { raw in
            for i in 0..<raw.count { raw[i] = 0 }
            let utf8 = Array(s.utf8.prefix(raw.count - 1))
            for (i, b) in utf8.enumerated() { raw[i] = b }
        }
    }

    static func encode<Scalar: NIfTIWritable>(_ data: [Scalar], datatype: NIfTIDatatype,
                                                      slope: Double, inter: Double, into bytes: inout [UInt8]) {
        // Float maps stored as float32 (every CordQ map) are copied in one go.
        if datatype == .float32, Scalar.self == Float.self {
            data.withUnsafeBytes { bytes.append(contentsOf: $0) }
            return
        }
        func put<T>(_ v: T) { withUnsafeBytes(of: v) { bytes.append(contentsOf: $0) } }
        let range = datatype.integerRange
        func integer(_ v: Double) -> Double {
            guard v.isFinite, let r = range else { return 0 }
            let s = slope != 0 ? (v - inter) / slope : v
            guard s.isFinite else { return s > 0 ? r.upperBound : (s < 0 ? r.lowerBound : 0) }  // a NaN/∞ scaling never traps
            return min(max(s.rounded(), r.lowerBound), r.upperBound)
        }
        for x in data {
            let v = x.realPart
            switch datatype {
            case .uint8: put(UInt8(integer(v)))
            case .int8: put(Int8(integer(v)))
            case .int16: put(Int16(integer(v)))
            case .uint16: put(UInt16(integer(v)))
            case .int32: put(Int32(integer(v)))
            case .uint32: put(UInt32(integer(v)))
            case .int64: put(Int64(integer(v)))
            case .uint64: put(UInt64(integer(v)))
            case .float32: put(Float(v))
            case .float64: put(v)
            case .complex64: put(Float(v)); put(Float(x.imaginaryPart))
            case .complex128: put(v); put(x.imaginaryPart)
            }
        }
    }
}
