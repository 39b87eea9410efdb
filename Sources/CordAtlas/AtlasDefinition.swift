// The definition of the project's own atlas (atlas/definition.json): grid, levels beyond
// the phantom's C1–T1, smoothing and template contrasts.

/// What `cordq atlas build` builds: a straight cervical/upper-thoracic cord template.
///
/// The anatomy (per-level cord size C1–T1, grey-matter shape, named white-matter tracts,
/// CSF sac) is CordPhantom's healthy cord with a straight centerline; this definition only
/// adds what a template needs on top of it. Lengths in mm, intensities in arbitrary units.
public struct AtlasDefinition: Codable, Sendable, Equatable {
    /// Atlas name written in the folder's info_label.txt headers.
    public var name: String
    /// In-plane voxel size and slice spacing (mm).
    public var inPlaneSpacing: Double
    public var sliceSpacing: Double
    /// Square in-plane field of view (mm), centred on the cord.
    public var fieldOfView: Double
    /// Length (mm) of each level below T1 that the template adds (T2, T3, …), in order.
    /// The cord keeps the T1 cross-section below T1 (extrapolated: the healthy table
    /// stops at T1).
    public var extraLevelLengths: [Double]
    /// Margin (mm) of template above the top of C1 and below the last level.
    public var margin: Double
    /// σ (mm) of the in-plane Gaussian applied to every tissue-fraction map (0 = none).
    public var smoothingSigma: Double
    /// Sub-samples per voxel axis for partial volume (CordPhantom rasterisation).
    public var supersampling: Int
    /// Template contrasts: name → intensity per tissue (keys "csf", "whiteMatter",
    /// "greyMatter", "background", "vertebralBody", "disc").
    public var contrasts: [String: [String: Double]]

    public init(name: String = "CordQ cervical cord atlas", inPlaneSpacing: Double = 0.5, sliceSpacing: Double = 1.0,
                fieldOfView: Double = 30, extraLevelLengths: [Double] = [23.0], margin: Double = 4,
                smoothingSigma: Double = 0.25, supersampling: Int = 3, contrasts: [String: [String: Double]] = [:]) {
        self.name = name; self.inPlaneSpacing = inPlaneSpacing; self.sliceSpacing = sliceSpacing
        self.fieldOfView = fieldOfView; self.extraLevelLengths = extraLevelLengths; self.margin = margin
        self.smoothingSigma = smoothingSigma; self.supersampling = supersampling; self.contrasts = contrasts
    }

    /// The definition `atlas/definition.json` holds: 0.5 mm in-plane, 1 mm slices, 30 mm
    /// field of view, T2 of 23 mm (46 slices of `PAM50_levels` value 9 at 0.5 mm), 4 mm
    /// margins, σ 0.25 mm in-plane smoothing, T2w-like and T1w-like contrasts with the
    /// phantom's T2w and T1w intensities. (σ was 0.5 mm before issue #25: it blurred the
    /// grey-matter horns, which are 1–2 mm wide, so much that the GM prior's ½ contour lost
    /// their tips; on the real `mt1` the placed prior's Dice with SCT's GM mask was 0.74 at
    /// 0.5 mm and 0.82 at 0.25 mm.)
    public static let standard = AtlasDefinition(
        smoothingSigma: 0.25,
        contrasts: [
            "T2w": ["csf": 1.0, "whiteMatter": 0.30, "greyMatter": 0.38, "background": 0.15, "vertebralBody": 0.25, "disc": 0.60],
            "T1w": ["csf": 0.25, "whiteMatter": 0.80, "greyMatter": 0.70, "background": 0.45, "vertebralBody": 0.65, "disc": 0.40],
        ])

    /// Throws `AtlasError.inconsistent` naming the first value out of range.
    public func validate() throws {
        func fail(_ d: String) -> AtlasError { .inconsistent(atlas: "atlas definition", detail: d) }
        guard inPlaneSpacing >= 0.1, inPlaneSpacing <= 2, sliceSpacing >= 0.1, sliceSpacing <= 5 else {
            throw fail("spacing \(inPlaneSpacing) × \(sliceSpacing) mm is outside 0.1–2 mm in-plane, 0.1–5 mm between slices")
        }
        guard fieldOfView >= 20, fieldOfView <= 80 else { throw fail("field of view \(fieldOfView) mm is outside 20–80 mm") }
        guard extraLevelLengths.allSatisfy({ $0 > 5 && $0 < 40 }), extraLevelLengths.count <= 11 else {
            throw fail("extra level lengths \(extraLevelLengths) mm: each must be 5–40 mm, at most 11 levels (T2…T12)")
        }
        guard margin >= 0, margin <= 20 else { throw fail("margin \(margin) mm is outside 0–20 mm") }
        guard smoothingSigma >= 0, smoothingSigma <= 2 else { throw fail("smoothing σ \(smoothingSigma) mm is outside 0–2 mm") }
        guard (1...8).contains(supersampling) else { throw fail("supersampling \(supersampling) is outside 1–8") }
        let keys: Set<String> = ["csf", "whiteMatter", "greyMatter", "background", "vertebralBody", "disc"]
        for (name, c) in contrasts where Set(c.keys) != keys {
            throw fail("contrast \(name) needs exactly the intensities \(keys.sorted().joined(separator: ", "))")
        }
    }
}
