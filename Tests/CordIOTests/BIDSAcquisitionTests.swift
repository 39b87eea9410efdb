import Foundation
import Testing
import CordTestSupport
@testable import CordCore
@testable import CordIO

@Suite struct BIDSAcquisitionTests {
    func write(_ text: String, _ path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    @Test func acquisitionsAreFoundByImageOrBySidecar() throws {
        let root = try Support.temporaryDirectory(); defer { Support.remove(root) }
        let sub = root + "/sub-01"
        try FileManager.default.createDirectory(atPath: sub + "/anat", withIntermediateDirectories: true)
        try NIfTIFile.write(Volume<Float>(grid: Grid(nx: 2, ny: 2, nz: 2, spacing: [1, 1, 1])), to: sub + "/anat/sub-01_T2w.nii.gz")
        try write("{}", sub + "/anat/sub-01_T2w.json")
        try write("{}", sub + "/anat/sub-01_flip-1_mt-on_MTS.json")          // sidecar only
        try write("{}", sub + "/dwi/sub-01_run-2_dwi.json")
        try write("0 1000\n", sub + "/dwi/sub-01_run-2_dwi.bval")
        try write("0 1\n0 0\n0 0\n", sub + "/dwi/sub-01_run-2_dwi.bvec")
        try write("notes", sub + "/dwi/README.txt")                          // not BIDS: ignored
        let a = try BIDSSubject.acquisitions(sub)
        #expect(a.map(\.displayName) == ["anat/sub-01_T2w", "anat/sub-01_flip-1_mt-on_MTS", "dwi/sub-01_run-2_dwi"])
        #expect(a[0].imagePath != nil && a[0].sidecarPath != nil)
        #expect(a[1].imagePath == nil && a[1].seriesEntities == ["flip": "1", "mt": "on"])
        #expect(a[2].run == 2 && a[2].seriesEntities.isEmpty && a[2].bvalPath != nil && a[2].bvecPath != nil)
        // The image list of BIDSSubject.load is unchanged: images only.
        #expect(try BIDSSubject.load(sub).images.map(\.suffix) == ["T2w"])
        let g = try GradientFiles.readRaw(bval: sub + "/dwi/sub-01_run-2_dwi.bval", bvec: sub + "/dwi/sub-01_run-2_dwi.bvec")
        #expect(g.bValues == [0, 1000] && g.vectors == [[0, 0, 0], [1, 0, 0]])
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
        let acq = try #require(try BIDSSubject.acquisitions(root + "/sub-01").first { $0.entity("acq") == "ax" })
        let s = try #require(try BIDSSidecar.readInherited(for: acq))
        #expect(s.repetitionTime == 3)   // own sidecar wins
        #expect(s.echoTime == 0.09)      // acq-ax_T2w.json beats T2w.json
        #expect(s.flipAngle == 120)      // session level beats dataset level
        #expect(s.path.hasSuffix("sub-01_ses-a_acq-ax_T2w.json"))
    }
}
