// `cordq process` corrects susceptibility distortion when the subject has a reverse
// phase-encoding pair (fmap/*_epi with IntendedFor), after denoising, and shows it in the QC.
import Foundation
import Testing
import CordTestSupport
@testable import CordCore
@testable import CordIO
@testable import CordPhantom
@testable import CordPipeline

@Suite struct ProcessDistortionTests {
    @Test func pairInFmapIsFoundAndTheDWIIsUnwarpedAfterDenoising() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var o = PhantomExportOptions()
        o.acquisitions = [.dwi]; o.parameters.seed = 3; o.distortion = DistortionPhantomParameters()
        _ = try PhantomExport.write(to: dir + "/bids", options: o)
        let r = ProcessRequest(subject: dir + "/bids/sub-phantom01", output: dir + "/out")
        let s = try ProcessPipeline.run(r)
        let names = s.steps.map(\.name)
        let step = try #require(s.steps.first { $0.name == "distortion correction sub-phantom01_dwi" }, "\(names)")
        #expect(step.status == .done, "\(step.detail)")
        #expect(step.detail.contains("fmap/sub-phantom01_dir-AP_epi (IntendedFor)"), "\(step.detail)")
        let order = ["read sub-phantom01_dwi", "denoise sub-phantom01_dwi", "distortion correction sub-phantom01_dwi"].compactMap { names.firstIndex(of: $0) }
        #expect(order.count == 3 && order == order.sorted(), "\(names)")
        // Typed metrics: invertible, and the pair agrees far better after correction.
        let m = step.metrics
        #expect((m.minimumJacobian ?? 0) > 0)
        #expect((m.pairMismatchAfter ?? 1) < 0.5 * (m.pairMismatchBefore ?? 0))
        // The field against the truth in the cord + 5 mm (the library test measures 3.2 Hz on
        // 4 mm slices; this DWI has 5 mm slices and SNR 20): tolerance 6 Hz.
        let (field, _) = try NIfTIFile.read(dir + "/out/fmap/sub-phantom01_space-dwi_desc-cordq_fieldmap.nii.gz")
        let t = dir + "/bids/derivatives/truth/sub-phantom01/fmap/sub-phantom01"
        let (truth, _) = try NIfTIFile.read(t + "_desc-truth_fieldmap.nii.gz")
        let (region, _) = try NIfTIFile.read(t + "_label-cordplus5mm_mask.nii.gz")
        var e = 0.0, n = 0.0
        for i in 0..<truth.grid.voxelCount where region.data[i] > 0 { let d = Double(field.data[i] - truth.data[i]); e += d * d; n += 1 }
        let rmse = (e / n).squareRoot()
        #expect(rmse < 6, "field RMSE \(rmse) Hz (tolerance 6 Hz)")
        for f in ["dwi/sub-phantom01_space-dwi_desc-unwarped_dwi.nii.gz", "dwi/sub-phantom01_space-dwi_desc-unwarped_dwi.bval",
                  "dwi/sub-phantom01_space-dwi_desc-unwarped_dwiref.nii.gz", "fmap/sub-phantom01_space-dwi_desc-cordq_fieldmap.json"] {
            #expect(TextFile.exists(dir + "/out/" + f), "\(f)")
        }
        // The QC page shows the field and the b = 0 before and after.
        let qc = try TextFile.read(dir + "/out/qc/index.html") as String
        let qcStep = s.steps.first { $0.name == "qc" }
        #expect(qc.contains("distortion_sub-phantom01-dwi_field.png") && qc.contains("distortion_sub-phantom01-dwi_after.png"),
                "qc step: \(qcStep?.status.rawValue ?? "none") \(qcStep?.detail ?? "")")
    }
}
