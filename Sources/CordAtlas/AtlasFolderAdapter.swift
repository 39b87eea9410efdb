// Atlas folder contents (SCT layout, read and written by CordIO's `AtlasFolder`) ↔ `Atlas`.
import CordCore

// MARK: - Index → tracts and regions

extension Atlas {
    /// Tracts, combined regions and kinds as an atlas folder's `atlas/info_label.txt` lists them.
    ///
    /// Kinds come from the MAP clusters ("white matter", "gray matter", "CSF") when listed,
    /// else from the name ("WM …", "GM …", "… CSF …").
    public static func tracts(in index: InfoLabel) -> (tracts: [AtlasTract], combined: [CombinedRegion]) {
        var kinds: [Int: TissueKind] = [:]
        for e in index.entries {
            let n = e.name.lowercased()
            kinds[e.id] = n.hasPrefix("gm ") ? .greyMatter : n.contains("csf") ? .csf : .whiteMatter
        }
        for c in index.mapClusters {
            let n = c.name.lowercased()
            let kind: TissueKind? = n.contains("white") ? .whiteMatter
                : (n.contains("gray") || n.contains("grey")) ? .greyMatter : n.contains("csf") ? .csf : nil
            if let kind { for id in c.ids { kinds[id] = kind } }
        }
        return (index.entries.map { AtlasTract(id: $0.id, name: $0.name, kind: kinds[$0.id] ?? .whiteMatter) },
                index.combined.map { CombinedRegion(id: $0.id ?? 0, name: $0.name, tractIDs: $0.ids) })
    }

    /// Ids (as `index` numbers them) of the tract maps the regions named cover; [] for no regions.
    public static func tractIDs(covering regions: [String], in index: InfoLabel) throws -> Set<Int> {
        let (t, c) = tracts(in: index)
        var ids = Set<Int>()
        for r in regions { ids.formUnion(try region(named: r, tracts: t, combined: c).tractIndices.map { t[$0].id }) }
        return ids
    }
}

// MARK: - Folder contents → Atlas

extension Atlas {
    /// The atlas in folder contents as `AtlasFolder.load` read them; `source` names the folder.
    ///
    /// Combined regions are kept only when every tract they cover was read.
    public init(folder f: AtlasFolderContents, source: String) throws {
        let (allTracts, allCombined) = Atlas.tracts(in: f.atlasIndex)
        let loaded = f.tracts.compactMap { e in allTracts.first { $0.id == e.entry.id } }
        let ids = Set(loaded.map(\.id))
        var contrasts: [String: Volume<Float>] = [:]
        for (role, v) in f.templateMaps { if let name = role.contrast { contrasts[name] = v } }
        let levelNames = Dictionary(uniqueKeysWithValues: (1...24).map { (Int32($0), VertebralLevelName.name($0)) })
        try self.init(source: source, grid: f.grid, contrasts: contrasts, cord: f.templateMaps[.cord],
                      whiteMatter: f.templateMaps[.wm], greyMatter: f.templateMaps[.gm], csf: f.templateMaps[.csf],
                      tracts: loaded, tractMaps: f.tracts.map(\.map),
                      combined: allCombined.filter { $0.tractIDs.allSatisfy(ids.contains) },
                      levels: f.levels.map { LabelMap(volume: $0, names: levelNames) },
                      discs: f.discs.map { LabelMap(volume: $0) })
    }
}

// MARK: - Atlas → folder contents

extension Atlas {
    /// The atlas as folder contents with file names `STEM_….nii.gz` (as PAM50's), for `AtlasFolder.write`.
    ///
    /// The box is the whole grid; `title` heads both info_label.txt files.
    public func folderContents(stem: String = "CordQ", title: String) -> AtlasFolderContents {
        var entries: [InfoLabel.Entry] = []
        var maps: [AtlasRole: Volume<Float>] = [:]
        let described: [(AtlasRole, String, String, Volume<Float>?)] = [
            (.t1, "T1-weighted template", "t1", contrasts["T1w"]), (.t2, "T2-weighted template", "t2", contrasts["T2w"]),
            (.cord, "spinal cord mask (probabilistic)", "cord", cord),
            (.wm, "white matter mask (probabilistic)", "wm", whiteMatter),
            (.gm, "gray matter mask (probabilistic)", "gm", greyMatter),
            (.csf, "cerebrospinal fluid mask (probabilistic)", "csf", csf),
        ]
        for (n, (role, name, file, v)) in described.enumerated() {
            guard let v else { continue }
            entries.append(.init(id: n, name: name, file: "\(stem)_\(file).nii.gz")); maps[role] = v
        }
        if levels != nil { entries.append(.init(id: 7, name: "spinal cord mask with discrete vertebral levels", file: "\(stem)_levels.nii.gz")) }
        if discs != nil { entries.append(.init(id: 10, name: "point-wise intervertebral disc labels", file: "\(stem)_label_disc.nii.gz")) }
        let tractEntries = tracts.map { InfoLabel.Entry(id: $0.id, name: $0.name, file: "\(stem)_atlas_\($0.id < 10 ? "0" : "")\($0.id).nii.gz") }
        let clusters = TissueKind.allCases.compactMap { k -> InfoLabel.Group? in
            let ids = tracts.filter { $0.kind == k }.map(\.id)
            return ids.isEmpty ? nil : InfoLabel.Group(id: nil, name: k == .greyMatter ? "gray matter" : k.rawValue, ids: ids)
        }
        let atlasIndex = InfoLabel(title: "\(title): white/grey-matter tracts and CSF", entries: tractEntries,
                                   combined: combined.map { .init(id: $0.id, name: $0.name, ids: $0.tractIDs) }, mapClusters: clusters)
        return AtlasFolderContents(templateIndex: InfoLabel(title: "\(title): template", entries: entries), atlasIndex: atlasIndex,
                                   box: CropBox(grid: grid, i: 0..<grid.nx, j: 0..<grid.ny, k: 0..<grid.nz),
                                   templateMaps: maps, levels: levels?.volume, discs: discs?.volume,
                                   tracts: Array(zip(tractEntries, tractMaps)).map { (entry: $0.0, map: $0.1) })
    }
}
