// Writing an atlas folder in the Spinal Cord Toolbox layout, all files or none.
import CordCore

extension AtlasFolder {
    /// Writes `contents` to the new folder `dir`: `template/` and `atlas/` with their
    /// info_label.txt and every volume under the file name its index gives (float32 maps,
    /// int16 labels, gzip-compressed). The folder appears complete or not at all.
    public static func write(_ contents: AtlasFolderContents, to dir: String) throws {
        let out = try OutputFolder(dir)
        do {
            func file(_ index: InfoLabel, _ role: Role, _ folder: String) throws -> String? {
                guard let e = index.entries.first(where: { Role.of($0.name) == role }) else { return nil }
                return try out.path(folder + "/" + e.file)
            }
            for (role, map) in contents.templateMaps.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                guard let p = try file(contents.templateIndex, role, "template") else {
                    throw CordIOError.writeFailed(path: dir, reason: "template/info_label.txt lists no file for the \(role.rawValue)")
                }
                try NIfTIFile.write(map, to: p, datatype: .float32, description: "cordq atlas: \(role.rawValue)")
            }
            for (role, labels) in [(Role.levels, contents.levels), (.discs, contents.discs)] {
                guard let labels else { continue }
                guard let p = try file(contents.templateIndex, role, "template") else {
                    throw CordIOError.writeFailed(path: dir, reason: "template/info_label.txt lists no file for the \(role.rawValue)")
                }
                try NIfTIFile.write(labels, to: p, datatype: .int16, description: "cordq atlas: \(role.rawValue)")
            }
            for t in contents.tracts {
                try NIfTIFile.write(t.map, to: try out.path("atlas/" + t.entry.file), datatype: .float32, description: "cordq atlas: \(t.entry.name)")
            }
            try TextFile.write(contents.templateIndex.text, to: try out.path("template/info_label.txt"))
            try TextFile.write(contents.atlasIndex.text, to: try out.path("atlas/info_label.txt"))
            try out.commit()
        } catch {
            out.discard()
            throw error
        }
    }
}
