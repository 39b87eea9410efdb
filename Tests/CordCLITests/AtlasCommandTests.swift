import ArgumentParser
import Foundation
import Testing
import CordTestSupport
@testable import CordCLI
@testable import CordAtlas
@testable import CordCore
@testable import CordIO
@testable import CordPhantom
@testable import CordPipeline

@Suite struct AtlasCommandTests {
    /// `cordq atlas build --definition` writes the same bytes as the library path (CordPhantom
    /// template → CordAtlas folder contents → CordIO writer), and `AtlasPipeline.load` gives
    /// what CordIO's reader and CordAtlas's adapter give.
    @Test func buildWritesTheLibrarysFolderAndLoadReadsItBack() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var d = AtlasDefinition.standard
        d.inPlaneSpacing = 1; d.sliceSpacing = 4; d.fieldOfView = 24; d.supersampling = 2
        try String(decoding: try JSONEncoder().encode(d), as: UTF8.self).write(toFile: dir + "/small.json", atomically: true, encoding: .utf8)
        var cmd = try CordQCommand.parseAsRoot(["atlas", "build", dir + "/cli", "--definition", dir + "/small.json"])
        try cmd.run()
        try AtlasFolder.write(try PhantomAtlas.template(d).folderContents(title: d.name), to: dir + "/lib")
        var files = 0
        for sub in ["template", "atlas"] {
            #expect(Support.files(in: dir + "/cli/" + sub) == Support.files(in: dir + "/lib/" + sub))
            for f in Support.files(in: dir + "/lib/" + sub) {
                let x = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/cli/\(sub)/\(f)"))
                let y = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/lib/\(sub)/\(f)"))
                #expect(x == y, "\(sub)/\(f) differs between the command and the library")  // tolerance: identical bytes
                files += 1
            }
        }
        #expect(files == 25)  // 8 template images + 15 tract maps + 2 info_label.txt

        var o = AtlasLoadOptions(); o.levels = [3, 4]
        let viaPipeline = try AtlasPipeline.load(dir + "/cli", regions: ["dorsal columns"], options: o)
        o.tractIDs = try Atlas.tractIDs(covering: ["dorsal columns"], in: InfoLabel.read(dir + "/cli/atlas/info_label.txt"))
        let folder = try AtlasFolder.load(dir + "/cli", options: o)
        let direct = try Atlas(folder: folder, source: dir + "/cli")
        #expect(viaPipeline.atlas.tracts == direct.tracts && viaPipeline.atlas.tracts.count == 2)
        #expect(viaPipeline.atlas.combined == direct.combined)
        #expect(viaPipeline.atlas.tractMaps.map(\.data) == direct.tractMaps.map(\.data))  // exact: same files, same crop
        #expect(viaPipeline.atlas.grid == direct.grid && viaPipeline.box.k == folder.box.k)
        #expect(viaPipeline.atlas.contrasts.keys.sorted() == ["T1w", "T2w"] && viaPipeline.notes.isEmpty)
    }
}
