import Testing
import CordTestSupport
@testable import CordIO

@Suite struct ChecksumTests {
    @Test func sha256MatchesKnownDigests() throws {
        // FIPS 180-4 examples and a multi-block message (digests from sha256sum).
        #expect(FileChecksum.hex(SHA256.digest(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(FileChecksum.hex(SHA256.digest([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        try TextFile.write(String(repeating: "a", count: 1000), to: dir + "/a.txt")
        #expect(try FileChecksum.sha256(dir + "/a.txt") == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
        #expect(throws: CordIOError.self) { try FileChecksum.sha256(dir + "/absent.txt") }
    }
}
