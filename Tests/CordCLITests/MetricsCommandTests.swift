import ArgumentParser
import Foundation
import Testing
import CordTestSupport
@testable import CordCLI
@testable import CordAtlas
@testable import CordCore
@testable import CordMetrics
@testable import CordIO
@testable import CordPhantom

@Suite struct MetricsCommandTests {
    @Test func extractsPerLevelRowsFromAMapOnTheAtlasGridAndRefusesOtherGrids() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var d = AtlasDefinition.standard
        d.inPlaneSpacing = 1; d.sliceSpacing = 4; d.fieldOfView = 24; d.supersampling = 2
        let atlas = try PhantomAtlas.template(d)
        try AtlasFolder.write(atlas.folderContents(title: "test"), to: dir + "/atlas")
        // An "FA" map: 0.7 in white matter, 0.4 in grey matter, 0.1 elsewhere.
        var fa = Volume<Float>(grid: atlas.grid)
        let wm = try #require(atlas.whiteMatter), gm = try #require(atlas.greyMatter)
        for n in 0..<fa.data.count {
            let w: Float = wm.data[n], g: Float = gm.data[n]
            fa.data[n] = 0.7 * w + 0.4 * g + 0.1 * (1 - w - g)
        }
        try NIfTIFile.write(fa, to: dir + "/sub-01_fa.nii.gz")
        var cmd = try CordQCommand.parseAsRoot(["metrics", "extract", dir + "/sub-01_fa.nii.gz", "--atlas", dir + "/atlas",
                                               "--levels", "C3:C4", "--method", "ml", "--region", "white matter",
                                               "--region", "Dorsal Columns", "--metric", "fa", "-o", dir + "/fa.tsv"])
        try cmd.run()
        let t = try TSVTable.read(dir + "/fa.tsv")
        #expect(t.columns == LongFormTable.columns)
        let table = try LongFormTable.parse(columns: t.columns, rows: t.rows, source: "fa.tsv")
        #expect(table.rows.map(\.level) == ["C3", "C3", "C4", "C4"])
        #expect(table.rows.map(\.subject) == ["sub-01", "sub-01", "sub-01", "sub-01"])
        for r in table.rows { #expect(abs(r.value - 0.7) < 0.005, "\(r)") }  // tolerance 0.005: noise-free, exact mixing

        // sct_extract_metric's CSV beside the TSV: SCT's header (the survey of its outputs),
        // one line per row with the level's slice range (I→S), its number, the region's size
        // (Σ probability) and weighted SD; the value equals the TSV's.
        var sctRun = try CordQCommand.parseAsRoot(["metrics", "extract", dir + "/sub-01_fa.nii.gz", "--atlas", dir + "/atlas",
                                                  "--levels", "C3:C4", "--method", "wa", "--region", "white matter",
                                                  "--metric", "fa", "-o", dir + "/fa-wa.tsv", "--sct-csv", dir + "/fa-wa.csv"])
        try sctRun.run()
        let lines = try TextFile.read(dir + "/fa-wa.csv").split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        #expect(lines[0] == ["Timestamp", "SCT Version", "Filename", "Slice (I->S)", "VertLevel", "DistancePMJ", "Label", "Size [vox]", "WA()", "STD()"])
        let wa = try TSVTable.read(dir + "/fa-wa.tsv").records
        #expect(lines.count == 3 && wa.count == 2)
        for (line, ref) in zip(lines.dropFirst(), wa) {
            #expect(line[4] == (ref["level"] == "C3" ? "3" : "4") && line[6] == "white matter")
            #expect(abs((Double(line[8]) ?? .nan) - (Double(ref["value"] ?? "") ?? .nan)) < 1e-5)
            let size = Double(line[7]) ?? 0, sd = Double(line[9]) ?? -1
            #expect(size > 0 && sd >= 0 && sd < 0.3)   // values lie in 0.1…0.7
            #expect(line[3].split(separator: ":").count == 2)
        }
        // C3 lies above C4: its slices come later in I→S order.
        let c3 = Int(lines[1][3].split(separator: ":")[0]) ?? 0, c4 = Int(lines[2][3].split(separator: ":")[0]) ?? 0
        #expect(c3 > c4)

        // The same folder as older SCT wrote it (sct_testing_data's warped `label/template`
        // says "spinal cord", "white matter", "vertebral labeling"), and with descriptions that
        // name nothing (roles from the file names only): the same rows, to the byte.
        let index = try TextFile.read(dir + "/atlas/template/info_label.txt")
        let older = [("spinal cord mask (probabilistic)", "spinal cord"), ("white matter mask (probabilistic)", "white matter"),
                     ("gray matter mask (probabilistic)", "gray matter"), ("cerebrospinal fluid mask (probabilistic)", "cerebrospinal fluid"),
                     ("spinal cord mask with discrete vertebral levels", "vertebral labeling")]
        var oldIndex = index, anonymous = index
        for (new, old) in older {
            #expect(index.contains(", " + new + ","), "\(new)")
            oldIndex = oldIndex.replacingOccurrences(of: ", " + new + ",", with: ", " + old + ",")
        }
        for (n, (new, _)) in older.enumerated() { anonymous = anonymous.replacingOccurrences(of: ", " + new + ",", with: ", mask \(n),") }
        for (name, text) in [("old", oldIndex), ("anonymous", anonymous)] {
            let copy = dir + "/atlas-" + name
            try FileManager.default.copyItem(atPath: dir + "/atlas", toPath: copy)
            try TextFile.write(text, to: copy + "/template/info_label.txt")
            var again = try CordQCommand.parseAsRoot(["metrics", "extract", dir + "/sub-01_fa.nii.gz", "--atlas", copy,
                                                     "--levels", "C3:C4", "--method", "ml", "--region", "white matter",
                                                     "--region", "Dorsal Columns", "--metric", "fa", "-o", dir + "/fa-\(name).tsv"])
            try again.run()
            #expect(try TextFile.read(dir + "/fa-\(name).tsv") == (try TextFile.read(dir + "/fa.tsv")), "\(name) wording")
        }
        // Roles from file names: today's, older and other templates' stems; spinal levels are not vertebral levels.
        #expect(AtlasRole.of(file: "PAM50_small_levels.nii.gz") == .levels && AtlasRole.of(file: "PAM50_spinal_levels.nii.gz") == nil)
        #expect(AtlasRole.of(file: "MNI-Poly-AMU_wm.nii.gz") == .wm && AtlasRole.of(file: "PAM50_label_disc.nii.gz") == .discs)
        #expect(AtlasRole.of("vertebral labeling") == .levels && AtlasRole.of("spinal cord") == .cord && AtlasRole.of("spinal cord mask with discrete spinal levels") == nil)
        // A map on another grid is refused with both grids named; nothing is written.
        try NIfTIFile.write(Volume<Float>(grid: Grid(nx: 5, ny: 5, nz: 5, spacing: [1, 1, 1])), to: dir + "/other.nii.gz")
        var bad = try CordQCommand.parseAsRoot(["metrics", "extract", dir + "/other.nii.gz", "--atlas", dir + "/atlas",
                                               "--region", "white matter", "-o", dir + "/other.tsv"])
        #expect { try bad.run() } throws: { "\($0)".contains("not on the same voxel grid") }
        #expect(!FileManager.default.fileExists(atPath: dir + "/other.tsv"))
        #expect(throws: (any Error).self) {
            try CordQCommand.parseAsRoot(["metrics", "extract", "x.nii.gz", "--atlas", "a", "--region", "wm", "--method", "mean", "-o", "o.tsv"])
        }
    }
}
