// Susceptibility distortion correction of EPI: the acquisition facts a correction needs,
// the errors it reports, and the field's sign convention.
import CordCore

// MARK: - Errors

/// What can be wrong with the inputs of a distortion correction, in words a clinician
/// understands; every case names the file(s).
public enum DistortionError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Both images of a pair were acquired with the same phase-encoding polarity.
    case samePhaseEncoding(first: String, second: String, direction: String)
    /// The two images encode along different axes (j and i, say).
    case differentPhaseEncodingAxes(first: String, firstDirection: String, second: String, secondDirection: String)
    /// No `PhaseEncodingDirection` for an image.
    case missingPhaseEncoding(name: String)
    /// No `TotalReadoutTime` for an image (needed for the field in Hz).
    case missingReadoutTime(name: String)
    /// The readout times of a pair differ.
    case differentReadoutTimes(first: String, firstSeconds: Double, second: String, secondSeconds: Double)
    /// A readout time outside what EPI can have.
    case implausibleReadoutTime(name: String, seconds: Double)
    /// An image without signal (all zero) cannot drive the estimation.
    case noSignal(name: String)
    /// The phase-encoding axis has too few voxels to estimate a displacement along it.
    case tooFewVoxels(name: String, axis: String, count: Int)

    public var description: String {
        switch self {
        case let .samePhaseEncoding(a, b, d):
            return "\(a) and \(b) were both acquired with phase-encoding direction \(d): a reverse phase-encoding pair needs opposite polarities (e.g. j and j-, AP and PA)"
        case let .differentPhaseEncodingAxes(a, da, b, db):
            return "\(a) (phase encoding \(da)) and \(b) (phase encoding \(db)) encode along different axes: a reverse phase-encoding pair needs the same axis with opposite polarity"
        case let .missingPhaseEncoding(n):
            return "\(n): no PhaseEncodingDirection (BIDS sidecar key, or --pe-dir): the direction of the distortion is unknown"
        case let .missingReadoutTime(n):
            return "\(n): no TotalReadoutTime (BIDS sidecar key, in seconds, or --total-readout-time): the field cannot be expressed in Hz"
        case let .differentReadoutTimes(a, ta, b, tb):
            return "\(a) (TotalReadoutTime \(formatSignificantCore(ta)) s) and \(b) (\(formatSignificantCore(tb)) s) have different readouts: a reverse phase-encoding pair must share the readout"
        case let .implausibleReadoutTime(n, t):
            return "\(n): TotalReadoutTime \(formatSignificantCore(t)) s is outside 0.001–0.5 s (EPI readouts last tens of milliseconds; milliseconds given as seconds?)"
        case let .noSignal(n):
            return "\(n) holds no signal (every voxel is 0 or negative): no field can be estimated from it"
        case let .tooFewVoxels(n, axis, c):
            return "\(n) has \(c) voxel\(c == 1 ? "" : "s") along its phase-encoding axis \(axis): at least 8 are needed"
        }
    }
}

// MARK: - Acquisition

/// How an EPI image was read out: the phase-encoding axis and polarity (BIDS
/// `PhaseEncodingDirection`, on the file's voxel axes) and the `TotalReadoutTime` (s).
///
/// Sign convention (the one of BIDS and FSL topup): an off-resonance field of `f` Hz moves
/// the signal by `f · TotalReadoutTime` voxels towards the positive end of the
/// phase-encoding direction, i.e. along +axis for `j`, along −axis for `j-`.
public struct EPIReadout: Sendable, Equatable {
    public var phaseEncoding: PhaseEncoding
    /// Seconds (BIDS `TotalReadoutTime`: time from the centre of the first to the centre of
    /// the last echo, i.e. (N_PE − 1) × effective echo spacing).
    public var totalReadoutTime: Double

    public init(phaseEncoding: PhaseEncoding, totalReadoutTime: Double) {
        self.phaseEncoding = phaseEncoding; self.totalReadoutTime = totalReadoutTime
    }

    /// Checks what a correction needs: a phase encoding and a plausible readout time
    /// (0.001–0.5 s); `name` goes into the message.
    public static func checked(phaseEncoding: PhaseEncoding?, totalReadoutTime: Double?, name: String) throws -> EPIReadout {
        guard let pe = phaseEncoding else { throw DistortionError.missingPhaseEncoding(name: name) }
        guard let t = totalReadoutTime else { throw DistortionError.missingReadoutTime(name: name) }
        guard t.isFinite, t >= 0.001, t <= 0.5 else { throw DistortionError.implausibleReadoutTime(name: name, seconds: t) }
        return EPIReadout(phaseEncoding: pe, totalReadoutTime: t)
    }

    /// Voxels of displacement along +axis per Hz of field.
    public var voxelsPerHz: Double { (phaseEncoding.reversed ? -1 : 1) * totalReadoutTime }
}

/// An EPI image with its readout; `name` (usually the file) is used in messages.
public struct EPIImage: Sendable {
    public var image: Volume<Float>
    public var readout: EPIReadout
    public var name: String
    public init(image: Volume<Float>, readout: EPIReadout, name: String) {
        self.image = image; self.readout = readout; self.name = name
    }
}

// MARK: - Lines along the phase-encoding axis

/// The voxel lines of a grid along one axis: `count` lines of `length` voxels, `stride`
/// apart in the buffer.
struct AxisLines: Sendable {
    let axis: Int
    let length: Int
    let stride: Int
    let count: Int
    let nx: Int, ny: Int

    init(_ grid: Grid, axis: Int) {
        self.axis = axis
        nx = grid.nx; ny = grid.ny
        length = [grid.nx, grid.ny, grid.nz][axis]
        stride = [1, grid.nx, grid.nx * grid.ny][axis]
        count = grid.voxelCount / length
    }
    /// Buffer index of voxel 0 of line `l`.
    @inline(__always) func start(_ l: Int) -> Int {
        switch axis {
        case 0: return l * nx
        case 1: return (l % nx) + nx * ny * (l / nx)
        default: return l
        }
    }
}
