import Foundation
import Testing
import CordTestSupport
@testable import CordCore
@testable import CordIO
@testable import CordPipeline

/// `cordq denoise mppca` finds the slice groups of a multiband series in its sidecar.
@Suite struct DenoiseSliceGroupTests {
    /// A simulated MB-2 series (12 slices, 6 groups with different σ) with dwi.json.
    static func simulate(_ dir: String) throws -> String {
        var o = DWISimulationOptions()
        o.scheme = "dti"; o.snr = 20; o.inferior = -45; o.superior = -9
        o.multibandFactor = 2; o.groupNoiseSpread = 1
        _ = try DiffusionSimulationExport.write(to: dir + "/sim", options: o)
        return dir + "/sim/dwi.nii.gz"
    }

    @Test func groupsComeFromSliceTimingAndCanBeTurnedOff() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let input = try Self.simulate(dir)
        let s = try DenoisePipeline.mppca(MPPCARequest(input: input, output: dir + "/den.nii.gz"))
        #expect(s.groupSigma?.count == 6)
        #expect(s.groupSource.contains("SliceTiming of") && s.groupSource.contains("dwi.json"))
        // σ of the six groups differ as planted (1 + frac(0.618·g): from 1.00 to 1.90 × the base).
        let g = try #require(s.groupSigma)
        #expect((g.max() ?? 0) / (g.min() ?? 1) > 1.5)
        var none = MPPCARequest(input: input, output: dir + "/den-none.nii.gz"); none.sliceGroups = .none
        #expect(try DenoisePipeline.mppca(none).groupSigma == nil)
        var factor = MPPCARequest(input: input, output: dir + "/den-mb.nii.gz"); factor.sliceGroups = .multiband(2)
        #expect(try DenoisePipeline.mppca(factor).groupSigma?.count == 6)
    }

    @Test func inconsistentSidecarsAreRefusedNamingTheFile() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let input = try Self.simulate(dir)
        func message(_ sidecar: String) -> String {
            do {
                try TextFile.write(sidecar, to: dir + "/sim/dwi.json")
                _ = try DenoisePipeline.mppca(MPPCARequest(input: input, output: dir + "/out-\(sidecar.count).nii.gz"))
                return "no error"
            } catch { return "\(error)" }
        }
        let twelve = (0..<12).map { String(Double($0 % 6) * 0.5) }.joined(separator: ",")
        let wrongFactor = message("{\"MultibandAccelerationFactor\": 3, \"SliceTiming\": [\(twelve)]}")
        #expect(wrongFactor.contains("dwi.json") && wrongFactor.contains("MultibandAccelerationFactor is 3"))
        let wrongLength = message("{\"SliceTiming\": [0, 0.5, 1.0]}")
        #expect(wrongLength.contains("dwi.json") && wrongLength.contains("SliceTiming lists 3 times but the image has 12 slices"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/out-\(12).nii.gz"))
        var badFactor = MPPCARequest(input: input, output: dir + "/x.nii.gz"); badFactor.sliceGroups = .multiband(5)
        #expect(throws: (any Error).self) { _ = try DenoisePipeline.mppca(badFactor) }
    }
}
