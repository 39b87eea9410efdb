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

/// Without a reverse phase-encoding pair, a card's `distortion_correction: anat` makes
/// `process` register the b = 0 to the subject's T2w (the phantom's own T2w simulation: other
/// contrast, other grid). The option overriding the card, and the default, are checked on the
/// plan (one `process` run only: the test budget).
@Suite struct ProcessDistortionCardTests {
    @Test func cardAsksForTheT2wFallbackWhenThereIsNoPair() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var o = PhantomExportOptions()
        o.acquisitions = [.axialT2w, .dwi]; o.parameters.seed = 3; o.distortion = DistortionPhantomParameters()
        _ = try PhantomExport.write(to: dir + "/bids", options: o)
        try FileManager.default.removeItem(atPath: dir + "/bids/sub-phantom01/fmap")   // no pair
        let base = try TextFile.read(Support.packageRoot + "/protocols/clinical-minimal.yaml") as String
        // Only the distortion step on: denoising and the multiband step off (test time).
        let key = "processing: {denoise: mppca, unring: false, motion_correction: slicewise, multiband_correction: true}"
        #expect(base.contains(key))
        let card = base.replacingOccurrences(of: "name: clinical-minimal", with: "name: anat-card")
            .replacingOccurrences(of: key, with: "processing: {denoise: none, unring: false, motion_correction: none, multiband_correction: false, distortion_correction: anat}")
        try TextFile.write(card, to: dir + "/anat-card.yaml")
        var r = ProcessRequest(subject: dir + "/bids/sub-phantom01", output: dir + "/anat"); r.protocolName = dir + "/anat-card.yaml"
        r.qc = false; r.templateSpace = false
        let s = try ProcessPipeline.run(r)
        let step = try #require(s.steps.first { $0.name == "distortion correction sub-phantom01_dwi" }, "\(s.steps.map(\.name))")
        #expect(step.status == .done, "\(step.detail)")
        #expect(step.detail.contains("T2w fallback") && step.detail.contains("processing.distortion_correction = anat"), "\(step.detail)")
        #expect(s.warnings.contains { $0.contains("weaker fallback") }, "\(s.warnings)")
        #expect((step.metrics.minimumJacobian ?? 0) > 0)
        let (field, _) = try NIfTIFile.read(dir + "/anat/fmap/sub-phantom01_space-dwi_desc-cordq_fieldmap.nii.gz")
        let t = dir + "/bids/derivatives/truth/sub-phantom01/fmap/sub-phantom01"
        let (truth, _) = try NIfTIFile.read(t + "_desc-truth_fieldmap.nii.gz")
        let (region, _) = try NIfTIFile.read(t + "_label-cordplus5mm_mask.nii.gz")
        var e = 0.0, z = 0.0, n = 0.0
        for i in 0..<truth.grid.voxelCount where region.data[i] > 0 {
            let d = Double(field.data[i] - truth.data[i]); e += d * d; z += Double(truth.data[i] * truth.data[i]); n += 1
        }
        let rmse = (e / n).squareRoot(), none = (z / n).squareRoot()
        print("process T2w fallback: field RMSE \(formatFixed(rmse, 2)) Hz in the cord + 5 mm (no correction: \(formatFixed(none, 2)) Hz)")
        // Measured 10.9 Hz against 33.2 Hz (the segmented, not the true, cord; the phantom's own
        // T2w on its own grid); tolerance: under half of no correction.
        #expect(rmse < 0.5 * none, "fallback field RMSE \(rmse) Hz vs \(none) Hz uncorrected")
        let rec = try JSONFile.read([String: JSONValue].self, from: dir + "/anat/fmap/sub-phantom01_space-dwi_desc-cordq_fieldmap.json")
        #expect(rec["Source"]?.stringValue?.hasPrefix("anatomical fallback") == true)
        let prov = try ProcessCoreTests.provenance(s)
        #expect(prov["Processing"]?["sub-phantom01_dwi"]?["distortion_correction"]?["value"]?.stringValue == "anat")
        #expect(prov["Processing"]?["sub-phantom01_dwi"]?["distortion_correction"]?["source"]?.stringValue == "card anat-card, series dwi: processing.distortion_correction = anat")
    }

    @Test func optionOverridesAndDefaultOfTheDistortionDecision() {
        var r = ProcessRequest(subject: "sub-x", output: "out")
        let none = CardGuidance(report: nil).diffusionPlan(for: "dwi.nii.gz", frames: 30, request: r)
        #expect(none.distortion.value == .reversePE && !none.distortionAsked)
        r.distortionCorrection = ProcessingSpec.DistortionCorrection.none
        let off = CardGuidance(report: nil).diffusionPlan(for: "dwi.nii.gz", frames: 30, request: r)
        #expect(off.distortion.value == .none && off.distortionAsked && off.distortion.source == "--distortion-correction none")
    }
}
