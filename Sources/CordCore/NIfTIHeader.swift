// The NIfTI header fields CordQ reads, reports and carries from an input to its outputs
// (pure data: CordIO parses and writes the bytes).

/// NIfTI voxel datatypes (codes from nifti1.h).
public enum NIfTIDatatype: Int32, Sendable, CaseIterable {
    case uint8 = 2, int16 = 4, int32 = 8, float32 = 16, complex64 = 32, float64 = 64
    case int8 = 256, uint16 = 512, uint32 = 768, int64 = 1024, uint64 = 1280, complex128 = 1792

    /// Bytes per voxel.
    public var size: Int {
        switch self {
        case .uint8, .int8: 1
        case .int16, .uint16: 2
        case .int32, .uint32, .float32: 4
        case .float64, .int64, .uint64, .complex64: 8
        case .complex128: 16
        }
    }
    public var isComplex: Bool { self == .complex64 || self == .complex128 }
    public var isInteger: Bool { !isComplex && self != .float32 && self != .float64 }
    public var name: String {
        switch self {
        case .uint8: "uint8"; case .int16: "int16"; case .int32: "int32"; case .float32: "float32"
        case .complex64: "complex64"; case .float64: "float64"; case .int8: "int8"; case .uint16: "uint16"
        case .uint32: "uint32"; case .int64: "int64"; case .uint64: "uint64"; case .complex128: "complex128"
        }
    }
    /// Representable range of an integer type (for clamping on write).
    package var integerRange: ClosedRange<Double>? {
        switch self {
        case .uint8: 0...255
        case .int8: -128...127
        case .int16: -32768...32767
        case .uint16: 0...65535
        case .int32: -2_147_483_648...2_147_483_647
        case .uint32: 0...4_294_967_295
        case .int64: -9.2e18...9.2e18
        case .uint64: 0...1.8e19
        default: nil
        }
    }
}

/// Header of a NIfTI-1 or NIfTI-2 file, decoded. Spatial units are converted to mm and
/// time units to seconds on read (`xyzUnitsCode`/`timeUnitsCode` keep the codes found).
public struct NIfTIHeader: Sendable, Equatable {
    /// 1 for NIfTI-1, 2 for NIfTI-2.
    public var version: Int
    /// dim[1...ndim].
    public var dims: [Int]
    /// pixdim[1...ndim] as stored (spatial in the file's units).
    public var pixdim: [Double]
    public var datatype: NIfTIDatatype
    /// Scaling applied on read: value = stored·slope + inter (slope 0 means none).
    public var sclSlope: Double
    public var sclInter: Double
    public var qformCode: Int
    public var sformCode: Int
    /// qform matrix (from the quaternion; method 2) and sform matrix (method 3), in mm.
    public var qform: Mat4
    public var sform: Mat4
    /// qfac (pixdim[0]): −1 means the k axis is flipped in the quaternion representation.
    public var qfac: Double
    public var xyzUnitsCode: Int
    public var timeUnitsCode: Int
    public var descrip: String
    public var auxFile: String
    public var intentCode: Int
    public var intentName: String
    public var intentParameters: [Double]
    public var calMin: Double
    public var calMax: Double
    public var toffset: Double
    public var freqDim: Int, phaseDim: Int, sliceDim: Int
    public var sliceCode: Int, sliceStart: Int, sliceEnd: Int
    /// Time between slices (s), as stored.
    public var sliceDuration: Double
    /// Whether the file's byte order differs from this machine's.
    public var byteSwapped: Bool
    /// Byte offset of the image data in the (decompressed) file.
    public var voxOffset: Int

    /// Number of 3D frames: the product of dims 4…7.
    public var frames: Int { dims.count > 3 ? dims[3...].reduce(1, *) : 1 }
    public var voxelCount: Int { dims.reduce(1, *) }
    /// Data bytes the header promises.
    public var dataBytes: Int { voxelCount * datatype.size }

    /// The voxel→world affine CordQ uses: sform when its code is set, else qform when its
    /// code is set, else the scaling-only "method 1" (pixdim on the diagonal).
    public var affine: Mat4 {
        if sformCode > 0 { return sform }
        if qformCode > 0 { return qform }
        let p = (0..<3).map { $0 < pixdim.count ? pixdim[$0] : 1 }
        return Mat4(linear: .diagonal(SIMD3(p[0], p[1], p[2])), translation: .zero)
    }
    /// Which transform `affine` came from, in words.
    public var affineSource: String {
        sformCode > 0 ? "sform (code \(sformCode))" : (qformCode > 0 ? "qform (code \(qformCode))" : "pixdim only (no qform/sform)")
    }
    /// The spatial grid: dims 1–3 (missing ones are 1) and `affine`.
    public var grid: Grid {
        Grid(nx: dims[0], ny: dims.count > 1 ? dims[1] : 1, nz: dims.count > 2 ? dims[2] : 1, affine: affine)
    }
    /// Frame spacing (pixdim[4]) in seconds when the file states time units.
    public var repetitionTime: Double? {
        guard pixdim.count > 3, pixdim[3] > 0 else { return nil }
        switch timeUnitsCode {
        case 8: return pixdim[3]            // seconds
        case 16: return pixdim[3] / 1000    // ms
        case 24: return pixdim[3] / 1e6     // µs
        default: return nil
        }
    }
    public static let unitNames: [Int: String] = [0: "unknown", 1: "m", 2: "mm", 3: "µm", 8: "s", 16: "ms", 24: "µs", 32: "Hz", 40: "ppm", 48: "rad/s"]

    /// A header for a new image on `grid` with `frames` frames (no template): NIfTI-1,
    /// qform and sform both set to the grid (code 1, scanner anatomical), mm and s.
    public init(grid: Grid, frames: Int, datatype: NIfTIDatatype) {
        version = 1
        dims = frames > 1 ? [grid.nx, grid.ny, grid.nz, frames] : [grid.nx, grid.ny, grid.nz]
        let s = grid.spacing
        pixdim = frames > 1 ? [s.x, s.y, s.z, 1] : [s.x, s.y, s.z]
        self.datatype = datatype
        sclSlope = 1; sclInter = 0
        qformCode = 1; sformCode = 1
        qform = grid.affine; sform = grid.affine
        qfac = grid.affine.linear.determinant < 0 ? 1 : -1
        xyzUnitsCode = 2; timeUnitsCode = 8
        descrip = ""; auxFile = ""; intentCode = 0; intentName = ""; intentParameters = [0, 0, 0]
        calMin = 0; calMax = 0; toffset = 0
        freqDim = 0; phaseDim = 0; sliceDim = 0; sliceCode = 0; sliceStart = 0; sliceEnd = 0; sliceDuration = 0
        byteSwapped = false; voxOffset = 352
    }

    /// Every field as decoded from a file (CordIO's header parser).
    package init(version: Int, dims: [Int], pixdim: [Double], datatype: NIfTIDatatype, sclSlope: Double, sclInter: Double,
         qformCode: Int, sformCode: Int, qform: Mat4, sform: Mat4, qfac: Double, xyzUnitsCode: Int, timeUnitsCode: Int,
         descrip: String, auxFile: String, intentCode: Int, intentName: String, intentParameters: [Double],
         calMin: Double, calMax: Double, toffset: Double, freqDim: Int, phaseDim: Int, sliceDim: Int,
         sliceCode: Int, sliceStart: Int, sliceEnd: Int, sliceDuration: Double, byteSwapped: Bool, voxOffset: Int) {
        self.version = version; self.dims = dims; self.pixdim = pixdim; self.datatype = datatype
        self.sclSlope = sclSlope; self.sclInter = sclInter; self.qformCode = qformCode; self.sformCode = sformCode
        self.qform = qform; self.sform = sform; self.qfac = qfac; self.xyzUnitsCode = xyzUnitsCode
        self.timeUnitsCode = timeUnitsCode; self.descrip = descrip; self.auxFile = auxFile; self.intentCode = intentCode
        self.intentName = intentName; self.intentParameters = intentParameters; self.calMin = calMin; self.calMax = calMax
        self.toffset = toffset; self.freqDim = freqDim; self.phaseDim = phaseDim; self.sliceDim = sliceDim
        self.sliceCode = sliceCode; self.sliceStart = sliceStart; self.sliceEnd = sliceEnd
        self.sliceDuration = sliceDuration; self.byteSwapped = byteSwapped; self.voxOffset = voxOffset
    }

    /// Whether reading applies a scaling (slope ≠ 0 and not the identity).
    public var hasScaling: Bool { sclSlope != 0 && sclSlope.isFinite && (sclSlope != 1 || sclInter != 0) }
}
