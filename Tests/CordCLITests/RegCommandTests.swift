import ArgumentParser
import Foundation
import Testing
import CordTestSupport
@testable import CordCLI
@testable import CordCore
@testable import CordIO
@testable import CordPhantom

@Suite struct RegLabelVertebraeCommandTests {
    /// A sagittal phantom T2w (SNR 20) with its cord mask, written to `dir`.
    static func write(_ dir: String, vertebrae: Bool = true) throws -> PhantomSubject {
        var p = PhantomParameters(); p.snr = 20; p.seed = 3; p.vertebrae = vertebrae
        let ph = try PhantomSubject(p, on: PhantomGrid.sagittal(inPlane: 0.8, sliceThickness: 3, inferior: -50, superior: 80))
        try NIfTIFile.write(ph.t2w, to: dir + "/t2.nii.gz")
        try NIfTIFile.write(ph.cordMask, to: dir + "/seg.nii.gz", datatype: .uint8)
        return ph
    }

    /// Disc values written and their world z (mm).
    static func discs(_ path: String) throws -> [Int: Double] {
        let (v, _) = try NIfTIFile.read(path, as: Int32.self)
        var out: [Int: Double] = [:]
        for n in 0..<v.data.count where v.data[n] != 0 {
            #expect(out[Int(v.data[n])] == nil)   // one voxel per disc
            out[Int(v.data[n])] = v.grid.world(v.grid.coordinates(of: n)).z
        }
        return out
    }

    static func truthZ(_ ph: PhantomSubject, _ n: Int) -> Double {
        ph.anatomy.centerlinePoint(atArcLength: ph.anatomy.discArcLengths[n - 1]).z
    }

    @Test func labelsDiscsWithAndWithoutHint() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let ph = try Self.write(dir)
        var cmd = try CordQCommand.parseAsRoot(["reg", "label-vertebrae", dir + "/t2.nii.gz", dir + "/seg.nii.gz", dir + "/discs.nii.gz",
                                                "--levels", dir + "/levels.nii.gz"])
        try cmd.run()
        let found = try Self.discs(dir + "/discs.nii.gz")
        #expect(Set(found.keys).isSuperset(of: [3, 4, 5, 6, 7]))     // C2/C3 … C6/C7 lie in the field of view
        for (n, z) in found { #expect(abs(z - Self.truthZ(ph, n)) <= 3) }   // mm, voxel-rounded
        let levels = try NIfTIFile.read(dir + "/levels.nii.gz", as: Int32.self).0
        #expect(Set(levels.data).isSuperset(of: [3, 4, 5, 6]))

        // Hint by voxel: the C4/C5 disc's centerline voxel.
        let v = ph.grid.voxel(ofWorld: ph.anatomy.centerlinePoint(atArcLength: ph.anatomy.discArcLengths[4]))
        let voxel = "\(Int(v.x.rounded())),\(Int(v.y.rounded())),\(Int(v.z.rounded()))"
        var hinted = try CordQCommand.parseAsRoot(["reg", "label-vertebrae", dir + "/t2.nii.gz", dir + "/seg.nii.gz", dir + "/d2.nii.gz",
                                                   "--hint-level", "5", "--hint-voxel", voxel])
        try hinted.run()
        #expect(try Self.discs(dir + "/d2.nii.gz") == found)   // exact: the same discs

        // Hint by file: the C4 body as a label image (body kind).
        var hintImage = Volume<Int32>(grid: ph.grid, repeating: 0)
        let b = ph.grid.voxel(ofWorld: ph.anatomy.centerlinePoint(atArcLength: ph.anatomy.centre(of: .c4)))
        hintImage[Int(b.x.rounded()), Int(b.y.rounded()), Int(b.z.rounded())] = 4
        try NIfTIFile.write(hintImage, to: dir + "/hint.nii.gz", datatype: .int16)
        var filed = try CordQCommand.parseAsRoot(["reg", "label-vertebrae", dir + "/t2.nii.gz", dir + "/seg.nii.gz", dir + "/d3.nii.gz",
                                                  "--hint", dir + "/hint.nii.gz", "--hint-kind", "body"])
        try filed.run()
        #expect(try Self.discs(dir + "/d3.nii.gz") == found)
    }

    @Test func refusesWithoutWritingAndValidatesOptions() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        _ = try Self.write(dir, vertebrae: false)
        var cmd = try CordQCommand.parseAsRoot(["reg", "label-vertebrae", dir + "/t2.nii.gz", dir + "/seg.nii.gz", dir + "/discs.nii.gz"])
        #expect(throws: ExitCode.self) { try cmd.run() }
        #expect(!FileManager.default.fileExists(atPath: dir + "/discs.nii.gz"))
        for bad in [["--hint-level", "3"], ["--hint-voxel", "1,2,3"], ["--hint-level", "3", "--hint-voxel", "1,2"],
                    ["--hint", "h.nii.gz", "--hint-level", "3", "--hint-voxel", "1,2,3"], ["--hint-level", "0", "--hint-voxel", "1,2,3"],
                    ["--hint-kind", "pedicle"]] {
            #expect(throws: (any Error).self) { try CordQCommand.parseAsRoot(["reg", "label-vertebrae", "a", "b", "c"] + bad) }
        }
        let parsed = try CordQCommand.parseAsRoot(["reg", "to-template", "t2.nii.gz", "--seg", "s", "--labels", "l", "--atlas", "a", "out", "--radial-refinement"])
        #expect((parsed as? RegToTemplateCommand)?.radialRefinement == true)
        let help = CordQCommand.helpMessage(for: RegLabelVertebraeCommand.self)
        #expect(help.contains("Lindeberg") && help.contains("PAM50") && help.contains("mm") && help.contains("3 = C2/C3"))
    }
}
