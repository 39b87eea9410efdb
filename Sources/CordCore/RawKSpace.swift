// The in-memory raw k-space model: what CordIO's readers (ISMRMRD HDF5, Siemens twix) fill and
// CordRecon reconstructs. It lives in CordCore because CordIO may not import CordRecon (DESIGN.md)
// and both must see it; CordPhantom's k-space simulator fills it too.
//
// The model follows ISMRMRD 1.8 (the convention in docs/raw-data.md): an XML-like header
// (encoding, trajectory, user parameters) and a list of acquisitions, one readout each, with
// the ISMRMRD flags, encoding counters and user fields.

/// ISMRMRD acquisition flags (bit n−1 for flag number n, as `ismrmrd.h` numbers them).
public struct RawAcquisitionFlags: OptionSet, Sendable, Hashable, Codable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    private static func bit(_ n: Int) -> RawAcquisitionFlags { RawAcquisitionFlags(rawValue: 1 << UInt64(n - 1)) }

    public static let firstInSlice = bit(7)
    public static let lastInSlice = bit(8)
    public static let firstInRepetition = bit(13)
    public static let lastInRepetition = bit(14)
    public static let lastInMeasurement = bit(25)
    public static let isNoiseMeasurement = bit(19)
    public static let isParallelCalibration = bit(20)
    public static let isParallelCalibrationAndImaging = bit(21)
    public static let isReverse = bit(22)
    public static let isNavigationData = bit(23)
    public static let isPhaseCorrectionData = bit(24)
    public static let isDummyScan = bit(27)
    public static let isRTFeedbackData = bit(28)
    public static let isSurfaceCoilCorrectionScan = bit(29)

    /// Every named flag with its ISMRMRD name, for `cordq info` and the counter mapping.
    public static let named: [(name: String, flag: RawAcquisitionFlags)] = [
        ("ACQ_FIRST_IN_SLICE", .firstInSlice), ("ACQ_LAST_IN_SLICE", .lastInSlice),
        ("ACQ_FIRST_IN_REPETITION", .firstInRepetition), ("ACQ_LAST_IN_REPETITION", .lastInRepetition),
        ("ACQ_LAST_IN_MEASUREMENT", .lastInMeasurement), ("ACQ_IS_NOISE_MEASUREMENT", .isNoiseMeasurement),
        ("ACQ_IS_PARALLEL_CALIBRATION", .isParallelCalibration),
        ("ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING", .isParallelCalibrationAndImaging),
        ("ACQ_IS_REVERSE", .isReverse), ("ACQ_IS_NAVIGATION_DATA", .isNavigationData),
        ("ACQ_IS_PHASECORR_DATA", .isPhaseCorrectionData), ("ACQ_IS_DUMMYSCAN_DATA", .isDummyScan),
        ("ACQ_IS_RTFEEDBACK_DATA", .isRTFeedbackData),
        ("ACQ_IS_SURFACECOILCORRECTIONSCAN_DATA", .isSurfaceCoilCorrectionScan),
    ]

    /// The flag called `name` (ISMRMRD spelling), or nil.
    public static func flag(named name: String) -> RawAcquisitionFlags? { named.first { $0.name == name }?.flag }

    /// Names of the flags set, in ISMRMRD order.
    public var names: [String] { Self.named.filter { contains($0.flag) }.map(\.name) }
}

/// ISMRMRD encoding counters of one acquisition.
public struct RawEncodingIndex: Sendable, Hashable, Codable {
    public var kspaceEncodeStep1 = 0, kspaceEncodeStep2 = 0, average = 0, slice = 0, contrast = 0
    public var phase = 0, repetition = 0, set = 0, segment = 0
    public init() {}

    /// The counter called `name` (ISMRMRD field names: `kspace_encode_step_1`, `slice`, …).
    public subscript(name: String) -> Int? {
        get {
            switch name {
            case "kspace_encode_step_1": return kspaceEncodeStep1
            case "kspace_encode_step_2": return kspaceEncodeStep2
            case "average": return average
            case "slice": return slice
            case "contrast": return contrast
            case "phase": return phase
            case "repetition": return repetition
            case "set": return set
            case "segment": return segment
            default: return nil
            }
        }
        set {
            let v = newValue ?? 0
            switch name {
            case "kspace_encode_step_1": kspaceEncodeStep1 = v
            case "kspace_encode_step_2": kspaceEncodeStep2 = v
            case "average": average = v
            case "slice": slice = v
            case "contrast": contrast = v
            case "phase": phase = v
            case "repetition": repetition = v
            case "set": self.set = v
            case "segment": segment = v
            default: break
            }
        }
    }
    public static let counterNames = ["kspace_encode_step_1", "kspace_encode_step_2", "average", "slice", "contrast",
                                      "phase", "repetition", "set", "segment"]
}

/// One readout: all channels of one ADC, in acquisition (time) order. A reflected readout
/// (`isReverse`) is stored as acquired, not flipped.
public struct RawAcquisition: Sendable {
    public var flags: RawAcquisitionFlags = []
    public var index = RawEncodingIndex()
    public var channels: Int
    public var samples: Int
    /// Channel-major samples: channel c occupies `c*samples ..< (c+1)*samples`.
    public var data: [ComplexF]
    /// Sample at k = 0 of a uniform readout.
    public var centerSample = 0
    /// Dwell time (µs).
    public var sampleTimeMicroseconds: Double = 0
    /// Slice centre (mm) and the read/phase/slice unit vectors, in the ISMRMRD patient frame (LPS).
    public var position = SIMD3<Double>(0, 0, 0)
    public var readDirection = SIMD3<Double>(1, 0, 0)
    public var phaseDirection = SIMD3<Double>(0, 1, 0)
    public var sliceDirection = SIMD3<Double>(0, 0, 1)
    public var userInts = [Int](repeating: 0, count: 8)
    public var userFloats = [Double](repeating: 0, count: 8)
    public var scanCounter = 0
    /// Time stamp in ticks of 2.5 ms (Siemens and ISMRMRD convention).
    public var timeStamp = 0
    /// Samples to discard at the start and end of the readout.
    public var discardPre = 0, discardPost = 0

    public init(channels: Int, samples: Int, data: [ComplexF]) {
        self.channels = channels; self.samples = samples; self.data = data
    }

    /// The samples of channel `c`.
    public func channel(_ c: Int) -> ArraySlice<ComplexF> { data[(c * samples)..<((c + 1) * samples)] }
}

/// How readouts sample kx.
public enum RawTrajectory: String, Sendable, Codable {
    case cartesian
    /// Ramp-sampled EPI: samples along a trapezoid (see `EPIReadoutTiming`).
    case epi
    case other
}

/// The trapezoidal readout of ramp-sampled EPI (siemens_to_ismrmrd's `trajectoryDescription`),
/// times in µs. Sample n sits at `acqDelay + (n + ½)·dwell` along the trapezoid (mid-dwell).
public struct EPIReadoutTiming: Sendable, Equatable, Codable {
    public var numberOfSamples: Int
    public var rampUp: Double, flatTop: Double, rampDown: Double, acquisitionDelay: Double, dwell: Double
    public init(numberOfSamples: Int, rampUp: Double, flatTop: Double, rampDown: Double, acquisitionDelay: Double, dwell: Double) {
        self.numberOfSamples = numberOfSamples; self.rampUp = rampUp; self.flatTop = flatTop
        self.rampDown = rampDown; self.acquisitionDelay = acquisitionDelay; self.dwell = dwell
    }
    /// Gradient area (µs × unit amplitude) from the start of the ramp up to time t (µs).
    public func area(at t: Double) -> Double {
        let t = min(max(t, 0), rampUp + flatTop + rampDown)
        if t <= rampUp { return rampUp > 0 ? 0.5 * t * t / rampUp : 0 }
        if t <= rampUp + flatTop { return 0.5 * rampUp + (t - rampUp) }
        let v = rampUp + flatTop + rampDown - t
        return 0.5 * rampUp + flatTop + 0.5 * rampDown - (rampDown > 0 ? 0.5 * v * v / rampDown : 0)
    }
    /// The kx position of each sample (mid-dwell), in units of Δk of a uniform grid of
    /// `encodedSamples` points: the gradient area read during the ADC window
    /// (`acqDelay … acqDelay + n·dwell`) spans `encodedSamples` Δk, and k = 0 is halfway
    /// through the trapezoid's area (Gadgetron's EPIReconXObjectTrapezoid scaling).
    public func kPositions(encodedSamples: Int) -> [Double] {
        let n = numberOfSamples
        let readArea = area(at: acquisitionDelay + Double(n) * dwell) - area(at: acquisitionDelay)
        guard n > 0, readArea > 0, encodedSamples > 0 else { return [] }
        let dk = readArea / Double(encodedSamples)
        let centre = 0.5 * area(at: rampUp + flatTop + rampDown)
        return (0..<n).map { (area(at: acquisitionDelay + (Double($0) + 0.5) * dwell) - centre) / dk }
    }
}

/// One encoding space (ISMRMRD `encodedSpace` / `reconSpace`): matrix and field of view (mm).
public struct RawEncodingSpace: Sendable, Equatable, Codable {
    public var matrix: SIMD3<Int>
    public var fieldOfView: SIMD3<Double>
    public init(matrix: SIMD3<Int>, fieldOfView: SIMD3<Double>) { self.matrix = matrix; self.fieldOfView = fieldOfView }
}

/// A counter's range (ISMRMRD `encodingLimits`).
public struct RawLimit: Sendable, Equatable, Codable {
    public var minimum: Int, maximum: Int, center: Int
    public init(minimum: Int, maximum: Int, center: Int) { self.minimum = minimum; self.maximum = maximum; self.center = center }
}

/// The header of a raw data set (the parts of ISMRMRD's XML header CordQ uses).
public struct RawHeader: Sendable {
    public var encodedSpace: RawEncodingSpace
    public var reconSpace: RawEncodingSpace
    /// `encodingLimits`: `kspace_encode_step_1` (ky lines), `slice`, `repetition`, `average`, …
    public var limits: [String: RawLimit] = [:]
    public var trajectory: RawTrajectory = .cartesian
    public var epiTiming: EPIReadoutTiming?
    /// In-plane acceleration along phase encoding (GRAPPA R).
    public var accelerationFactorPE = 1
    public var receiverChannels = 1
    public var systemVendor = "", systemModel = "", sequenceName = "", protocolName = ""
    public var fieldStrengthTesla: Double?
    /// TR, TE (ms), echo spacing (ms).
    public var repetitionTimeMs: Double?, echoTimeMs: Double?, echoSpacingMs: Double?
    public var userParameterLong: [String: Int] = [:]
    public var userParameterDouble: [String: Double] = [:]
    public var userParameterString: [String: String] = [:]
    /// ISMRMRD patient position (`HFS`, …).
    public var patientPosition = ""
    public init(encodedSpace: RawEncodingSpace, reconSpace: RawEncodingSpace) {
        self.encodedSpace = encodedSpace; self.reconSpace = reconSpace
    }

    /// Readout oversampling factor (2 when the encoded x matrix is twice the recon one, else 1).
    public var readoutOversampling: Int {
        encodedSpace.matrix.x == 2 * reconSpace.matrix.x ? 2 : 1
    }
    /// Phase oversampling: encoded FOV along y over recon FOV (≥ 1).
    public var phaseOversampling: Double {
        reconSpace.fieldOfView.y > 0 ? max(1, encodedSpace.fieldOfView.y / reconSpace.fieldOfView.y) : 1
    }
    /// The ky limit (`kspace_encode_step_1`), or the full encoded matrix.
    public var phaseLimit: RawLimit {
        limits["kspace_encode_step_1"] ?? RawLimit(minimum: 0, maximum: encodedSpace.matrix.y - 1, center: encodedSpace.matrix.y / 2)
    }
    /// Fraction of ky acquired (1 = full; 0.75 = 6/8 partial Fourier), from the limits.
    public var partialFourierPE: Double {
        let l = phaseLimit, n = encodedSpace.matrix.y
        guard n > 0 else { return 1 }
        return min(1, Double(l.maximum - l.minimum + 1) / Double(n))
    }
    /// Multiband factor from the user parameters (1 when absent).
    public var multibandFactor: Int { userParameterLong["MultibandFactor"] ?? 1 }
}

/// Where a raw data set came from.
public enum RawSourceFormat: String, Sendable, Codable {
    case ismrmrd = "ISMRMRD HDF5"
    case siemensTwixVD = "Siemens twix VD/VE"
    case siemensTwixVB = "Siemens twix VB"
    case simulated = "CordPhantom simulation"
}

/// A raw data set: header, acquisitions in acquisition order, and what the reader saw.
public struct RawDataset: Sendable {
    public var header: RawHeader
    public var acquisitions: [RawAcquisition]
    public var source: RawSourceFormat
    /// Vendor counters and flags met while reading (twix: `Lin`, `Seg`, `PHASCOR`, …) with the
    /// number of acquisitions each was non-zero/set on, for `cordq info`.
    public var vendorCounters: [String: Int] = [:]
    public var vendorFlags: [String: Int] = [:]
    /// Selected vendor protocol fields (twix ASCII protocol), for `cordq info` and sidecars.
    public var protocolFields: [String: String] = [:]
    /// Notes from the reader (e.g. a truncated trailing scan that was dropped).
    public var notes: [String] = []
    public init(header: RawHeader, acquisitions: [RawAcquisition], source: RawSourceFormat) {
        self.header = header; self.acquisitions = acquisitions; self.source = source
    }

    /// Number of acquisitions with each ISMRMRD flag set.
    public var flagCounts: [(name: String, count: Int)] {
        RawAcquisitionFlags.named.compactMap { n in
            let c = acquisitions.reduce(0) { $0 + ($1.flags.contains(n.flag) ? 1 : 0) }
            return c > 0 ? (n.name, c) : nil
        }
    }
    /// Distinct values of each ISMRMRD counter over the acquisitions (min…max and count).
    public var counterRanges: [(name: String, minimum: Int, maximum: Int, distinct: Int)] {
        RawEncodingIndex.counterNames.map { name in
            let v = acquisitions.map { $0.index[name] ?? 0 }
            return (name, v.min() ?? 0, v.max() ?? 0, Set(v).count)
        }
    }
}

/// How a vendor's counters and flags map onto ISMRMRD's (a `protocols/raw/*.yaml` file,
/// decoded by CordProtocol). A counter mapped to nil is read and reported but not used.
public struct RawCounterMapping: Sendable, Equatable {
    public var vendor: String
    public var sequences: [String]
    /// Vendor counter name (`Lin`, `Seg`, …) → ISMRMRD counter (`kspace_encode_step_1`, …) or nil.
    public var counters: [String: String?]
    /// Vendor flag name (`PHASCOR`, …) → ISMRMRD flag name (`ACQ_IS_PHASECORR_DATA`, …).
    public var flags: [String: String]
    /// Vendor flags whose scans are not k-space data (sync data, ACQEND) and are skipped.
    public var skipFlags: [String]
    public var source: String
    /// Where the vendor keeps each scan's diffusion encoding (nil: the mapping gives none).
    public var diffusion: RawDiffusionMapping?
    public init(vendor: String, sequences: [String], counters: [String: String?], flags: [String: String],
                skipFlags: [String], source: String, diffusion: RawDiffusionMapping? = nil) {
        self.vendor = vendor; self.sequences = sequences; self.counters = counters; self.flags = flags
        self.skipFlags = skipFlags; self.source = source; self.diffusion = diffusion
    }
}

/// How a vendor raw file carries the diffusion encoding of each scan (the `diffusion:` block of a
/// `protocols/raw/*.yaml` mapping; docs/raw-data.md). Two sources, the per-scan one first:
/// - a B-matrix in the scan header's ICE program parameters (Siemens VD/VE
///   `aushIceProgramPara`): six unsigned values B + `iceOffset` (xx, yy, zz, xy, xz, yz, s/mm²;
///   the sign of each diagonal element carries the polarity of that gradient component) and the
///   nominal b + `iceOffset`;
/// - the protocol's table (Siemens `sDiffusion`: `alBValue[]`, free directions
///   `sFreeDiffusionData.asDiffDirVector[]`), indexed by the vendor counter `volumeCounter`.
public struct RawDiffusionMapping: Sendable, Equatable {
    /// Vendor counter that steps through the diffusion encodings (Siemens ep2d_diff: `Rep`).
    public var volumeCounter: String
    /// ICE program parameter indices (0-based) of Bxx, Byy, Bzz, Bxy, Bxz, Byz; empty: none.
    public var iceBMatrix: [Int]
    /// ICE program parameter index of the nominal b-value, or nil.
    public var iceNominalB: Int?
    /// Offset added to the stored ICE values (Siemens: 16384).
    public var iceOffset: Double
    /// Frame of the ICE B-matrix: `xyz` (magnet) or `prs` (phase, read, slice of the scan).
    public var iceFrame: String
    /// Protocol `ulCoordinateSystem` value of the free directions → `xyz` or `prs`.
    public var freeCoordinateSystems: [Int: String]
    /// Magnet (xyz) frame → patient LPS frame: sign of each axis per patient position (`HFS`, …).
    public var magnetToPatient: [String: SIMD3<Double>]
    public init(volumeCounter: String, iceBMatrix: [Int], iceNominalB: Int?, iceOffset: Double, iceFrame: String,
                freeCoordinateSystems: [Int: String], magnetToPatient: [String: SIMD3<Double>]) {
        self.volumeCounter = volumeCounter; self.iceBMatrix = iceBMatrix; self.iceNominalB = iceNominalB
        self.iceOffset = iceOffset; self.iceFrame = iceFrame; self.freeCoordinateSystems = freeCoordinateSystems
        self.magnetToPatient = magnetToPatient
    }
}
