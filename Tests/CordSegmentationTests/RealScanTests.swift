import CordCore
import CordIO
import CordTestSupport
import Testing
@testable import CordSegmentation

@Suite(.enabled(if: Support.hasSharedData, "needs ../shared/data (sct_testing_data)"))
struct RealScanSegmentationTests {
    static let root = Support.sharedData + "/sct_testing_data"

    @Test func t2SagittalScanAgainstManualSegmentation() throws {
        let (img, _) = try NIfTIFile.read(Self.root + "/t2/t2.nii.gz")
        let (ref, _) = try NIfTIFile.read(Self.root + "/t2/t2_seg-manual.nii.gz")
        let start = ContinuousClock.now
        let seg = try CordSegmenter.segment(img, options: { var o = CordSegmentationOptions(); o.contrast = .t2; return o }())
        let refMask = ref.map { $0 > 0.5 ? UInt8(1) : 0 }
        let d = dice(seg.binary, refMask)
        try NIfTIFile.write(seg.soft, to: "/tmp/segviz/t2_soft.nii.gz")
        print("t2: Dice \(d), slices \(seg.slices), \(ContinuousClock.now - start), voxels \(seg.binary.count) vs \(refMask.count)")
        #expect(d >= 0.90)
        let ours = try Morphometry.perSlice(seg.soft)
        let reference = try Morphometry.perSlice(ref)
        var worst = 0.0, errors: [Double] = []
        for r in reference {
            guard let o = ours.first(where: { $0.slice == r.slice }) else { continue }
            let e = o.csa / r.csa - 1
            errors.append(e); worst = max(worst, abs(e))
        }
        print("t2 CSA per slice: \(errors.count) slices, mean error \(errors.reduce(0, +) / Double(errors.count)), worst \(worst)")
        print(errors.map { formatFixed($0 * 100, 1) }.joined(separator: " "))
    }

    @Test func mtScanAgainstReferenceSegmentation() throws {
        var options = CordSegmentationOptions(); options.contrast = .mt
        let (img, _) = try NIfTIFile.read(Self.root + "/mt/mt1.nii.gz")
        let (ref, _) = try NIfTIFile.read(Self.root + "/mt/mt1_seg.nii.gz")
        let start = ContinuousClock.now
        let seg = try CordSegmenter.segment(img, options: options)
        let refMask = ref.map { $0 > 0.5 ? UInt8(1) : 0 }
        let d = dice(seg.binary, refMask)
        try NIfTIFile.write(seg.soft, to: "/tmp/segviz/mt1_soft.nii.gz")
        print("mt1: Dice \(d), polarity \(seg.polarity), slices \(seg.slices), \(ContinuousClock.now - start), voxels \(seg.binary.count) vs \(refMask.count)")
        #expect(d >= 0.85)
    }
}
