import Foundation
import Testing
import CordTestSupport
@testable import CordCore
@testable import CordIO
@testable import CordPhantom
@testable import CordPipeline

/// `cordq process` on the phantom subject (every contrast), on subjects missing contrasts,
/// on bad input, and on a BIDS folder made from the real sct_testing_data scans.
@Suite(.serialized) struct ProcessPipelineTests {
    /// Writes a phantom dataset with the given acquisitions; returns (dataset root, subject folder).
    static func phantom(_ dir: String, _ acquisitions: [PhantomAcquisition], seed: UInt64 = 3) throws -> (String, String) {
        var o = PhantomExportOptions()
        o.acquisitions = acquisitions; o.parameters.seed = seed
        _ = try PhantomExport.write(to: dir + "/bids", options: o)
        return (dir + "/bids", dir + "/bids/sub-phantom01")
    }

    static func table(_ path: String) throws -> [(level: String, region: String, metric: String, value: Double, count: Int)] {
        let t = try TSVTable.read(path)
        #expect(t.columns == ["participant_id", "session", "level", "region", "metric", "value", "method", "count"])
        return t.rows.map { ($0[2], $0[3], $0[4], Double($0[5]) ?? .nan, Int($0[7]) ?? -1) }
    }

    @Test func phantomSubjectGivesMorphometryDTIAndMTPerLevelAndTract() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let (root, subject) = try Self.phantom(dir, [.axialT2w, .dwi, .mt])
        let out = root + "/derivatives/cordq/sub-phantom01"
        try TextFile.makeDirectory(root + "/derivatives/cordq")
        let s = try ProcessPipeline.run(ProcessRequest(subject: subject, output: out))
        #expect(s.steps.allSatisfy { $0.status != .failed })
        let rows = try Self.table(s.tablePath)
        #expect(rows.allSatisfy { $0.value.isFinite && $0.count > 0 })

        // Cord area per level against the phantom's model, for the levels entirely in the FOV
        // (tolerance 4 %: segmentation ≤ 3 % plus level boundaries placed from disc labels).
        let truth = try JSONFile.read(PhantomTruth.self, from: root + "/derivatives/truth/sub-phantom01/anat/sub-phantom01_acq-ax_desc-truth_parameters.json")
        var compared = 0
        for l in truth.levels where l.measuredCSA != nil && l.level != .c1 && l.level != .t1 {
            let csa = try #require(rows.first { $0.level == l.level.name && $0.metric == "csa_mm2" && $0.region == "cord" })
            #expect(abs(csa.value / l.modelCSA - 1) < 0.04, "\(l.level.name): \(csa.value) vs \(l.modelCSA) mm²")
            let minimum = try #require(rows.first { $0.level == l.level.name && $0.metric == "csa_min_mm2" })
            #expect(minimum.value <= csa.value + 1e-9)
            compared += 1
        }
        #expect(compared >= 5)

        // GM and WM areas per level (issue #25): on a T2w anatomy GM comes from the atlas placed
        // in the cord (method says so); GM + WM = cord CSA to 0.01 mm² (table rounding), GM within 8 % of the
        // phantom's 20.0 % of the model CSA (segmentation's −3 % and level edges included).
        let table = try TSVTable.read(s.tablePath)
        let gmRows = table.records.filter { $0["metric"] == "gm_csa_mm2" }
        #expect(gmRows.count >= 5)
        for r in gmRows {
            #expect(r["method"] == "morphometry (GM from atlas)")
            let level = r["level"] ?? ""
            let gm = try #require(Double(r["value"] ?? "")), csa = try #require(rows.first { $0.level == level && $0.metric == "csa_mm2" })
            let wm = try #require(rows.first { $0.level == level && $0.metric == "wm_csa_mm2" })
            #expect(abs(gm + wm.value - csa.value) < 0.01, "\(level): GM \(gm) + WM \(wm.value) vs \(csa.value)")
            if let l = truth.levels.first(where: { $0.level.name == level && $0.measuredCSA != nil && $0.level != .c1 && $0.level != .t1 }) {
                #expect(abs(gm / (0.2003 * l.modelCSA) - 1) < 0.08, "\(level): GM \(gm) vs \(0.2003 * l.modelCSA) mm²")
            }
        }

        // DTI and MT values per level in the white-matter regions, against the truth maps
        // inside the cord (the phantom's WM/GM FA ranges; MTR of the noise-free images).
        let (faTruth, _) = try NIfTIFile.read(root + "/derivatives/truth/sub-phantom01/dwi/sub-phantom01_desc-truthFA_dwimap.nii.gz")
        let (cordDWI, _) = try NIfTIFile.read(root + "/derivatives/truth/sub-phantom01/dwi/sub-phantom01_label-cord_mask.nii.gz")
        let cordFA = (0..<faTruth.data.count).filter { cordDWI.data[$0] > 0 }.map { Double(faTruth.data[$0]) }
        let faRange = (cordFA.min() ?? 0)...(cordFA.max() ?? 1)
        let faWM = rows.filter { $0.metric == "fa" && $0.region == "white matter" }
        #expect(faWM.count >= 3)
        for r in faWM { #expect(faRange.contains(r.value), "FA in white matter at \(r.level): \(r.value), truth range \(faRange)") }
        for r in faWM {
            let gm = try #require(rows.first { $0.metric == "fa" && $0.region == "grey matter" && $0.level == r.level })
            #expect(r.value > gm.value + 0.05, "WM FA \(r.value) should exceed GM FA \(gm.value) at \(r.level)")
        }
        let (mtrTruth, _) = try NIfTIFile.read(root + "/derivatives/truth/sub-phantom01/anat/sub-phantom01_mt_desc-truthMTR_map.nii.gz")
        let (cordMT, _) = try NIfTIFile.read(root + "/derivatives/truth/sub-phantom01/anat/sub-phantom01_mt_label-cord_mask.nii.gz")
        let cordMTR = (0..<mtrTruth.data.count).filter { cordMT.data[$0] > 0 }.map { Double(mtrTruth.data[$0]) }
        let mtrRange = (cordMTR.min() ?? 0)...(cordMTR.max() ?? 100)
        let mtrWM = rows.filter { $0.metric == "mtr_pu" && $0.region == "white matter" }
        #expect(mtrWM.count >= 3)
        for r in mtrWM { #expect(mtrRange.contains(r.value), "MTR in white matter at \(r.level): \(r.value), truth range \(mtrRange)") }
        #expect(rows.contains { $0.metric == "mtsat_pu" && $0.region == "dorsal columns" })
        #expect(rows.contains { $0.metric == "fa" && $0.region == "WM left lateral corticospinal tract" })

        // Provenance: every input with its checksum, each step, the atlas registration's Dice.
        let prov = JSONValue.object(try JSONFile.read([String: JSONValue].self, from: s.provenancePath))
        let inputs = prov["Inputs"]?.arrayValue ?? []
        #expect(inputs.count >= 6 && inputs.allSatisfy { ($0["sha256"]?.stringValue ?? "").count == 64 })
        #expect(prov["Version"]?.stringValue == CordQVersion.string)
        let steps = prov["Steps"]?.arrayValue ?? []
        for name in ["segmentation", "levels", "registration (anat)", "morphometry", "dti sub-phantom01_dwi", "registration (dwi)", "mtr", "mtsat", "registration (mt)"] {
            #expect(steps.contains { $0["step"]?.stringValue == name && $0["status"]?.stringValue == "done" }, "step \(name)")
        }
        for space in ["anat", "dwi", "mt"] {
            let dice = steps.first { $0["step"]?.stringValue == "registration (\(space))" }?["metrics"]?["dice"]?.numberValue ?? 0
            // Anatomical 0.5 mm slices: ≥ 0.90; DWI and MT (0.9–1 mm in-plane, 5 mm slices): ≥ 0.80.
            #expect(dice >= (space == "anat" ? 0.9 : 0.8), "\(space): Dice \(dice)")
        }
        #expect(TextFile.exists(out + "/dwi/sub-phantom01_space-dwi_atlas/atlas/info_label.txt"))
        #expect(TextFile.exists(out + "/anat/sub-phantom01_acq-ax_from-CordQ_to-T2w_mode-image_xfm.nii.gz"))
    }

    @Test func subjectMissingContrastsIsProcessedForWhatItHas() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let (_, subject) = try Self.phantom(dir, [.axialT2w])
        let s = try ProcessPipeline.run(ProcessRequest(subject: subject, output: dir + "/out"))
        #expect(s.missing.contains { $0.hasPrefix("diffusion:") } && s.missing.contains { $0.hasPrefix("MT:") })
        let rows = try Self.table(s.tablePath)
        #expect(Set(rows.map(\.metric)).isSuperset(of: ["csa_mm2", "csa_min_mm2", "diameter_ap_mm"]))
        #expect(!rows.contains { $0.metric == "fa" })
        let prov = JSONValue.object(try JSONFile.read([String: JSONValue].self, from: s.provenancePath))
        #expect((prov["Missing"]?.arrayValue ?? []).count == s.missing.count)

        // No labels given: the discs are found automatically on the T2w images, and the
        // per-level areas match those from the true disc labels (same levels, within 2 %).
        let dir2 = try Support.temporaryDirectory(); defer { Support.remove(dir2) }
        var o = PhantomExportOptions(); o.acquisitions = [.sagittalT2w, .axialT2w]; o.discLabels = false; o.parameters.seed = 3
        _ = try PhantomExport.write(to: dir2 + "/bids", options: o)
        let s2 = try ProcessPipeline.run(ProcessRequest(subject: dir2 + "/bids/sub-phantom01", output: dir2 + "/out"))
        let levels = try #require(s2.steps.first { $0.name == "levels" })
        #expect(levels.status == .done && (levels.metrics.labels ?? 0) >= 3)
        let origin = JSONValue.object(try JSONFile.read([String: JSONValue].self, from: s2.provenancePath))["Levels"]?["Labels"]?["origin"]?.stringValue
        #expect(origin?.hasPrefix("automatic") == true, "\(origin ?? "no origin")")
        let auto = try Self.table(s2.tablePath).filter { $0.metric == "csa_mm2" }
        for r in rows where r.metric == "csa_mm2" && !["C1", "T1"].contains(r.level) {
            let a = try #require(auto.first { $0.level == r.level }, "level \(r.level) from automatic labels")
            #expect(abs(a.value / r.value - 1) < 0.02, "\(r.level): \(a.value) vs \(r.value)")
        }

        // No labels and no T2w (a T1w only): per-slice morphometry, the levels named as missing.
        let dir3 = try Support.temporaryDirectory(); defer { Support.remove(dir3) }
        var o3 = PhantomExportOptions(); o3.acquisitions = [.axialT2w]; o3.discLabels = false
        _ = try PhantomExport.write(to: dir3 + "/bids", options: o3)
        let anat = dir3 + "/bids/sub-phantom01/anat/sub-phantom01_acq-ax_"
        for ext in [".nii.gz", ".json"] { try FileManager.default.moveItem(atPath: anat + "T2w" + ext, toPath: anat + "T1w" + ext) }
        let s3 = try ProcessPipeline.run(ProcessRequest(subject: dir3 + "/bids/sub-phantom01", output: dir3 + "/out"))
        #expect(s3.missing.contains { $0.hasPrefix("levels:") })
        // Without levels: no per-level rows, the whole cord as level `all`.
        let rows3 = try Self.table(s3.tablePath)
        #expect(!rows3.isEmpty && rows3.allSatisfy { $0.level == "all" && $0.region == "cord" })
        #expect(TextFile.exists(dir3 + "/out/anat/sub-phantom01_acq-ax_space-T1w_morphometry.tsv"))
    }

    @Test func badInputStopsWithNothingWrittenUnlessKeepGoing() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let (_, subject) = try Self.phantom(dir, [.axialT2w, .dwi])
        // A DWI whose bval lists one b-value too many.
        let bval = subject + "/dwi/sub-phantom01_dwi.bval"
        let text = try TextFile.read(bval)
        try TextFile.write(text.trimmingCharacters(in: .whitespacesAndNewlines) + " 800\n", to: bval)
        #expect(throws: ProcessError.self) { try ProcessPipeline.run(ProcessRequest(subject: subject, output: dir + "/out")) }
        #expect(!TextFile.exists(dir + "/out"))
        #expect(Support.files(in: dir).filter { $0.hasPrefix(".out") }.isEmpty)
        var r = ProcessRequest(subject: subject, output: dir + "/out"); r.keepGoing = true
        let s = try ProcessPipeline.run(r)
        let failed = s.steps.filter { $0.status == .failed }
        #expect(failed.count >= 1 && failed[0].detail.contains("bval"))
        #expect(try Self.table(s.tablePath).contains { $0.metric == "csa_mm2" })
        // The output may not be inside the subject, and a non-empty output is refused.
        #expect(throws: (any Error).self) { try ProcessPipeline.run(ProcessRequest(subject: subject, output: subject + "/derivatives")) }
        #expect(throws: (any Error).self) { try ProcessPipeline.run(ProcessRequest(subject: subject, output: dir + "/out")) }
    }

    /// The slice hint reaches the segmentation: one outside the anatomical image stops the
    /// run with a message naming the image and the slice, and nothing is written.
    @Test func hintSliceReachesTheSegmentation() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let (_, subject) = try Self.phantom(dir, [.axialT2w])
        var r = ProcessRequest(subject: subject, output: dir + "/out"); r.hintSlice = 999
        do {
            _ = try ProcessPipeline.run(r)
            Issue.record("a hint slice outside the image was accepted")
        } catch {
            let text = "\(error)"
            #expect(text.contains("T2w.nii.gz with --hint-slice 999") && text.contains("outside the image"), "\(text)")
        }
        #expect(!TextFile.exists(dir + "/out"))
    }
}

/// `cordq process` on the real sct_testing_data scans laid out as BIDS.
@Suite(.enabled(if: Support.hasSharedData, "needs ../shared/data (sct_testing_data)"))
struct ProcessRealDataTests {
    /// sct_testing_data's t2, mt (mt1/mt0/t1w) and dmri laid out as one BIDS subject, with
    /// labels.nii.gz (mid-body C3 and C5) as the manual labels.
    @Test func realSCTTestingDataAsBIDSSubject() throws {
        let src = Support.sharedData + "/sct_testing_data"
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let sub = dir + "/bids/sub-sct01"
        let fm = FileManager.default
        for d in ["anat", "dwi"] { try fm.createDirectory(atPath: sub + "/" + d, withIntermediateDirectories: true) }
        try fm.createDirectory(atPath: dir + "/bids/derivatives/labels/sub-sct01/anat", withIntermediateDirectories: true)
        let copies = [("t2/t2.nii.gz", "anat/sub-sct01_T2w.nii.gz"),
                      ("mt/mt1.nii.gz", "anat/sub-sct01_flip-1_mt-on_MTS.nii.gz"), ("mt/mt1.json", "anat/sub-sct01_flip-1_mt-on_MTS.json"),
                      ("mt/mt0.nii.gz", "anat/sub-sct01_flip-1_mt-off_MTS.nii.gz"), ("mt/mt0.json", "anat/sub-sct01_flip-1_mt-off_MTS.json"),
                      ("mt/t1w.nii.gz", "anat/sub-sct01_flip-2_mt-off_MTS.nii.gz"), ("mt/t1w.json", "anat/sub-sct01_flip-2_mt-off_MTS.json"),
                      ("dmri/dmri.nii.gz", "dwi/sub-sct01_dwi.nii.gz"), ("dmri/bvals.txt", "dwi/sub-sct01_dwi.bval"),
                      ("dmri/bvecs.txt", "dwi/sub-sct01_dwi.bvec")]
        for (a, b) in copies { try fm.copyItem(atPath: src + "/" + a, toPath: sub + "/" + b) }
        try fm.copyItem(atPath: src + "/t2/labels.nii.gz", toPath: dir + "/bids/derivatives/labels/sub-sct01/anat/sub-sct01_T2w_labels-body.nii.gz")
        let start = Date()
        var r = ProcessRequest(subject: sub, output: dir + "/out"); r.keepGoing = true
        let s = try ProcessPipeline.run(r) { print("  " + $0) }
        print("sct_testing_data as BIDS: \(s.rows) rows in \(String(format: "%.1f", Date().timeIntervalSince(start))) s; failed: \(s.steps.filter { $0.status == .failed }.map { "\($0.name): \($0.detail)" })")
        #expect(s.steps.allSatisfy { $0.status != .failed })
        let rows = try ProcessPipelineTests.table(s.tablePath)
        let csa = rows.filter { $0.metric == "csa_mm2" }
        #expect(csa.count >= 3)
        for c in csa where ["C3", "C4", "C5"].contains(c.level) { #expect((45.0...100.0).contains(c.value), "CSA \(c.level) \(c.value)") }
        let fa = rows.filter { $0.metric == "fa" && $0.region == "white matter" }
        print("WM FA per level: \(fa.map { "\($0.level) \($0.value)" }); WM MTR: \(rows.filter { $0.metric == "mtr_pu" && $0.region == "white matter" }.map { "\($0.level) \($0.value)" }); CSA: \(rows.filter { $0.metric == "csa_mm2" }.map { "\($0.level) \($0.value)" })")
        #expect(!fa.isEmpty)
        // This 7-volume test series gives degenerate tensors in the cord (MRtrix3 3.0.3's
        // dwi2tensor + tensor2metric: median FA 1.22 there), so only the physical range and the
        // registration are checked; FA agreement with MRtrix3 is tested on sct_tutorial_data.
        for f in fa { #expect((0.0...1.0).contains(f.value), "WM FA \(f.level) \(f.value)") }
        for m in rows where m.metric == "md_um2_per_ms" { #expect(m.value > 0 && m.value < 4, "MD \(m.level) \(m.region) \(m.value)") }
        let prov = JSONValue.object(try JSONFile.read([String: JSONValue].self, from: s.provenancePath))
        for space in ["anat", "dwi", "mt"] {
            let dice = (prov["Steps"]?.arrayValue ?? []).first { $0["step"]?.stringValue == "registration (\(space))" }?["metrics"]?["dice"]?.numberValue ?? 0
            // Anatomical 0.5 mm slices: ≥ 0.90; DWI and MT (0.9–1 mm in-plane, 5 mm slices): ≥ 0.80.
            #expect(dice >= (space == "anat" ? 0.9 : 0.8), "\(space): Dice \(dice)")
        }
        let mtr = rows.filter { $0.metric == "mtr_pu" && $0.region == "white matter" }
        #expect(!mtr.isEmpty)
        for m in mtr { #expect((20.0...60.0).contains(m.value), "WM MTR \(m.level) \(m.value)") }
    }
}

extension JSONValue {
    subscript(key: String) -> JSONValue? { if case let .object(o) = self { return o[key] }; return nil }
    var arrayValue: [JSONValue]? { if case let .array(a) = self { return a }; return nil }
    var stringValue: String? { if case let .string(s) = self { return s }; return nil }
}

/// `ProcessRequest.imageRefinement` reaches the template registrations and the atlas loading.
@Suite struct ProcessImageRefinementOptionTests {
    @Test func requestOptionReachesRegistrationAndAtlas() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let (_, subject) = try ProcessPipelineTests.phantom(dir, [.axialT2w])
        var r = ProcessRequest(subject: subject, output: dir + "/out"); r.atlas = Support.packageRoot + "/atlas/CordQ"
        let off = try ProcessRun(r, log: { _ in })
        #expect(off.registrationOptions.imageRefinement == false)
        #expect(try off.atlas().contrasts.isEmpty)            // not read when the option is off
        r.imageRefinement = true; r.output = dir + "/out2"
        let on = try ProcessRun(r, log: { _ in })
        #expect(on.registrationOptions.imageRefinement == true)
        #expect(Set(try on.atlas().contrasts.keys).isSuperset(of: ["T1w", "T2w"]))   // the templates it compares with
    }

    /// Dice of the warped atlas cord per registration step, from the step metrics.
    static func registrationDice(_ s: ProcessSummary) -> [String: Double] {
        var out: [String: Double] = [:]
        for step in s.steps where step.name.hasPrefix("registration (") { if let d = step.metrics.dice { out[step.name] = d } }
        return out
    }

    /// `process --image-refinement` end to end on the phantom (axial T2w + DWI): it finishes,
    /// and in every space the kept registration's cord Dice is at least the run without the
    /// option's minus 0.01 — a refinement that lowers it more is dropped with a warning
    /// (the mean DWI, unlike the T2w template, lost 5 points on the demo phantom).
    @Test func endToEndKeepsTheRefinementOnlyWhereTheCordStaysAligned() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let (root, subject) = try ProcessPipelineTests.phantom(dir, [.axialT2w, .dwi])
        try TextFile.makeDirectory(root + "/derivatives/cordq")
        var r = ProcessRequest(subject: subject, output: root + "/derivatives/cordq/off")
        let off = try ProcessPipeline.run(r)
        r.output = root + "/derivatives/cordq/on"; r.imageRefinement = true
        let on = try ProcessPipeline.run(r)
        let diceOff = Self.registrationDice(off), diceOn = Self.registrationDice(on)
        print("process --image-refinement, registration Dice off \(diceOff) on \(diceOn); warnings \(on.warnings)")
        #expect(on.steps.allSatisfy { $0.status != .failed })
        #expect(Set(diceOn.keys) == ["registration (anat)", "registration (dwi)"])
        for (space, d) in diceOn {
            let before = try #require(diceOff[space])
            #expect(d >= before - 0.01, "\(space): \(d) with the option, \(before) without")   // the guard's 0.01
            #expect(d >= 0.90)   // issue 7's phantom Dice
        }
        let dropped = on.warnings.filter { $0.contains("image refinement lowered") }
        #expect(dropped.allSatisfy { $0.hasPrefix("registration (") })
        for step in on.steps where step.name.hasPrefix("registration (") {
            #expect(step.metrics.refinementKept != nil, "\(step.name): the guard compared both registrations")
            #expect((step.metrics.refinementKept == false) == dropped.contains { $0.hasPrefix(step.name) })
        }
        let provenance = try TextFile.read(on.provenancePath)
        #expect(provenance.contains("\"image_refinement\" : true"))
    }
}
