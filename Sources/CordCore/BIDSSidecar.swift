// BIDS JSON sidecars decoded into typed values with units (pure data: CordIO reads the files).

/// Phase-encoding axis and polarity (BIDS `PhaseEncodingDirection`: i, i-, j, j-, k, k-).
public struct PhaseEncoding: Sendable, Equatable, CustomStringConvertible {
    /// Voxel axis 0, 1 or 2.
    public var axis: Int
    public var reversed: Bool
    public init(axis: Int, reversed: Bool) { self.axis = axis; self.reversed = reversed }
    public var description: String { ["i", "j", "k"][axis] + (reversed ? "-" : "") }
}

/// The acquisition parameters CordQ uses from a BIDS sidecar, in SI units as BIDS stores
/// them (times in seconds, angles in degrees), plus every field as found (`fields`).
///
/// Decoding checks types and plausibility: a field of the wrong type, or a time that looks
/// like milliseconds, is an error naming the file and the key. Absent fields are nil; a
/// step that needs one asks through `required(_:_:)`, which names what is missing.
public struct BIDSSidecar: Sendable {
    public let path: String
    public let fields: [String: JSONValue]

    /// s
    public let repetitionTime: Double?
    /// s
    public let echoTime: Double?
    /// s
    public let inversionTime: Double?
    /// degrees
    public let flipAngle: Double?
    /// s, one per slice
    public let sliceTiming: [Double]?
    public let multibandAccelerationFactor: Int?
    public let phaseEncodingDirection: PhaseEncoding?
    /// s
    public let totalReadoutTime: Double?
    /// s
    public let effectiveEchoSpacing: Double?
    /// Whether a magnetization-transfer pulse was on (BIDS `MTState`).
    public let mtState: Bool?
    public let manufacturer: String?
    public let manufacturersModelName: String?
    /// tesla
    public let magneticFieldStrength: Double?
    /// mm
    public let sliceThickness: Double?
    public let parallelReductionFactorInPlane: Double?
    public let partialFourier: Double?
    public let seriesDescription: String?
    public let pulseSequenceType: String?

    /// Decodes the fields of a sidecar found at `path` (used in messages), checking types
    /// and plausibility.
    public init(path: String, fields: [String: JSONValue]) throws {
        self.path = path
        self.fields = fields
        let f = FieldReader(path: path, fields: fields)
        // BIDS qMRI (MTS, VFA …) names the excitation interval RepetitionTimeExcitation; for
        // a FLASH series it is the TR the MTsat and T1 equations need.
        repetitionTime = try f.seconds("RepetitionTime", max: 30) ?? f.seconds("RepetitionTimeExcitation", max: 30)
        echoTime = try f.seconds("EchoTime", max: 2)
        inversionTime = try f.seconds("InversionTime", max: 10)
        flipAngle = try f.degrees("FlipAngle", range: 0...180)
        sliceTiming = try f.numbers("SliceTiming", "a list of slice times in seconds", range: 0...30)
        multibandAccelerationFactor = try f.integer("MultibandAccelerationFactor", range: 1...16)
        phaseEncodingDirection = try f.phaseEncoding("PhaseEncodingDirection")
        totalReadoutTime = try f.seconds("TotalReadoutTime", max: 1)
        effectiveEchoSpacing = try f.seconds("EffectiveEchoSpacing", max: 0.01)
        mtState = try f.boolean("MTState")
        manufacturer = try f.string("Manufacturer")
        manufacturersModelName = try f.string("ManufacturersModelName")
        magneticFieldStrength = try f.number("MagneticFieldStrength", "a number in tesla", range: 0...21.2)
        sliceThickness = try f.number("SliceThickness", "a number in mm", range: 0...1000)
        parallelReductionFactorInPlane = try f.number("ParallelReductionFactorInPlane", "a number", range: 1...64)
        partialFourier = try f.number("PartialFourier", "a number", range: 0...1)
        seriesDescription = try f.string("SeriesDescription")
        pulseSequenceType = try f.string("PulseSequenceType")
    }

    /// The value at `keyPath`, or an error naming the file and the BIDS key.
    public func required<T>(_ keyPath: KeyPath<BIDSSidecar, T?>, _ key: String, _ expected: String) throws -> T {
        guard let v = self[keyPath: keyPath] else {
            throw CordIOError.missingField(path: path, key: key, expected: expected)
        }
        return v
    }
    /// Flip angle in radians.
    public var flipAngleRadians: Double? { flipAngle.map { $0 * .pi / 180 } }
    /// Number of slices acquired together: `MultibandAccelerationFactor` when given, else the
    /// largest number of slices that share one `SliceTiming` value.
    public var inferredMultibandFactor: Int? {
        if let m = multibandAccelerationFactor { return m }
        guard let t = sliceTiming, !t.isEmpty else { return nil }
        var counts: [Int: Int] = [:]
        for v in t { counts[CheckedNumber.clamped(v * 1e4, .toNearestOrAwayFromZero), default: 0] += 1 }  // v checked to 0…30 s
        return counts.values.max()
    }
}

/// Typed access to sidecar fields with messages naming file and key.
struct FieldReader {
    let path: String
    let fields: [String: JSONValue]

    func wrong(_ key: String, _ expected: String, _ v: JSONValue) -> CordIOError {
        .wrongType(path: path, key: key, expected: expected, found: "\(v.kind) (\(v))")
    }
    func number(_ key: String, _ expected: String, range: ClosedRange<Double>) throws -> Double? {
        guard let v = fields[key], v != .null else { return nil }
        guard case let .number(d) = v else { throw wrong(key, expected, v) }
        guard range.contains(d) else {
            throw CordIOError.invalidContent(path: path, reason: "\"\(key)\" is \(d), outside the plausible range \(range.lowerBound)…\(range.upperBound) for \(expected)")
        }
        return d
    }
    /// A BIDS time in seconds; values beyond `max` are almost always milliseconds.
    func seconds(_ key: String, max: Double) throws -> Double? {
        guard let d = try number(key, "a number in seconds", range: 0...Double.greatestFiniteMagnitude) else { return nil }
        if d > max {
            throw CordIOError.invalidContent(path: path, reason: "\"\(key)\" is \(d): BIDS stores it in seconds, and \(d) s is implausible (milliseconds?)")
        }
        return d
    }
    /// An angle BIDS stores in degrees. A non-integral value below π/2 is almost always an
    /// angle in radians (6° written as 0.1047): MTsat and T1 from it would be silently zero.
    func degrees(_ key: String, range: ClosedRange<Double>) throws -> Double? {
        guard let d = try number(key, "a number in degrees", range: range) else { return nil }
        if d > 0 && d < Double.pi / 2 && d != d.rounded() {
            throw CordIOError.invalidContent(path: path, reason: "\"\(key)\" is \(d): BIDS stores flip angles in degrees, and \(d)° is implausible; it looks like radians (\(formatFixed(d * 180 / Double.pi, 1))°): write the angle in degrees")
        }
        return d
    }
    func integer(_ key: String, range: ClosedRange<Int>) throws -> Int? {
        guard let d = try number(key, "a whole number", range: Double(range.lowerBound)...Double(range.upperBound)) else { return nil }
        guard d == d.rounded() else { throw wrong(key, "a whole number", .number(d)) }
        return try CheckedNumber.int(d, field: "\"\(key)\"", in: path, range: range, integral: true)
    }
    func numbers(_ key: String, _ expected: String, range: ClosedRange<Double>) throws -> [Double]? {
        guard let v = fields[key], v != .null else { return nil }
        guard case let .array(a) = v else { throw wrong(key, expected, v) }
        return try a.map { e in
            guard case let .number(d) = e, range.contains(d) else { throw wrong(key, expected, e) }
            return d
        }
    }
    func string(_ key: String) throws -> String? {
        guard let v = fields[key], v != .null else { return nil }
        guard case let .string(s) = v else { throw wrong(key, "a string", v) }
        return s
    }
    /// BIDS booleans; the strings "On"/"Off"/"true"/"false" seen in some converters are accepted.
    func boolean(_ key: String) throws -> Bool? {
        guard let v = fields[key], v != .null else { return nil }
        switch v {
        case let .bool(b): return b
        case let .string(s) where ["on", "true"].contains(s.lowercased()): return true
        case let .string(s) where ["off", "false"].contains(s.lowercased()): return false
        default: throw wrong(key, "true or false", v)
        }
    }
    func phaseEncoding(_ key: String) throws -> PhaseEncoding? {
        guard let s = try string(key) else { return nil }
        let axes = ["i": 0, "j": 1, "k": 2]
        guard let axis = axes[String(s.prefix(1))], s.count == 1 || (s.count == 2 && s.hasSuffix("-")) else {
            throw CordIOError.wrongType(path: path, key: key, expected: "one of i, i-, j, j-, k, k-", found: "\"\(s)\"")
        }
        return PhaseEncoding(axis: axis, reversed: s.hasSuffix("-"))
    }
}
