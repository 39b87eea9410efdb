// The contents of an atlas folder in the Spinal Cord Toolbox layout (PAM50 and CordQ's own)
// as values: CordIO reads and writes the files, CordAtlas turns the contents into an `Atlas`.

/// What to read from an atlas folder and how much of the grid to keep.
public struct AtlasLoadOptions: Sendable, Equatable {
    /// Ids (as `atlas/info_label.txt` numbers them) of the tract maps to read; nil = all.
    public var tractIDs: Set<Int>?
    /// Keep only the slices carrying these vertebral levels (1 = C1 …), plus `marginSlices`.
    public var levels: [Int]?
    /// Crop in-plane to the box around the cord and CSF masks plus `marginVoxels`
    /// (PAM50's 141×141 slices are mostly empty; this keeps memory small).
    public var cropToCord = true
    public var marginVoxels = 3, marginSlices = 2
    /// Read the template contrasts (T1w, T2w, T2*w) when their files are present.
    public var contrasts = true
    public init() {}
}

/// A template image's role, recognised by the description PAM50's info_label.txt gives it.
///
/// Descriptions match case-insensitively, with parenthesised remarks ignored and "grey"
/// read as "gray".
public enum AtlasRole: String, CaseIterable, Sendable {
    case t1 = "t1-weighted template", t2 = "t2-weighted template", t2s = "t2s-weighted template"
    case cord = "spinal cord mask", wm = "white matter mask", gm = "gray matter mask"
    case csf = "cerebrospinal fluid mask", levels = "spinal cord mask with discrete vertebral levels"
    case discs = "point-wise intervertebral disc labels"
    /// The contrast name (`Atlas.contrasts` key) of a template image: T1w, T2w or T2starw.
    public var contrast: String? { self == .t1 ? "T1w" : self == .t2 ? "T2w" : self == .t2s ? "T2starw" : nil }
    /// The role an info_label.txt description names, or nil: today's PAM50 wording
    /// ("spinal cord mask", "white matter mask (probabilistic)", …) or the older SCT wording
    /// warped label folders still carry ("spinal cord", "white matter", "vertebral labeling", …).
    public static func of(_ description: String) -> AtlasRole? {
        var d = description.lowercased()
        if let p = d.firstIndex(of: "(") { d = String(d[..<p]) }
        d = InfoLabel.trimmed(Substring(d), newlines: false).replacing("grey", with: "gray")
        if let r = AtlasRole(rawValue: d) { return r }
        return olderWording[d]
    }

    /// Descriptions of SCT versions before PAM50's current info_label.txt (SCT 3–4 and the
    /// folders `sct_warp_template` wrote with them).
    static let olderWording: [String: AtlasRole] = [
        "spinal cord": .cord, "cord": .cord, "white matter": .wm, "gray matter": .gm,
        "cerebrospinal fluid": .csf, "csf": .csf, "vertebral labeling": .levels, "vertebral levels": .levels,
        "disc labeling": .discs, "intervertebral disc labels": .discs, "disc labels": .discs,
        "t1 template": .t1, "t2 template": .t2, "t2s template": .t2s, "t2* template": .t2s,
    ]

    /// The role a template file's name gives it (`PAM50_cord.nii.gz`, `PAM50_small_levels.nii.gz`,
    /// `MNI-Poly-AMU_wm.nii.gz` …): the part after the template's name. Used when the
    /// description names no role.
    public static func of(file: String) -> AtlasRole? {
        var f = file.lowercased()
        if let slash = f.lastIndex(of: "/") { f = String(f[f.index(after: slash)...]) }
        for ext in [".nii.gz", ".nii"] where f.hasSuffix(ext) { f = String(f.dropLast(ext.count)) }
        let endings: [(String, AtlasRole)] = [("_cord", .cord), ("_wm", .wm), ("_gm", .gm), ("_csf", .csf), ("_levels", .levels),
                                               ("_label_disc", .discs), ("_t1", .t1), ("_t2", .t2), ("_t2s", .t2s)]
        // `_spinal_levels` (spinal, not vertebral, levels) is not the level map.
        return endings.first { f.hasSuffix($0.0) && !f.hasSuffix("_spinal" + $0.0) }?.1
    }
}

/// The files of an atlas folder, read and cropped; CordAtlas turns them into an `Atlas`.
public struct AtlasFolderContents: Sendable {
    public var templateIndex: InfoLabel, atlasIndex: InfoLabel
    /// The (cropped) grid every volume below is on.
    public var grid: Grid
    /// The box of the folder's full grid that was kept (`box.source` is the full grid):
    /// crop a metric map on the full grid with `box.apply` to match.
    public var box: CropBox
    /// Template probability maps and contrasts by role (cord, wm, gm, csf, t1, t2, t2s).
    public var templateMaps: [AtlasRole: Volume<Float>]
    public var levels: Volume<Int32>?, discs: Volume<Int32>?
    /// The tract maps read, in the order `atlasIndex` lists them.
    public var tracts: [(entry: InfoLabel.Entry, map: Volume<Float>)]
    /// Files listed but absent and skipped.
    public var notes: [String]
    public init(templateIndex: InfoLabel, atlasIndex: InfoLabel, box: CropBox, templateMaps: [AtlasRole: Volume<Float>],
                levels: Volume<Int32>?, discs: Volume<Int32>?, tracts: [(entry: InfoLabel.Entry, map: Volume<Float>)], notes: [String] = []) {
        self.templateIndex = templateIndex; self.atlasIndex = atlasIndex; self.grid = box.target; self.box = box; self.templateMaps = templateMaps
        self.levels = levels; self.discs = discs; self.tracts = tracts; self.notes = notes
    }
}
