import ArgumentParser
import Foundation
import Testing
import CordTestSupport
@testable import CordCLI
@testable import CordCore
@testable import CordIO
@testable import CordPipeline

@Suite struct InfoCommandTests {
    @Test func describesAPhantomFileWithGradientsAndSidecar() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let g = Grid(nx: 6, ny: 5, nz: 4, spacing: [0.9, 0.9, 5])
        var v = Volume<Float>(grid: g, frames: 3)
        for n in 0..<v.data.count { v.data[n] = Float(n % 7) }
        try NIfTIFile.write(v, to: dir + "/sub-01_dwi.nii.gz", datatype: .int16)
        try "0 800 800\n".write(toFile: dir + "/sub-01_dwi.bval", atomically: true, encoding: .utf8)
        try "0 1 0\n0 0 1\n0 0 0\n".write(toFile: dir + "/sub-01_dwi.bvec", atomically: true, encoding: .utf8)
        try #"{"RepetitionTime": 3.5, "EchoTime": 0.06, "MultibandAccelerationFactor": 2}"#
            .write(toFile: dir + "/sub-01_dwi.json", atomically: true, encoding: .utf8)
        let text = try ImageInfo.describe(dir + "/sub-01_dwi.nii.gz")
        #expect(text.contains("6 × 5 × 4 × 3  (4D, 3 volumes)"), "\(text)")
        #expect(text.contains("0.900 × 0.900 × 5.000 mm"))
        #expect(text.contains("RPI") && text.contains("axial slices"))
        #expect(text.contains("b=0 ×1, b=800 linear ×2"))
        #expect(text.contains("TR 3500 ms, TE 60 ms, multiband 2"))
        #expect(text.contains("min 0, max 6"))
        // The command runs in-process and succeeds.
        var cmd = try CordQCommand.parseAsRoot(["info", dir + "/sub-01_dwi.nii.gz"])
        try cmd.run()
    }

    @Test func aMissingOrCorruptFileFailsTheCommand() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        try Data([1, 2, 3, 4, 5]).write(to: URL(fileURLWithPath: dir + "/bad.nii"))
        var cmd = try CordQCommand.parseAsRoot(["info", dir + "/bad.nii", dir + "/absent.nii.gz"])
        #expect(throws: ExitCode.self) { try cmd.run() }
        #expect(throws: CordIOError.self) { try ImageInfo.describe(dir + "/bad.nii") }
    }

    @Test func versionAndHelpAreAvailable() {
        #expect(CordQCommand.configuration.version == CordQVersion.string)
        let help = CordQCommand.helpMessage(for: InfoCommand.self)
        #expect(help.contains("sform"))
    }
}
