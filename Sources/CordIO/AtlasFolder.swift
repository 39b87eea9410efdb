// Reading atlas folders in the Spinal Cord Toolbox layout (PAM50 and CordQ's own): template/
// and atlas/, each indexed by an info_label.txt. The values read (`AtlasFolderContents`,
// `AtlasLoadOptions`, `AtlasRole`, `InfoLabel`) are CordCore's; writing is AtlasFolderWrite.swift.
import CordCore
import Foundation

/// An atlas folder on disk: `template/info_label.txt` (template images by description)
/// and `atlas/info_label.txt` (tract maps, combined labels, MAP clusters).
public enum AtlasFolder {
    /// Template roles (`AtlasRole`, kept here under the name the folder code uses).
    public typealias Role = AtlasRole

    /// Loads the atlas in `dir` (PAM50 or a folder written by `write`). Tract files and the
    /// spinal cord mask must exist; other template files listed but absent (PAM50 here has
    /// no T1/T2 contrasts) are skipped and named in `notes`.
    public static func load(_ dir: String, options: AtlasLoadOptions = AtlasLoadOptions()) throws -> AtlasFolderContents {
        guard TextFile.isDirectory(dir) else { throw CordIOError.notFound(path: dir) }
        let templateIndex = try InfoLabel.read(dir + "/template/info_label.txt")
        let atlasIndex = try InfoLabel.read(dir + "/atlas/info_label.txt")
        var notes: [String] = []
        var roles: [Role: String] = [:]
        // Roles by description (today's and older SCT wording), then by file name for the
        // entries whose description names none (any SCT label folder, any PAM50 version).
        let byDescription = templateIndex.entries.compactMap { e in Role.of(e.name).map { (e, $0) } }
        let described = Set(byDescription.map(\.1))
        let byFile = templateIndex.entries.filter { Role.of($0.name) == nil }.compactMap { e in
            Role.of(file: e.file).flatMap { described.contains($0) ? nil : (e, $0) }
        }
        for (e, r) in byDescription + byFile {
            let path = dir + "/template/" + e.file
            if TextFile.exists(path) { roles[r] = path } else { notes.append("template lists \(e.file) (\(e.name)) but the file is absent") }
        }
        guard let cordPath = roles[.cord] else {
            throw CordIOError.invalidContent(path: dir + "/template/info_label.txt", reason: "no \"spinal cord mask\" file is listed or present")
        }
        // MARK: Crop box from the cord, CSF and level maps.
        let (cordFull, _) = try NIfTIFile.read(cordPath)
        var levelsFull: Volume<Int32>?
        if let p = roles[.levels] { levelsFull = try NIfTIFile.readLabels(p).0 }
        let g = cordFull.grid
        var kRange = 0..<g.nz
        if let wanted = options.levels {
            guard let lv = levelsFull else {
                throw CordIOError.invalidContent(path: dir + "/template/info_label.txt", reason: "levels were requested but no vertebral level map is listed or present")
            }
            try g.requireCompatible(with: lv.grid, cordPath, "level map")
            let set = Set(wanted.map(Int32.init))
            var lo = Int.max, hi = -1
            for n in 0..<lv.data.count where set.contains(lv.data[n]) { let k = n / (g.nx * g.ny); lo = min(lo, k); hi = max(hi, k) }
            guard hi >= 0 else {
                let present = Set(lv.data).subtracting([0]).sorted().map(String.init)
                throw CordIOError.invalidContent(path: roles[.levels] ?? dir, reason: "has none of the level values \(wanted.map(String.init).joined(separator: ", ")); present: \(present.joined(separator: ", "))")
            }
            kRange = max(0, lo - options.marginSlices)..<min(g.nz, hi + 1 + options.marginSlices)
        }
        var iRange = 0..<g.nx, jRange = 0..<g.ny
        if options.cropToCord {
            var csfFull: Volume<Float>?
            if let p = roles[.csf] { csfFull = try NIfTIFile.read(p).0 }
            var lo = SIMD2(Int.max, Int.max), hi = SIMD2(-1, -1)
            for k in kRange { for j in 0..<g.ny { for i in 0..<g.nx {
                let n = g.index(i, j, k)
                if cordFull.data[n] > 0 || (csfFull?.data[n] ?? 0) > 0 { lo = pointwiseMin(lo, SIMD2(i, j)); hi = pointwiseMax(hi, SIMD2(i, j)) }
            } } }
            if hi.x >= 0 {
                let m = options.marginVoxels
                iRange = (lo.x - m)..<(hi.x + 1 + m); jRange = (lo.y - m)..<(hi.y + 1 + m)
            }
        }
        let box = CropBox(grid: g, i: iRange, j: jRange, k: kRange)
        func readMap(_ path: String) throws -> Volume<Float> {
            let (v, _) = try NIfTIFile.read(path)
            try g.requireCompatible(with: v.grid, cordPath, path)
            try v.requireFinite(path)
            return box.apply(v)
        }
        func readLabels(_ path: String) throws -> Volume<Int32> {
            let (v, _) = try NIfTIFile.readLabels(path)
            try g.requireCompatible(with: v.grid, cordPath, path)
            return box.apply(v)
        }
        // MARK: Tracts
        let ids = Set(atlasIndex.entries.map(\.id))
        for c in atlasIndex.combined + atlasIndex.mapClusters {
            for id in c.ids where !ids.contains(id) {
                throw CordIOError.invalidContent(path: dir + "/atlas/info_label.txt", reason: "group \"\(c.name)\" refers to id \(id), which no label line defines")
            }
        }
        var tracts: [(entry: InfoLabel.Entry, map: Volume<Float>)] = []
        for e in atlasIndex.entries where options.tractIDs?.contains(e.id) ?? true {
            let path = dir + "/atlas/" + e.file
            guard TextFile.exists(path) else {
                throw CordIOError.invalidContent(path: dir + "/atlas/info_label.txt", reason: "lists \(e.file) (\(e.name)) but the file is absent")
            }
            tracts.append((e, try readMap(path)))
        }
        // MARK: Template
        var maps: [Role: Volume<Float>] = [.cord: box.apply(cordFull)]
        for r in [Role.wm, .gm, .csf] { if let p = roles[r] { maps[r] = try readMap(p) } }
        if options.contrasts { for r in [Role.t1, .t2, .t2s] { if let p = roles[r] { maps[r] = try readMap(p) } } }
        return AtlasFolderContents(templateIndex: templateIndex, atlasIndex: atlasIndex, box: box, templateMaps: maps,
                                   levels: levelsFull.map(box.apply), discs: try roles[.discs].map(readLabels),
                                   tracts: tracts, notes: notes)
    }
}
