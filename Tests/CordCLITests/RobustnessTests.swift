import ArgumentParser
import Foundation
import Testing
import CordTestSupport
@testable import CordBiomarkers
@testable import CordCLI
@testable import CordCore
@testable import CordDiffusion
@testable import CordIO
@testable import CordMetrics
@testable import CordMyelin
@testable import CordNormative
@testable import CordPipeline
@testable import CordRegistration

/// Small hostile inputs for issue #23: each ends in a clear error naming the file and field,
/// or in a documented result; none in a crash or a silently wrong number.
enum Hostile {
    /// NIfTI-1 byte offsets (nifti1.h).
    enum Offset {
        static let dim = 40, datatype = 70, pixdim = 76, voxOffset = 108, qformCode = 252, sformCode = 254
        static let srowX = 280, srowY = 296, srowZ = 312
    }

    /// An uncompressed NIfTI-1 file's bytes: an 8×8×4 float32 image (frames > 1 for 4D) on a
    /// 1 × 1 × 2 mm grid, values 1….
    static func image(frames: Int = 1) throws -> [UInt8] {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var v = Volume<Float>(grid: Grid(nx: 8, ny: 8, nz: 4, spacing: [1, 1, 2]), frames: frames)
        for n in 0..<v.data.count { v.data[n] = Float(1 + n % 50) }
        try NIfTIFile.write(v, to: dir + "/i.nii")
        return Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/i.nii")))
    }
    static func setFloat(_ b: inout [UInt8], _ offset: Int, _ v: Float) {
        withUnsafeBytes(of: v.bitPattern.littleEndian) { for k in 0..<4 { b[offset + k] = $0[k] } }
    }
    static func setInt16(_ b: inout [UInt8], _ offset: Int, _ v: Int16) {
        withUnsafeBytes(of: v.littleEndian) { for k in 0..<2 { b[offset + k] = $0[k] } }
    }
    static func write(_ b: [UInt8], _ path: String) throws { try Data(b).write(to: URL(fileURLWithPath: path)) }
}

@Suite struct RobustnessTests {
    // MARK: - Headers: crashes and silent geometry

    /// (name, mutation, text the error must contain, or nil when the file must be described).
    static let headerCases: [(String, @Sendable (inout [UInt8]) -> Void, String?)] = [
        ("vox_offset NaN", { Hostile.setFloat(&$0, Hostile.Offset.voxOffset, .nan) }, "vox_offset"),
        ("vox_offset +inf", { Hostile.setFloat(&$0, Hostile.Offset.voxOffset, .infinity) }, "vox_offset"),
        ("vox_offset -inf", { Hostile.setFloat(&$0, Hostile.Offset.voxOffset, -.infinity) }, "vox_offset"),
        ("vox_offset 1e20", { Hostile.setFloat(&$0, Hostile.Offset.voxOffset, 1e20) }, "vox_offset"),
        ("vox_offset 352.5", { Hostile.setFloat(&$0, Hostile.Offset.voxOffset, 352.5) }, "vox_offset"),
        ("affine translation 1e20", { Hostile.setFloat(&$0, Hostile.Offset.srowX + 12, 1e20) }, "entry [0][3]"),
        ("affine entry 1e19", { Hostile.setFloat(&$0, Hostile.Offset.srowY + 4, 1e19) }, "entry [1][1]"),
        ("voxel size 1e5 mm", { Hostile.setFloat(&$0, Hostile.Offset.srowZ + 8, 1e5) }, "voxel size along k"),
        ("voxel size 1e-5 mm", { Hostile.setFloat(&$0, Hostile.Offset.srowX, -1e-5) }, "voxel size along i"),
        ("sheared affine", { Hostile.setFloat(&$0, Hostile.Offset.srowX + 4, 0.2) }, "sheared"),
        ("pixdim[1] 0 without transform", {
            Hostile.setInt16(&$0, Hostile.Offset.qformCode, 0); Hostile.setInt16(&$0, Hostile.Offset.sformCode, 0)
            Hostile.setFloat(&$0, Hostile.Offset.pixdim + 4, 0)
        }, "pixdim[1]"),
        ("pixdim[3] NaN without transform", {
            Hostile.setInt16(&$0, Hostile.Offset.qformCode, 0); Hostile.setInt16(&$0, Hostile.Offset.sformCode, 0)
            Hostile.setFloat(&$0, Hostile.Offset.pixdim + 12, .nan)
        }, "pixdim[3]"),
        ("pixdim[1] 0 with qform only", {
            Hostile.setInt16(&$0, Hostile.Offset.sformCode, 0); Hostile.setFloat(&$0, Hostile.Offset.pixdim + 4, 0)
        }, "pixdim[1]"),
        ("voxel of 1e30", { Hostile.setFloat(&$0, 352 + 4 * 17, 1e30) }, nil),
        ("voxel of NaN", { Hostile.setFloat(&$0, 352 + 4 * 3, .nan) }, nil),
    ]

    @Test(arguments: 0..<headerCases.count)
    func hostileHeadersEndInANamedErrorOrADescription(index: Int) throws {
        let (name, mutate, expected) = Self.headerCases[index]
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var bytes = try Hostile.image()
        mutate(&bytes)
        let path = dir + "/case.nii"
        try Hostile.write(bytes, path)
        if let expected {
            do {
                _ = try ImageInfo.describe(path)
                Issue.record("\(name): described without an error")
            } catch {
                let m = "\(error)"
                #expect(m.contains(path) && m.contains(expected), "\(name): \(m)")
            }
            // Every reader gives the same error (vox_offset used to crash all of them).
            #expect(throws: (any Error).self) { try NIfTIFile.read(path) }
        } else {
            let text = try ImageInfo.describe(path)
            #expect(text.contains("values"), "\(name): \(text)")
        }
    }

    @Test func infoPrintsHugeValuesAndFrameSpacingWithAnExponent() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var bytes = try Hostile.image(frames: 3)
        Hostile.setFloat(&bytes, Hostile.Offset.pixdim + 16, 1e38)   // pixdim[4]
        Hostile.setFloat(&bytes, 352 + 4 * 5, 1e30)
        try Hostile.write(bytes, dir + "/big.nii")
        let text = try ImageInfo.describe(dir + "/big.nii")
        #expect(text.contains("max 1.000e+30"), "\(text)")
        #expect(text.contains("e+38 s (pixdim[4])"), "\(text)")
    }

    @Test func morphometryRefusesAVoxelSizeOf1e10mm() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var bytes = try Hostile.image()
        Hostile.setInt16(&bytes, Hostile.Offset.qformCode, 0); Hostile.setInt16(&bytes, Hostile.Offset.sformCode, 0)
        Hostile.setFloat(&bytes, Hostile.Offset.pixdim + 4, 1e10)
        try Hostile.write(bytes, dir + "/seg.nii")
        #expect { try MorphometryTables.morphometry(segmentation: dir + "/seg.nii", perLevel: false) } throws: { e in
            "\(e)".contains(dir + "/seg.nii") && "\(e)".contains("outside")
        }
    }

    // MARK: - Label maps

    @Test func levelMapsMustHoldWholeNumbers() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let g = Grid(nx: 4, ny: 4, nz: 3, spacing: [1, 1, 1])
        var levels = Volume<Float>(grid: g)
        for k in 0..<3 { for n in 0..<16 { levels.data[k * 16 + n] = Float(3 + k) } }
        try NIfTIFile.write(levels, to: dir + "/whole.nii.gz")
        let (read, _) = try NIfTIFile.readLabels(dir + "/whole.nii.gz")
        #expect(read.data[0] == 3 && read.data[47] == 5)
        // Interpolated levels (2.5, 3.5, …) used to be rounded up: every level one too low.
        for n in 0..<levels.data.count { levels.data[n] += 0.5 }
        try NIfTIFile.write(levels, to: dir + "/interp.nii.gz")
        #expect { try NIfTIFile.readLabels(dir + "/interp.nii.gz", what: "vertebral level map") } throws: { e in
            "\(e)".contains(dir + "/interp.nii.gz") && "\(e)".contains("48 voxels") && "\(e)".contains("3.5")
        }
    }

    // MARK: - Units and plausibility

    @Test func bValuesOutsideSPerMM2AreRefusedWithTheUnit() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        try "1 0 0\n0 1 0\n0 0 1\n".write(toFile: dir + "/d.bvec", atomically: true, encoding: .utf8)
        try "0 800 800\n".write(toFile: dir + "/ok.bval", atomically: true, encoding: .utf8)
        #expect(try GradientFiles.readRaw(bval: dir + "/ok.bval", bvec: dir + "/d.bvec").bValues == [0, 800, 800])
        try "0 800000 800000\n".write(toFile: dir + "/x1000.bval", atomically: true, encoding: .utf8)
        #expect { try GradientFiles.readRaw(bval: dir + "/x1000.bval", bvec: dir + "/d.bvec") } throws: { e in
            "\(e)".contains(dir + "/x1000.bval") && "\(e)".contains("s/mm²") && "\(e)".contains("1000")
        }
        try "0 0.8 0.8\n".write(toFile: dir + "/msum2.bval", atomically: true, encoding: .utf8)
        #expect { try GradientFiles.readRaw(bval: dir + "/msum2.bval", bvec: dir + "/d.bvec") } throws: { e in
            "\(e)".contains(dir + "/msum2.bval") && "\(e)".contains("ms/µm²")
        }
        try "1e308 0 0\n0 1 0\n0 0 1\n".write(toFile: dir + "/huge.bvec", atomically: true, encoding: .utf8)
        #expect { try GradientFiles.readRaw(bval: dir + "/ok.bval", bvec: dir + "/huge.bvec") } throws: { e in
            "\(e)".contains(dir + "/huge.bvec") && "\(e)".contains("volume 0")
        }
        // CRLF line ends: three rows, not one.
        try "1 0 0\r\n0 1 0\r\n0 0 1\r\n".write(toFile: dir + "/crlf.bvec", atomically: true, encoding: .utf8)
        #expect(try GradientFiles.readRaw(bval: dir + "/ok.bval", bvec: dir + "/crlf.bvec").vectors.count == 3)
    }

    @Test func flipAnglesInRadiansAndTRsInMillisecondsAreRefused() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        try #"{"FlipAngle": 0.10472, "RepetitionTime": 0.03}"#.write(toFile: dir + "/rad.json", atomically: true, encoding: .utf8)
        #expect { try BIDSSidecar.read(dir + "/rad.json") } throws: { e in
            "\(e)".contains(dir + "/rad.json") && "\(e)".contains("FlipAngle") && "\(e)".contains("radians") && "\(e)".contains("6.0°")
        }
        try #"{"FlipAngle": 6, "RepetitionTime": 0.03}"#.write(toFile: dir + "/deg.json", atomically: true, encoding: .utf8)
        let s = try BIDSSidecar.read(dir + "/deg.json")
        #expect(s.flipAngle == 6)
        #expect(try MTPipeline.timing(s, file: dir + "/deg.json", TimingOverride(), "--mt-flip", "--mt-tr").flipAngleDegrees == 6)
        // Command-line overrides go through the same checks.
        #expect { try MTPipeline.timing(s, file: dir + "/deg.json", TimingOverride(flipAngleDegrees: 0.35, repetitionTime: nil), "--mt-flip", "--mt-tr") } throws: { e in
            "\(e)".contains("--mt-flip") && "\(e)".contains("radians")
        }
        #expect { try MTPipeline.timing(s, file: dir + "/deg.json", TimingOverride(flipAngleDegrees: nil, repetitionTime: 30), "--mt-flip", "--mt-tr") } throws: { e in
            "\(e)".contains("--mt-tr") && "\(e)".contains("30 s") && "\(e)".contains("milliseconds")
        }
    }

    @Test func implausibleDemographicsAreRefusedWithTheUnit() throws {
        let columns = ["participant_id", "sex", "age", "height_cm"]
        #expect(try Participant.parseTable(columns: columns, rows: [["p1", "M", "54", "176"]], source: "p.tsv").count == 1)
        #expect { try Participant.parseTable(columns: columns, rows: [["p1", "M", "54", "1.76"]], source: "p.tsv") } throws: { e in
            "\(e)".contains("p.tsv line 2") && "\(e)".contains("height") && "\(e)".contains("cm") && "\(e)".contains("metres")
        }
        #expect { try Participant.parseTable(columns: columns, rows: [["p1", "M", "640", "176"]], source: "p.tsv") } throws: { e in
            "\(e)".contains("age") && "\(e)".contains("640 years")
        }
    }

    @Test func implausibleCommandLineNumbersAreRefused() throws {
        // --max-shift 1e30 used to search for ever and NaN to crash (SIGILL).
        for shift in [1e30, .nan, -1] {
            var o = SliceRegistrationOptions(); o.maximumShift = shift
            #expect(throws: CordError.self) { try MTPipeline.checkRegistration(o) }
        }
        #expect(throws: (any Error).self) { try CordQCommand.parseAsRoot(["mt", "mtr", "--mt-on", "a.nii", "--mt-off", "b.nii", "o.nii", "--register", "--max-shift", "1e30"]) }
        // A hint voxel outside the image is an error, not silently ignored.
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        try Hostile.write(try Hostile.image(), dir + "/t2.nii")
        #expect { try SegmentationPipeline.segmentCord(image: dir + "/t2.nii", output: dir + "/seg.nii.gz", hintVoxel: [1e30, 5, 5]) } throws: { e in
            "\(e)".contains("--hint-voxel") && "\(e)".contains(dir + "/t2.nii") && "\(e)".contains("outside")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/seg.nii.gz"))
        // Simulator geometry: an in-plane size of 0 or NaN and a 1e9 mm field of view used to crash.
        for (field, change) in [("--in-plane", { (o: inout DWISimulationOptions) in o.inPlane = 0 }),
                                ("--in-plane", { (o: inout DWISimulationOptions) in o.inPlane = .nan }),
                                ("--field-of-view", { (o: inout DWISimulationOptions) in o.fieldOfView = 1e9 }),
                                ("--snr", { (o: inout DWISimulationOptions) in o.snr = 1e-300 })] {
            var o = DWISimulationOptions(); change(&o)
            #expect { try DiffusionSimulationExport.write(to: dir + "/sim", options: o) } throws: { e in "\(e)".contains(field) }
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/sim"))
    }

    // MARK: - Fits where most voxels fail

    static func diffusion(dwSignal: Float) -> (LoadedDiffusion, Mask) {
        let g = Grid(nx: 4, ny: 4, nz: 2, spacing: [1, 1, 1])
        let dirs: [SIMD3<Double>] = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.7071, 0.7071, 0], [0.7071, 0, 0.7071], [0, 0.7071, 0.7071]]
        let table = GradientTable([GradientEntry(b: 0, direction: .zero)] + dirs.map { GradientEntry(b: 800, direction: $0) })
        var v = Volume<Float>(grid: g, frames: 7)
        for n in 0..<g.voxelCount { v.data[n] = 1000; for t in 1..<7 { v.data[t * g.voxelCount + n] = dwSignal } }
        return (LoadedDiffusion(image: v, table: table, header: NIfTIHeader(grid: g, frames: 7, datatype: .float32)),
                Mask(grid: g, frames: 1, repeating: 1))
    }

    @Test func aDTIFitThatFailsInMostVoxelsIsAnError() throws {
        // Control: an isotropic medium with MD 0.7 µm²/ms fits in every voxel.
        let (good, mask) = Self.diffusion(dwSignal: Float(1000 * exp(-0.8 * 0.7)))
        let run = try DiffusionSteps.dti(good, mask: mask, options: DTIOptions(), maps: ["MD"])
        #expect(run.metrics.voxelsFitted == 32)
        let md = try #require(run.maps.first { $0.name == "MD" }).volume
        #expect(abs(Double(md.data[5]) - 0.7) < 1e-3)  // µm²/ms, noise-free
        // All diffusion-weighted volumes negative: used to report "32 voxels fitted", FA = MD = 0.
        let (bad, _) = Self.diffusion(dwSignal: -500)
        #expect { try DiffusionSteps.dti(bad, mask: mask, options: DTIOptions(), maps: ["FA", "MD"]) } throws: { e in
            "\(e)".contains("DTI fit") && "\(e)".contains("32 of 32 voxels")
        }
    }

    @Test func anMTOffWithoutSignalIsAnErrorNotAnMTROfZero() throws {
        let g = Grid(nx: 4, ny: 4, nz: 2, spacing: [1, 1, 1])
        let on = Volume<Float>(grid: g, frames: 1, repeating: 600)
        let r = try MagnetizationTransfer.ratio(mtOn: on, mtOff: Volume<Float>(grid: g, frames: 1, repeating: 1000))
        #expect(abs(Double(r.map.data[0]) - 40) < 1e-4 && r.invalidVoxels == 0)
        #expect { try MagnetizationTransfer.ratio(mtOn: on, mtOff: Volume<Float>(grid: g, frames: 1, repeating: 0)) } throws: { e in
            "\(e)".contains("MT-off") && "\(e)".contains("32 of the 32 voxels")
        }
        // A few invalid voxels keep the documented rule: 0 in the map, counted.
        var off = Volume<Float>(grid: g, frames: 1, repeating: 1000); off.data[3] = 0
        let some = try MagnetizationTransfer.ratio(mtOn: on, mtOff: off)
        #expect(some.invalidVoxels == 1 && some.map.data[3] == 0)
    }

    // MARK: - Tables: missing values, implausible values, line ends

    @Test func missingValuesAreNAInTablesAndNeverZero() throws {
        let t = LongFormTable([MetricRow(subject: "s", level: "C3", region: "cord", metric: "fa", value: .nan, method: "wa", count: 0),
                               MetricRow(subject: "s", level: "C4", region: "cord", metric: "fa", value: 0.61, method: "wa", count: 12)])
        #expect(t.stringRows.map { $0[5] } == ["n/a", "0.61"])
        let back = try LongFormTable.parse(columns: LongFormTable.columns, rows: t.stringRows, source: "t.tsv")
        #expect(back.rows.count == 1 && back.rows[0].level == "C4")   // the missing row is left out, not read as 0
        #expect(LongFormTable.format(1e30) == "1.000000e+30")
    }

    @Test func crlfAndBOMPatientListsReadLikeUnixOnes() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        try Data([0xEF, 0xBB, 0xBF] + Array("participant_id\tsex\tage\r\np1\tM\t54\r\np2\tF\t61\r\n".utf8))
            .write(to: URL(fileURLWithPath: dir + "/list.tsv"))
        let t = try TSVTable.read(dir + "/list.tsv")
        #expect(t.columns == ["participant_id", "sex", "age"] && t.rows == [["p1", "M", "54"], ["p2", "F", "61"]])
        let e = try PatientEntry.parseList(columns: t.columns, rows: t.rows, source: dir + "/list.tsv")
        #expect(e.map(\.participant.id) == ["p1", "p2"] && e[1].participant.age == 61)
    }

    /// A database of 12 healthy subjects (CSA and AP/RL per level) and its folder.
    static func normativeDatabase(_ dir: String) throws -> String {
        var healthy = TSVTable(columns: LongFormTable.columns)
        for i in 0..<12 { for r in BiomarkersCommandTests.rows("sub-h\(i)", scale: 0.9 + 0.2 * Double(i) / 11) { healthy.append(r) } }
        try healthy.write(to: dir + "/healthy.tsv")
        _ = try NormativePipeline.build(database: dir + "/n.sqlite", tables: [dir + "/healthy.tsv"], participants: nil)
        return dir + "/n.sqlite"
    }

    @Test func anImplausibleTableValueNeverReachesTheDatabase() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let db = try Self.normativeDatabase(dir)
        var bad = TSVTable(columns: LongFormTable.columns)
        bad.append(["sub-x", "", "C3", "cord", "csa_mm2", "1e30", "morphometry", "10"])
        try bad.write(to: dir + "/bad.tsv")
        #expect { try NormativePipeline.add(database: db, tables: [dir + "/bad.tsv"], participants: nil, participant: nil) } throws: { e in
            "\(e)".contains(dir + "/bad.tsv") && "\(e)".contains("line 2") && "\(e)".contains("csa_mm2") && "\(e)".contains("mm²")
        }
        #expect(try NormativeDatabase(path: db, readOnly: true).counts().subjects == 12)
        // Even a huge value stored by another route cannot crash summary or export any more.
        let writable = try NormativeDatabase(path: db)
        try writable.put(SubjectRecord(participant: Participant(id: "sub-y"),
                                       rows: [MetricRow(subject: "sub-y", level: "C3", region: "cord", metric: "csa_mm2", value: 1e30, method: "morphometry", count: 1)],
                                       provenance: "{}"))
        #expect(try NormativePipeline.summary(database: db).contains("csa_mm2"))
        #expect(try NormativePipeline.export(database: db, output: dir + "/export.tsv") == 12 * 21 + 1)
        #expect(try TextFile.read(dir + "/export.tsv").contains("1.000000e+30"))
    }

    @Test func onePatientWithAnImplausibleValueFailsAloneAndTheOthersFinish() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let db = try Self.normativeDatabase(dir)
        var pt = TSVTable(columns: LongFormTable.columns)
        for r in BiomarkersCommandTests.rows("p1", scale: 1, compressed: "C5", factor: 0.6) + BiomarkersCommandTests.rows("p3", scale: 1.02) { pt.append(r) }
        var p2 = BiomarkersCommandTests.rows("p2", scale: 1)
        p2[6][5] = "1e30"   // C3 csa_mm2
        for r in p2 { pt.append(r) }
        try pt.write(to: dir + "/patients_rows.tsv")
        try "participant_id\np1\np2\np3\n".write(toFile: dir + "/list.tsv", atomically: true, encoding: .utf8)
        let o = try BiomarkersPipeline.run(database: db, patients: dir + "/list.tsv", tables: [dir + "/patients_rows.tsv"], output: dir + "/out.tsv")
        #expect(o.succeeded.sorted() == ["p1", "p3"])
        #expect(o.failed.count == 1 && o.failed[0].subject == "p2" && o.failed[0].reason.contains("csa_mm2 = 1.000e+30"))
        let out = try TSVTable.read(dir + "/out.tsv").records
        #expect(out.map { $0["status"] ?? "" } == ["ok", "failed", "ok"])
    }

    // MARK: - Inputs are never overwritten

    @Test func biomarkersNeverOverwriteThePatientList() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let db = try Self.normativeDatabase(dir)
        var pt = TSVTable(columns: LongFormTable.columns)
        for r in BiomarkersCommandTests.rows("p1", scale: 1) { pt.append(r) }
        try pt.write(to: dir + "/rows.tsv")
        let list = "participant_id\tsex\np1\tM\n"
        try list.write(toFile: dir + "/L.tsv", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: dir + "/link.tsv", withDestinationPath: dir + "/L.tsv")
        try FileManager.default.linkItem(atPath: dir + "/L.tsv", toPath: dir + "/hard.tsv")
        for out in [dir + "/L.tsv", dir + "/./L.tsv", dir + "/link.tsv", dir + "/hard.tsv", db, dir + "/rows.tsv"] {
            #expect(throws: CordIOError.self, "\(out)") {
                try BiomarkersPipeline.run(database: db, patients: dir + "/L.tsv", tables: [dir + "/rows.tsv"], output: out)
            }
        }
        #expect(try TextFile.read(dir + "/L.tsv") == list)
        // The command line too (parsed and run in-process, inside the guard's scope).
        var cmd = try CordQCommand.parseAsRoot(["biomarkers", "--db", db, "--patients", dir + "/L.tsv", "--tables", dir + "/rows.tsv", dir + "/L.tsv"])
        #expect(throws: (any Error).self) { try InputGuard.scope { try cmd.run() } }
        #expect(try TextFile.read(dir + "/L.tsv") == list)
        // A re-run into its own earlier output is allowed (it resumes).
        _ = try BiomarkersPipeline.run(database: db, patients: dir + "/L.tsv", tables: [dir + "/rows.tsv"], output: dir + "/out.tsv")
        var again = try CordQCommand.parseAsRoot(["biomarkers", "--db", db, "--patients", dir + "/L.tsv", "--tables", dir + "/rows.tsv", dir + "/out.tsv"])
        try InputGuard.scope { try again.run() }
    }

    @Test func anyFileReadInsideTheGuardsScopeCannotBeWritten() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        try "a\tb\n1\t2\n".write(toFile: dir + "/in.tsv", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: dir + "/alias.tsv", withDestinationPath: dir + "/in.tsv")
        try InputGuard.scope {
            let t = try TSVTable.read(dir + "/alias.tsv")
            #expect(throws: CordIOError.self) { try t.write(to: dir + "/in.tsv") }
            #expect(throws: CordIOError.self) { try OutputFiles().stage(dir + "/in.tsv") }
            #expect(throws: CordIOError.self) { try OutputFolder(dir, overwrite: true) }   // would replace the input's folder
            try t.write(to: dir + "/out.tsv")   // anything else is fine
        }
        #expect(try TextFile.read(dir + "/in.tsv") == "a\tb\n1\t2\n")
        // db export onto its own database.
        let db = try Self.normativeDatabase(dir)
        #expect(throws: CordIOError.self) { try NormativePipeline.export(database: db, output: db) }
        #expect(try NormativeDatabase(path: db, readOnly: true).counts().subjects == 12)
    }

    /// `cordq` as another user on a database they cannot write (a read-only share).
    static let nobodyCanRun: Bool = getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/runuser")
        && FileManager.default.isExecutableFile(atPath: Support.packageRoot + "/.build/debug/cordq")

    @Test(.enabled(if: nobodyCanRun, "needs root, /usr/sbin/runuser and the built .build/debug/cordq to run as another user"))
    func aReadOnlyDatabaseCanBeRead() throws {
        let dir = try Support.temporaryDirectory(), outDir = try Support.temporaryDirectory()
        defer { _ = chmod(dir, 0o755); Support.remove(dir); Support.remove(outDir) }
        let db = try Self.normativeDatabase(dir)
        _ = chmod(db, 0o444); _ = chmod(dir, 0o555); _ = chmod(outDir, 0o777)
        let before = Support.files(in: dir)
        for args in [["db", "summary", db], ["db", "export", db, outDir + "/export.tsv"],
                     ["biomarkers", "--db", db, "--patients", dir + "/healthy.tsv", "--tables", dir + "/healthy.tsv", outDir + "/b.tsv"]] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
            p.arguments = ["-u", "nobody", "--", Support.packageRoot + "/.build/debug/cordq"] + args
            let err = Pipe(), out = Pipe()
            p.standardError = err; p.standardOutput = out
            try p.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(p.terminationStatus == 0, "\(args): \(message)")
            #expect(text.contains("12 subjects") || text.contains("wrote") || text.contains("done"), "\(args): \(text.prefix(200))")
        }
        #expect(try TextFile.read(outDir + "/export.tsv").contains("sub-h1"))
        #expect(try TSVTable.read(outDir + "/b.tsv").rows.count == 12)
        #expect(Support.files(in: dir) == before)   // nothing written beside it
    }

    // MARK: - Staging

    @Test func writeErrorsNameTheUsersPathAndAbandonedStagingIsRemoved() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let files = OutputFiles()
        let staged = try files.stage(dir + "/sub/den.nii.gz")
        // Something occupies the staged name: the final rename fails.
        try FileManager.default.createDirectory(atPath: staged + "/x", withIntermediateDirectories: true)
        #expect { try NIfTIFile.write(Volume<Float>(grid: Grid(nx: 2, ny: 2, nz: 2, spacing: [1, 1, 1])), to: staged) } throws: { e in
            "\(e)".contains(dir + "/sub/den.nii.gz") && !"\(e)".contains(".staged-")
        }
        files.discard()
        // A staging folder left by a killed run (its process is gone) is removed by the next run.
        var dead: Int32 = 999_999
        while kill(dead, 0) == 0 { dead -= 1 }
        let stale = dir + "/.out.partial-\(dead)-1"
        try FileManager.default.createDirectory(atPath: stale, withIntermediateDirectories: true)
        let mine = dir + "/.out.partial-\(getpid())-7"   // this process's own: kept
        try FileManager.default.createDirectory(atPath: mine, withIntermediateDirectories: true)
        let out = try OutputFolder(dir + "/out")
        #expect(!FileManager.default.fileExists(atPath: stale) && FileManager.default.fileExists(atPath: mine))
        out.discard()
    }
}
