import ArgumentParser
import Foundation
import Testing
import CordTestSupport
@testable import CordCLI
@testable import CordPipeline

/// `cordq protocol …` run in-process. Cards come from the repository's protocols/ folder,
/// found by walking up from the test executable (as `.build/release/cordq` finds it).
@Suite struct ProtocolCommandTests {
    /// A sidecar-only subject (no images) for clinical-minimal: sagittal T2w TSE and an axial
    /// DWI (TR 3 s, TE 0.07 s, flip 90°, MB 2 from SliceTiming, b = 0 ×2 and b = 1000 ×6).
    func writeSubject(_ root: String, withDWI: Bool = true) throws -> String {
        let sub = root + "/sub-cli01"
        try FileManager.default.createDirectory(atPath: sub + "/anat", withIntermediateDirectories: true)
        try #"{"RepetitionTime": 3, "EchoTime": 0.1, "SliceThickness": 3, "MRAcquisitionType": "2D", "ScanningSequence": "SE", "ImageOrientationPatientDICOM": [0, 1, 0, 0, 0, -1], "MagneticFieldStrength": 3}"#
            .write(toFile: sub + "/anat/sub-cli01_acq-sag_T2w.json", atomically: true, encoding: .utf8)
        guard withDWI else { return sub }
        try FileManager.default.createDirectory(atPath: sub + "/dwi", withIntermediateDirectories: true)
        try #"{"RepetitionTime": 3, "EchoTime": 0.07, "FlipAngle": 90, "SliceThickness": 4, "MRAcquisitionType": "2D", "ScanningSequence": "EP", "SliceTiming": [0, 0.5, 0, 0.5], "ImageOrientationPatientDICOM": [1, 0, 0, 0, 1, 0], "MagneticFieldStrength": 3}"#
            .write(toFile: sub + "/dwi/sub-cli01_dwi.json", atomically: true, encoding: .utf8)
        try "0 1000 1000 1000 1000 1000 1000 0\n".write(toFile: sub + "/dwi/sub-cli01_dwi.bval", atomically: true, encoding: .utf8)
        try "0 1 0 0 0.7071 0.7071 0 0\n0 0 1 0 0.7071 0 0.7071 0\n0 0 0 1 0 0.7071 0.7071 0\n"
            .write(toFile: sub + "/dwi/sub-cli01_dwi.bvec", atomically: true, encoding: .utf8)
        return sub
    }

    func exitCode(_ args: [String]) throws -> Int32 {
        var cmd = try CordQCommand.parseAsRoot(args)
        do { try cmd.run(); return 0 } catch let e as ExitCode { return e.rawValue }
    }

    @Test func theRepositoryCardsAreFoundFromTheExecutable() throws {
        let lib = ProtocolLibrary.standard
        #expect(lib.folders.contains { TextFileProbe.exists($0 + "/spine-generic.yaml") }, "\(lib.folders)")
        #expect(try exitCode(["protocol", "list"]) == 0)
        #expect(try exitCode(["protocol", "show", "spine-generic-siemens"]) == 0)
    }

    @Test func checkExitStatusSaysWhetherProcessingCanGoAhead() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let sub = try writeSubject(dir)
        #expect(try exitCode(["protocol", "check", sub, "--protocol", "clinical-minimal"]) == 0)
        let card = Support.packageRoot + "/protocols/clinical-minimal.yaml"
        #expect(try exitCode(["protocol", "check", sub, "--protocol", card]) == 0)   // a path works too
        let blocked = try writeSubject(dir + "/other", withDWI: false)
        #expect(try exitCode(["protocol", "check", blocked, "--protocol", "clinical-minimal"]) == 1)
        let report = try ProtocolLibrary.standard.check(subject: blocked, protocol: "clinical-minimal")
        #expect(report.text.contains("[MISSING] dwi (required)") && report.text.contains("Verdict: BLOCKED"))
    }

    @Test func anInvalidCardOrUnknownNameExitsWithTwoAndSaysWhy() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let sub = try writeSubject(dir)
        try "format: 1\nname: bad\ntitle: Bad\nseries:\n  - id: x\n    datatype: anat\n    suffix: T2w\n    required: true\n    te_ms: 3\n"
            .write(toFile: dir + "/bad.yaml", atomically: true, encoding: .utf8)
        #expect(try exitCode(["protocol", "check", sub, "--protocol", dir + "/bad.yaml"]) == 2)
        #expect(try exitCode(["protocol", "show", dir + "/bad.yaml"]) == 2)
        #expect(try exitCode(["protocol", "check", sub, "--protocol", "no-such-card"]) == 2)
        #expect(try exitCode(["protocol", "check", dir + "/sub-absent", "--protocol", "clinical-minimal"]) == 2)
        do { _ = try ProtocolLibrary(folders: [dir + "/a", dir + "/b"]).load("no-such-card"); Issue.record("no error") } catch {
            #expect("\(error)".contains("searched \(dir)/a/no-such-card.yaml, \(dir)/b/no-such-card.yaml"), "\(error)")
        }
        do { _ = try ProtocolLibrary(folders: []).load(dir + "/bad.yaml"); Issue.record("no error") } catch {
            #expect("\(error)" == "\(dir)/bad.yaml:9:5: unknown key 'te_ms' in series 'x' (allowed: id, title, datatype, suffix, entities, required, sequence, orientation, voxel_mm, slices, multiband, tr_s, te_s, ti_s, flip_deg, mt_pulse, duration_s, diffusion, processing)")
        }
        // list marks the invalid card and fails.
        let (text, ok) = try ProtocolLibrary(folders: [dir]).list()
        #expect(!ok && text.contains("bad") && text.contains("INVALID"))
    }

    @Test func helpExplainsUnitsAndTheToleranceConvention() {
        // Help text is wrapped to the terminal width: compare with whitespace collapsed.
        func help<C: ParsableCommand>(_ c: C.Type) -> String {
            CordQCommand.helpMessage(for: c).split(whereSeparator: \.isWhitespace).joined(separator: " ")
        }
        let check = help(ProtocolCheckCommand.self)
        #expect(check.contains("|x − value| <= tolerance") && check.contains("_s seconds"))
        #expect(check.contains("CORDQ_PROTOCOLS") && check.contains("multiband >= 4"))
        #expect(help(ProtocolShowCommand.self).contains("b_s_per_mm2 in s/mm²"))
    }
}

enum TextFileProbe { static func exists(_ p: String) -> Bool { FileManager.default.fileExists(atPath: p) } }
