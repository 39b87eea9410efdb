import Foundation
import Testing
import CordTestSupport
@testable import CordCore
@testable import CordIO

/// Real scans under ../shared/data (skipped with the reason when the folder is absent).
@Suite(.enabled(if: Support.hasSharedData, "../shared/data is absent: real-scan checks skipped"))
struct SharedDataTests {
    let data = Support.sharedData

    @Test func everySharedNIfTIReads() throws {
        let e = FileManager.default.enumerator(atPath: data)
        var n = 0
        while let f = e?.nextObject() as? String {
            guard f.hasSuffix(".nii.gz") || f.hasSuffix(".nii") else { continue }
            let h = try NIfTIFile.readHeader(data + "/" + f)
            #expect(h.voxelCount > 0)
            if h.voxelCount < 4_000_000 {   // large PAM50 volumes: header only, to keep tests fast
                let (v, _) = try NIfTIFile.read(data + "/" + f, as: Float.self)
                #expect(v.data.count == h.voxelCount)
            }
            n += 1
        }
        #expect(n >= 20)
    }

    @Test func sctT2HasTheDocumentedShape() throws {
        let (v, h) = try NIfTIFile.read(data + "/sct_testing_data/t2/t2.nii.gz")
        #expect(v.grid.dims == SIMD3<Int>(60, 55, 52))
        #expect(length(v.grid.spacing - SIMD3(1, 1, 1)) < 1e-4)
        #expect(v.frames == 1 && h.frames == 1)
    }

    @Test func t1wInt16IsReadScaled() throws {
        let p = data + "/sct_testing_data/mt/t1w.nii.gz"
        let (v, h) = try NIfTIFile.read(p)
        #expect(h.datatype == .int16 && h.hasScaling)
        // Scaled values are not the raw integers: some are fractional.
        #expect(v.data.contains { $0 != $0.rounded() })
        let raw = v.data.map { (Double($0) - h.sclInter) / h.sclSlope }
        #expect(raw.allSatisfy { abs($0 - $0.rounded()) < 1e-2 })  // back to int16 within float precision
    }

    @Test func bvecsInEitherLayoutMatchTheirImages() throws {
        for dir in ["sct_testing_data/dmri", "sct_tutorial_data/dmri"] {
            let img = data + "/" + dir + "/dmri.nii.gz"
            let h = try NIfTIFile.readHeader(img)
            let (bval, bvec) = try #require(GradientFiles.locate(besides: img))
            let t = try GradientFiles.read(bval: bval, bvec: bvec, grid: h.grid, frames: h.frames, image: img)
            #expect(t.count == h.frames)
            for e in t.entries where e.b > 50 { #expect(abs(length(e.direction) - 1) < 1e-9) }
        }
    }

    @Test func mtSidecarsDecode() throws {
        let s = try BIDSSidecar.read(data + "/sct_testing_data/mt/t1w.json")
        #expect(s.flipAngle == 15 && s.repetitionTime == 0.015)
    }

    @Test func spineGenericSidecarsAllDecode() throws {
        let root = data + "/spine-generic-sidecars"
        let e = FileManager.default.enumerator(atPath: root)
        var n = 0
        while let f = e?.nextObject() as? String {
            guard f.hasSuffix(".json"), f.contains("sub-") else { continue }
            let s = try BIDSSidecar.read(root + "/" + f)
            // Derived (rec-average) series carry no acquisition timing; acquired ones must.
            if !f.contains("rec-average") { #expect(s.repetitionTime != nil, "\(f) has no RepetitionTime") }
            n += 1
        }
        #expect(n >= 15)
    }
}
