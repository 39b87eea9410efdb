import Foundation
import Testing
import CordTestSupport
@testable import CordCore
@testable import CordIO
@testable import CordPhantom
@testable import CordPipeline

/// Pipeline core (issue 14): `process` decodes each input once and writes each output once,
/// its steps agree with the single commands for the same options, the protocol card drives
/// the preprocessing, and step records carry typed metrics.
@Suite(.serialized) struct ProcessCoreTests {
    /// One `process --image-refinement` run on the demo subject (sagittal and axial T2w, DWI,
    /// MT), with the I/O counts of the run.
    struct Run: Sendable {
        var dir: String, root: String, subject: String, output: String
        var summary: ProcessSummary
        var counts: IOCounters.Counts
    }

    static let demo: Result<Run, Error> = Result {
        let dir = try Support.temporaryDirectory()
        var o = PhantomExportOptions(); o.acquisitions = [.sagittalT2w, .axialT2w, .dwi, .mt]   // the demo subject
        _ = try PhantomExport.write(to: dir + "/bids", options: o)
        let root = dir + "/bids", subject = root + "/sub-phantom01", output = root + "/derivatives/cordq/sub-phantom01"
        var r = ProcessRequest(subject: subject, output: output)   // its parent folder does not exist yet
        r.imageRefinement = true
        let before = IOCounters.snapshot()
        let s = try ProcessPipeline.run(r)
        let after = IOCounters.snapshot()
        var delta = IOCounters.Counts()
        for (k, v) in after.imageDecodes { let d = v - (before.imageDecodes[k] ?? 0); if d > 0 { delta.imageDecodes[k] = d } }
        for (k, v) in after.writes { let d = v - (before.writes[k] ?? 0); if d > 0 { delta.writes[k] = d } }
        return Run(dir: dir, root: root, subject: subject, output: output, summary: s, counts: delta)
    }

    /// Largest |a − b| over two equally long buffers (never an array comparison inside
    /// #expect: its failure message diffs millions of values).
    static func largestDifference(_ a: [Float], _ b: [Float]) -> Double {
        guard a.count == b.count else { return .infinity }
        var worst: Float = 0
        for i in a.indices { worst = max(worst, abs(a[i] - b[i])) }
        return Double(worst)
    }

    static func provenance(_ s: ProcessSummary) throws -> JSONValue {
        .object(try JSONFile.read([String: JSONValue].self, from: s.provenancePath))
    }

    @Test func processDecodesEachInputOnceAndWritesEachOutputOnce() throws {
        let run = try Self.demo.get()
        let decoded = run.counts.under(run.root).imageDecodes
        print("process on the demo subject decoded: \(decoded.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" })")
        for (file, n) in decoded { #expect(n == 1, "\(file) decoded \(n) times") }
        let needed = ["sub-phantom01/anat/sub-phantom01_acq-ax_T2w.nii.gz", "sub-phantom01/dwi/sub-phantom01_dwi.nii.gz",
                      "sub-phantom01/anat/sub-phantom01_flip-1_mt-on_MTS.nii.gz", "sub-phantom01/anat/sub-phantom01_flip-1_mt-off_MTS.nii.gz",
                      "sub-phantom01/anat/sub-phantom01_flip-2_mt-off_MTS.nii.gz",
                      "derivatives/labels/sub-phantom01/anat/sub-phantom01_acq-ax_T2w_labels-disc.nii.gz"]
        for f in needed { #expect(decoded[f] == 1, "\(f)") }
        // No output is read back: nothing under derivatives/cordq is decoded.
        #expect(!decoded.keys.contains { $0.hasPrefix("derivatives/cordq") })

        // Writes go to staging folders (`.NAME.partial-PID-N`, renamed to NAME when complete):
        // each output path once, and exactly the files the finished output folder holds.
        let parent = run.root + "/derivatives/cordq"
        var written: [String: Int] = [:]
        let staging = try Regex(#"(^|/)\.([^/]+)\.partial-[0-9]+-[0-9]+(?=/)"#)
        for (path, n) in run.counts.under(parent).writes where path.hasPrefix(".sub-phantom01.partial-") {
            let final = path.replacing(staging) { "\($0.output[1].substring ?? "")\($0.output[2].substring ?? "")" }
            written[String(final.dropFirst("sub-phantom01/".count)), default: 0] += n
        }
        for (file, n) in written { #expect(n == 1, "\(file) written \(n) times") }
        let final = Set(try FileManager.default.subpathsOfDirectory(atPath: run.output).filter { !TextFile.isDirectory(run.output + "/" + $0) })
        #expect(Set(written.keys) == final, "written but absent: \(Set(written.keys).subtracting(final)); present but not counted: \(final.subtracting(written.keys))")
        #expect(final.count > 20)
    }

    /// The same MTR (with alignment), MP-PCA and registration with image refinement from the
    /// single commands' library functions as from `process`, voxel for voxel.
    @Test func singleCommandsGiveTheMapsProcessGives() throws {
        let run = try Self.demo.get()
        let sub = run.subject, out = run.output, work = run.dir + "/single"
        try TextFile.makeDirectory(work)

        // MTR with slice-wise alignment (the guard keeps or drops it in both).
        var mtr = MTRRequest(mtOn: sub + "/anat/sub-phantom01_flip-1_mt-on_MTS.nii.gz",
                             mtOff: sub + "/anat/sub-phantom01_flip-1_mt-off_MTS.nii.gz", output: work + "/mtr.nii.gz")
        mtr.register = true
        let report = try MTPipeline.mtr(mtr)
        let (single, _) = try NIfTIFile.read(work + "/mtr.nii.gz"), (fromProcess, _) = try NIfTIFile.read(out + "/anat/sub-phantom01_space-MTS_MTRmap.nii.gz")
        #expect(single.data.count == fromProcess.data.count && Self.largestDifference(single.data, fromProcess.data) == 0)   // identical
        let mtrStep = try #require(run.summary.steps.first { $0.name == "mtr" })
        #expect(mtrStep.metrics.alignmentKept == report.alignmentKept.values.first)
        #expect(mtrStep.metrics.nccBefore == report.alignment.values.first?[0])

        // MP-PCA with the same (default) options.
        let denoised = try DenoisePipeline.mppca(MPPCARequest(input: sub + "/dwi/sub-phantom01_dwi.nii.gz", output: work + "/den.nii.gz"))
        let (a, _) = try NIfTIFile.read(work + "/den.nii.gz"), (b, _) = try NIfTIFile.read(out + "/dwi/sub-phantom01_space-dwi_desc-denoised_dwi.nii.gz")
        // Equal to float32 rounding: the overcomplete reconstruction sums window estimates from
        // both cores in whichever order they finish (measured here: 4.8e-7 on values up to 2.1).
        let scale = Double(b.data.map { abs($0) }.max() ?? 1)
        #expect(a.data.count == b.data.count && Self.largestDifference(a.data, b.data) <= 1e-6 * scale)
        let denoiseStep = try #require(run.summary.steps.first { $0.name == "denoise sub-phantom01_dwi" })
        // σ is corrected for the Rician floor with the denoised values (above), so it carries the
        // same summation-order rounding: equal to 1e-6 relative (measured 7e-8).
        let s1 = try #require(denoiseStep.metrics.sigmaMedian)
        #expect(abs(s1 - denoised.medianSigma) <= 1e-6 * abs(denoised.medianSigma))

        // Template registration with image refinement and its guard, on process's segmentation and labels.
        let reg = try RegistrationPipeline.toTemplate(
            image: sub + "/anat/sub-phantom01_acq-ax_T2w.nii.gz", segmentation: out + "/anat/sub-phantom01_acq-ax_space-T2w_label-SC_mask.nii.gz",
            labels: run.root + "/derivatives/labels/sub-phantom01/anat/sub-phantom01_acq-ax_T2w_labels-disc.nii.gz", kind: .disc,
            atlas: ProcessPipeline.standardAtlas, imageRefinement: true, outputDir: work + "/reg")
        let w1 = try NIfTIFile.readDisplacementField(reg.forwardWarpPath), w2 = try NIfTIFile.readDisplacementField(out + "/anat/sub-phantom01_acq-ax_from-CordQ_to-T2w_mode-image_xfm.nii.gz")
        #expect(w1.grid.isCompatible(with: w2.grid) && w1.data.count == w2.data.count)
        let worst = Self.largestDifference(w1.data, w2.data)
        #expect(worst < 1e-4, "largest warp difference \(worst) mm")   // mm; float32 storage
        let anat = try #require(run.summary.steps.first { $0.name == "registration (anat)" })
        #expect(anat.metrics.refinementKept == reg.refinementCheck?.kept)
        #expect(abs((anat.metrics.dice ?? 0) - reg.dice) < 1e-9)
    }

    /// Every step's typed metrics reach the summary and the provenance record.
    @Test func stepRecordsCarryTypedMetrics() throws {
        let run = try Self.demo.get()
        let steps = run.summary.steps
        for space in ["anat", "dwi", "mt"] {
            let r = try #require(steps.first { $0.name == "registration (\(space))" })
            // Anatomical 0.5 mm slices: ≥ 0.90; DWI and MT (0.9–1 mm in-plane, 5 mm slices): ≥ 0.80.
            #expect((r.metrics.dice ?? 0) >= (space == "anat" ? 0.9 : 0.8), "\(space): \(r.metrics)")
            // Image refinement was on: the guard compared it with the plain registration.
            #expect(r.metrics.diceWithoutRefinement != nil && r.metrics.refinementKept != nil)
            if r.metrics.refinementKept == true { #expect(r.metrics.dice! >= r.metrics.diceWithoutRefinement! - 0.01) }
        }
        let denoise = try #require(steps.first { $0.name == "denoise sub-phantom01_dwi" })
        #expect((denoise.metrics.sigmaMedian ?? 0) > 0 && denoise.metrics.volumes == 35)
        let dti = try #require(steps.first { $0.name == "dti sub-phantom01_dwi" })
        #expect((dti.metrics.voxelsFitted ?? 0) > 1000)
        let mtr = try #require(steps.first { $0.name == "mtr" })
        #expect(mtr.metrics.nccBefore != nil && mtr.metrics.nccAfter != nil && mtr.metrics.invalidVoxels != nil)
        let values = steps.filter { $0.name.hasPrefix("values (") }
        #expect(values.count == 2 && values.allSatisfy { ($0.metrics.rows ?? 0) > 100 })

        let prov = try Self.provenance(run.summary)
        let recorded = prov["Steps"]?.arrayValue ?? []
        let anat = try #require(recorded.first { $0["step"]?.stringValue == "registration (anat)" })
        #expect(anat["metrics"]?["dice"]?.numberValue == steps.first { $0.name == "registration (anat)" }?.metrics.dice)
        #expect(prov["Processing"]?["sub-phantom01_dwi"]?["denoise"]?["value"]?.stringValue == "mppca")
        #expect(prov["Processing"]?["sub-phantom01_dwi"]?["denoise"]?["source"]?.stringValue?.contains("card clinical-minimal") == true)
    }

    /// A card whose `processing:` block turns MP-PCA off changes what `process` does, the
    /// provenance says why, and `--denoise on` overrides the card.
    @Test func cardProcessingBlockDrivesDenoising() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let (_, subject) = try ProcessPipelineTests.phantom(dir, [.axialT2w, .dwi])
        let card = try TextFile.read(Support.packageRoot + "/protocols/clinical-minimal.yaml")
            .replacingOccurrences(of: "name: clinical-minimal", with: "name: clinical-no-denoise")
            .replacingOccurrences(of: "processing: {denoise: mppca, unring: false,", with: "processing: {denoise: none, unring: true,")
        #expect(card.contains("denoise: none"))
        try TextFile.write(card, to: dir + "/clinical-no-denoise.yaml")

        var r = ProcessRequest(subject: subject, output: dir + "/off"); r.protocolName = dir + "/clinical-no-denoise.yaml"
        let off = try ProcessPipeline.run(r)
        let skipped = try #require(off.steps.first { $0.name == "denoise sub-phantom01_dwi" })
        #expect(skipped.status == .skipped)
        #expect(off.steps.first { $0.name == "unring sub-phantom01_dwi" }?.status == .done)   // the card turned unringing on
        #expect(!TextFile.exists(dir + "/off/dwi/sub-phantom01_space-dwi_desc-denoised_dwi.nii.gz"))
        let prov = try Self.provenance(off)
        let plan = prov["Processing"]?["sub-phantom01_dwi"]
        #expect(plan?["denoise"]?["value"]?.stringValue == "none")
        #expect(plan?["denoise"]?["source"]?.stringValue == "card clinical-no-denoise, series dwi: processing.denoise = none")
        #expect(plan?["unring"]?["value"]?.stringValue == "true")
        #expect(prov["Protocol"]?["Card"]?.stringValue == "clinical-no-denoise")

        r.output = dir + "/on"; r.denoise = true
        let on = try ProcessPipeline.run(r)
        #expect(on.steps.first { $0.name == "denoise sub-phantom01_dwi" }?.status == .done)
        #expect(try Self.provenance(on)["Processing"]?["sub-phantom01_dwi"]?["denoise"]?["source"]?.stringValue == "--denoise on")

        // A card that asks for MP-PCA on a series with too few volumes: reported as a warning.
        r.output = dir + "/few"; r.denoise = nil; r.protocolName = "clinical-minimal"; r.denoiseOptions.minimumVolumes = 40
        let few = try ProcessPipeline.run(r)
        #expect(few.steps.first { $0.name == "denoise sub-phantom01_dwi" }?.status == .skipped)
        #expect(few.warnings.contains { $0.hasPrefix("denoise sub-phantom01_dwi") && $0.contains("35 volumes") && $0.contains("at least 40") })
    }

    /// A card whose μFA map combines a linear and a spherical series (as cervical-qmri's
    /// `lte` + `ste`): the spherical series' shape comes from the card (no encoding TSV), the
    /// method from the map, and the μFA map equals `cordq dwi microfa` on both series.
    @Test func cardMicroFAMapCombinesSeriesWithTheCardsEncodings() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var o = DWISimulationOptions(); o.snr = 50; o.seed = 4
        _ = try DiffusionSimulationExport.write(to: dir + "/sim", options: o)   // b = 0 ×4, linear ×20 and spherical ×10 at 500, 1000, 2000
        let (all, _) = try NIfTIFile.read(dir + "/sim/dwi.nii.gz")
        let shapes = try TSVTable.read(dir + "/sim/dwi_encoding.tsv").rows.map { $0[0] }
        let bvals = try TextFile.read(dir + "/sim/dwi.bval").split(whereSeparator: \.isWhitespace).map(String.init)
        let bvecRows = try TextFile.read(dir + "/sim/dwi.bvec").split(separator: "\n").map { $0.split(whereSeparator: \.isWhitespace).map(String.init) }
        let zeros = bvals.indices.filter { Double(bvals[$0]) == 0 }
        let lte = zeros.prefix(2) + bvals.indices.filter { shapes[$0] == "linear" && Double(bvals[$0])! > 0 }
        let ste = zeros.suffix(2) + bvals.indices.filter { shapes[$0] == "spherical" }
        #expect(lte.count == 62 && ste.count == 32)
        let sub = dir + "/bids/sub-01"
        try TextFile.makeDirectory(sub + "/dwi")
        for (acq, picked) in [("lte", Array(lte)), ("ste", Array(ste))] {
            let stem = sub + "/dwi/sub-01_acq-\(acq)_dwi"
            try NIfTIFile.write(try Volume.stacking(picked.map { all.frame($0) }), to: stem + ".nii.gz")
            try TextFile.write(picked.map { bvals[$0] }.joined(separator: " ") + "\n", to: stem + ".bval")
            try TextFile.write(bvecRows.map { row in picked.map { row[$0] }.joined(separator: " ") }.joined(separator: "\n") + "\n", to: stem + ".bvec")
        }
        let card = """
        format: 1
        name: mufa-pair
        title: linear + spherical encoding for μFA
        series:
          - {id: dwi-lte, datatype: dwi, suffix: dwi, entities: {acq: "lte"}, required: true, diffusion: {encoding: linear, shells: [{b_s_per_mm2: 0}, {b_s_per_mm2: 500}, {b_s_per_mm2: 1000}, {b_s_per_mm2: 2000}]}, processing: {denoise: none}}
          - {id: dwi-ste, datatype: dwi, suffix: dwi, entities: {acq: "ste"}, required: true, diffusion: {encoding: spherical, shells: [{b_s_per_mm2: 0}, {b_s_per_mm2: 500}, {b_s_per_mm2: 1000}, {b_s_per_mm2: 2000}]}, processing: {denoise: none}}
        maps:
          - {id: mufa, kind: mufa, method: gamma, inputs: {lte: dwi-lte, ste: dwi-ste}}
        """
        try TextFile.write(card + "\n", to: dir + "/mufa-pair.yaml")
        var r = ProcessRequest(subject: sub, output: dir + "/out"); r.protocolName = dir + "/mufa-pair.yaml"; r.keepGoing = true
        let s = try ProcessPipeline.run(r)
        let step = try #require(s.steps.first { $0.name == "microfa mufa" })
        #expect(step.status == .done && step.outputs.contains("dwi/sub-01_acq-lte_space-dwi_model-gamma_param-microFA_desc-mufa_dwimap.nii.gz"))
        let record = JSONValue.object(try JSONFile.read([String: JSONValue].self, from: dir + "/out/dwi/sub-01_acq-lte_space-dwi_model-gamma_desc-mufa_dwimap.json"))
        #expect(record["Method"]?.stringValue == "gamma")
        #expect(record["Inputs"]?.arrayValue?.count == 2)
        #expect(!s.steps.contains { $0.name == "microfa sub-01_acq-lte_dwi" })   // not fitted alone
        let plan = try Self.provenance(s)["Processing"]?["sub-01_acq-ste_dwi"]
        #expect(plan?["encoding"]?["source"]?.stringValue == "card mufa-pair, series dwi-ste: diffusion.encoding = spherical")

        // The single command on the same two series, shapes given as the card gives them.
        let single = try DiffusionProcessing.microFA(
            inputs: [DWIInput(image: sub + "/dwi/sub-01_acq-lte_dwi.nii.gz", encoding: .shape(.linear)),
                     DWIInput(image: sub + "/dwi/sub-01_acq-ste_dwi.nii.gz", encoding: .shape(.spherical))],
            mask: .automatic, output: dir + "/single", method: .gamma)
        #expect(single.method == "gamma")
        let (a, _) = try NIfTIFile.read(dir + "/single/microFA.nii.gz")
        let (b, _) = try NIfTIFile.read(dir + "/out/dwi/sub-01_acq-lte_space-dwi_model-gamma_param-microFA_desc-mufa_dwimap.nii.gz")
        #expect(Self.largestDifference(a.data, b.data) == 0)
        // Against the truth in pure white matter (SNR 50): gamma's median error within 0.05.
        let (truth, _) = try NIfTIFile.read(dir + "/sim/truth_microFA.nii.gz"), (wm, _) = try NIfTIFile.read(dir + "/sim/mask_wm.nii.gz")
        var errors = (0..<truth.data.count).filter { wm.data[$0] > 0 }.map { abs(Double(b.data[$0] - truth.data[$0])) }
        errors.sort()
        print("card μFA (gamma, lte + ste, SNR 50): median |error| \(errors[errors.count / 2]) over \(errors.count) WM voxels")
        #expect(errors.count > 20 && errors[errors.count / 2] < 0.05)

        // With MP-PCA on both series, μFA removes the magnitude bias with their σ maps (one
        // frame per volume of the concatenation) and says so; --no-microfa-debias does not.
        try TextFile.write(card.replacingOccurrences(of: "denoise: none", with: "denoise: mppca").replacingOccurrences(of: "name: mufa-pair", with: "name: mufa-mppca") + "\n", to: dir + "/mufa-mppca.yaml")
        for debias in [true, false] {
            var rd = ProcessRequest(subject: sub, output: dir + "/out-\(debias)"); rd.protocolName = dir + "/mufa-mppca.yaml"; rd.microFADebias = debias
            let sd = try ProcessPipeline.run(rd)
            #expect(sd.steps.filter { $0.name.hasPrefix("denoise ") && $0.status == .done }.count == 2)
            let mstep = try #require(sd.steps.first { $0.name == "microfa mufa" })
            let rec = JSONValue.object(try JSONFile.read([String: JSONValue].self, from: dir + "/out-\(debias)/dwi/sub-01_acq-lte_space-dwi_model-gamma_desc-mufa_dwimap.json"))
            if debias {
                #expect(mstep.detail.contains("magnitude bias removed with the MP-PCA σ maps of sub-01_acq-lte_dwi + sub-01_acq-ste_dwi"), "\(mstep.detail)")
                #expect(rec["MagnitudeBiasCorrection"]?["Sigma"]?.stringValue == "MP-PCA σ maps of sub-01_acq-lte_dwi + sub-01_acq-ste_dwi")
            } else {
                #expect(!mstep.detail.contains("magnitude bias"))
                #expect(rec["MagnitudeBiasCorrection"]?.stringValue == "none")
            }
        }
    }

    /// A card whose MTsat map says `b1: map` makes `process` use its B1 series: a map in
    /// percent is read as a fraction (100 % everywhere gives the uncorrected MTsat exactly), a
    /// map that is neither fraction nor percent is refused with a warning, and the provenance
    /// names the card as the source.
    @Test func cardB1MapReachesMTsat() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let (_, subject) = try ProcessPipelineTests.phantom(dir, [.mt])
        func mtSeries(_ id: String, _ flip: String, _ mt: String, _ deg: Int) -> String {
            "  - {id: \(id), datatype: anat, suffix: MTS, entities: {flip: \"\(flip)\", mt: \"\(mt)\"}, required: true, flip_deg: {value: \(deg), tolerance: 90}, tr_s: {value: 0.05, tolerance: 1}}"
        }
        let card = (["format: 1", "name: mt-b1", "title: MT with a B1 map", "series:",
                     mtSeries("mt-on", "1", "on", 9), mtSeries("mt-off", "1", "off", 9), mtSeries("t1w-mts", "2", "off", 15),
                     "  - {id: b1, datatype: fmap, suffix: TB1map, required: false}",
                     "maps:",
                     "  - {id: mtsat, kind: mtsat, inputs: {mt_on: mt-on, pd: mt-off, t1: t1w-mts, b1map: b1}, b1: map}"]).joined(separator: "\n") + "\n"
        try TextFile.write(card, to: dir + "/mt-b1.yaml")
        let (mtOn, header) = try NIfTIFile.read(subject + "/anat/sub-phantom01_flip-1_mt-on_MTS.nii.gz")
        var r = ProcessRequest(subject: subject, output: dir + "/none"); r.protocolName = dir + "/mt-b1.yaml"
        let without = try ProcessPipeline.run(r)   // no B1 file yet: a warning, nominal flip angles
        #expect(without.warnings.contains { $0.hasPrefix("mtsat:") && $0.contains("has no image") })
        try NIfTIFile.write(mtOn.map { _ in Float(100) }, to: subject + "/fmap/sub-phantom01_TB1map.nii.gz", like: header)
        r.output = dir + "/percent"
        let with = try ProcessPipeline.run(r)
        #expect(with.steps.first { $0.name == "mtsat" }?.status == .done)
        let (a, _) = try NIfTIFile.read(dir + "/none/anat/sub-phantom01_space-MTS_MTsat.nii.gz")
        let (b, _) = try NIfTIFile.read(dir + "/percent/anat/sub-phantom01_space-MTS_MTsat.nii.gz")
        #expect(Self.largestDifference(a.data, b.data) < 1e-5)   // p.u.: B1 = 1 is the nominal flip angle
        let b1 = try Self.provenance(with)["Processing"]?["mtsat"]?["b1"]
        #expect(b1?["source"]?.stringValue == "card mt-b1, map mtsat: b1 = map (series b1)")
        #expect(b1?["value"]?.stringValue?.hasSuffix("fmap/sub-phantom01_TB1map.nii.gz") == true)
        try NIfTIFile.write(mtOn.map { _ in Float(5) }, to: subject + "/fmap/sub-phantom01_TB1map.nii.gz", like: header)
        r.output = dir + "/odd"
        let odd = try ProcessPipeline.run(r)
        #expect(odd.warnings.contains { $0.contains("median 5") && $0.contains("nominal flip angles") })
    }

    /// An MT-only session (no anatomical image, so no levels) still gives whole-cord and
    /// per-slice MTR and MTsat values.
    @Test func mtOnlySessionGivesWholeCordAndPerSliceValues() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let (root, subject) = try ProcessPipelineTests.phantom(dir, [.mt])
        let s = try ProcessPipeline.run(ProcessRequest(subject: subject, output: dir + "/out"))
        #expect(s.steps.allSatisfy { $0.status != .failed })
        let rows = try ProcessPipelineTests.table(s.tablePath)
        let mtr = try #require(rows.first { $0.metric == "mtr_pu" && $0.level == "all" && $0.region == "cord" })
        // Against the noise-free truth MTR in the phantom's cord (any value the cord holds).
        let (truth, _) = try NIfTIFile.read(root + "/derivatives/truth/sub-phantom01/anat/sub-phantom01_mt_desc-truthMTR_map.nii.gz")
        let (cord, _) = try NIfTIFile.read(root + "/derivatives/truth/sub-phantom01/anat/sub-phantom01_mt_label-cord_mask.nii.gz")
        let inCord = (0..<truth.data.count).filter { cord.data[$0] > 0 }.map { Double(truth.data[$0]) }
        #expect(((inCord.min() ?? 0) - 2...(inCord.max() ?? 100) + 2).contains(mtr.value), "whole-cord MTR \(mtr.value)")   // p.u.
        #expect(rows.contains { $0.metric == "mtsat_pu" && $0.level == "all" })
        let perSlice = try ProcessPipelineTests.table(dir + "/out/anat/sub-phantom01_space-MTS_perslice.tsv")
        #expect(perSlice.filter { $0.metric == "mtr_pu" }.count >= 10)
        #expect(perSlice.allSatisfy { $0.level.hasPrefix("slice ") })
        #expect(s.warnings.contains { $0.contains("no vertebral labels") })
    }

    /// Output folders: missing parents are created; an existing output is refused unless
    /// `overwrite`, which replaces it only once the new one is complete.
    @Test func outputFolderParentsAndOverwrite() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let target = dir + "/a/b/out"
        let first = try OutputFolder(target)
        try TextFile.write("one\n", to: try first.path("x.txt"))
        try first.commit()
        #expect(try TextFile.read(target + "/x.txt") == "one\n")
        #expect(throws: CordIOError.self) { try OutputFolder(target) }
        // A failed replacement leaves the old output as it was.
        do {
            let failing = try OutputFolder(target, overwrite: true)
            try TextFile.write("half\n", to: try failing.path("y.txt"))
            failing.discard()
        }
        #expect(Support.files(in: target) == ["x.txt"])
        let second = try OutputFolder(target, overwrite: true)
        try TextFile.write("two\n", to: try second.path("z.txt"))
        #expect(Support.files(in: target) == ["x.txt"])   // still the old one until commit
        try second.commit()
        #expect(Support.files(in: target) == ["z.txt"])
        #expect(Support.files(in: dir + "/a/b") == ["out"])   // no staging or replaced folder left
        // Single files: missing parent folders are created too.
        try TextFile.write("t\n", to: dir + "/c/d/t.txt")
        #expect(TextFile.exists(dir + "/c/d/t.txt"))
    }

    /// `process --overwrite` replaces a finished output; without it the run is refused.
    @Test func processOverwrite() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let (_, subject) = try ProcessPipelineTests.phantom(dir, [.axialT2w])
        var r = ProcessRequest(subject: subject, output: dir + "/out")
        _ = try ProcessPipeline.run(r)
        try TextFile.write("stale\n", to: dir + "/out/stale.txt")
        #expect(throws: (any Error).self) { try ProcessPipeline.run(r) }
        #expect(TextFile.exists(dir + "/out/stale.txt"))
        r.overwrite = true
        let s = try ProcessPipeline.run(r)
        #expect(!TextFile.exists(dir + "/out/stale.txt") && TextFile.exists(s.tablePath))
        // The output may never hold the subject (replacing it would delete the input).
        var bad = ProcessRequest(subject: subject, output: dir); bad.overwrite = true
        #expect(throws: (any Error).self) { try ProcessPipeline.run(bad) }
        #expect(TextFile.isDirectory(subject))
    }
}

extension JSONValue {
    var numberValue: Double? { if case let .number(d) = self { return d }; return nil }
}
