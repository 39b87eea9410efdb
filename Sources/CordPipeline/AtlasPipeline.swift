// Atlas folders ↔ Atlas values, `cordq atlas build`, and `cordq metrics extract`.
import CordAtlas
import CordCore
import CordIO
import CordMetrics
import CordPhantom
import Foundation

/// Loading and writing atlases (PAM50 or CordQ's own, both in the SCT folder layout).
public enum AtlasPipeline {
    /// Tracts, combined regions and kinds as an atlas folder's `atlas/info_label.txt` lists
    /// them. Kinds come from the MAP clusters ("white matter", "gray matter", "CSF") when
    /// listed, else from the name ("WM …", "GM …", "… CSF …").
    public static func tracts(_ index: InfoLabel) -> (tracts: [AtlasTract], combined: [CombinedRegion]) {
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

    /// Loads the atlas folder `dir`. `regions` (names) limits the tract maps read to those
    /// the regions cover; nil reads all. Returns the atlas, the crop box applied to the
    /// folder's grid, and notes on skipped files.
    public static func load(_ dir: String, regions: [String]? = nil, options: AtlasLoadOptions = AtlasLoadOptions()) throws
        -> (atlas: Atlas, box: CropBox, notes: [String]) {
        var o = options
        if let regions {
            let index = try InfoLabel.read(dir + "/atlas/info_label.txt")
            let (t, c) = tracts(index)
            var ids = Set<Int>()
            for r in regions { ids.formUnion(try Atlas.region(named: r, tracts: t, combined: c).tractIndices.map { t[$0].id }) }
            o.tractIDs = ids
        }
        let f = try AtlasFolder.load(dir, options: o)
        let (allTracts, allCombined) = tracts(f.atlasIndex)
        let loaded = f.tracts.compactMap { e in allTracts.first { $0.id == e.entry.id } }
        let ids = Set(loaded.map(\.id))
        var contrasts: [String: Volume<Float>] = [:]
        for (role, v) in f.templateMaps { if let name = role.contrast { contrasts[name] = v } }
        let levelNames = Dictionary(uniqueKeysWithValues: (1...24).map { (Int32($0), VertebralLevelName.name($0)) })
        let atlas = try Atlas(source: dir, grid: f.grid, contrasts: contrasts, cord: f.templateMaps[.cord],
                              whiteMatter: f.templateMaps[.wm], greyMatter: f.templateMaps[.gm], csf: f.templateMaps[.csf],
                              tracts: loaded, tractMaps: f.tracts.map(\.map),
                              combined: allCombined.filter { $0.tractIDs.allSatisfy(ids.contains) },
                              levels: f.levels.map { LabelMap(volume: $0, names: levelNames) },
                              discs: f.discs.map { LabelMap(volume: $0) })
        return (atlas, f.box, f.notes)
    }

    /// The atlas as folder contents with file names `STEM_….nii.gz` (as PAM50's).
    public static func contents(of atlas: Atlas, stem: String = "CordQ", title: String) -> AtlasFolderContents {
        var entries: [InfoLabel.Entry] = []
        var maps: [AtlasFolder.Role: Volume<Float>] = [:]
        let described: [(AtlasFolder.Role, String, String, Volume<Float>?)] = [
            (.t1, "T1-weighted template", "t1", atlas.contrasts["T1w"]), (.t2, "T2-weighted template", "t2", atlas.contrasts["T2w"]),
            (.cord, "spinal cord mask (probabilistic)", "cord", atlas.cord),
            (.wm, "white matter mask (probabilistic)", "wm", atlas.whiteMatter),
            (.gm, "gray matter mask (probabilistic)", "gm", atlas.greyMatter),
            (.csf, "cerebrospinal fluid mask (probabilistic)", "csf", atlas.csf),
        ]
        for (n, (role, name, file, v)) in described.enumerated() {
            guard let v else { continue }
            entries.append(.init(id: n, name: name, file: "\(stem)_\(file).nii.gz")); maps[role] = v
        }
        if atlas.levels != nil { entries.append(.init(id: 7, name: "spinal cord mask with discrete vertebral levels", file: "\(stem)_levels.nii.gz")) }
        if atlas.discs != nil { entries.append(.init(id: 10, name: "point-wise intervertebral disc labels", file: "\(stem)_label_disc.nii.gz")) }
        let tractEntries = atlas.tracts.map { InfoLabel.Entry(id: $0.id, name: $0.name, file: "\(stem)_atlas_\($0.id < 10 ? "0" : "")\($0.id).nii.gz") }
        let clusters = TissueKind.allCases.compactMap { k -> InfoLabel.Group? in
            let ids = atlas.tracts.filter { $0.kind == k }.map(\.id)
            return ids.isEmpty ? nil : InfoLabel.Group(id: nil, name: k == .greyMatter ? "gray matter" : k.rawValue, ids: ids)
        }
        let atlasIndex = InfoLabel(title: "\(title): white/grey-matter tracts and CSF", entries: tractEntries,
                                   combined: atlas.combined.map { .init(id: $0.id, name: $0.name, ids: $0.tractIDs) }, mapClusters: clusters)
        return AtlasFolderContents(templateIndex: InfoLabel(title: "\(title): template", entries: entries), atlasIndex: atlasIndex,
                                   box: CropBox(grid: atlas.grid, i: 0..<atlas.grid.nx, j: 0..<atlas.grid.ny, k: 0..<atlas.grid.nz),
                                   templateMaps: maps, levels: atlas.levels?.volume, discs: atlas.discs?.volume,
                                   tracts: Array(zip(tractEntries, atlas.tractMaps)).map { (entry: $0.0, map: $0.1) })
    }

    /// Reads an atlas definition (JSON, the keys of `AtlasDefinition`).
    public static func definition(_ path: String) throws -> AtlasDefinition {
        let text = try TextFile.read(path)
        do { return try JSONDecoder().decode(AtlasDefinition.self, from: Data(text.utf8)) } catch {
            throw CordIOError.invalidContent(path: path, reason: "is not an atlas definition: \(error)")
        }
    }

    /// `cordq atlas build`: builds the template of `definitionPath` (or the built-in
    /// `AtlasDefinition.standard`) and writes it to the new folder `output`.
    public static func build(output: String, definitionPath: String? = nil) throws -> String {
        let d = try definitionPath.map(definition) ?? .standard
        let atlas = try PhantomAtlas.template(d)
        try AtlasFolder.write(contents(of: atlas, title: d.name), to: output)
        return "\(d.name): \(atlas.grid.shortDescription), \(atlas.tracts.count) tract maps, levels \(Set(atlas.levels?.volume.data ?? []).subtracting([0]).sorted().map { VertebralLevelName.name(Int($0)) }.joined(separator: " ")) → \(output)"
    }
}
