// Reading NIfTI-1/NIfTI-2 images (.nii, .nii.gz): header checks, scaling, datatype conversion.
import CNIfTI
import CordCore
import Foundation

/// A value type NIfTI data can be read into.
public protocol NIfTIReadable: Sendable {
    static func fromReal(_ v: Double) -> Self
    static func fromComplex(_ re: Double, _ im: Double) -> Self?
}
extension Float: NIfTIReadable {
    public static func fromReal(_ v: Double) -> Float { Float(v) }
    public static func fromComplex(_ re: Double, _ im: Double) -> Float? { nil }
}
extension Double: NIfTIReadable {
    public static func fromReal(_ v: Double) -> Double { v }
    public static func fromComplex(_ re: Double, _ im: Double) -> Double? { nil }
}
extension Complex: NIfTIReadable where RealType == Float {
    public static func fromReal(_ v: Double) -> Complex<Float> { Complex(Float(v), 0) }
    public static func fromComplex(_ re: Double, _ im: Double) -> Complex<Float>? { Complex(Float(re), Float(im)) }
}
extension Int32: NIfTIReadable {
    public static func fromReal(_ v: Double) -> Int32 { Int32(clamping: CheckedNumber.clamped(v, .toNearestOrAwayFromZero)) }
    public static func fromComplex(_ re: Double, _ im: Double) -> Int32? { nil }
}

/// NIfTI-1 and NIfTI-2 files through Debian's nifticlib (header conversion, qform/sform)
/// with CordQ's own checks (magic, truncation, datatypes) so every failure names the file.
public enum NIfTIFile {
    private static let header1Size = 348, header2Size = 540

    /// Reads only the header (decompressing the first bytes of a .nii.gz).
    public static func readHeader(_ path: String) throws -> NIfTIHeader {
        let bytes = try FileAccess.readAll(path, limit: header2Size + 4)
        IOCounters.headerRead(path)
        return try parseHeader(bytes, path: path)
    }

    /// Reads an image into `Scalar`, applying scl_slope/scl_inter. Complex files can be read
    /// only as complex; real files read as complex get a zero imaginary part.
    public static func read<Scalar: NIfTIReadable>(_ path: String, as: Scalar.Type = Float.self) throws -> (Volume<Scalar>, NIfTIHeader) {
        let bytes = try FileAccess.readAll(path)
        IOCounters.decoded(path)
        let h = try parseHeader(bytes, path: path)
        let need = h.voxOffset + h.dataBytes
        if bytes.count < need {
            throw CordIOError.truncated(path: path, expectedBytes: h.dataBytes, foundBytes: max(0, bytes.count - h.voxOffset))
        }
        if h.datatype.isComplex && Scalar.fromComplex(0, 0) == nil {
            throw CordIOError.unsupported(path: path, reason: "holds complex (\(h.datatype.name)) data; this step needs a real-valued image (take the magnitude first)")
        }
        let values = decode(bytes, header: h, as: Scalar.self)
        return (try Volume(grid: h.grid, frames: h.frames, data: values), h)
    }

    /// Reads a label image (vertebral levels, discs, segment labels): every voxel must hold a
    /// whole number (within 0.001, for float files written through a resampler) in the Int32
    /// range. A map of 2.5s or 3.4s is not a label map (interpolated, or a probability
    /// map); rounding it would silently shift every level, so it is an error naming the file,
    /// how many voxels and the first value.
    public static func readLabels(_ path: String, what: String = "label map") throws -> (Volume<Int32>, NIfTIHeader) {
        let (v, h) = try read(path, as: Double.self)
        var out = [Int32](repeating: 0, count: v.data.count)
        var bad = 0, firstBad: (Int, Double)?
        for (n, x) in v.data.enumerated() {
            let r = x.rounded()
            if x.isFinite && abs(x - r) <= 1e-3 && abs(r) <= 2_147_483_647, let k = Int32(exactly: r) {
                out[n] = k
            } else {
                bad += 1
                if firstBad == nil { firstBad = (n, x) }
            }
        }
        if let (n, x) = firstBad {
            let c = v.grid.coordinates(of: n % v.grid.voxelCount)
            throw CordIOError.invalidContent(path: path, reason: "is not a \(what): \(bad) voxel\(bad == 1 ? "" : "s") hold\(bad == 1 ? "s" : "") a value that is not a whole number (first \(formatSignificantCore(x)) at voxel \(c.x), \(c.y), \(c.z)); labels must be integers (was it resampled with interpolation instead of nearest neighbour?)")
        }
        return (Volume(grid: v.grid, frames: v.frames, exactly: out), h)
    }

    // MARK: - Header

    static func parseHeader(_ bytes: [UInt8], path: String) throws -> NIfTIHeader {
        guard bytes.count >= 4 else {
            throw CordIOError.notNIfTI(path: path, reason: bytes.isEmpty ? "the file is empty" : "only \(bytes.count) bytes long")
        }
        let size = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0, as: Int32.self) }
        let version: Int, swapped: Bool
        switch size {
        case 348: version = 1; swapped = false
        case Int32(348).byteSwapped: version = 1; swapped = true
        case 540: version = 2; swapped = false
        case Int32(540).byteSwapped: version = 2; swapped = true
        default:
            throw CordIOError.notNIfTI(path: path, reason: "the header-size field is \(size), not 348 (NIfTI-1) or 540 (NIfTI-2)")
        }
        let hsize = version == 1 ? header1Size : header2Size
        guard bytes.count >= hsize else {
            throw CordIOError.truncated(path: path, expectedBytes: hsize, foundBytes: bytes.count)
        }
        let magicRange = version == 1 ? 344..<348 : 4..<8
        let magic = bytes[magicRange]
        let magicText = String(decoding: magic.prefix { $0 != 0 }, as: UTF8.self)
        if version == 1 && magicText == "ni1" {
            throw CordIOError.unsupported(path: path, reason: "is a two-file NIfTI (.hdr/.img); convert it to a single .nii first")
        }
        guard magicText == (version == 1 ? "n+1" : "n+2") else {
            throw CordIOError.notNIfTI(path: path, reason: "wrong magic \"\(magicText.isEmpty ? "(empty)" : magicText)\" (expected \(version == 1 ? "n+1" : "n+2"))")
        }
        let nimPointer: UnsafeMutablePointer<nifti_image>?
        let voxOffset: Int
        // pixdim[1...3] as stored: nifticlib replaces a zero or negative one by 1 mm.
        let rawSpatialPixdim: [Double]
        if version == 1 {
            var hdr = nifti_1_header()
            withUnsafeMutableBytes(of: &hdr) { dst in bytes.withUnsafeBytes { dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<header1Size])) } }
            if swapped { swap_nifti_header(&hdr, 1) }
            voxOffset = try checkedVoxOffset(Double(hdr.vox_offset), headerSize: hsize, path: path)
            rawSpatialPixdim = [Double(hdr.pixdim.1), Double(hdr.pixdim.2), Double(hdr.pixdim.3)]
            try checkDims(hdr.dim.0, [Int64(hdr.dim.1), Int64(hdr.dim.2), Int64(hdr.dim.3), Int64(hdr.dim.4), Int64(hdr.dim.5), Int64(hdr.dim.6), Int64(hdr.dim.7)], path: path)
            nimPointer = path.withCString { nifti_convert_n1hdr2nim(hdr, $0) }
        } else {
            var hdr = nifti_2_header()
            withUnsafeMutableBytes(of: &hdr) { dst in bytes.withUnsafeBytes { dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<header2Size])) } }
            if swapped { swap_nifti_header(&hdr, 2) }
            voxOffset = try checkedVoxOffset(Double(hdr.vox_offset), headerSize: hsize, path: path)
            rawSpatialPixdim = [hdr.pixdim.1, hdr.pixdim.2, hdr.pixdim.3]
            try checkDims(Int16(clamping: hdr.dim.0), [hdr.dim.1, hdr.dim.2, hdr.dim.3, hdr.dim.4, hdr.dim.5, hdr.dim.6, hdr.dim.7], path: path)
            nimPointer = path.withCString { nifti_convert_n2hdr2nim(hdr, $0) }
        }
        guard let nim = nimPointer else {
            throw CordIOError.corrupt(path: path, reason: "nifticlib rejected the header")
        }
        defer { nifti_image_free(nim) }
        let n = nim.pointee
        guard let dt = NIfTIDatatype(rawValue: Int32(n.datatype)) else {
            throw CordIOError.unsupported(path: path, reason: "uses NIfTI datatype code \(n.datatype), which CordQ does not read (supported: \(NIfTIDatatype.allCases.map(\.name).joined(separator: ", ")))")
        }
        guard voxOffset >= hsize else {
            throw CordIOError.corrupt(path: path, reason: "vox_offset \(voxOffset) points inside the header")
        }
        let ndim = Int(n.ndim)
        let dimAll = [n.dim.1, n.dim.2, n.dim.3, n.dim.4, n.dim.5, n.dim.6, n.dim.7].map { Int($0) }
        let pixAll = [n.pixdim.1, n.pixdim.2, n.pixdim.3, n.pixdim.4, n.pixdim.5, n.pixdim.6, n.pixdim.7]
        var dims = Array(dimAll[0..<max(ndim, 1)])
        var pix = Array(pixAll[0..<max(ndim, 1)]).map { $0 > 0 && $0.isFinite ? $0 : 1 }
        while dims.count < 3 { dims.append(1); pix.append(1) }
        // Spatial units to mm.
        let unitScale: Double = n.xyz_units == 1 ? 1000 : (n.xyz_units == 3 ? 0.001 : 1)
        func mat(_ d: nifti_dmat44) -> Mat4 {
            let m = d.m
            return Mat4(rows: SIMD4(m.0.0, m.0.1, m.0.2, m.0.3) * SIMD4(unitScale, unitScale, unitScale, unitScale),
                        SIMD4(m.1.0, m.1.1, m.1.2, m.1.3) * SIMD4(repeating: unitScale),
                        SIMD4(m.2.0, m.2.1, m.2.2, m.2.3) * SIMD4(repeating: unitScale))
        }
        for a in 0..<3 { pix[a] *= unitScale }
        let header = NIfTIHeader(
            version: version, dims: dims, pixdim: pix, datatype: dt,
            sclSlope: n.scl_slope, sclInter: n.scl_inter,
            qformCode: Int(n.qform_code), sformCode: Int(n.sform_code),
            qform: mat(n.qto_xyz), sform: mat(n.sto_xyz), qfac: n.qfac,
            xyzUnitsCode: unitScale != 1 ? 2 : Int(n.xyz_units), timeUnitsCode: Int(n.time_units),
            descrip: cString(n.descrip), auxFile: cString(n.aux_file),
            intentCode: Int(n.intent_code), intentName: cString(n.intent_name),
            intentParameters: [n.intent_p1, n.intent_p2, n.intent_p3],
            calMin: n.cal_min, calMax: n.cal_max, toffset: n.toffset,
            freqDim: Int(n.freq_dim), phaseDim: Int(n.phase_dim), sliceDim: Int(n.slice_dim),
            sliceCode: Int(n.slice_code), sliceStart: Int(n.slice_start), sliceEnd: Int(n.slice_end),
            sliceDuration: n.slice_duration, byteSwapped: swapped, voxOffset: voxOffset)
        if header.affine.linear.determinant == 0 || !header.affine.linear.determinant.isFinite {
            throw CordIOError.corrupt(path: path, reason: "its voxel-to-world transform (\(header.affineSource)) is singular")
        }
        try checkGeometry(header, rawSpatialPixdim: rawSpatialPixdim, storedAxes: max(ndim, 1), path: path)
        return header
    }

    /// Voxel sizes CordQ accepts (mm): from 10 µm (preclinical) to 10 cm; outside this the
    /// header is wrong (a voxel of 1e10 mm used to crash segmentation).
    public static let plausibleVoxelSize: ClosedRange<Double> = 0.01...100
    /// Largest |cos| between two voxel axes: 1e-3 is 0.06° from a right angle. Scanner
    /// images are orthogonal to 1e-7 (68 real files in shared/data: at most 5e-8); a sheared
    /// transform makes every area and length CordQ measures wrong (+49% CSA seen).
    public static let maximumAxisCosine = 1e-3

    /// vox_offset (a float in NIfTI-1, a double in NIfTI-2) as a byte offset: a whole number
    /// between the header's end and 2^40, or an error naming the field.
    static func checkedVoxOffset(_ v: Double, headerSize: Int, path: String) throws -> Int {
        guard v.isFinite, v == v.rounded() else {
            throw CordIOError.corrupt(path: path, reason: "vox_offset is \(formatSignificantCore(v)), not a whole byte offset")
        }
        guard v >= Double(headerSize), v <= Double(1 << 40) else {
            throw CordIOError.corrupt(path: path, reason: "vox_offset \(formatSignificantCore(v)) is not between the end of the \(headerSize)-byte header and the end of any possible file")
        }
        return try CheckedNumber.int(v, field: "vox_offset", in: path)
    }

    /// The voxel→world transform must be finite, orthogonal and have plausible voxel sizes;
    /// without an sform the spatial pixdim values are the voxel sizes and must be positive.
    static func checkGeometry(_ h: NIfTIHeader, rawSpatialPixdim: [Double], storedAxes: Int, path: String) throws {
        let axes = ["i", "j", "k"]
        if h.sformCode <= 0 {
            for a in 0..<min(3, rawSpatialPixdim.count) where a < storedAxes {
                let p = rawSpatialPixdim[a]
                guard p.isFinite && p > 0 else {
                    throw CordIOError.invalidContent(path: path, reason: "pixdim[\(a + 1)] (voxel size along \(axes[a])) is \(formatSignificantCore(p)) and there is no sform to give the voxel size: fix the header (e.g. with fslhd/nifti_tool) rather than let CordQ guess 1 mm")
                }
            }
        }
        let a = h.affine
        for r in 0..<3 { for c in 0..<4 where !a[r, c].isFinite || abs(a[r, c]) > 1e6 {
            throw CordIOError.invalidContent(path: path, reason: "the voxel→world transform (\(h.affineSource)) has entry [\(r)][\(c)] = \(formatSignificantCore(a[r, c])) mm, outside ±1e6 mm")
        } }
        let l = a.linear
        let cols = [l.column(0), l.column(1), l.column(2)]
        let sizes = cols.map(length)
        for k in 0..<3 where !plausibleVoxelSize.contains(sizes[k]) {
            throw CordIOError.invalidContent(path: path, reason: "voxel size along \(axes[k]) is \(formatSignificantCore(sizes[k])) mm (from the \(h.affineSource)), outside the plausible \(formatSignificantCore(plausibleVoxelSize.lowerBound))–\(formatSignificantCore(plausibleVoxelSize.upperBound)) mm")
        }
        for (p, q) in [(0, 1), (0, 2), (1, 2)] {
            let c = abs(dot(cols[p], cols[q])) / (sizes[p] * sizes[q])
            if c > maximumAxisCosine {
                let angle = acosDegrees(c)
                throw CordIOError.invalidContent(path: path, reason: "the voxel→world transform (\(h.affineSource)) is sheared: voxel axes \(axes[p]) and \(axes[q]) meet at \(formatFixed(angle, 2))°, not 90° (CordQ measures areas and lengths on orthogonal grids; resample the image to an orthogonal grid first)")
            }
        }
    }

    private static func acosDegrees(_ c: Double) -> Double { acos(min(1, c)) * 180 / Double.pi }

    private static func checkDims(_ ndim: Int16, _ dims: [Int64], path: String) throws {
        guard ndim >= 1 && ndim <= 7 else {
            throw CordIOError.corrupt(path: path, reason: "dim[0] is \(ndim); it must be 1 to 7")
        }
        for a in 0..<Int(ndim) where dims[a] < 1 {
            throw CordIOError.corrupt(path: path, reason: "dimension \(a + 1) has size \(dims[a])")
        }
        let total = dims[0..<Int(ndim)].reduce(Int64(1)) { $0.multipliedReportingOverflow(by: $1).overflow ? Int64.max : $0 * $1 }
        if total > Int64(1) << 36 {
            throw CordIOError.corrupt(path: path, reason: "the header claims \(total) voxels, more than any image CordQ can hold")
        }
    }

    private static func cString<T>(_ tuple: T) -> String {
        withUnsafeBytes(of: tuple) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
    }

    // MARK: - Data

    private static func decode<Scalar: NIfTIReadable>(_ bytes: [UInt8], header h: NIfTIHeader, as: Scalar.Type) -> [Scalar] {
        // The common case without generic dispatch per value (callers in other modules get
        // the unspecialised generic function).
        if Scalar.self == Float.self, !h.datatype.isComplex {
            return unsafeBitCast(decodeFloat(bytes, header: h), to: [Scalar].self)
        }
        let count = h.voxelCount
        let scale = h.hasScaling && !h.datatype.isComplex
        let slope = h.sclSlope, inter = h.sclInter
        var out = [Scalar](repeating: Scalar.fromReal(0), count: count)
        bytes.withUnsafeBytes { raw in
            let base = raw.baseAddress! + h.voxOffset
            @inline(__always) func load<T: FixedWidthInteger>(_ t: T.Type, _ i: Int) -> T {
                let v = base.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self)
                return h.byteSwapped ? v.byteSwapped : v
            }
            @inline(__always) func f32(_ i: Int) -> Double { Double(Float(bitPattern: load(UInt32.self, i))) }
            @inline(__always) func f64(_ i: Int) -> Double { Double(bitPattern: load(UInt64.self, i)) }
            @inline(__always) func real(_ i: Int) -> Double {
                switch h.datatype {
                case .uint8: Double(load(UInt8.self, i))
                case .int8: Double(load(Int8.self, i))
                case .int16: Double(load(Int16.self, i))
                case .uint16: Double(load(UInt16.self, i))
                case .int32: Double(load(Int32.self, i))
                case .uint32: Double(load(UInt32.self, i))
                case .int64: Double(load(Int64.self, i))
                case .uint64: Double(load(UInt64.self, i))
                case .float32: f32(i)
                case .float64: f64(i)
                case .complex64, .complex128: 0
                }
            }
            out.withUnsafeMutableBufferPointer { o in
                switch h.datatype {
                case .complex64:
                    for i in 0..<count { o[i] = Scalar.fromComplex(f32(2 * i), f32(2 * i + 1)) ?? Scalar.fromReal(0) }
                case .complex128:
                    for i in 0..<count { o[i] = Scalar.fromComplex(f64(2 * i), f64(2 * i + 1)) ?? Scalar.fromReal(0) }
                default:
                    if scale {
                        for i in 0..<count { o[i] = Scalar.fromReal(real(i) * slope + inter) }
                    } else {
                        for i in 0..<count { o[i] = Scalar.fromReal(real(i)) }
                    }
                }
            }
        }
        return out
    }

    /// Real data to Float with the same arithmetic as the generic path: the stored value as
    /// Double, times slope plus intercept when scaled, rounded once to Float. Both cores.
    private static func decodeFloat(_ bytes: [UInt8], header h: NIfTIHeader) -> [Float] {
        let count = h.voxelCount
        let scaling: (slope: Double, inter: Double)? = h.hasScaling ? (h.sclSlope, h.sclInter) : nil
        let swapped = h.byteSwapped, datatype = h.datatype
        return [Float](unsafeUninitializedCapacity: count) { o, initialized in
            bytes.withUnsafeBytes { raw in
                let base = Shared(UnsafeRawPointer(raw.baseAddress! + h.voxOffset)), out = Shared(o.baseAddress!)
                parallelChunks(count, minimumChunk: 1 << 18) { range, _ in
                    let b = base.pointer, o = out.pointer
                    switch datatype {
                    case .uint8: convert(UInt8.self, b, o, range, swapped, scaling)
                    case .int8: convert(Int8.self, b, o, range, swapped, scaling)
                    case .int16: convert(Int16.self, b, o, range, swapped, scaling)
                    case .uint16: convert(UInt16.self, b, o, range, swapped, scaling)
                    case .int32: convert(Int32.self, b, o, range, swapped, scaling)
                    case .uint32: convert(UInt32.self, b, o, range, swapped, scaling)
                    case .int64: convert(Int64.self, b, o, range, swapped, scaling)
                    case .uint64: convert(UInt64.self, b, o, range, swapped, scaling)
                    case .float32:
                        if let s = scaling {
                            for i in range { o[i] = Float(Double(float32(b, i, swapped)) * s.slope + s.inter) }
                        } else {
                            for i in range { o[i] = float32(b, i, swapped) }
                        }
                    case .float64:
                        for i in range {
                            var bits = b.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)
                            if swapped { bits = bits.byteSwapped }
                            let v = Double(bitPattern: bits)
                            o[i] = Float(scaling.map { v * $0.slope + $0.inter } ?? v)
                        }
                    case .complex64, .complex128:
                        for i in range { o[i] = 0 }  // not reached: complex files are refused before decoding
                    }
                }
            }
            initialized = count
        }
    }

    @inline(__always) private static func float32(_ base: UnsafeRawPointer, _ i: Int, _ swapped: Bool) -> Float {
        let bits = base.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)
        return Float(bitPattern: swapped ? bits.byteSwapped : bits)
    }

    @inline(__always) private static func convert<T: FixedWidthInteger>(
        _: T.Type, _ base: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ range: Range<Int>,
        _ swapped: Bool, _ scaling: (slope: Double, inter: Double)?
    ) {
        let size = MemoryLayout<T>.size
        if let s = scaling {
            for i in range {
                let v = base.loadUnaligned(fromByteOffset: i * size, as: T.self)
                out[i] = Float(Double(swapped ? v.byteSwapped : v) * s.slope + s.inter)
            }
        } else {
            for i in range {
                let v = base.loadUnaligned(fromByteOffset: i * size, as: T.self)
                out[i] = Float(Double(swapped ? v.byteSwapped : v))
            }
        }
    }
}

/// A pointer handed to workers that touch disjoint parts of what it points to.
private struct Shared<T>: @unchecked Sendable {
    let pointer: T
    init(_ p: T) { pointer = p }
}
