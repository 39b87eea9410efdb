// Healthy adult cord size per vertebral level: the reference for normalised compression
// measures.

/// Mean and between-subject SD (mm² or mm) of one measure.
public typealias MeanSD = (mean: Double, sd: Double)

/// Healthy cord morphometry of one vertebral level.
public struct LevelNorm: Sendable {
    /// 1 = C1 … 7 = C7, 8 = T1 (PAM50 level values).
    public var level: Int32
    public var name: String
    public var subjects: Int
    /// Cross-sectional area (mm²): all subjects, men (105), women (98).
    public var csa: MeanSD, csaMale: MeanSD, csaFemale: MeanSD
    /// AP and RL diameters (mm), all subjects.
    public var apDiameter: MeanSD, rlDiameter: MeanSD
}

/// Sex for sex-specific norms.
public enum Sex: String, Sendable, CaseIterable {
    case male = "M", female = "F"
}

/// Per-level healthy values from the spine-generic multi-subject study (Cohen-Adad et al.
/// 2021, Sci Data 8:219): 203 healthy adults (105 men, 98 women) scanned at 43 sites,
/// T2w cord segmented and measured with the Spinal Cord Toolbox (sct_process_segmentation),
/// averaged per vertebral level per subject, then summarised here as mean ± SD over
/// subjects. Source table: PAM50-normalized-metrics (MIT),
/// spine-generic_T2w_cord_morphometry_per_level.tsv; this is a summary, not the data.
public enum HealthyNorms {
    public static let citation = "spine-generic multi-subject, Cohen-Adad et al. 2021 Sci Data 8:219 (203 adults, SCT on T2w)"

    public static let levels: [LevelNorm] = [
        LevelNorm(level: 1, name: "C1", subjects: 203, csa: (73.96, 7.33), csaMale: (76.63, 7.28), csaFemale: (71.10, 6.24), apDiameter: (8.27, 0.55), rlDiameter: (11.36, 0.71)),
        LevelNorm(level: 2, name: "C2", subjects: 203, csa: (71.65, 6.88), csaMale: (74.08, 6.76), csaFemale: (69.05, 6.03), apDiameter: (7.76, 0.52), rlDiameter: (11.73, 0.71)),
        LevelNorm(level: 3, name: "C3", subjects: 203, csa: (72.48, 7.12), csaMale: (74.59, 7.22), csaFemale: (70.21, 6.31), apDiameter: (7.59, 0.51), rlDiameter: (12.14, 0.75)),
        LevelNorm(level: 4, name: "C4", subjects: 203, csa: (77.35, 7.54), csaMale: (79.05, 7.83), csaFemale: (75.52, 6.78), apDiameter: (7.62, 0.49), rlDiameter: (12.93, 0.81)),
        LevelNorm(level: 5, name: "C5", subjects: 203, csa: (76.38, 7.74), csaMale: (78.13, 8.10), csaFemale: (74.51, 6.91), apDiameter: (7.47, 0.51), rlDiameter: (13.03, 0.82)),
        LevelNorm(level: 6, name: "C6", subjects: 203, csa: (69.13, 7.79), csaMale: (70.90, 8.18), csaFemale: (67.23, 6.90), apDiameter: (7.07, 0.50), rlDiameter: (12.44, 0.83)),
        LevelNorm(level: 7, name: "C7", subjects: 203, csa: (56.76, 7.23), csaMale: (58.56, 7.46), csaFemale: (54.82, 6.47), apDiameter: (6.56, 0.44), rlDiameter: (10.94, 0.90)),
        LevelNorm(level: 8, name: "T1", subjects: 203, csa: (46.84, 5.47), csaMale: (48.33, 5.91), csaFemale: (45.23, 4.45), apDiameter: (6.29, 0.43), rlDiameter: (9.41, 0.67)),
    ]

    /// The norm of a level value (1…8), nil outside C1–T1.
    public static func norm(level: Int32) -> LevelNorm? { levels.first { $0.level == level } }

    /// Healthy CSA (mean, SD; mm²) of a level, for one sex or for everyone.
    public static func csa(level: Int32, sex: Sex? = nil) -> MeanSD? {
        guard let n = norm(level: level) else { return nil }
        switch sex {
        case .male: return n.csaMale
        case .female: return n.csaFemale
        case nil: return n.csa
        }
    }

    /// Level name ("C1" … "C7", "T1", or "level n").
    public static func name(of level: Int32) -> String { norm(level: level)?.name ?? "level \(level)" }
}
