import CordCore
import CordIO
import CordTestSupport
import Testing
@testable import CordSegmentation

@Suite(.enabled(if: Support.hasSharedData, "needs ../shared/data (sct_testing_data)"))
struct RealScanSegmentationTests {
    static let root = Support.sharedData + "/sct_testing_data"

    /// t2.nii.gz (sagittal 1 mm, stored AIL) against t2_seg-manual: Dice ≥ 0.90; CSA per
    /// slice against `Morphometry` of the reference: mean difference within 5 %, every slice
    /// within 10 %.
    @Test func t2SagittalScanAgainstManualSegmentation() throws {
        let (img, _) = try NIfTIFile.read(Self.root + "/t2/t2.nii.gz")
        let (ref, _) = try NIfTIFile.read(Self.root + "/t2/t2_seg-manual.nii.gz")
        var o = CordSegmentationOptions(); o.contrast = .t2
        let seg = try CordSegmenter.segment(img, options: o)
        let d = dice(seg.binary, ref.map { $0 > 0.5 ? 1 : 0 })
        #expect(d >= 0.90, "Dice \(d)")
        let ours = try Morphometry.perSlice(seg.soft), reference = try Morphometry.perSlice(ref)
        var errors: [Double] = []
        for r in reference {
            if let s = ours.first(where: { $0.slice == r.slice }) { errors.append(s.csa / r.csa - 1) }
        }
        let mean = errors.reduce(0, +) / Double(errors.count)
        let within = errors.filter { abs($0) < 0.05 }.count
        print("t2: Dice \(formatFixed(d, 4)); CSA vs reference over \(errors.count) slices: mean \(formatFixed(mean * 100, 2)) %, worst \(formatFixed((errors.map { abs($0) }.max() ?? 0) * 100, 2)) %, \(within) within 5 %")
        #expect(errors.count == reference.count)
        #expect(abs(mean) < 0.05, "mean CSA difference within 5 %")
        // Not every slice is within 5 % (37 of 55 at the time of writing, worst 9.9 %): the
        // outline is systematically a little outside the reference's.
        #expect((errors.map { abs($0) }.max() ?? 1) < 0.10, "every slice within 10 %")
    }

    /// mt1.nii.gz (axial 0.84 × 0.84 × 17 mm, 5 slices) against mt1_seg: Dice ≥ 0.85, with
    /// and without the point hint shipped with the scan; grey matter against mt1_gmseg.
    @Test func mtScanAgainstReferenceSegmentation() throws {
        let (img, _) = try NIfTIFile.read(Self.root + "/mt/mt1.nii.gz")
        let (ref, _) = try NIfTIFile.read(Self.root + "/mt/mt1_seg.nii.gz")
        var o = CordSegmentationOptions(); o.contrast = .mt
        let seg = try CordSegmenter.segment(img, options: o)
        let d = dice(seg.binary, ref.map { $0 > 0.5 ? 1 : 0 })
        #expect(d >= 0.85, "Dice \(d)")
        let (point, _) = try NIfTIFile.read(Self.root + "/mt/mt1_point.nii.gz")
        let n = try #require(point.data.firstIndex { $0 != 0 })
        let c = img.grid.coordinates(of: n)
        o.hint = CenterlineHint(voxel: SIMD3(Double(c.x), Double(c.y), Double(c.z)))
        let hinted = try CordSegmenter.segment(img, options: o)
        let dh = dice(hinted.binary, ref.map { $0 > 0.5 ? 1 : 0 })
        #expect(dh >= 0.85, "Dice with hint \(dh)")
        let (gmRef, _) = try NIfTIFile.read(Self.root + "/mt/mt1_gmseg.nii.gz")
        let gm = try GreyMatterSegmenter.segment(img, cord: seg.soft, contrast: .mt)
        let dg = dice(gm.map { $0 >= 0.5 ? 1 : 0 }, gmRef.map { $0 >= 0.5 ? 1 : 0 })
        print("mt1: Dice \(formatFixed(d, 4)), with hint \(formatFixed(dh, 4)); grey matter Dice \(formatFixed(dg, 4))")
        // No target in the issue; 0.41 at the time of writing (thick slices, weak GM/WM contrast).
        #expect(dg >= 0.35, "grey matter Dice \(dg)")
    }
}
