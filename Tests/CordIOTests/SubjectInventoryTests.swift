import Foundation
import Testing
import CordTestSupport
@testable import CordCore
@testable import CordIO

/// The one BIDS walker: `SubjectInventory.read` finds every series by image or sidecar and
/// reads its sidecar (with inheritance), header and gradients once.
@Suite struct SubjectInventoryTests {
    func write(_ text: String, _ path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
    let tiny = Volume<Float>(grid: Grid(nx: 2, ny: 2, nz: 2, spacing: [1, 1, 1]))

    @Test func seriesAreFoundByImageOrBySidecar() throws {
        let root = try Support.temporaryDirectory(); defer { Support.remove(root) }
        let sub = root + "/sub-01"
        try FileManager.default.createDirectory(atPath: sub + "/anat", withIntermediateDirectories: true)
        try NIfTIFile.write(tiny, to: sub + "/anat/sub-01_T2w.nii.gz")
        try write("{}", sub + "/anat/sub-01_T2w.json")
        try write("{}", sub + "/anat/sub-01_flip-1_mt-on_MTS.json")          // sidecar only
        try write("{}", sub + "/dwi/sub-01_run-2_dwi.json")
        try write("0 1000\n", sub + "/dwi/sub-01_run-2_dwi.bval")
        try write("0 1\n0 0\n0 0\n", sub + "/dwi/sub-01_run-2_dwi.bvec")
        try write("notes", sub + "/dwi/README.txt")                          // not BIDS: ignored
        let inventory = try SubjectInventory.read(sub)
        let a = inventory.series
        #expect(inventory.id == "sub-01" && inventory.label == "01" && inventory.sessions.isEmpty)
        #expect(inventory.root == URL(fileURLWithPath: root).standardizedFileURL.path)
        #expect(a.map(\.displayName) == ["anat/sub-01_T2w", "anat/sub-01_flip-1_mt-on_MTS", "dwi/sub-01_run-2_dwi"])
        #expect(a[0].imagePath != nil && a[0].sidecarPath != nil)
        #expect(a[1].imagePath == nil && a[1].seriesEntities == ["flip": "1", "mt": "on"])
        #expect(a[2].run == 2 && a[2].seriesEntities.isEmpty && a[2].bvalPath != nil && a[2].bvecPath != nil)
        #expect(inventory.images.map(\.suffix) == ["T2w"])
        // Each file is read into its series: the header, the sidecar, the gradients as written.
        #expect(a[0].header?.dims == [2, 2, 2] && a[0].name.fileExtension == ".nii.gz" && a[0].sidecar != nil)
        #expect(a[1].header == nil && a[1].name.fileExtension == ".json")
        #expect(a[2].gradients == RawGradients(bValues: [0, 1000], vectors: [[0, 0, 0], [1, 0, 0]]))
        #expect(a.allSatisfy { $0.problems.isEmpty })
        let g = try GradientFiles.readRaw(bval: sub + "/dwi/sub-01_run-2_dwi.bval", bvec: sub + "/dwi/sub-01_run-2_dwi.bvec")
        #expect(g == a[2].gradients)
        #expect(inventory.series(suffix: "dwi", datatype: "dwi").count == 1 && inventory.series(suffix: "MTS", entities: ["mt": "off"]).isEmpty)
    }

    @Test func sidecarsInheritFromDatasetSubjectAndSessionLevels() throws {
        let root = try Support.temporaryDirectory(); defer { Support.remove(root) }
        try write(#"{"Name": "x"}"#, root + "/dataset_description.json")
        try write(#"{"RepetitionTime": 2, "EchoTime": 0.1, "FlipAngle": 90}"#, root + "/T2w.json")
        try write(#"{"EchoTime": 0.09}"#, root + "/acq-ax_T2w.json")
        try write(#"{"FlipAngle": 120}"#, root + "/sub-01/ses-a/sub-01_ses-a_T2w.json")
        try write(#"{"RepetitionTime": 3}"#, root + "/sub-01/ses-a/anat/sub-01_ses-a_acq-ax_T2w.json")
        try write(#"{"RepetitionTime": 9}"#, root + "/sub-01/ses-a/anat/sub-01_ses-a_T2w.json")   // another acquisition's own sidecar
        try write(#"{"RepetitionTime": 5}"#, root + "/acq-sag_T2w.json")                          // other entity value: not applicable
        let inventory = try SubjectInventory.read(root + "/sub-01")
        let acq = try #require(inventory.series.first { $0.entity("acq") == "ax" })
        let s = try #require(acq.sidecar)
        #expect(s.repetitionTime == 3)   // own sidecar wins
        #expect(s.echoTime == 0.09)      // acq-ax_T2w.json beats T2w.json
        #expect(s.flipAngle == 120)      // session level beats dataset level
        #expect(s.path.hasSuffix("sub-01_ses-a_acq-ax_T2w.json"))
        let plain = try #require(inventory.series.first { $0.entity("acq") == nil })
        #expect(plain.sidecar?.repetitionTime == 9 && plain.sidecar?.echoTime == 0.1)
    }

    @Test func unreadableFilesBecomeProblemsAndLabelsAreFoundPerImage() throws {
        let root = try Support.temporaryDirectory(); defer { Support.remove(root) }
        let sub = root + "/sub-01"
        try FileManager.default.createDirectory(atPath: sub + "/ses-1/anat", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: sub + "/ses-2/anat", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: sub + "/ses-1/dwi", withIntermediateDirectories: true)
        try NIfTIFile.write(tiny, to: sub + "/ses-1/anat/sub-01_ses-1_T2w.nii.gz")
        try write("hello", sub + "/ses-1/anat/sub-01_ses-1_acq-sag_T2w.nii.gz")                    // not NIfTI
        try NIfTIFile.write(Volume<Float>(grid: tiny.grid, frames: 2, repeating: 1), to: sub + "/ses-1/dwi/sub-01_ses-1_dwi.nii.gz")
        try write("0 1000\n", sub + "/ses-1/dwi/sub-01_ses-1_dwi.bval")                            // no .bvec
        try write("shape\nnone\nlinear\n", sub + "/ses-1/dwi/sub-01_ses-1_dwi_encoding.tsv")
        try NIfTIFile.write(tiny, to: sub + "/ses-2/anat/sub-01_ses-2_T2w.nii.gz")
        try write(#"{"RepetitionTime": 3000}"#, sub + "/ses-2/anat/sub-01_ses-2_T2w.json")         // milliseconds
        let labels = root + "/derivatives/labels/sub-01/ses-1/anat/sub-01_ses-1_T2w_"
        for tail in ["labels-disc-manual.nii.gz", "label-SC_seg.nii.gz", "labels-disc-manual.json", "desc-other.nii.gz"] {
            try write("x", labels + tail)
        }
        let inventory = try SubjectInventory.read(sub)
        #expect(inventory.sessions == ["1", "2"])
        #expect(inventory.series.map(\.displayName) == ["ses-1/anat/sub-01_ses-1_T2w", "ses-1/anat/sub-01_ses-1_acq-sag_T2w",
                                                        "ses-1/dwi/sub-01_ses-1_dwi", "ses-2/anat/sub-01_ses-2_T2w"])
        let sag = inventory.series[1], dwi = inventory.series[2], second = inventory.series[3]
        #expect(sag.header == nil && sag.imageError != nil && sag.problems.count == 1)
        #expect(sag.problems.first?.hasPrefix("image unusable: ") == true && sag.problems.first?.contains("not a NIfTI file") == true)
        #expect(dwi.header?.frames == 2 && dwi.gradients == nil && dwi.encodingPath?.hasSuffix("/sub-01_ses-1_dwi_encoding.tsv") == true)
        #expect(dwi.problems == [".bvec is missing beside \(sub)/ses-1/dwi/sub-01_ses-1_dwi.bval"])
        #expect(second.sidecar == nil && second.header != nil)
        #expect(second.problems.first?.hasPrefix("sidecar unusable: ") == true && second.problems.first?.contains("milliseconds") == true)
        // Label files by name after the image stem; other files are ignored.
        let t2 = try #require(inventory.series[0].imagePath)
        #expect(inventory.derivativeLabels(for: t2).map(\.kind) == [.cordSegmentation, .disc])
        #expect(inventory.derivativeLabels.count == 2)
        // One session: its series and labels only.
        let one = inventory.session("1"), two = inventory.session("2")
        #expect(one.sessions == ["1"] && one.series.count == 3 && one.derivativeLabels.count == 2)
        #expect(two.series.map(\.stem) == ["sub-01_ses-2_T2w"] && two.derivativeLabels.isEmpty)
        #expect(throws: CordIOError.self) { try SubjectInventory.read(root + "/sub-02") }
        #expect(throws: CordIOError.self) { try SubjectInventory.read(root + "/derivatives") }
    }

    @Test func derivativeLabelKindsFollowTheFileName() {
        #expect(DerivativeLabel.Kind(tail: "labels-disc-manual.nii.gz") == .disc)
        #expect(DerivativeLabel.Kind(tail: "label-disc.nii.gz") == .disc)
        #expect(DerivativeLabel.Kind(tail: "labels-body.nii.gz") == .vertebralBody)
        #expect(DerivativeLabel.Kind(tail: "labels.nii.gz") == .vertebralBody)
        #expect(DerivativeLabel.Kind(tail: "seg-manual.nii.gz") == .cordSegmentation)
        #expect(DerivativeLabel.Kind(tail: "label-SC_mask.nii.gz") == .cordSegmentation)
        #expect(DerivativeLabel.Kind(tail: "label-GM_seg.nii.gz") == nil)
    }
}
