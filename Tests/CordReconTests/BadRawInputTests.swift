// Bad raw input: truncated twix, damaged protocol fields, unknown formats, a bad counter
// mapping — each a clear error and nothing written.
import CordCore
import CordIO
import CordPipeline
import CordProtocol
import CordTestSupport
import Foundation
import Testing

@Suite(.enabled(if: Support.hasSharedData, "../shared/data is absent: twix damage checks skipped"))
struct BadTwixTests {
    let source = Support.sharedData + "/raw/epi.dat"

    func damaged(_ edit: (inout [UInt8]) -> Void) throws -> (String, String) {
        let dir = try Support.temporaryDirectory()
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: source)))
        edit(&bytes)
        let p = dir + "/bad.dat"
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return (dir, p)
    }

    @Test func truncatedTwixIsRefusedAndNothingWritten() throws {
        let (dir, p) = try damaged { $0 = Array($0[0..<600_000]) }
        defer { Support.remove(dir) }
        var r = ReconRequest(input: p, output: dir + "/out.nii.gz"); r.options.quiet = true
        #expect(throws: CordIOError.self) { try ReconPipeline.run(r) }
        #expect(Support.files(in: dir) == ["bad.dat"])
        do { _ = try RawInput.read(p); Issue.record("a truncated twix was read") } catch let e as CordIOError {
            #expect(e.description.contains("truncated"))
        }
    }

    @Test func missingProtocolFieldIsNamed() throws {
        let (dir, p) = try damaged { b in
            let key = Array("sKSpace.lBaseResolution".utf8)
            var i = 0
            while i + key.count < b.count { if Array(b[i..<(i + key.count)]) == key { b[i + key.count - 1] = UInt8(ascii: "X") }; i += 1 }
        }
        defer { Support.remove(dir) }
        do { _ = try RawInput.read(p); Issue.record("a twix without its base resolution was read") } catch let e as CordIOError {
            #expect(e.description.contains("sKSpace.lBaseResolution"))
        }
    }

    @Test func notARawFileIsRefused() throws {
        let (dir, p) = try damaged { $0 = Array("hello, this is not k-space".utf8) }
        defer { Support.remove(dir) }
        #expect(throws: (any Error).self) { try RawInput.read(p) }
    }
}

@Suite struct CounterMappingTests {
    @Test func shippedSiemensMappingDecodes() throws {
        let m = try RawInput.siemensMapping()
        #expect(m.counters["Lin"] == .some("kspace_encode_step_1"))
        #expect(m.counters["Seg"] == .some(nil))          // polarity, not a segment
        #expect(m.flags["PHASCOR"] == "ACQ_IS_PHASECORR_DATA")
        #expect(m.flags["REFLECT"] == "ACQ_IS_REVERSE")
        #expect(m.skipFlags.contains("SYNCDATA"))
    }

    @Test func mappingWithUnknownCounterIsRefused() {
        let yaml = "vendor: siemens\ncounters:\n  Lin: kspace_line\nflags:\n  PHASCOR: ACQ_IS_PHASECORR_DATA\n"
        #expect(throws: CordIOError.self) { try RawCounterMappingDecoder.decode(yaml, path: "bad.yaml") }
        let yaml2 = "vendor: siemens\ncounters:\n  Lin: kspace_encode_step_1\nflags:\n  PHASCOR: ACQ_IS_GHOST\n"
        #expect(throws: CordIOError.self) { try RawCounterMappingDecoder.decode(yaml2, path: "bad.yaml") }
    }
}
