import CordTestSupport
import Foundation
import Testing
@testable import CordCore
@testable import CordIO
@testable import CordPhantom
@testable import CordPipeline
@testable import CordRegistration

@Suite struct RegistrationPipelineTests {
    /// Phantom files → `toTemplate` → `apply`: outputs exist, warps are 5D ITK vector fields,
    /// warping the atlas cord through the written field reproduces the registration's Dice,
    /// and a reference on another grid is refused.
    @Test func phantomFilesThroughTheCommandsFunctions() throws {
        let dir = try Support.temporaryDirectory()
        defer { Support.remove(dir) }
        let ph = try Fixtures.phantom()
        try NIfTIFile.write(ph.t2w, to: dir + "/t2.nii.gz")
        try NIfTIFile.write(ph.cordMask, to: dir + "/seg.nii.gz", datatype: .uint8)
        try NIfTIFile.write(Fixtures.bodyLabels(ph, levels: [3, 5]), to: dir + "/labels.nii.gz", datatype: .int16)
        let s = try RegistrationPipeline.toTemplate(image: dir + "/t2.nii.gz", segmentation: dir + "/seg.nii.gz", labels: dir + "/labels.nii.gz",
                                                    kind: .vertebralBody, atlas: Fixtures.cordQAtlasPath, regions: [], outputDir: dir + "/out")
        #expect(s.dice >= 0.90)   // issue 7
        let header = try NIfTIFile.readHeader(s.forwardWarpPath)
        #expect(header.dims == [ph.grid.nx, ph.grid.ny, ph.grid.nz, 1, 3])   // exact: ITK's 5D layout
        #expect(header.intentCode == 1007)                                     // exact: NIFTI_INTENT_VECTOR
        try RegistrationPipeline.apply(image: Fixtures.cordQAtlasPath + "/template/CordQ_cord.nii.gz", warp: s.forwardWarpPath,
                                       reference: dir + "/t2.nii.gz", output: dir + "/cord_warped.nii.gz", nearest: false)
        let warped = try NIfTIFile.read(dir + "/cord_warped.nii.gz").0
        let dice = RegistrationPipeline.diceOverSegmentedSlices(warped, ph.cordMask)
        #expect(abs(dice - s.dice) < 0.02)   // the full-grid atlas vs the level-cropped one used inside
        let levels = try NIfTIFile.read(s.levelMapPath, as: Int32.self).0
        #expect(Set(levels.data).isSuperset(of: [3, 4, 5]))
        #expect(throws: CordError.self) {
            try RegistrationPipeline.apply(image: dir + "/t2.nii.gz", warp: s.forwardWarpPath,
                                           reference: Fixtures.cordQAtlasPath + "/template/CordQ_cord.nii.gz", output: dir + "/bad.nii.gz", nearest: true)
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/bad.nii.gz"))
    }
}
