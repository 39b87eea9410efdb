// Healthy cervical cord size per vertebral level, and the level lengths along the cord.

// MARK: - Vertebral levels

/// A vertebral level of the cervical and upper thoracic spine, numbered as in the PAM50
/// template's `PAM50_levels` image: 1 = C1 … 7 = C7, 8 = T1.
///
/// Encoded in JSON by name ("C3"); decoding accepts the name or the number.
public enum VertebralLevel: Int, CaseIterable, Sendable, Comparable, Codable, CustomStringConvertible {
    case c1 = 1, c2, c3, c4, c5, c6, c7, t1

    /// "C1" … "C7", "T1".
    public var name: String { self == .t1 ? "T1" : "C\(rawValue)" }
    public var description: String { name }
    public static func < (a: VertebralLevel, b: VertebralLevel) -> Bool { a.rawValue < b.rawValue }

    /// Parses "C3", "c3" or "T1".
    public init?(name: String) {
        guard let found = VertebralLevel.allCases.first(where: { $0.name == name.uppercased() }) else { return nil }
        self = found
    }

    /// The PAM50 disc label at the top of this level. PAM50 puts disc label n at the top
    /// of vertebra n (measured in `PAM50_label_disc`/`PAM50_levels`: label 3 sits between
    /// level 2 and level 3, so 3 = C2/C3 disc; 1 marks the top of C1, 2 = C1/C2, 8 = C7/T1).
    public var discAbove: Int { rawValue }
    /// The PAM50 disc label at the bottom of this level (9 = T1/T2 for T1).
    public var discBelow: Int { rawValue + 1 }

    /// The name of PAM50 disc label `n` (1…9): "top of C1", "C1/C2", …, "C7/T1", "T1/T2".
    public static func discName(_ n: Int) -> String {
        func vertebra(_ k: Int) -> String { k <= 7 ? "C\(k)" : "T\(k - 7)" }
        return n == 1 ? "top of C1" : "\(vertebra(n - 1))/\(vertebra(n))"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(Int.self), let v = VertebralLevel(rawValue: n) { self = v; return }
        let s = try c.decode(String.self)
        guard let v = VertebralLevel(name: s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "'\(s)' is not a level: use C1…C7 or T1")
        }
        self = v
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(name)
    }
}

// MARK: - Per-level morphometry

/// The size of the cord at one vertebral level.
public struct LevelMorphometry: Codable, Sendable, Equatable {
    public var level: VertebralLevel
    /// Cross-sectional area (mm²), orthogonal to the cord, averaged over the level.
    public var csa: Double
    /// Antero-posterior diameter (mm).
    public var apDiameter: Double
    /// Right-left diameter (mm).
    public var rlDiameter: Double
    /// Extent of the level along the cord (mm).
    public var length: Double

    public init(level: VertebralLevel, csa: Double, apDiameter: Double, rlDiameter: Double, length: Double) {
        self.level = level; self.csa = csa; self.apDiameter = apDiameter
        self.rlDiameter = rlDiameter; self.length = length
    }
}

/// Healthy adult cervical cord morphometry and PAM50 level lengths.
public enum HealthyCervicalCord {
    /// Source of `csa`, `apDiameter`, `rlDiameter` and `csaSD`.
    public static let citation =
        "spine-generic multi-subject, Cohen-Adad et al. 2021 Sci Data 8:219; values averaged per level"
    /// Source of `length`.
    public static let lengthCitation =
        "PAM50 template (De Leener et al. 2018 NeuroImage 165:170), PAM50_levels.nii.gz: extent along z of each level value"

    /// Mean CSA (mm²), AP and RL diameters (mm) per level from the spine-generic
    /// multi-subject data (203 adults, SCT on T2w images), and level lengths along the cord.
    ///
    /// Lengths: the number of 0.5 mm axial slices of the straightened PAM50 template
    /// carrying each value of `PAM50_levels.nii.gz` (C1 z 939–984, C2 908–938, C3 871–907,
    /// C4 834–870, C5 801–833, C6 770–800, C7 736–769, T1 693–735), times 0.5 mm. They match
    /// the spacing of `PAM50_label_disc.nii.gz` (labels 1…9 at z 985, 939, 908, 871, 834,
    /// 801, 770, 736, 693). C1–T1 spans 146 mm.
    public static let levels: [LevelMorphometry] = [
        LevelMorphometry(level: .c1, csa: 73.96, apDiameter: 8.27, rlDiameter: 11.36, length: 23.0),
        LevelMorphometry(level: .c2, csa: 71.65, apDiameter: 7.76, rlDiameter: 11.73, length: 15.5),
        LevelMorphometry(level: .c3, csa: 72.48, apDiameter: 7.59, rlDiameter: 12.14, length: 18.5),
        LevelMorphometry(level: .c4, csa: 77.35, apDiameter: 7.62, rlDiameter: 12.93, length: 18.5),
        LevelMorphometry(level: .c5, csa: 76.38, apDiameter: 7.47, rlDiameter: 13.03, length: 16.5),
        LevelMorphometry(level: .c6, csa: 69.13, apDiameter: 7.07, rlDiameter: 12.44, length: 15.5),
        LevelMorphometry(level: .c7, csa: 56.76, apDiameter: 6.56, rlDiameter: 10.94, length: 17.0),
        LevelMorphometry(level: .t1, csa: 46.84, apDiameter: 6.29, rlDiameter: 9.41, length: 21.5),
    ]

    /// Between-subject standard deviation of the CSA (mm²) per level, same source.
    public static let csaSD: [VertebralLevel: Double] = [
        .c1: 7.33, .c2: 6.88, .c3: 7.12, .c4: 7.54, .c5: 7.74, .c6: 7.79, .c7: 7.23, .t1: 5.47,
    ]
}
