import ArgumentParser
import Foundation
import Testing
import CordTestSupport
@testable import CordCLI
@testable import CordCore
@testable import CordIO

/// `cordq phantom cohort --sessions … --atrophy …` and `cordq longitudinal` argument handling
/// and refusals, in-process.
@Suite struct LongitudinalCommandTests {
    @Test func phantomCohortWritesSessionsWithTruth() throws {
        let dir = try Support.temporaryDirectory()
        var cmd = try CordQCommand.parseAsRoot(["phantom", "cohort", dir + "/bids", "--healthy", "1", "--compressed", "0", "--sessions", "2",
                                                "--atrophy", "C5:0.08/y", "--interval-days", "120", "--field-of-view", "24"])
        try cmd.run()
        let sub = dir + "/bids/sub-hc01"
        #expect(TextFile.exists(sub + "/ses-02/anat/sub-hc01_ses-02_acq-ax_T2w.nii.gz"))
        let sessions = try TSVTable.read(sub + "/sub-hc01_sessions.tsv").records
        #expect(sessions.map { $0["acq_time"] ?? "" } == ["2026-01-05T10:00:00", "2026-05-05T10:00:00"])   // 120 days apart
        let truth = try TSVTable.read(dir + "/bids/derivatives/truth/session_levels.tsv").records
        let c5 = truth.first { $0["session_id"] == "ses-02" && $0["level"] == "C5" }
        // Planted factor 1 − 0.08 × 120 / 365.25 = 0.97372 (4 decimals written).
        #expect(abs((Double(c5?["planted_factor"] ?? "") ?? 0) - (1 - 0.08 * 120 / 365.25)) < 1e-4)
        // Labels for the first session only (one labelling per subject).
        #expect(TextFile.exists(dir + "/bids/derivatives/labels/sub-hc01/ses-01/anat/sub-hc01_ses-01_acq-ax_T2w_labels-disc.nii.gz"))
        #expect(!TextFile.exists(dir + "/bids/derivatives/labels/sub-hc01/ses-02"))
    }

    @Test func badOptionsAreRefusedBeforeAnyWork() {
        #expect(throws: (any Error).self) { _ = try CordQCommand.parseAsRoot(["phantom", "cohort", "/tmp/x", "--atrophy", "C5:0.08/y"]) }
        #expect(throws: (any Error).self) { _ = try CordQCommand.parseAsRoot(["phantom", "cohort", "/tmp/x", "--sessions", "2", "--atrophy", "C9:0.1"]) }
        #expect(throws: (any Error).self) { _ = try CordQCommand.parseAsRoot(["longitudinal", "/tmp/sub-1", "/tmp/out", "--within-sd", "csa_mm2"]) }
        #expect(throws: Never.self) { _ = try CordQCommand.parseAsRoot(["longitudinal", "/tmp/sub-1", "/tmp/out", "--within-sd", "csa_mm2=2%"]) }
        #expect(throws: Never.self) { _ = try CordQCommand.parseAsRoot(["longitudinal", "cohort", "/tmp/bids"]) }
    }

    @Test func oneSessionExitsWithStatus1AndWritesNothing() throws {
        let dir = try Support.temporaryDirectory()
        var make = try CordQCommand.parseAsRoot(["phantom", "cohort", dir + "/bids", "--healthy", "1", "--compressed", "0", "--sessions", "1",
                                                 "--field-of-view", "24"])
        // --sessions 1 without --atrophy: the plain layout (no ses-* folders).
        try make.run()
        var cmd = try CordQCommand.parseAsRoot(["longitudinal", dir + "/bids/sub-hc01", dir + "/out"])
        #expect(throws: ExitCode.self) { try cmd.run() }
        #expect(!FileManager.default.fileExists(atPath: dir + "/out"))
    }
}
