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
    /// The role an info_label.txt description names, or nil.
    public static func of(_ description: String) -> AtlasRole? {
        var d = description.lowercased()
        if let p = d.firstIndex(of: "(") { d = String(d[..<p]) }
        d = InfoLabel.trimmed(Substring(d), newlines: false).replacing("grey", with: "gray")
        return AtlasRole(rawValue: d)
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
