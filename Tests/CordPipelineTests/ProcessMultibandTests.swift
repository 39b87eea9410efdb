// `cordq process` runs the multiband step between denoising and DTI when the card asks for it.
import Foundation
import Testing
import CordTestSupport
@testable import CordCore
@testable import CordIO
@testable import CordPhantom
@testable import CordPipeline

@Suite struct ProcessMultibandTests {
    /// clinical-minimal asks for slice-wise motion and multiband correction; the phantom's DWI
    /// sidecar gives MultibandAccelerationFactor 2, so the step runs (MB 2, 8 groups) before DTI,
    /// with its files and typed metrics in the provenance.
    @Test func cardDrivenMultibandStepRunsBeforeDTI() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var o = PhantomExportOptions()
        o.acquisitions = [.sagittalT2w, .dwi]; o.parameters.seed = 3
        _ = try PhantomExport.write(to: dir + "/bids", options: o)
        var r = ProcessRequest(subject: dir + "/bids/sub-phantom01", output: dir + "/out")
        r.protocolName = "clinical-minimal"
        let s = try ProcessPipeline.run(r)
        let names = s.steps.map(\.name)
        let mb = try #require(s.steps.first { $0.name == "multiband correction sub-phantom01_dwi" }, "\(names)")
        #expect(mb.status == .done)
        #expect(mb.metrics.multibandFactor == 2 && mb.metrics.sliceGroups == 8)
        #expect(mb.metrics.outlierGroups == 0)   // nothing planted in the demo phantom
        #expect(mb.detail.contains("processing.motion_correction = slicewise") && mb.detail.contains("processing.multiband_correction = true"))
        let order = ["denoise sub-phantom01_dwi", "multiband correction sub-phantom01_dwi", "dti sub-phantom01_dwi"].compactMap { names.firstIndex(of: $0) }
        #expect(order.count == 3 && order == order.sorted())
        for f in ["_dwi.nii.gz", "_dwi.bval", "_dwi.bvec", "_motion.tsv", "_outliers.tsv", "_dwi.json"] {
            #expect(TextFile.exists(dir + "/out/dwi/sub-phantom01_space-dwi_desc-mbcorrected" + f), "\(f)")
        }
    }
}
