import Foundation
import Testing
import CordTestSupport
@testable import CordCore
@testable import CordIO
@testable import CordPhantom
@testable import CordPipeline

/// Bad input for `cordq longitudinal`, checked before any processing (`LongitudinalPipeline.plan`):
/// one session, missing dates, sessions with different protocols, an unusable sessions.tsv.
@Suite struct LongitudinalInputTests {
    static func phantom(sessions n: Int) throws -> String {
        let dir = try Support.temporaryDirectory()
        var s = PhantomSessions(count: n, intervalDays: 30)
        s.longitudinalShift = 2
        _ = try PhantomCohortExport.write(PhantomCohort(healthy: 1, compressed: 0, seed: 2), to: dir + "/bids", fieldOfView: 24, sessions: s)
        return dir
    }

    @Test func oneSessionIsRefusedWithAClearMessage() throws {
        let dir = try Self.phantom(sessions: 1)
        let r = LongitudinalRequest(subject: dir + "/bids/sub-hc01", output: dir + "/out")
        let error = #expect(throws: CordError.self) { try LongitudinalPipeline.run(r) }
        let text = "\(error.map { "\($0)" } ?? "")"
        #expect(text.contains("one session only (ses-01)") && text.contains("two or more sessions"), "\(text)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/out"))
    }

    @Test func missingDatesAreNamedAndRatesLeftEmpty() throws {
        let dir = try Self.phantom(sessions: 2)
        try FileManager.default.removeItem(atPath: dir + "/bids/sub-hc01/sub-hc01_sessions.tsv")
        let plan = try LongitudinalPipeline.plan(LongitudinalRequest(subject: dir + "/bids/sub-hc01", output: dir + "/out"))
        #expect(plan.days.isEmpty)
        let w = plan.warnings.joined(separator: "\n")
        #expect(w.contains("no date for ses-01, ses-02") && w.contains("annualised rates are left empty"), "\(w)")
    }

    @Test func datesFallBackToTheSidecarsAcquisitionDateTime() throws {
        let dir = try Self.phantom(sessions: 2)
        let subject = dir + "/bids/sub-hc01"
        try FileManager.default.removeItem(atPath: subject + "/sub-hc01_sessions.tsv")
        for (ses, when) in [("01", "2025-03-01T09:00:00"), ("02", "2025-09-01T09:00:00")] {
            let path = subject + "/ses-\(ses)/anat/sub-hc01_ses-\(ses)_acq-ax_T2w.json"
            var side = try JSONFile.read([String: JSONValue].self, from: path)
            side["AcquisitionDateTime"] = .string(when)
            try JSONFile.write(side, to: path)
        }
        let plan = try LongitudinalPipeline.plan(LongitudinalRequest(subject: subject, output: dir + "/out"))
        let d1 = try #require(plan.days["01"]), d2 = try #require(plan.days["02"])
        #expect(d2.0 - d1.0 == 184)   // 2025-03-01 → 2025-09-01
        #expect(d1.1.contains("AcquisitionDateTime"))
        #expect(plan.warnings.isEmpty, "\(plan.warnings)")
    }

    @Test func differentProtocolsAreComparedWhereBothHaveDataWithAWarning() throws {
        let dir = try Self.phantom(sessions: 2)
        let ses2 = dir + "/bids/sub-hc01/ses-02"
        // ses-02 gains a small DWI series and its T2w is re-written with 0.6 mm voxels.
        try FileManager.default.createDirectory(atPath: ses2 + "/dwi", withIntermediateDirectories: true)
        let g = Grid(nx: 8, ny: 8, nz: 4, spacing: [2, 2, 5])
        try NIfTIFile.write(Volume<Float>(grid: g, frames: 4, repeating: 1), to: ses2 + "/dwi/sub-hc01_ses-02_dwi.nii.gz")
        try "0 1000 1000 1000\n".write(toFile: ses2 + "/dwi/sub-hc01_ses-02_dwi.bval", atomically: true, encoding: .utf8)
        try "1 1 0 0\n0 0 1 0\n0 0 0 1\n".write(toFile: ses2 + "/dwi/sub-hc01_ses-02_dwi.bvec", atomically: true, encoding: .utf8)
        let anat = ses2 + "/anat/sub-hc01_ses-02_acq-ax_T2w.nii.gz"
        let (v, _) = try NIfTIFile.read(anat)
        let coarse = Grid(nx: v.grid.nx, ny: v.grid.ny, nz: v.grid.nz, spacing: [0.6, 0.6, 3])
        try NIfTIFile.write(Volume<Float>(grid: coarse, exactly: v.data), to: anat)
        let plan = try LongitudinalPipeline.plan(LongitudinalRequest(subject: dir + "/bids/sub-hc01", output: dir + "/out"))
        let w = plan.warnings.joined(separator: "\n")
        #expect(w.contains("ses-02 has DWI, which not every session has"), "\(w)")
        #expect(w.contains("0.60×0.60×3.00 mm") && w.contains("protocol change"), "\(w)")
    }

    @Test func aBadSessionsTableIsRefusedNamingFileAndLine() throws {
        let dir = try Self.phantom(sessions: 2)
        let tsv = dir + "/bids/sub-hc01/sub-hc01_sessions.tsv"
        try "session_id\tacq_time\nses-01\t2026-01-05\nses-02\tnext tuesday\n".write(toFile: tsv, atomically: true, encoding: .utf8)
        let error = #expect(throws: CordError.self) {
            try LongitudinalPipeline.plan(LongitudinalRequest(subject: dir + "/bids/sub-hc01", output: dir + "/out"))
        }
        let text = "\(error.map { "\($0)" } ?? "")"
        #expect(text.contains("sub-hc01_sessions.tsv") && text.contains("line 3") && text.contains("next tuesday"), "\(text)")
    }
}
