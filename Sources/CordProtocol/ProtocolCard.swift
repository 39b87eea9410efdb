// The protocol card model: what a site scans and what CordQ does with it (protocols/README.md).
import CordCore

/// A nominal value with an absolute tolerance, in the unit of the card key (`tr_s` in s,
/// `flip_deg` in degrees, …). A bare number in a card is `{value: x, tolerance: 0}`.
public struct Spec: Sendable, Equatable, CustomStringConvertible {
    public var value: Double
    public var tolerance: Double
    public init(_ value: Double, tolerance: Double = 0) { self.value = value; self.tolerance = tolerance }

    /// The round-off allowance added to every tolerance: it absorbs decimal round-off of
    /// JSON sidecars and is not itself a tolerance (README §2).
    public var slack: Double { 1e-6 * max(1, abs(value)) }
    /// Whether `x` matches: |x − value| ≤ tolerance + 1e-6·max(1, |value|).
    public func admits(_ x: Double) -> Bool { abs(x - value) <= tolerance + slack }
    public var lower: Double { value - tolerance }
    public var upper: Double { value + tolerance }
    /// `0.035 ± 0.0007`, or `9` when the tolerance is 0.
    public var description: String {
        tolerance == 0 ? formatCardNumber(value) : "\(formatCardNumber(value)) ± \(formatCardNumber(tolerance))"
    }
}

/// Sequence families (README §6).
public enum SequenceFamily: String, Sendable, CaseIterable {
    case epi, resolve, zoomit, flash3d, gre, mprage, tse, tse3d
}

public enum SeriesDatatype: String, Sendable, CaseIterable { case anat, dwi, fmap }

/// Acquisition plane.
public enum AcquisitionPlane: String, Sendable, CaseIterable { case axial, sagittal, coronal }

/// b-tensor shape of the diffusion-weighted volumes of a series (Westin et al. 2016).
public enum DiffusionEncoding: String, Sendable, CaseIterable { case linear, planar, spherical, dde }

/// One b-value shell: its b-value spec and optionally its volume and direction counts.
public struct ShellSpec: Sendable, Equatable {
    /// s/mm²
    public var b: Spec
    public var volumes: Spec?
    public var directions: Spec?
}

/// The diffusion scheme of a `dwi` series.
public struct DiffusionSpec: Sendable, Equatable {
    public var encoding: DiffusionEncoding
    public var shells: [ShellSpec]
    /// The shell whose b spec admits `b` (shells never overlap in a valid card).
    public func shellIndex(for b: Double) -> Int? { shells.firstIndex { $0.b.admits(b) } }
}

/// Per-series preprocessing (README §4.2).
public struct ProcessingSpec: Sendable, Equatable {
    public enum Denoise: String, Sendable, CaseIterable { case none, mppca }
    public enum MotionCorrection: String, Sendable, CaseIterable { case none, volume, slicewise }
    /// MP-PCA (Veraart et al. 2016) or none.
    public var denoise: Denoise = .none
    /// Gibbs unringing (Kellner et al. 2016).
    public var unring = false
    public var motionCorrection: MotionCorrection = .none
    /// Slice-group outlier replacement and intensity correction; applied only when the found
    /// multiband factor is ≥ 2.
    public var multibandCorrection = false
    /// Susceptibility distortion correction of a DWI series: `reverse-pe` (field from a
    /// reverse phase-encoding pair, Ruthotto et al. 2012), `anat` (the pair when the subject
    /// has one, else the weaker registration of the b = 0 to the anatomical T2w along phase
    /// encoding), `none`. Nil when the card does not say: the pair is used when present.
    public enum DistortionCorrection: String, Sendable, CaseIterable { case reversePE = "reverse-pe", anat, none }
    public var distortionCorrection: DistortionCorrection?
    public init() {}
}

/// Where something was written in a card (1-based line and column).
public struct CardLocation: Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public var description: String { "\(line):\(column)" }
}

/// One acquired series the card expects (README §4).
public struct SeriesSpec: Sendable, Equatable {
    public var id: String
    public var title: String?
    public var datatype: SeriesDatatype
    public var suffix: String
    /// BIDS entities (other than sub, ses, run) the file name must carry, exactly.
    public var entities: [String: String]
    public var required: Bool
    /// Any of these families; nil = not checked.
    public var sequence: [SequenceFamily]?
    public var orientation: AcquisitionPlane?
    /// mm
    public var voxelInPlane: Spec?
    /// mm
    public var voxelSlice: Spec?
    public var slices: Spec?
    public var multiband: Spec?
    /// s
    public var tr: Spec?
    /// s
    public var te: Spec?
    /// s
    public var ti: Spec?
    /// degrees
    public var flip: Spec?
    public var mtPulse: Bool?
    /// s
    public var duration: Spec?
    public var diffusion: DiffusionSpec?
    public var processing: ProcessingSpec
    /// The series' first key in the card.
    public var location: CardLocation

    /// `datatype/…suffix` with the entities, e.g. `anat/*_flip-1_mt-on_MTS`.
    public var filePattern: String {
        let ents = entities.sorted { entityOrder($0.key, $1.key) }.map { "_\($0.key)-\($0.value)" }.joined()
        return "\(datatype.rawValue)/sub-*\(ents)_\(suffix)"
    }
}

/// BIDS entity order for printing (the specification's table order).
func entityOrder(_ a: String, _ b: String) -> Bool {
    let order = ["sub", "ses", "task", "acq", "ce", "rec", "dir", "run", "echo", "flip", "inv", "mt", "part"]
    return (order.firstIndex(of: a) ?? 99, a) < (order.firstIndex(of: b) ?? 99, b)
}

/// A derived map and the series that feed it (README §5).
public struct MapSpec: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable { case morphometry, dti, mufa, mtr, mtsat, t1 }
    public enum MufaMethod: String, Sendable, CaseIterable { case gamma, qti, smt, dde }
    public enum B1Handling: String, Sendable, CaseIterable { case none, map }
    public var id: String
    public var kind: Kind
    /// role → series id
    public var inputs: [String: String]
    public var method: MufaMethod?
    public var b1: B1Handling
    public var location: CardLocation
}

/// A protocol card: one YAML file in `protocols/` (format 1).
public struct ProtocolCard: Sendable, Equatable {
    /// The file it was read from.
    public var path: String
    public var format: Int
    public var name: String
    public var title: String
    public var description: String?
    public var references: [String]
    /// Matches a sidecar's `Manufacturer` when, lower-cased, it is a prefix of it.
    public var manufacturer: String?
    /// tesla
    public var field: Spec?
    /// minutes
    public var timeBudgetMinutes: Double?
    public var series: [SeriesSpec]
    public var maps: [MapSpec]
    /// Valid-card warnings (multiband that admits ≥ 4 on a dwi series).
    public var warnings: [String]

    public func series(_ id: String) -> SeriesSpec? { series.first { $0.id == id } }
    /// Whether a sidecar `Manufacturer` value matches the card's `manufacturer`.
    public func manufacturerMatches(_ found: String) -> Bool {
        guard let m = manufacturer else { return true }
        return found.lowercased().hasPrefix(m.lowercased())
    }
}

/// Numbers as a card would write them: plain decimals, shortest form, no exponent.
public func formatCardNumber(_ x: Double) -> String {
    guard x.isFinite else { return "\(x)" }
    if x == x.rounded() && abs(x) < 1e15, let n = CheckedNumber.intOrNil(x) { return String(n) }
    let s = "\(x)"
    if !s.contains("e") { return s }
    var t = formatFixed(x, 12)
    if t.contains("e") { return s }   // beyond 2^53: Swift's own exponent form
    while t.hasSuffix("0") { t.removeLast() }
    if t.hasSuffix(".") { t.removeLast() }
    return t
}
