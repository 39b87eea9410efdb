import Foundation
import Testing
import CordTestSupport
@testable import CordAtlas
@testable import CordCore
@testable import CordIO
@testable import CordPhantom

/// Reads the atlas folder `dir` with CordIO and converts it with CordAtlas, as `AtlasPipeline.load`
/// does: `regions` (names) limits the tract maps read; nil reads all.
func loadAtlas(_ dir: String, regions: [String]? = nil, options: AtlasLoadOptions = AtlasLoadOptions()) throws
    -> (atlas: Atlas, box: CropBox, notes: [String]) {
    var o = options
    if let regions { o.tractIDs = try Atlas.tractIDs(covering: regions, in: InfoLabel.read(dir + "/atlas/info_label.txt")) }
    let f = try AtlasFolder.load(dir, options: o)
    return (try Atlas(folder: f, source: dir), f.box, f.notes)
}

/// The atlas definition in the JSON file `path` (the keys of `AtlasDefinition`).
func definition(_ path: String) throws -> AtlasDefinition {
    try JSONDecoder().decode(AtlasDefinition.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
}

/// Builds the template of the definition in `definitionPath` into the new folder `output`,
/// as `cordq atlas build` does (CordPhantom template → CordAtlas contents → CordIO writer).
func buildAtlas(output: String, definitionPath: String) throws {
    let d = try definition(definitionPath)
    try AtlasFolder.write(try PhantomAtlas.template(d).folderContents(title: d.name), to: output)
}

/// A small, quick definition (1 mm pixels, 4 mm slices) for tests; the real one is
/// `AtlasDefinition.standard`.
let smallDefinition = AtlasDefinition(inPlaneSpacing: 1.0, sliceSpacing: 4.0, fieldOfView: 24, smoothingSigma: 0.25,
                                      supersampling: 2, contrasts: AtlasDefinition.standard.contrasts)

@Suite struct InfoLabelTests {
    static let sample = """
    # White matter atlas
    #
    # Keyword=IndivLabels (Please DO NOT change this line)
    # ID, name, file
    0, WM left fasciculus gracilis, a_00.nii.gz
    1, WM right fasciculus gracilis, a_01.nii.gz
    2, WM left spinal lemniscus (spinothalamic, spinoreticular), a_02.nii.gz
    3, GM left dorsal horn, a_03.nii.gz
    4, CSF contour, a_04.nii.gz

    # Keyword=CombinedLabels (Please DO NOT change this line)
    50, dorsal columns, 0:1
    51, white matter, 0:2
    52, gray matter, 3

    # Keyword=MAPLabels (Please DO NOT change this line)
    white matter, 0:2
    gray matter, 3
    CSF, 4
    """

    @Test func parsesIdsNamesFilesGroupsAndClusters() throws {
        let l = try InfoLabel.parse(InfoLabelTests.sample, path: "info_label.txt")
        #expect(l.entries.count == 5)
        #expect(l.entries[2].name == "WM left spinal lemniscus (spinothalamic, spinoreticular)")  // commas inside a name
        #expect(l.entries[2].file == "a_02.nii.gz")
        #expect(l.combined.map(\.ids) == [[0, 1], [0, 1, 2], [3]])
        #expect(l.mapClusters.map(\.name) == ["white matter", "gray matter", "CSF"])
        // Round trip through the writer.
        #expect(try InfoLabel.parse(l.text, path: "x") .entries == l.entries)
        let (tracts, combined) = Atlas.tracts(in: l)
        #expect(tracts.map(\.kind) == [.whiteMatter, .whiteMatter, .whiteMatter, .greyMatter, .csf])
        #expect(try Atlas.region(named: "Dorsal Columns", tracts: tracts, combined: combined).tractIndices == [0, 1])
        #expect(try Atlas.region(named: "grey matter", tracts: tracts, combined: combined).tractIndices == [3])
    }

    /// Titles and fields lose surrounding tabs and Unicode spaces (U+200B included), as
    /// Foundation's `trimmingCharacters` did before the parser moved to CordCore.
    @Test func fieldsAreTrimmedOfTabsAndUnicodeSpaces() throws {
        for ws in ["\t", " ", "\u{00A0}", "\u{2003}", "\u{200B}", "\u{3000}"] {
            let text = "#\(ws)Title\(ws)\n# Keyword=IndivLabels\n\(ws)0\(ws),\(ws)WM x\(ws),\(ws)f.nii.gz\(ws)\n"
            let l = try InfoLabel.parse(text, path: "i.txt")
            #expect(l.title == "Title", "U+\(ws.unicodeScalars.map { String($0.value, radix: 16) })")
            #expect(l.entries == [InfoLabel.Entry(id: 0, name: "WM x", file: "f.nii.gz")], "U+\(ws.unicodeScalars.map { String($0.value, radix: 16) })")
            #expect(l.title == text.split(separator: "\n")[0].dropFirst().trimmingCharacters(in: .whitespaces))  // Foundation's answer
        }
    }

    /// A corrupt file read from disk is a CordIOError naming the file and the line (CordIO's
    /// reader wraps the CordCore parser's error).
    @Test func readingACorruptFileIsAFileContentError() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let bad = InfoLabelTests.sample.replacingOccurrences(of: "51, white matter, 0:2", with: "51, white matter, 0-2")
        try bad.write(toFile: dir + "/info_label.txt", atomically: true, encoding: .utf8)
        #expect { try InfoLabel.read(dir + "/info_label.txt") } throws: { e in
            guard case let .invalidContent(path, reason)? = e as? CordIOError else { return false }
            return path == dir + "/info_label.txt" && reason.hasPrefix("line 13")
        }
    }

    @Test func corruptLinesNameTheLine() throws {
        let bad = InfoLabelTests.sample.replacingOccurrences(of: "51, white matter, 0:2", with: "51, white matter, 0-2")
        #expect { try InfoLabel.parse(bad, path: "info_label.txt") } throws: { "\($0)".contains("line 13") && "\($0)".contains("0-2") }
        #expect { try InfoLabel.parse("0, x, y.nii.gz\n", path: "i.txt") } throws: { "\($0)".contains("before any Keyword") }
        #expect(throws: CordIOError.notFound(path: "/nonexistent/info_label.txt")) { try InfoLabel.read("/nonexistent/info_label.txt") }
    }
}

@Suite struct AtlasBuildTests {
    @Test func buildIsDeterministicSumsToOneAndLoadsBack() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let d = dir + "/small.json"
        try String(decoding: try JSONEncoder().encode(smallDefinition), as: UTF8.self).write(toFile: d, atomically: true, encoding: .utf8)
        try buildAtlas(output: dir + "/a", definitionPath: d)
        try buildAtlas(output: dir + "/b", definitionPath: d)
        var files = 0
        for sub in ["template", "atlas"] {
            for f in Support.files(in: dir + "/a/" + sub) {
                let x = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/a/\(sub)/\(f)"))
                let y = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/b/\(sub)/\(f)"))
                #expect(x == y, "\(sub)/\(f) differs between two builds")  // tolerance: identical bytes
                files += 1
            }
        }
        #expect(files == 25)  // 8 template images + 15 tract maps + 2 info_label.txt

        let (atlas, _, notes) = try loadAtlas(dir + "/a", options: { var o = AtlasLoadOptions(); o.cropToCord = false; return o }())
        #expect(notes.isEmpty)
        #expect(atlas.contrasts.keys.sorted() == ["T1w", "T2w"])
        // Tracts + CSF sum to the dural-sac fraction (1 − tissue outside the sac, from the
        // phantom's composition on the same grid): 1 inside the sac.
        let truth = try PhantomSubject(PhantomAtlas.templateParameters(smallDefinition), on: atlas.grid).composition
        let outside: [TissueClass] = [.background, .vertebralBody, .intervertebralDisc]
        let sum = atlas.tractSum()
        var worst = 0.0, inside = 0
        for n in 0..<sum.data.count {
            let sac = 1 - outside.reduce(0.0) { $0 + Double(truth.fraction(of: $1, at: n)) }
            worst = max(worst, abs(Double(sum.data[n]) - sac))
            if sac == 1 { inside += 1 }
        }
        print("atlas sum-to-one: max |Σ tracts+CSF − sac fraction| = \(worst) over \(sum.data.count) voxels (\(inside) fully inside the sac)")
        #expect(inside > 1000)
        #expect(worst < 1e-4)  // tolerance: 1e-4
        // Soft edges: some voxels are neither 0 nor 1.
        #expect(atlas.tractMaps[2].data.contains { $0 > 0.05 && $0 < 0.95 })
        // Levels C1…T2 (1…9) and discs 1…10.
        let levels = Set(try #require(atlas.levels).volume.data).subtracting([0]).sorted()
        #expect(levels == Array(1...9).map(Int32.init))
        #expect(Set(try #require(atlas.discs).volume.data).subtracting([0]).sorted() == Array(1...10).map(Int32.init))
        // Regions by name, with CordQ and PAM50 spellings.
        #expect(try atlas.region(named: "gray matter").tractIndices.count == 6)
        #expect(try atlas.region(named: "Dorsal columns").tractIndices.count == 2)
        #expect(throws: AtlasError.self) { try atlas.region(named: "fasciculus gracilis") }
    }

    @Test func committedDefinitionIsTheStandardOne() throws {
        let d = try definition(Support.packageRoot + "/atlas/definition.json")
        #expect(d == AtlasDefinition.standard)
        let committed = Support.packageRoot + "/atlas/CordQ"
        let (atlas, _, _) = try loadAtlas(committed, regions: ["lateral corticospinal tracts"])
        #expect(atlas.tracts.map(\.name) == ["WM left lateral corticospinal tract", "WM right lateral corticospinal tract"])
    }

    @Test func missingFilesGiveClearErrors() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        try AtlasFolder.write(try PhantomAtlas.template(smallDefinition).folderContents(title: "t"), to: dir + "/a")
        try FileManager.default.removeItem(atPath: dir + "/a/atlas/CordQ_atlas_03.nii.gz")
        #expect { try loadAtlas(dir + "/a") } throws: { "\($0)".contains("CordQ_atlas_03.nii.gz") && "\($0)".contains("absent") }
        try FileManager.default.removeItem(atPath: dir + "/a/template/info_label.txt")
        #expect { try loadAtlas(dir + "/a") } throws: { "\($0)".contains("template/info_label.txt") }
    }
}

@Suite(.enabled(if: Support.hasSharedData, "needs ../shared/data/PAM50"))
struct PAM50RealDataTests {
    @Test func pam50LoadsCroppedToC3WithDorsalColumnsByName() throws {
        var o = AtlasLoadOptions(); o.levels = [3]
        let dir = Support.sharedData + "/PAM50"
        let (atlas, box, notes) = try loadAtlas(dir, regions: ["dorsal columns"], options: o)
        #expect(box.source.nx == 141 && box.source.nz == 991)
        #expect(atlas.tracts.map(\.id) == [0, 1, 2, 3])
        #expect(atlas.tracts.map(\.name) == ["WM left fasciculus gracilis", "WM right fasciculus gracilis",
                                             "WM left fasciculus cuneatus", "WM right fasciculus cuneatus"])
        #expect(atlas.combined.map(\.name) == ["dorsal columns"])
        #expect(notes.contains { $0.contains("PAM50_t2.nii.gz") })  // contrasts listed but not shipped
        let levels = Set(try #require(atlas.levels).volume.data).subtracting([0])
        #expect(levels.contains(3) && levels.allSatisfy { $0 >= 1 })
        #expect(box.k.count == 37 + 4)  // C3 = 37 slices of PAM50_levels + 2 margin slices each side
        // The grid keeps world positions: the crop's first voxel is the full grid's (i0, j0, k0).
        let w = box.source.world(Double(box.i.lowerBound), Double(box.j.lowerBound), Double(box.k.lowerBound))
        #expect(length(atlas.grid.world(0, 0, 0) - w) < 1e-9)
        // Whole-atlas region names resolve from the index alone.
        let index = try InfoLabel.read(dir + "/atlas/info_label.txt")
        let (tracts, combined) = Atlas.tracts(in: index)
        #expect(tracts.count == 37 && tracts[36].kind == .csf && tracts[30].kind == .greyMatter)
        #expect(try Atlas.region(named: "white matter", tracts: tracts, combined: combined).tractIndices == Array(0...29))
        #expect(try Atlas.region(named: "grey matter", tracts: tracts, combined: combined).tractIndices == Array(30...35))
        #expect(try Atlas.region(named: "lateral funiculi", tracts: tracts, combined: combined).tractIndices == Array(4...13))
    }
}
