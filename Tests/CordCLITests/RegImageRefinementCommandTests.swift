import ArgumentParser
import Foundation
import Testing
import CordTestSupport
@testable import CordCLI
@testable import CordCore
@testable import CordIO
@testable import CordPhantom
@testable import CordPipeline

@Suite struct RegImageRefinementCommandTests {
    /// `cordq reg to-template` with and without `--image-refinement` on a phantom: the flag
    /// reaches the registration (the summary names the template contrast), and the written
    /// forward warps differ only near the cord (cord + 3 mm margin + 3 mm ramp, plus the
    /// 5 mm fade beyond the first and last slice).
    @Test func flagReachesThePipelineAndChangesTheWarpsOnlyNearTheCord() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var p = PhantomParameters(); p.snr = nil
        let ph = try PhantomSubject(p, on: PhantomGrid.axial(inPlane: 0.6, sliceThickness: 2, fieldOfView: 30, inferior: -20, superior: 40))
        try NIfTIFile.write(ph.t2w, to: dir + "/t2.nii.gz")
        try NIfTIFile.write(ph.cordMask, to: dir + "/seg.nii.gz", datatype: .uint8)
        var labels = Volume<Int32>(grid: ph.grid, repeating: 0)
        for level in [VertebralLevel.c3, .c5] {
            let v = ph.grid.voxel(ofWorld: ph.anatomy.centerlinePoint(atArcLength: ph.anatomy.centre(of: level)))
            labels[Int(v.x.rounded()), Int(v.y.rounded()), Int(v.z.rounded())] = Int32(level.rawValue)
        }
        try NIfTIFile.write(labels, to: dir + "/labels.nii.gz", datatype: .int16)
        let atlas = Support.packageRoot + "/atlas/CordQ"
        let common = ["reg", "to-template", dir + "/t2.nii.gz", "--seg", dir + "/seg.nii.gz", "--labels", dir + "/labels.nii.gz",
                      "--atlas", atlas, "--regions", "GM"]
        let parsed = try CordQCommand.parseAsRoot(common + [dir + "/on", "--image-refinement"])
        #expect((parsed as? RegToTemplateCommand)?.imageRefinement == true)
        let process = try CordQCommand.parseAsRoot(["process", "sub-01", "out", "--image-refinement"])
        #expect((process as? ProcessCommand)?.imageRefinement == true)
        let help = CordQCommand.helpMessage(for: RegToTemplateCommand.self)
        #expect(help.contains("--image-refinement") && help.contains("Thirion") && help.contains("σ 3 mm") && help.contains("2 mm"))

        let off = try RegistrationPipeline.toTemplate(image: dir + "/t2.nii.gz", segmentation: dir + "/seg.nii.gz", labels: dir + "/labels.nii.gz",
                                                      kind: .vertebralBody, atlas: atlas, regions: [], outputDir: dir + "/off")
        var on = parsed
        try on.run()
        #expect(off.imageContrast == nil)
        let a = try NIfTIFile.readDisplacementField(dir + "/off/warp_template2anat.nii.gz")
        let b = try NIfTIFile.readDisplacementField(dir + "/on/warp_template2anat.nii.gz")
        let ai = try NIfTIFile.readDisplacementField(dir + "/off/warp_anat2template.nii.gz")
        let bi = try NIfTIFile.readDisplacementField(dir + "/on/warp_anat2template.nii.gz")
        #expect(ai.data != bi.data)   // the inverse warp includes the refinement too
        let g = a.grid, n = g.voxelCount
        // Cord pixels (world x, y) per axial slice k of the phantom's axial grid.
        var bySlice = [[SIMD2<Double>]](repeating: [], count: g.nz)
        for v in 0..<n where ph.cordMask.data[v] != 0 {
            let p = g.world(g.coordinates(of: v)); bySlice[g.coordinates(of: v).z].append(SIMD2(p.x, p.y))
        }
        let withCord = (0..<g.nz).filter { !bySlice[$0].isEmpty }
        var changed = 0, farthest = 0.0, largest = 0.0, far = 0
        for v in 0..<n {
            let c = g.coordinates(of: v), p = g.world(c)
            // In-plane distance to the cord in the nearest slice holding cord.
            let k = withCord.min { abs($0 - c.z) < abs($1 - c.z) } ?? c.z
            let inPlane = bySlice[k].map { ($0 - SIMD2(p.x, p.y)) }.map { ($0 * $0).sum().squareRoot() }.min() ?? .infinity
            if inPlane > 9.5 { far += 1 }
            let d = max(abs(a.data[v] - b.data[v]), abs(a.data[n + v] - b.data[n + v]), abs(a.data[2 * n + v] - b.data[2 * n + v]))
            guard d > 1e-4 else { continue }
            changed += 1; largest = max(largest, Double(d)); farthest = max(farthest, inPlane)
            #expect(abs(c.z - k) <= 3)   // slices: within the 5 mm fade (2 mm slices) beyond the cord's end slices
        }
        print("reg to-template --image-refinement: \(changed) of \(n) voxels changed, largest change \(largest) mm, farthest \(farthest) mm from the cord; \(far) voxels farther than 9.5 mm")
        #expect(changed > 0 && largest > 0.05)   // mm: the flag changes the warp
        #expect(farthest <= 2 + 6 + 1.5)         // mm: margin 2 + ramp 2σ = 6 + one 0.6 mm pixel and slice interpolation
        #expect(far > n / 10)                    // the check is not vacuous: much of the grid is farther
    }
}
