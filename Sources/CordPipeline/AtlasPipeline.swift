// Atlas folders ↔ Atlas values (read with CordIO, converted with CordAtlas) and `cordq atlas build`.
import CordAtlas
import CordCore
import CordIO
import CordMetrics
import CordPhantom
import Foundation

/// Loading and writing atlases (PAM50 or CordQ's own, both in the SCT folder layout).
public enum AtlasPipeline {
    /// Loads the atlas folder `dir`: CordIO reads the files, CordAtlas builds the `Atlas`.
    ///
    /// `regions` (names) limits the tract maps read to those the regions cover; nil reads all.
    /// Returns the atlas, the crop box applied to the folder's grid, and notes on skipped files.
    public static func load(_ dir: String, regions: [String]? = nil, options: AtlasLoadOptions = AtlasLoadOptions()) throws
        -> (atlas: Atlas, box: CropBox, notes: [String]) {
        var o = options
        if let regions { o.tractIDs = try Atlas.tractIDs(covering: regions, in: InfoLabel.read(dir + "/atlas/info_label.txt")) }
        let f = try AtlasFolder.load(dir, options: o)
        return (try Atlas(folder: f, source: dir), f.box, f.notes)
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
        try AtlasFolder.write(atlas.folderContents(title: d.name), to: output)
        return "\(d.name): \(atlas.grid.shortDescription), \(atlas.tracts.count) tract maps, levels \(Set(atlas.levels?.volume.data ?? []).subtracting([0]).sorted().map { VertebralLevelName.name(Int($0)) }.joined(separator: " ")) → \(output)"
    }
}
