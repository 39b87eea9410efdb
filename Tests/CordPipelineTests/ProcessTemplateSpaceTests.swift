// `cordq process` writes every contrast space's warps and its maps in template space.
import Foundation
import Testing
import CordTestSupport
@testable import CordCore
@testable import CordIO
@testable import CordPhantom
@testable import CordPipeline
@testable import CordRegistration

/// One `cordq process` run on the phantom (T2w, DWI, MT) written where BIDS puts derivatives
/// (`derivatives/cordq/sub-phantom01`), shared by the tests below.
enum DerivativesFixture {
    static let run: Result<String, any Error> = Result {
        let dir = try Support.temporaryDirectory()
        var o = PhantomExportOptions(); o.acquisitions = [.axialT2w, .dwi, .mt]; o.parameters.seed = 3
        _ = try PhantomExport.write(to: dir + "/bids", options: o)
        var r = ProcessRequest(subject: dir + "/bids/sub-phantom01", output: dir + "/bids/derivatives/cordq/sub-phantom01"); r.qc = false; r.sctCSV = true
        _ = try ProcessPipeline.run(r)
        return dir
    }
    static var out: String { get throws { try run.get() + "/bids/derivatives/cordq/sub-phantom01/" } }

    /// bids-validator-deno: $CORDQ_BIDS_VALIDATOR, the one scripts/install-deps.sh puts in
    /// .tools/venv, or one on PATH.
    static let validator: String? = {
        if let e = ProcessInfo.processInfo.environment["CORDQ_BIDS_VALIDATOR"], FileManager.default.isExecutableFile(atPath: e) { return e }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let local = root + "/.tools/venv/bin/bids-validator-deno"
        if FileManager.default.isExecutableFile(atPath: local) { return local }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let p = String(dir) + "/bids-validator-deno"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        print("BIDS validation test skipped: bids-validator-deno not found (scripts/install-deps.sh installs it from PyPI into .tools/venv; or set CORDQ_BIDS_VALIDATOR)")
        return nil
    }()

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// A Python with SimpleITK and numpy: $CORDQ_PYTHON, else .tools/venv's.
    static let itkPython: String? = {
        let candidates = [ProcessInfo.processInfo.environment["CORDQ_PYTHON"], packageRoot + "/.tools/venv/bin/python"].compactMap { $0 }
        for python in candidates where FileManager.default.isExecutableFile(atPath: python) {
            if (try? run(python, ["-c", "import SimpleITK, numpy"]))?.status == 0 { return python }
        }
        print("ITK transform test skipped: no Python with SimpleITK and numpy (scripts/install-deps.sh installs them into .tools/venv; or set CORDQ_PYTHON)")
        return nil
    }()

    /// Runs a program; its exit status and standard output.
    static func run(_ program: String, _ arguments: [String]) throws -> (status: Int32, output: Data) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: program)
        p.arguments = arguments
        let pipe = Pipe(); p.standardOutput = pipe; p.standardError = FileHandle.nullDevice
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, data)
    }

    /// The validator's issues on `path`: (severity, code, location).
    static func validate(_ path: String, recursive: Bool) throws -> [(severity: String, code: String, location: String)] {
        let (_, data) = try run(try #require(validator), [path, "--format", "json"] + (recursive ? ["--recursive"] : []))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let issues = try #require((json["issues"] as? [String: Any])?["issues"] as? [[String: Any]])
        return issues.map { ($0["severity"] as? String ?? "", $0["code"] as? String ?? "", $0["location"] as? String ?? "") }
    }
}

@Suite struct ProcessTemplateSpaceTests {
    /// The DWI and MT spaces get transforms both ways (5D ITK fields, fMRIPrep's
    /// from-_to-_mode-image_xfm names), and FA and MTR in template space on the inverse
    /// transform's grid. FA taken to template space and brought back with the written
    /// transform matches the subject-space FA inside the cord (away from its edge): median
    /// |ΔFA| ≤ 0.06 with no bias (|mean ΔFA| ≤ 0.01). Measured 0.046 and +0.001: the blur of two
    /// trilinear resamplings (1 × 1 × 5 mm ↔ 0.5 × 0.5 × 1 mm) of an FA that varies 0.45 ± 0.24
    /// between grey and white matter; the same comparison against FA shifted by one voxel gives
    /// 0.11–0.14, so a misplaced map fails.
    @Test func warpsForEverySpaceAndMapsThatRoundTripThroughTemplateSpace() throws {
        let out = try DerivativesFixture.out
        for f in ["dwi/sub-phantom01_from-CordQ_to-dwi_mode-image_xfm.nii.gz", "dwi/sub-phantom01_from-dwi_to-CordQ_mode-image_xfm.nii.gz",
                  "anat/sub-phantom01_from-CordQ_to-MTS_mode-image_xfm.nii.gz", "anat/sub-phantom01_from-MTS_to-CordQ_mode-image_xfm.nii.gz",
                  "anat/sub-phantom01_acq-ax_from-CordQ_to-T2w_mode-image_xfm.nii.gz", "anat/sub-phantom01_acq-ax_from-T2w_to-CordQ_mode-image_xfm.nii.gz"] {
            let h = try NIfTIFile.readHeader(out + f)
            #expect(h.dims.count == 5 && h.dims[3] == 1 && h.dims[4] == 3, "\(f): \(h.dims)")   // ITK's 5D vector layout
        }
        let (faTemplate, _) = try NIfTIFile.read(out + "dwi/sub-phantom01_space-CordQ_model-DTI_param-FA_dwimap.nii.gz")
        let inverse = try NIfTIFile.readDisplacementField(out + "dwi/sub-phantom01_from-dwi_to-CordQ_mode-image_xfm.nii.gz")
        #expect(faTemplate.grid.isCompatible(with: inverse.grid))
        #expect(TextFile.exists(out + "anat/sub-phantom01_space-CordQ_MTRmap.nii.gz"))
        let forward = try NIfTIFile.readDisplacementField(out + "dwi/sub-phantom01_from-CordQ_to-dwi_mode-image_xfm.nii.gz")
        let back = try DisplacementField.apply(forward, to: faTemplate)
        let (fa, _) = try NIfTIFile.read(out + "dwi/sub-phantom01_space-dwi_model-DTI_param-FA_dwimap.nii.gz")
        let (cord, _) = try NIfTIFile.read(out + "dwi/sub-phantom01_space-dwi_label-SC_mask.nii.gz")
        #expect(back.grid.isCompatible(with: fa.grid))
        // Interior: cord voxels whose 4 in-plane neighbours are cord too.
        let g = fa.grid
        var diffs: [Double] = [], shifted: [Double] = [], signed = 0.0
        for k in 0..<g.nz { for j in 1..<(g.ny - 1) { for i in 1..<(g.nx - 1) {
            let n = g.index(i, j, k)
            guard cord.data[n] > 0, cord.data[n - 1] > 0, cord.data[n + 1] > 0, cord.data[n - g.nx] > 0, cord.data[n + g.nx] > 0 else { continue }
            guard back.data[n] > 0 else { continue }   // outside the template's cropped levels
            diffs.append(abs(Double(back.data[n] - fa.data[n]))); signed += Double(back.data[n] - fa.data[n])
            shifted.append(abs(Double(back.data[n] - fa.data[n - 1])))
        } } }
        diffs.sort()
        let median = diffs.isEmpty ? 1 : diffs[diffs.count / 2]
        print("FA subject → template → subject: median |ΔFA| \(median) over \(diffs.count) cord-interior voxels")
        shifted.sort()
        #expect(diffs.count > 50)
        #expect(median <= 0.06)
        #expect(abs(signed / Double(max(diffs.count, 1))) <= 0.01)
        #expect(shifted[shifted.count / 2] > median + 0.03)   // one voxel off is clearly worse
    }
}

@Suite struct BIDSDerivativesTests {
    /// Every image has a sidecar with Description, Sources (raw files as bids:raw: URIs, the
    /// raw dataset linked from dataset_description.json) and SpatialReference; maps have units;
    /// the level map has its lookup table; the derivatives folder has its description and
    /// .bidsignore.
    @Test func sidecarsAndDatasetDescription() throws {
        let out = try DerivativesFixture.out
        let root = out + "../"
        let description = try JSONFile.read([String: JSONValue].self, from: root + "dataset_description.json")
        #expect(description["DatasetType"]?.stringValue == "derivative")
        #expect(description["GeneratedBy"]?.arrayValue?.first?["Name"]?.stringValue == "cordq")
        #expect(description["DatasetLinks"]?["raw"]?.stringValue == "../..")
        let ignore = try TextFile.read(root + ".bidsignore")
        #expect(ignore.contains("*_dwimap.*") && ignore.contains("*_xfm.*") && ignore.contains("qc"))
        var images: [String] = []
        for folder in ["anat", "dwi"] {
            for f in try FileManager.default.contentsOfDirectory(atPath: out + folder) where f.hasSuffix(".nii.gz") { images.append(folder + "/" + f) }
        }
        #expect(images.count >= 30)
        for image in images {
            let sidecar = try JSONFile.read([String: JSONValue].self, from: out + String(image.dropLast(7)) + ".json")
            let text = sidecar["Description"]?.stringValue ?? ""
            #expect(text.count > 10, "\(image)")
            #expect(sidecar["SpatialReference"]?.stringValue != nil, "\(image)")
            let sources = sidecar["Sources"]?.arrayValue?.compactMap(\.stringValue) ?? []
            #expect(!sources.isEmpty && sources.allSatisfy { $0.hasPrefix("bids:raw:sub-phantom01/") }, "\(image): \(sources)")
            for s in sources { #expect(TextFile.exists(out + "../../../" + s.dropFirst("bids:raw:".count)), "\(s)") }
        }
        let fa = try JSONFile.read([String: JSONValue].self, from: out + "dwi/sub-phantom01_space-dwi_model-DTI_param-MD_dwimap.json")
        #expect(fa["Units"]?.stringValue == "um^2/ms" && fa["SkullStripped"] == .bool(false))
        let mtr = try JSONFile.read([String: JSONValue].self, from: out + "anat/sub-phantom01_space-MTS_MTRmap.json")
        #expect(mtr["Units"]?.stringValue == "percent")
        let lookup = try TextFile.read(out + "anat/sub-phantom01_acq-ax_space-T2w_desc-levels_dseg.tsv")
        #expect(lookup.hasPrefix("index\tname\n") && lookup.contains("5\tC5\n"))
    }

    /// `process --sct-csv`: sct_extract_metric's CSV per contrast space and
    /// sct_process_segmentation's beside the morphometry, SCT's headers, levels as numbers
    /// (1 = C1), and the same values as the long-form table.
    @Test func sctTablesBesideTheLongForm() throws {
        let out = try DerivativesFixture.out
        let extract = try TextFile.read(out + "dwi/sub-phantom01_space-dwi_sct-extract-metric.csv").split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        #expect(extract.first == SCTTables.extractMetricColumns(method: .wa))
        let long = try ProcessPipelineTests.table(out + "sub-phantom01_metrics.tsv")
        var compared = 0
        for row in extract.dropFirst() where row.count == 10 && row[6] == "white matter" && row[4] == "4" && row[2].contains("param-FA_") {
            let expected = try #require(long.first { $0.metric == "fa" && $0.region == "white matter" && $0.level == "C4" })
            #expect(abs((Double(row[8]) ?? .nan) - expected.value) < 1e-4, "\(row)")
            compared += 1
        }
        #expect(compared == 1)
        let morph = try TextFile.read(out + "anat/sub-phantom01_acq-ax_space-T2w_sct-process-segmentation.csv").split(separator: "\n")
        #expect(morph.first.map(String.init) == SCTTables.processSegmentationColumns.joined(separator: ","))
        #expect(morph.count >= 4)
        #expect(TextFile.exists(out + "anat/sub-phantom01_space-MTS_sct-extract-metric.csv"))
    }

    /// bids-validator-deno 3.x on the phantom's raw dataset with its derivatives (recursive) and
    /// on CordQ's derivatives folder alone: no errors.
    @Test(.enabled(if: DerivativesFixture.validator != nil)) func validatorFindsNoErrors() throws {
        let dir = try DerivativesFixture.run.get()
        for (path, recursive) in [(dir + "/bids/derivatives/cordq", false), (dir + "/bids", true)] {
            let issues = try DerivativesFixture.validate(path, recursive: recursive)
            let errors = issues.filter { $0.severity == "error" }
            print("bids-validator on \(path): \(errors.count) errors, \(issues.count - errors.count) warnings")
            #expect(errors.isEmpty, "\(errors.prefix(10))")
        }
    }

    /// Every transform `process` writes (anatomical, DWI and MT spaces, both ways) means to ITK
    /// what it means to CordQ: SimpleITK (antsApplyTransforms' machinery) resamples a subject map
    /// into template space through `from-<space>_to-CordQ` and back through `from-CordQ_to-<space>`;
    /// both agree with CordQ's resampling to 1e-4 of the map's range (measured 0: the same
    /// trilinear interpolation at the same points). A sign or axis mistake gives differences of
    /// the map's size.
    @Test(.enabled(if: DerivativesFixture.itkPython != nil)) func transformsReadByITK() throws {
        let out = try DerivativesFixture.out
        let work = try Support.temporaryDirectory(); defer { Support.remove(work) }
        let cases = [("T2w", "anat", "sub-phantom01_acq-ax", "anat/sub-phantom01_acq-ax_space-T2w_label-SC_probseg.nii.gz", nil as String?),
                     ("dwi", "dwi", "sub-phantom01", "dwi/sub-phantom01_space-dwi_model-DTI_param-FA_dwimap.nii.gz", "dwi/sub-phantom01_space-CordQ_model-DTI_param-FA_dwimap.nii.gz"),
                     ("MTS", "anat", "sub-phantom01", "anat/sub-phantom01_space-MTS_MTRmap.nii.gz", "anat/sub-phantom01_space-CordQ_MTRmap.nii.gz")]
        for (space, folder, base, subjectMap, templateMap) in cases {
            let toTemplate = out + "\(folder)/\(base)_from-\(space)_to-CordQ_mode-image_xfm.nii.gz"
            let toSpace = out + "\(folder)/\(base)_from-CordQ_to-\(space)_mode-image_xfm.nii.gz"
            let (map, _) = try NIfTIFile.read(out + subjectMap)
            let inTemplate: String
            if let templateMap { inTemplate = out + templateMap } else {
                inTemplate = work + "/\(space)_template.nii.gz"
                try NIfTIFile.write(try DisplacementField.apply(try NIfTIFile.readDisplacementField(toTemplate), to: map), to: inTemplate)
            }
            let (t, _) = try NIfTIFile.read(inTemplate)
            let back = work + "/\(space)_back.nii.gz"
            try NIfTIFile.write(try DisplacementField.apply(try NIfTIFile.readDisplacementField(toSpace), to: t), to: back)
            let (status, data) = try DerivativesFixture.run(try #require(DerivativesFixture.itkPython),
                                                            [DerivativesFixture.packageRoot + "/scripts/check_itk_transforms.py", out + subjectMap, inTemplate, toTemplate, toSpace, back])
            #expect(status == 0, "\(space): the ITK check failed")
            let r = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Double])
            let range = max(r["map_range"] ?? 0, 1e-6)
            print("ITK vs CordQ, \(space): to template \(r["to_template_max_difference"] ?? .nan), back \(r["to_space_max_difference"] ?? .nan) (range \(range))")
            #expect((r["to_template_max_difference"] ?? 1e9) <= 1e-4 * range, "\(space)")
            #expect((r["to_space_max_difference"] ?? 1e9) <= 1e-4 * range, "\(space)")
            #expect(range > 0.1)
        }
    }
}

@Suite struct DerivativeNamingTests {
    /// Names follow BIDS entity order with the source series' entities the datatype allows; a
    /// session run into a subject folder goes under ses-<label>/ as BIDS wants.
    @Test func namesAndSessionFolders() {
        var n = DerivativeNames(prefix: "sub-01_ses-2", template: "PAM50")
        #expect(n.anatMask("sub-01_ses-2_acq-ax_run-1_T2w", label: "SC") == "anat/sub-01_ses-2_acq-ax_run-1_space-T2w_label-SC_mask.nii.gz")
        #expect(n.mtMap("sub-01_ses-2_acq-mt_flip-1_mt-on_MTS", suffix: "MTRmap") == "anat/sub-01_ses-2_acq-mt_space-MTS_MTRmap.nii.gz")
        #expect(n.dwiModelFile("sub-01_ses-2_dir-AP_dwi", model: "DTI", file: "FA.nii.gz") == "dwi/sub-01_ses-2_dir-AP_space-dwi_model-DTI_param-FA_dwimap.nii.gz")
        #expect(n.dwiModelFile("sub-01_ses-2_dir-AP_dwi", model: "DTI", file: "mask.nii.gz") == "dwi/sub-01_ses-2_dir-AP_space-dwi_desc-fitDTI_mask.nii.gz")
        #expect(n.dwiField("sub-01_ses-2_dir-AP_dwi") == "fmap/sub-01_ses-2_space-dwi_desc-cordq_fieldmap.nii.gz")   // no dir- on a field map
        #expect(n.templateMap(stem: "sub-01_ses-2_dwi", folder: "dwi", metric: "md_um2_per_ms") == "dwi/sub-01_ses-2_space-PAM50_model-DTI_param-MD_dwimap.nii.gz")
        #expect(n.transform(folder: "anat", base: "sub-01_ses-2_acq-ax", from: "T2w", to: "PAM50") == "anat/sub-01_ses-2_acq-ax_from-T2w_to-PAM50_mode-image_xfm.nii.gz")
        n.sessionFolder = "ses-2/"
        #expect(n.anatLevels("sub-01_ses-2_acq-ax_T2w") == "ses-2/anat/sub-01_ses-2_acq-ax_space-T2w_desc-levels_dseg.nii.gz")
        #expect(DerivativeLayout(subject: "/data/raw/sub-01", output: "/data/raw/derivatives/cordq/sub-01").root == "/data/raw/derivatives/cordq")
        #expect(DerivativeLayout(subject: "/data/raw/sub-01", output: "/data/raw/derivatives/cordq/sub-01/ses-2").root == "/data/raw/derivatives/cordq")
        #expect(DerivativeLayout(subject: "/data/raw/sub-01", output: "/tmp/out").root == nil)
    }

    /// The derivatives folder: an existing dataset_description.json is kept; an existing
    /// .bidsignore keeps its lines and gets the patterns it lacks, once.
    @Test func existingDescriptionKeptAndIgnoreCompleted() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        try TextFile.write(#"{"Name": "mine", "BIDSVersion": "1.9.0", "DatasetType": "derivative"}"# + "\n", to: dir + "/dataset_description.json")
        try TextFile.write("extra/\n*_dwimap.*\n", to: dir + "/.bidsignore")
        for _ in 0..<2 {
            try DerivativeDataset.prepare(root: dir, name: "CordQ derivatives", version: "x", rawRoot: nil, ignore: DerivativeNames.ignored)
        }
        #expect(try TextFile.read(dir + "/dataset_description.json").contains("\"mine\""))
        let lines = try TextFile.read(dir + "/.bidsignore").split(separator: "\n").map(String.init)
        #expect(lines.first == "extra/")
        #expect(lines.filter { $0 == "*_dwimap.*" }.count == 1)
        #expect(lines.filter { $0 == "*_xfm.*" }.count == 1)
        #expect(lines.filter { !$0.hasPrefix("#") }.count == DerivativeNames.ignored.count + 1)
    }
}
