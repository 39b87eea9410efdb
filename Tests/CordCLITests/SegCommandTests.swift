import ArgumentParser
import Foundation
import Testing
import CordTestSupport
@testable import CordCLI
@testable import CordCore
@testable import CordIO
@testable import CordPhantom
@testable import CordPipeline

@Suite struct SegCommandTests {
    /// A small C4–C5 phantom with a level image, written as files.
    static func writePhantom(_ dir: String) throws -> (image: String, levels: String, cord: String) {
        let g = PhantomGrid.axial(inPlane: 0.5, sliceThickness: 2, fieldOfView: 22, inferior: -20, superior: 16, centre: [0, 3])
        let s = try PhantomSubject(PhantomParameters(), on: g)
        try NIfTIFile.write(s.t2w, to: dir + "/t2w.nii.gz")
        try NIfTIFile.write(s.levels.volume, to: dir + "/levels.nii.gz", datatype: .int16)
        try NIfTIFile.write(s.cordMask, to: dir + "/truth.nii.gz", datatype: .uint8)
        return (dir + "/t2w.nii.gz", dir + "/levels.nii.gz", dir + "/truth.nii.gz")
    }

    @Test func segmentThenMeasureFromFiles() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let f = try Self.writePhantom(dir)
        var cmd = try CordQCommand.parseAsRoot(["seg", "cord", f.image, dir + "/seg.nii.gz", "--contrast", "t2",
                                                "--centerline-out", dir + "/ctl.nii.gz"])
        try cmd.run()
        let (seg, h) = try NIfTIFile.read(dir + "/seg.nii.gz")
        #expect(h.datatype == .uint8)
        #expect(Support.files(in: dir).contains("seg_soft.nii.gz") && Support.files(in: dir).contains("ctl.nii.gz"))
        let (truth, _) = try NIfTIFile.read(f.cord)
        var both = 0, total = 0
        for n in 0..<seg.data.count { if seg.data[n] > 0 && truth.data[n] > 0 { both += 1 }; total += Int(seg.data[n] > 0 ? 1 : 0) + Int(truth.data[n] > 0 ? 1 : 0) }
        #expect(2 * Double(both) / Double(total) >= 0.95)
        // An external segmentation (here the truth mask) is accepted wherever a segmentation is.
        for input in [dir + "/seg_soft.nii.gz", f.cord] {
            var m = try CordQCommand.parseAsRoot(["seg", "morphometry", input, "--levels", f.levels, "--per-level", "-o", dir + "/levels.tsv"])
            try m.run()
            let t = try TSVTable.read(dir + "/levels.tsv")
            #expect(t.columns.contains("csa_mm2") && t.columns.contains("diameter_ap_mm"))
            #expect(t.records.contains { $0["level"] == "C4" })
        }
        // The same per-level table in sct_process_segmentation's CSV layout: SCT's columns,
        // levels as numbers ordered inferior → superior with their slice ranges, MEAN(area) the
        // CordQ CSA, SUM(length) the level's total length.
        try FileManager.default.removeItem(atPath: dir + "/levels.tsv")
        var sct = try CordQCommand.parseAsRoot(["seg", "morphometry", f.cord, "--levels", f.levels, "--per-level", "-o", dir + "/levels.tsv",
                                                "--sct-csv", dir + "/levels.csv"])
        try sct.run()
        let csvLines = try TextFile.read(dir + "/levels.csv").split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        #expect(csvLines[0] == SCTTables.processSegmentationColumns)
        #expect(csvLines[0].prefix(8) == ["Timestamp", "SCT Version", "Filename", "Slice (I->S)", "VertLevel", "DistancePMJ", "MEAN(area)", "STD(area)"])
        let tsv = try TSVTable.read(dir + "/levels.tsv").records
        #expect(csvLines.count - 1 == tsv.count)
        var previousFirst = -1
        for line in csvLines.dropFirst() {
            let range = line[3].split(separator: ":").compactMap { Int($0) }
            #expect(range.count == 2 && range[0] <= range[1] && range[0] > previousFirst, "\(line[3])")
            previousFirst = range.first ?? previousFirst
            let level = try #require(Int(line[4]))
            let name = level <= 7 ? "C\(level)" : "T\(level - 7)"
            let ref = try #require(tsv.first { $0["level"] == name }, "\(name)")
            #expect(abs((Double(line[6]) ?? .nan) - (Double(ref["csa_mm2"] ?? "") ?? .nan)) < 0.001)   // TSV rounds to 3 decimals
            #expect(Int(ref["n_slices"] ?? "") == range[1] - range[0] + 1)
            #expect(line[5] == "" && line[1].hasPrefix("cordq "))
        }
        var c = try CordQCommand.parseAsRoot(["seg", "compression", dir + "/seg_soft.nii.gz", "--levels", f.levels, "--level", "C4", "-o", dir + "/c.tsv"])
        try c.run()
        let row = try #require(try TSVTable.read(dir + "/c.tsv").records.first)
        let mscc = try #require(Double(row["mscc_percent"] ?? ""))
        #expect(abs(mscc) < 10)  // healthy phantom: MSCC near 0 (C4 vs the C3/C5 neighbours)
        #expect(row["healthy_csa_mm2"] == "77.350")
    }

    /// `seg gm` on a clinical-contrast T2*w phantom with the committed atlas and the level
    /// image, then `seg morphometry --gm`: GM Dice with the truth ≥ 0.85 (measured in
    /// CordRegistrationTests at 0.88–0.96 per level) and gm_csa_mm2 + wm_csa_mm2 = csa_mm2 on every
    /// row (to the table's 0.001 mm² rounding, tolerance 0.002), GM area 8–20 mm² per slice (truth
    /// at C3–C5 14.6–15.6 mm²); a contrast without visible GM exits non-zero writing nothing.
    @Test func greyMatterThenGreyWhiteAreasFromFiles() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let g = PhantomGrid.axial(inPlane: 0.5, sliceThickness: 5, fieldOfView: 22, inferior: -20, superior: 16, centre: [0, 3])
        let s = try PhantomSubject(PhantomParameters(), on: g)
        try NIfTIFile.write(s.image(.t2starwClinical, snr: 15, seed: 4), to: dir + "/t2s.nii.gz")
        try NIfTIFile.write(s.levels.volume, to: dir + "/levels.nii.gz", datatype: .int16)
        var seg = try CordQCommand.parseAsRoot(["seg", "cord", dir + "/t2s.nii.gz", dir + "/cord.nii.gz", "--contrast", "t2s"])
        try seg.run()
        var gm = try CordQCommand.parseAsRoot(["seg", "gm", dir + "/t2s.nii.gz", dir + "/cord_soft.nii.gz", dir + "/gm.nii.gz",
                                               "--contrast", "t2s", "--atlas", Support.packageRoot + "/atlas/CordQ", "--levels", dir + "/levels.nii.gz"])
        try gm.run()
        let (mask, _) = try NIfTIFile.read(dir + "/gm.nii.gz")
        var both = 0, total = 0
        for n in 0..<mask.data.count {
            let a = mask.data[n] > 0, b = s.gmMask.data[n] > 0
            if a && b { both += 1 }
            total += (a ? 1 : 0) + (b ? 1 : 0)
        }
        let dice = 2 * Double(both) / Double(max(total, 1))
        #expect(dice >= 0.85, "GM Dice \(dice)")
        var m = try CordQCommand.parseAsRoot(["seg", "morphometry", dir + "/cord_soft.nii.gz", "--levels", dir + "/levels.nii.gz",
                                              "--gm", dir + "/gm_soft.nii.gz", "-o", dir + "/slices.tsv"])
        try m.run()
        let t = try TSVTable.read(dir + "/slices.tsv")
        #expect(t.columns.suffix(3) == ["gm_csa_mm2", "wm_csa_mm2", "gm_source"])
        #expect(!t.records.isEmpty)
        for r in t.records {
            let csa = try #require(Double(r["csa_mm2"] ?? "")), gmA = try #require(Double(r["gm_csa_mm2"] ?? ""))
            let wmA = try #require(Double(r["wm_csa_mm2"] ?? ""))
            #expect(abs(gmA + wmA - csa) <= 0.002, "slice \(r["slice"] ?? ""): \(gmA) + \(wmA) vs \(csa)")
            #expect(r["gm_source"] == "segmentation")
            #expect(gmA > 8 && gmA < 20, "GM area \(gmA) mm² plausible for C3–C5")
        }
        var bad = try CordQCommand.parseAsRoot(["seg", "gm", dir + "/t2s.nii.gz", dir + "/cord_soft.nii.gz", dir + "/x.nii.gz", "--contrast", "t2"])
        #expect(throws: ExitCode.self) { try bad.run() }
        #expect(!Support.files(in: dir).contains("x.nii.gz"))
        #expect(throws: (any Error).self) { try CordQCommand.parseAsRoot(["seg", "morphometry", "a.nii.gz", "--gm", "b.nii.gz", "--gm-source", "guess"]) }
    }

    @Test func failingSegmentationExitsNonZeroAndWritesNothing() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let g = Grid(nx: 40, ny: 40, nz: 10, spacing: [0.5, 0.5, 2])
        try NIfTIFile.write(RicianNoise.apply(to: Volume<Float>(grid: g), sigma: 1, seed: 1), to: dir + "/noise.nii.gz")
        var cmd = try CordQCommand.parseAsRoot(["seg", "cord", dir + "/noise.nii.gz", dir + "/seg.nii.gz"])
        #expect(throws: ExitCode.self) { try cmd.run() }
        #expect(Support.files(in: dir) == ["noise.nii.gz"])
        #expect(throws: (any Error).self) { try CordQCommand.parseAsRoot(["seg", "morphometry", "x.nii.gz", "--per-level"]) }
        #expect(throws: (any Error).self) { try CordQCommand.parseAsRoot(["seg", "cord", "a.nii.gz", "b.nii.gz", "--contrast", "flair"]) }
    }
}

@Suite struct SegCommandHintTests {
    /// Two copies of a phantom side by side along i: a point hint (`--hint-voxel I,J,K` or
    /// `--hint FILE`) picks the cord it marks, whichever copy that is.
    @Test func hintSelectsTheMarkedCord() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let g = PhantomGrid.axial(inPlane: 0.5, sliceThickness: 2, fieldOfView: 22, inferior: -20, superior: 16, centre: [0, 3])
        let s = try PhantomSubject(PhantomParameters(), on: g)
        let img = RicianNoise.apply(to: s.t2w, sigma: 0.3 / 20, seed: 9)
        let nx = g.nx, ny = g.ny, nz = g.nz
        let wide = Grid(nx: 2 * nx, ny: ny, nz: nz, affine: g.affine)
        var data = [Float](repeating: 0, count: wide.voxelCount)
        for k in 0..<nz { for j in 0..<ny { for i in 0..<nx {
            let v = img.data[i + nx * (j + ny * k)]
            data[i + 2 * nx * (j + ny * k)] = v
            data[i + nx + 2 * nx * (j + ny * k)] = v
        } } }
        try NIfTIFile.write(try Volume(grid: wide, frames: 1, data: data), to: dir + "/two.nii.gz")
        // The cord's centre on the middle slice of the original grid.
        let k0 = nz / 2
        var si = 0.0, sj = 0.0, n = 0.0
        for j in 0..<ny { for i in 0..<nx where s.cordMask[i, j, k0] != 0 { si += Double(i); sj += Double(j); n += 1 } }
        let ci = Int((si / n).rounded()), cj = Int((sj / n).rounded())
        /// Mean i of the segmented voxels.
        func meanI(_ path: String) throws -> Double {
            let (seg, _) = try NIfTIFile.read(path)
            var sum = 0.0, count = 0.0
            for n in 0..<seg.data.count where seg.data[n] > 0 { sum += Double(wide.coordinates(of: n).x); count += 1 }
            return sum / max(count, 1)
        }
        var right = try CordQCommand.parseAsRoot(["seg", "cord", dir + "/two.nii.gz", dir + "/right.nii.gz", "--contrast", "t2",
                                                  "--hint-voxel", "\(ci + nx),\(cj),\(k0)"])
        try right.run()
        #expect(try meanI(dir + "/right.nii.gz") > Double(nx), "hint on the right copy")
        var mark = Mask(grid: wide, frames: 1, repeating: 0)
        mark[ci, cj, k0] = 1
        try NIfTIFile.write(mark, to: dir + "/point.nii.gz", datatype: .uint8)
        var left = try CordQCommand.parseAsRoot(["seg", "cord", dir + "/two.nii.gz", dir + "/left.nii.gz", "--contrast", "t2",
                                                 "--hint", dir + "/point.nii.gz"])
        try left.run()
        #expect(try meanI(dir + "/left.nii.gz") < Double(nx), "hint on the left copy")
        #expect(throws: (any Error).self) { try CordQCommand.parseAsRoot(["seg", "cord", "a.nii.gz", "b.nii.gz", "--hint-voxel", "3,4"]) }
    }

    /// `--hint-slice K`: segments the phantom; a slice outside the image or one without a cord
    /// exits non-zero, writes nothing, and the message names the file and the slice; it
    /// cannot be combined with a point hint.
    @Test func sliceHintFromTheCommandLine() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let f = try SegCommandTests.writePhantom(dir)
        var ok = try CordQCommand.parseAsRoot(["seg", "cord", f.image, dir + "/seg.nii.gz", "--contrast", "t2", "--hint-slice", "9"])
        try ok.run()
        #expect(Support.files(in: dir).contains("seg.nii.gz"))
        Support.remove(dir + "/seg.nii.gz"); Support.remove(dir + "/seg_soft.nii.gz")
        let inputs = Support.files(in: dir)
        // Slice 5 blanked to a constant: no cord there.
        var (img, _) = try NIfTIFile.read(f.image)
        let per = img.grid.nx * img.grid.ny
        for n in (per * 5)..<(per * 6) { img.data[n] = 0.3 }
        try NIfTIFile.write(img, to: dir + "/blank.nii.gz")
        for (file, k, words) in [(f.image, img.grid.nz, "outside the image"), (dir + "/blank.nii.gz", 5, "no cord-like candidate")] {
            var cmd = try CordQCommand.parseAsRoot(["seg", "cord", file, dir + "/out.nii.gz", "--contrast", "t2", "--hint-slice", "\(k)"])
            #expect(throws: ExitCode.self) { try cmd.run() }
            #expect(Support.files(in: dir) == (inputs + ["blank.nii.gz"]).sorted())
            do {
                _ = try SegmentationPipeline.segmentCord(image: file, output: dir + "/out.nii.gz", contrast: .t2, hintSlice: k)
                Issue.record("hint slice \(k) of \(file) gave a segmentation")
            } catch {
                let text = "\(error)"
                #expect(text.contains(file) && text.contains("hint slice \(k)") && text.contains(words), "\(text)")
            }
        }
        #expect(throws: (any Error).self) {
            try CordQCommand.parseAsRoot(["seg", "cord", "a.nii.gz", "b.nii.gz", "--hint-slice", "3", "--hint-voxel", "1,2,3"])
        }
    }

    /// A field of view that cuts through the cord: exit code 1 and nothing written.
    @Test func cordLeavingTheImageExitsNonZero() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let g = PhantomGrid.axial(inPlane: 0.5, sliceThickness: 2, fieldOfView: 20, inferior: -6, superior: 10, centre: [8, 3])
        let s = try PhantomSubject(PhantomParameters(), on: g)
        try NIfTIFile.write(s.t2w, to: dir + "/cut.nii.gz")
        var cmd = try CordQCommand.parseAsRoot(["seg", "cord", dir + "/cut.nii.gz", dir + "/seg.nii.gz", "--contrast", "t2"])
        #expect(throws: ExitCode.self) { try cmd.run() }
        #expect(Support.files(in: dir) == ["cut.nii.gz"])
        // The segmenter's own errors name the image.
        do {
            _ = try SegmentationPipeline.segmentCord(image: dir + "/cut.nii.gz", output: dir + "/seg.nii.gz", contrast: .t2)
            Issue.record("the cut cord gave a segmentation")
        } catch {
            let text = "\(error)"
            #expect(text.contains(dir + "/cut.nii.gz") && text.contains("edge"), "\(text)")
        }
    }
}
