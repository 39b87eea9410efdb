// The atlas model: template grid, contrasts, tissue and tract probability maps, combined
// regions, vertebral levels and discs; regions are looked up by name.
import CordCore

/// The tissue kind of one atlas tract, used to group tracts into the clusters of the
/// maximum a posteriori estimator (Lévy et al. 2015 NeuroImage 119:262).
public enum TissueKind: String, Sendable, Codable, CaseIterable {
    case whiteMatter = "white matter", greyMatter = "grey matter", csf = "CSF"
}

/// One probabilistic map of the atlas (a white-matter tract, a grey-matter part or CSF).
public struct AtlasTract: Sendable, Equatable {
    /// The id the atlas's own files give it (PAM50: 0…36); only meaningful inside one atlas.
    public var id: Int
    /// Name as the atlas lists it, e.g. "WM left fasciculus gracilis".
    public var name: String
    public var kind: TissueKind
    public init(id: Int, name: String, kind: TissueKind) { self.id = id; self.name = name; self.kind = kind }
}

/// A named union of tracts (PAM50's "CombinedLabels", e.g. dorsal columns = ids 0:3).
public struct CombinedRegion: Sendable, Equatable {
    public var id: Int
    public var name: String
    public var tractIDs: [Int]
    public init(id: Int, name: String, tractIDs: [Int]) { self.id = id; self.name = name; self.tractIDs = tractIDs }
}

/// A region resolved against an atlas: its canonical name and the indices (into
/// `Atlas.tracts`) of the tracts it covers.
public struct ResolvedRegion: Sendable, Equatable {
    public var name: String
    public var tractIndices: [Int]
}

/// Errors of atlas look-ups, worded for the person running the tool.
public enum AtlasError: Error, Equatable, Sendable, CustomStringConvertible {
    case unknownRegion(name: String, known: [String])
    case unknownLevel(String)
    case missingPart(atlas: String, part: String)
    case inconsistent(atlas: String, detail: String)

    public var description: String {
        switch self {
        case let .unknownRegion(name, known):
            return "no region named \"\(name)\" in this atlas; known regions: \(known.joined(separator: ", "))"
        case let .unknownLevel(text):
            return "\"\(text)\" is not a vertebral level or range (use e.g. C3, C2:C5, 2:5, C2,C4, or T1)"
        case let .missingPart(atlas, part):
            return "\(atlas) has no \(part)"
        case let .inconsistent(atlas, detail):
            return "\(atlas): \(detail)"
        }
    }
}

/// A spinal cord atlas on one grid: the template and its probabilistic tract maps.
///
/// Probabilities are fractions of each voxel (0…1). In a complete atlas the tract maps
/// (white-matter tracts, grey-matter parts) and the CSF map sum to 1 in every voxel inside
/// the dural sac, as in PAM50 (De Leener et al. 2018 NeuroImage 165:170) and as the
/// maximum-likelihood estimator assumes (Lévy et al. 2015 NeuroImage 119:262).
/// A registered atlas is the same structure with every map resampled onto a subject's grid
/// (`transformed(grid:maps:labels:)`).
public struct Atlas: Sendable {
    /// Where the atlas came from (folder path or "CordQ atlas").
    public var source: String
    public var grid: Grid
    /// Template images by contrast name ("T1w", "T2w", …); may be empty (PAM50 here).
    public var contrasts: [String: Volume<Float>]
    /// Probability maps of cord, white matter, grey matter and CSF (0…1), when present.
    public var cord: Volume<Float>?, whiteMatter: Volume<Float>?, greyMatter: Volume<Float>?, csf: Volume<Float>?
    /// Tract probability maps, `tractMaps[n]` belonging to `tracts[n]`.
    public var tracts: [AtlasTract]
    public var tractMaps: [Volume<Float>]
    public var combined: [CombinedRegion]
    /// Vertebral level per cord voxel (1 = C1 … 7 = C7, 8 = T1, 9 = T2 …; 0 outside).
    public var levels: LabelMap?
    /// Disc labels: value n at the top of vertebra n (PAM50 convention: 3 = C2/C3 disc).
    public var discs: LabelMap?

    public init(source: String, grid: Grid, contrasts: [String: Volume<Float>] = [:],
                cord: Volume<Float>? = nil, whiteMatter: Volume<Float>? = nil, greyMatter: Volume<Float>? = nil,
                csf: Volume<Float>? = nil, tracts: [AtlasTract], tractMaps: [Volume<Float>],
                combined: [CombinedRegion] = [], levels: LabelMap? = nil, discs: LabelMap? = nil) throws {
        guard tracts.count == tractMaps.count else {
            throw AtlasError.inconsistent(atlas: source, detail: "\(tracts.count) tracts but \(tractMaps.count) maps")
        }
        self.source = source; self.grid = grid; self.contrasts = contrasts
        self.cord = cord; self.whiteMatter = whiteMatter; self.greyMatter = greyMatter; self.csf = csf
        self.tracts = tracts; self.tractMaps = tractMaps; self.combined = combined
        self.levels = levels; self.discs = discs
        var named: [(String, Grid)] = contrasts.map { ("\($0.key) template", $0.value.grid) }
        for (n, v) in [("cord map", cord), ("white-matter map", whiteMatter), ("grey-matter map", greyMatter), ("CSF map", csf)] {
            if let v { named.append((n, v.grid)) }
        }
        for (t, m) in zip(tracts, tractMaps) { named.append((t.name, m.grid)) }
        if let levels { named.append(("level map", levels.grid)) }
        if let discs { named.append(("disc labels", discs.grid)) }
        for (name, g) in named { try grid.requireCompatible(with: g, "\(source) template", name) }
    }

    // MARK: - Regions by name

    /// Spellings accepted for the same region: PAM50 writes "gray matter" and "spinal cord",
    /// CordQ tables write "grey matter" and "cord".
    static let synonyms: [[String]] = [
        ["grey matter", "gray matter", "gm"], ["white matter", "wm"], ["spinal cord", "cord"],
        ["csf", "csf contour", "cerebrospinal fluid"],
    ]

    static func normalise(_ s: String) -> String {
        s.lowercased().split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
    }

    /// Every region name the atlas answers to: tract names, then combined regions, then the
    /// tissue groups ("white matter", "grey matter", "spinal cord", "CSF") built from kinds.
    public var regionNames: [String] { Atlas.regionNames(tracts: tracts, combined: combined) }

    /// `regionNames` for a list of tracts and combined regions (before any map is loaded).
    public static func regionNames(tracts: [AtlasTract], combined: [CombinedRegion]) -> [String] {
        var out = tracts.map(\.name) + combined.map(\.name)
        for g in ["white matter", "grey matter", "spinal cord", "CSF"] where !out.contains(where: { sameName($0, g) }) {
            if !kindGroup(g, tracts).isEmpty { out.append(g) }
        }
        return out
    }

    static func sameName(_ a: String, _ b: String) -> Bool {
        let x = normalise(a), y = normalise(b)
        if x == y { return true }
        return synonyms.contains { $0.contains(x) && $0.contains(y) }
    }

    private static func kindGroup(_ name: String, _ tracts: [AtlasTract]) -> [Int] {
        let kinds: Set<TissueKind>
        if sameName(name, "white matter") { kinds = [.whiteMatter] }
        else if sameName(name, "grey matter") { kinds = [.greyMatter] }
        else if sameName(name, "spinal cord") { kinds = [.whiteMatter, .greyMatter] }
        else if sameName(name, "csf") { kinds = [.csf] }
        else { return [] }
        return tracts.indices.filter { kinds.contains(tracts[$0].kind) }
    }

    /// Resolves a region name (case-insensitive; PAM50 and CordQ spellings): a tract, a
    /// combined region, or a tissue group. Throws `AtlasError.unknownRegion` listing the
    /// known names.
    public func region(named name: String) throws -> ResolvedRegion {
        try Atlas.region(named: name, tracts: tracts, combined: combined)
    }

    /// `region(named:)` against a list of tracts and combined regions.
    public static func region(named name: String, tracts: [AtlasTract], combined: [CombinedRegion]) throws -> ResolvedRegion {
        if let n = tracts.firstIndex(where: { sameName($0.name, name) }) {
            return ResolvedRegion(name: tracts[n].name, tractIndices: [n])
        }
        if let c = combined.first(where: { sameName($0.name, name) }) {
            let indices = c.tractIDs.compactMap { id in tracts.firstIndex { $0.id == id } }
            return ResolvedRegion(name: c.name, tractIndices: indices)
        }
        let group = kindGroup(name, tracts)
        if !group.isEmpty { return ResolvedRegion(name: normalise(name), tractIndices: group) }
        throw AtlasError.unknownRegion(name: name, known: regionNames(tracts: tracts, combined: combined))
    }

    /// Σ of the tract maps (and CSF when it is a tract) per voxel: 1 inside the dural sac.
    public func tractSum() -> Volume<Float> {
        var sum = Volume<Float>(grid: grid)
        for m in tractMaps { for i in 0..<sum.data.count { sum.data[i] += m.data[i] } }
        return sum
    }
}
