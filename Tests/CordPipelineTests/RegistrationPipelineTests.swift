import CordTestSupport
import Foundation
import Testing
@testable import CordCore
@testable import CordIO
@testable import CordPhantom
@testable import CordPipeline
@testable import CordRegistration

/// `cordq reg to-template` and `reg apply` as file-level functions of CordPipeline (moved here
/// from CordRegistrationTests so that suite needs no CordPipeline).
@Suite struct RegistrationPipelineTests {
    static var cordQAtlasPath: String { Support.packageRoot + "/atlas/CordQ" }

    /// A noise-free axial phantom (0.6 mm pixels, 2 mm slices, C2…C6 region), as CordRegistrationTests' `Fixtures.phantom`.
    static func phantom() throws -> PhantomSubject {
        var p = PhantomParameters(); p.snr = nil
        return try PhantomSubject(p, on: PhantomGrid.axial(inPlane: 0.6, sliceThickness: 2, fieldOfView: 30, inferior: -30, superior: 50))
    }

    /// Mid-vertebral-body labels (SCT `-l`) for `levels` on the phantom's centerline.
    static func bodyLabels(_ ph: PhantomSubject, levels: [Int]) -> Volume<Int32> {
        var out = Volume<Int32>(grid: ph.grid, repeating: 0)
        for l in levels {
            guard let level = VertebralLevel(rawValue: l) else { continue }
            let w = ph.anatomy.centerlinePoint(atArcLength: ph.anatomy.centre(of: level))
            let v = ph.grid.voxel(ofWorld: w)
            let i = Int(v.x.rounded()), j = Int(v.y.rounded()), k = Int(v.z.rounded())
            if ph.grid.contains(i, j, k) { out[i, j, k] = Int32(l) }
        }
        return out
    }

    /// Phantom files → `toTemplate` → `apply`: outputs exist, warps are 5D ITK vector fields,
    /// warping the atlas cord through the written field reproduces the registration's Dice,
    /// and a reference on another grid is refused.
    @Test func phantomFilesThroughTheCommandsFunctions() throws {
        let dir = try Support.temporaryDirectory()
        defer { Support.remove(dir) }
        let ph = try Self.phantom()
        try NIfTIFile.write(ph.t2w, to: dir + "/t2.nii.gz")
        try NIfTIFile.write(ph.cordMask, to: dir + "/seg.nii.gz", datatype: .uint8)
        try NIfTIFile.write(Self.bodyLabels(ph, levels: [3, 5]), to: dir + "/labels.nii.gz", datatype: .int16)
        let s = try RegistrationPipeline.toTemplate(image: dir + "/t2.nii.gz", segmentation: dir + "/seg.nii.gz", labels: dir + "/labels.nii.gz",
                                                    kind: .vertebralBody, atlas: Self.cordQAtlasPath, regions: [], outputDir: dir + "/out")
        #expect(s.dice >= 0.90)   // issue 7
        let header = try NIfTIFile.readHeader(s.forwardWarpPath)
        #expect(header.dims == [ph.grid.nx, ph.grid.ny, ph.grid.nz, 1, 3])   // exact: ITK's 5D layout
        #expect(header.intentCode == 1007)                                     // exact: NIFTI_INTENT_VECTOR
        try RegistrationPipeline.apply(image: Self.cordQAtlasPath + "/template/CordQ_cord.nii.gz", warp: s.forwardWarpPath,
                                       reference: dir + "/t2.nii.gz", output: dir + "/cord_warped.nii.gz", nearest: false)
        let warped = try NIfTIFile.read(dir + "/cord_warped.nii.gz").0
        let dice = TemplateRegistration.cordDice(warped, ph.cordMask)
        #expect(abs(dice - s.dice) < 0.02)   // the full-grid atlas vs the level-cropped one used inside
        let levels = try NIfTIFile.read(s.levelMapPath, as: Int32.self).0
        #expect(Set(levels.data).isSuperset(of: [3, 4, 5]))
        #expect(throws: CordError.self) {
            try RegistrationPipeline.apply(image: dir + "/t2.nii.gz", warp: s.forwardWarpPath,
                                           reference: Self.cordQAtlasPath + "/template/CordQ_cord.nii.gz", output: dir + "/bad.nii.gz", nearest: true)
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/bad.nii.gz"))
    }
}
