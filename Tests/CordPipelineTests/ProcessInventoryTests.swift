import CordCore
import CordIO
import CordTestSupport
import Foundation
import Testing
@testable import CordPipeline

/// What `cordq process` takes from one walk of the subject folder.
@Suite struct ProcessInventoryTests {
    func image(_ path: String, _ grid: Grid) throws {
        try TextFile.makeDirectory((path as NSString).deletingLastPathComponent)
        try NIfTIFile.write(Volume<Float>(grid: grid, frames: 1, repeating: 1), to: path)
    }
    let axial = Grid(nx: 4, ny: 4, nz: 3, spacing: [1, 1, 2])
    let sagittal = Grid(nx: 4, ny: 4, nz: 3, affine: Mat4(linear: Mat3(columns: [0, -1, 0], [0, 0, -1], [2, 0, 0]), translation: .zero))

    @Test func oneWalkGivesImagesLabelsAndTheSessionsInventory() throws {
        let root = try Support.temporaryDirectory(); defer { Support.remove(root) }
        let sub = root + "/sub-01"
        try image(sub + "/ses-1/anat/sub-01_ses-1_acq-sag_T2w.nii.gz", sagittal)
        try image(sub + "/ses-1/anat/sub-01_ses-1_acq-ax_run-1_T2w.nii.gz", axial)
        try image(sub + "/ses-1/anat/sub-01_ses-1_acq-ax_run-2_T2w.nii.gz", axial)
        try image(sub + "/ses-1/dwi/sub-01_ses-1_dwi.nii.gz", axial)
        try TextFile.write("0\n", to: sub + "/ses-1/dwi/sub-01_ses-1_dwi.bval")
        try TextFile.write("0\n0\n0\n", to: sub + "/ses-1/dwi/sub-01_ses-1_dwi.bvec")
        try image(sub + "/ses-2/anat/sub-01_ses-2_T2w.nii.gz", axial)
        let labels = root + "/derivatives/labels/sub-01/ses-1/anat/sub-01_ses-1_acq-ax_run-2_T2w_"
        for tail in ["labels-disc-manual", "label-SC_seg", "seg-manual"] { try image(labels + tail + ".nii.gz", axial) }

        do { _ = try ProcessInventoryReader.read(sub, session: nil); Issue.record("no error") } catch {
            #expect("\(error)".contains("has 2 sessions (ses-1, ses-2); choose one with --session"))
        }
        let inv = try ProcessInventoryReader.read(sub, session: "1")
        #expect(inv.participant == "sub-01" && inv.session == "1")
        // The highest run of each series, axial first.
        #expect(inv.anatomy.map(\.stem) == ["sub-01_ses-1_acq-ax_run-2_T2w", "sub-01_ses-1_acq-sag_T2w"])
        #expect(inv.anatomy.map(\.axial) == [true, false])
        #expect(inv.dwi.map(\.stem) == ["sub-01_ses-1_dwi"] && inv.dwi.first?.bval != nil)
        #expect(inv.derivativeLabels.map(\.kind) == [.disc] && inv.derivativeLabels.first?.image.stem == "sub-01_ses-1_acq-ax_run-2_T2w")
        #expect(inv.derivativeSegmentations == [inv.anatomy[0].path: labels + "label-SC_seg.nii.gz"])
        #expect(inv.mt == nil && inv.missing.contains { $0.hasPrefix("MT: no anat/*_MTS images") })
        // The whole inventory of the chosen session travels with it.
        #expect(inv.subject.sessions == ["1"] && inv.subject.series.count == 4 && inv.subject.root == inv.root)
        #expect(inv.subject.series.allSatisfy { $0.session == "1" && $0.header != nil })
    }

    @Test func anUnreadableImageStopsTheRunWithTheReadersMessage() throws {
        let root = try Support.temporaryDirectory(); defer { Support.remove(root) }
        let sub = root + "/sub-01"
        try TextFile.makeDirectory(sub + "/anat")
        try TextFile.write("hi", to: sub + "/anat/sub-01_T2w.nii.gz")
        do { _ = try ProcessInventoryReader.read(sub, session: nil); Issue.record("no error") } catch {
            #expect(error as? CordIOError == .notNIfTI(path: sub + "/anat/sub-01_T2w.nii.gz", reason: "only 2 bytes long"))
        }
    }
}
