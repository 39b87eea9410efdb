// The inventory finds a DWI series' reverse phase-encoding pair the way BIDS describes it:
// fmap/*_epi with IntendedFor naming the series, or a dwi series differing only in `dir`.
import Foundation
import Testing
import CordTestSupport
@testable import CordCore
@testable import CordIO

@Suite struct ReversePhaseEncodingPairTests {
    static func image(_ path: String, frames: Int) throws {
        let g = Grid(nx: 4, ny: 4, nz: 2, spacing: SIMD3(1, 1, 1))
        try NIfTIFile.write(Volume<Float>(grid: g, frames: frames, repeating: 1), to: path)
    }

    @Test func fmapEPIWithIntendedForIsThePair() throws {
        let root = try Support.temporaryDirectory(); defer { Support.remove(root) }
        let sub = root + "/sub-01"
        try Self.image(sub + "/dwi/sub-01_dwi.nii.gz", frames: 3)
        try JSONFile.write(["PhaseEncodingDirection": JSONValue.string("j-"), "TotalReadoutTime": .number(0.04)], to: sub + "/dwi/sub-01_dwi.json")
        for (dir, pe) in [("PA", "j"), ("AP", "j-")] {
            try Self.image(sub + "/fmap/sub-01_dir-\(dir)_epi.nii.gz", frames: 1)
            try JSONFile.write(["PhaseEncodingDirection": JSONValue.string(pe), "TotalReadoutTime": .number(0.04),
                                "IntendedFor": .array([.string("bids::sub-01/dwi/sub-01_dwi.nii.gz")])], to: sub + "/fmap/sub-01_dir-\(dir)_epi.json")
        }
        // An fmap meant for another series does not count.
        try Self.image(sub + "/fmap/sub-01_acq-other_dir-PA_epi.nii.gz", frames: 1)
        try JSONFile.write(["PhaseEncodingDirection": JSONValue.string("j"), "IntendedFor": .string("anat/sub-01_T2w.nii.gz")],
                           to: sub + "/fmap/sub-01_acq-other_dir-PA_epi.json")
        let inv = try SubjectInventory.read(sub)
        let dwi = try #require(inv.series(suffix: "dwi").first)
        let pair = try #require(inv.reversePhaseEncodingPair(for: dwi))
        #expect(pair.reverse.stem == "sub-01_dir-PA_epi")
        #expect(pair.same.stem == "sub-01_dir-AP_epi")
        #expect(pair.source.contains("IntendedFor"))
    }

    @Test func dwiDirPairWithoutFmap() throws {
        let root = try Support.temporaryDirectory(); defer { Support.remove(root) }
        let sub = root + "/sub-02"
        try Self.image(sub + "/dwi/sub-02_dir-AP_dwi.nii.gz", frames: 5)
        try Self.image(sub + "/dwi/sub-02_dir-PA_dwi.nii.gz", frames: 1)
        try Self.image(sub + "/dwi/sub-02_acq-b2000_dir-PA_dwi.nii.gz", frames: 1)  // another acquisition: not a partner
        let inv = try SubjectInventory.read(sub)
        let ap = try #require(inv.series(suffix: "dwi", entities: ["dir": "AP"]).first)
        let pair = try #require(inv.reversePhaseEncodingPair(for: ap))
        #expect(pair.reverse.stem == "sub-02_dir-PA_dwi")
        #expect(pair.same.stem == ap.stem)
        // A series without `dir` and without IntendedFor fmaps has none.
        let other = try #require(inv.series(suffix: "dwi", entities: ["acq": "b2000"]).first)
        #expect(inv.reversePhaseEncodingPair(for: other) == nil)
    }
}
