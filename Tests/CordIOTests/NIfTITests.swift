import Foundation
import Testing
import CordTestSupport
import CNIfTI
@testable import CordCore
@testable import CordIO

@Suite struct NIfTIRoundTripTests {
    /// An oblique grid (rotated 3.8° about x, 0.8 × 0.8 × 3 mm): orthogonal, as scanner images
    /// are; a sheared transform is refused on read (issue #23).
    static let grid = Grid(nx: 5, ny: 4, nz: 3, affine: Mat4(rows: [-0.8, 0, 0, 20], [0, 0.8 * 0.99779, 3 * 0.066451, -15], [0, -0.8 * 0.066451, 3 * 0.99779, 7]))

    static func ramp(frames: Int = 2) -> Volume<Float> {
        var v = Volume<Float>(grid: grid, frames: frames)
        for n in 0..<v.data.count { v.data[n] = Float(n % 200) - 40 }
        return v
    }

    @Test(arguments: [NIfTIDatatype.uint8, .int8, .int16, .uint16, .int32, .uint32, .int64, .float32, .float64], [".nii", ".nii.gz"])
    func realDatatypesRoundTrip(dt: NIfTIDatatype, ext: String) throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var v = Self.ramp()
        if let r = dt.integerRange { v = v.map { min(max($0, Float(r.lowerBound)), Float(r.upperBound)) } }
        let path = dir + "/img" + ext
        try NIfTIFile.write(v, to: path, datatype: dt)
        let (back, h) = try NIfTIFile.read(path, as: Float.self)
        #expect(h.datatype == dt)
        #expect(h.dims == [5, 4, 3, 2])
        #expect(back.data == v.data)                                       // integers in range: exact
        #expect(back.grid.affine.isApproximatelyEqual(to: Self.grid.affine, tolerance: 1e-5))  // float32 header storage
    }

    @Test(arguments: [".nii", ".nii.gz"])
    func complexRoundTripsAndRefusesRealReads(ext: String) throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var c = Volume<ComplexF>(grid: Self.grid, frames: 1, repeating: ComplexF(0, 0))
        for n in 0..<c.data.count { c.data[n] = ComplexF(Float(n), -Float(n) / 2) }
        let path = dir + "/c" + ext
        try NIfTIFile.write(c, to: path, datatype: .complex64)
        let (back, h) = try NIfTIFile.read(path, as: ComplexF.self)
        #expect(h.datatype == .complex64)
        #expect(back.data == c.data)
        #expect(throws: CordIOError.self) { try NIfTIFile.read(path, as: Float.self) }
    }

    @Test func scalingIsAppliedOnRead() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var v = Volume<Float>(grid: Self.grid)
        for n in 0..<v.data.count { v.data[n] = 10 + 0.5 * Float(n) }
        let path = dir + "/s.nii.gz"
        try NIfTIFile.write(v, to: path, datatype: .int16, scaling: (slope: 0.5, intercept: 10))
        let (back, h) = try NIfTIFile.read(path)
        #expect(h.hasScaling && h.sclSlope == 0.5 && h.sclInter == 10)
        #expect(back.data == v.data)  // multiples of the slope: exact
        // The raw stored integers are n, not the scaled values.
        var raw = h; raw.sclSlope = 1; raw.sclInter = 0
        #expect(raw.hasScaling == false)
    }

    @Test func qformOnlyAndSformFilesGiveTheRightAffine() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let v = Self.ramp(frames: 1)
        let rigid = Grid(nx: 5, ny: 4, nz: 3, spacing: [0.9, 0.9, 2.5], origin: [10, -5, 3])
        var q = NIfTIHeader(grid: rigid, frames: 1, datatype: .float32)
        q.sformCode = 0
        q.sform = Mat4(linear: .diagonal([7, 7, 7]), translation: .zero)  // ignored: code 0
        var vol = v; vol.grid = rigid
        try NIfTIFile.write(vol, to: dir + "/q.nii", like: q)
        let hq = try NIfTIFile.readHeader(dir + "/q.nii")
        #expect(hq.sformCode == 0 && hq.qformCode == 1)
        #expect(hq.affine.isApproximatelyEqual(to: rigid.affine, tolerance: 1e-5))
        #expect(hq.affineSource.hasPrefix("qform"))
        // sform set and different from qform: sform wins.
        var s = NIfTIHeader(grid: rigid, frames: 1, datatype: .float32)
        s.sform = Self.grid.affine; s.sformCode = 2
        var vs = v; vs.grid = Grid(nx: 5, ny: 4, nz: 3, affine: Self.grid.affine)
        try NIfTIFile.write(vs, to: dir + "/s.nii", like: s)
        let hs = try NIfTIFile.readHeader(dir + "/s.nii")
        #expect(hs.sformCode == 2)
        #expect(hs.affine.isApproximatelyEqual(to: Self.grid.affine, tolerance: 1e-5))
        #expect(hs.qform.isApproximatelyEqual(to: rigid.affine, tolerance: 1e-4))  // qform kept as given
    }

    @Test func writingLikeAnInputKeepsItsHeaderFields() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var h = NIfTIHeader(grid: Self.grid, frames: 2, datatype: .int16)
        h.descrip = "scanner description"; h.sliceDim = 3; h.sliceDuration = 0.05; h.pixdim = [1, 1, 1, 2.5]
        h.qformCode = 1; h.sformCode = 1
        try NIfTIFile.write(Self.ramp(), to: dir + "/in.nii.gz", datatype: .int16, like: h)
        let (img, hin) = try NIfTIFile.read(dir + "/in.nii.gz")
        // Reorient to canonical and back, then write like the input: the header survives.
        let (can, r) = img.reoriented()
        #expect(can.grid.orientationCode == "RPI")
        try NIfTIFile.write(r.invert(can), to: dir + "/out.nii", like: hin)
        let hout = try NIfTIFile.readHeader(dir + "/out.nii")
        #expect(hout.descrip == "scanner description")
        #expect(hout.sliceDim == 3 && abs(hout.sliceDuration - 0.05) < 1e-9)
        #expect(hout.repetitionTime == 2.5)
        #expect(hout.qform.isApproximatelyEqual(to: hin.qform, tolerance: 1e-6))
        #expect(hout.sform == hin.sform)
        #expect(hout.datatype == .float32)
    }
}

@Suite struct NIfTIBadInputTests {
    static func goodFile(_ dir: String, _ name: String) throws -> String {
        let p = dir + "/" + name
        var v = Volume<Float>(grid: Grid(nx: 8, ny: 8, nz: 8, spacing: [1, 1, 1]), frames: 2)
        var r = SeededRNG(seed: 1)
        for n in 0..<v.data.count { v.data[n] = Float(r.uniform()) }  // incompressible-ish
        try NIfTIFile.write(v, to: p)
        return p
    }
    static func message(_ body: () throws -> Void) -> String {
        do { try body(); return "" } catch { return "\(error)" }
    }

    @Test func truncatedGzipIsReported() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let p = try Self.goodFile(dir, "t.nii.gz")
        let data = try Data(contentsOf: URL(fileURLWithPath: p))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: p))
        let m = Self.message { _ = try NIfTIFile.read(p) }
        #expect(m.contains("t.nii.gz") && (m.contains("truncated") || m.contains("corrupt")), "\(m)")
    }

    @Test func headerClaimingMoreDataThanPresentIsReported() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let p = try Self.goodFile(dir, "short.nii")
        let data = try Data(contentsOf: URL(fileURLWithPath: p))
        try data.prefix(data.count - 100).write(to: URL(fileURLWithPath: p))
        do { _ = try NIfTIFile.read(p); Issue.record("expected an error") } catch let e as CordIOError {
            #expect(e == .truncated(path: p, expectedBytes: 8 * 8 * 8 * 2 * 4, foundBytes: 8 * 8 * 8 * 2 * 4 - 100))
        }
    }

    @Test func wrongMagicEmptyAndGarbageAreReported() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let p = try Self.goodFile(dir, "m.nii")
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: p)))
        bytes[344] = UInt8(ascii: "x")
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        #expect(Self.message { _ = try NIfTIFile.read(p) }.contains("wrong magic"))
        try Data().write(to: URL(fileURLWithPath: dir + "/e.nii"))
        #expect(Self.message { _ = try NIfTIFile.read(dir + "/e.nii") }.contains("empty"))
        try Data("hello, this is not an image at all".utf8).write(to: URL(fileURLWithPath: dir + "/g.nii.gz"))
        #expect(Self.message { _ = try NIfTIFile.read(dir + "/g.nii.gz") }.contains("not a NIfTI file"))
        #expect(Self.message { _ = try NIfTIFile.read(dir + "/absent.nii") }.contains("no such file"))
    }

    @Test func failedWriteLeavesNothingBehind() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let v = Volume<Float>(grid: Grid(nx: 2, ny: 2, nz: 2, spacing: [1, 1, 1]))
        // Missing parent folders are created; a parent that is a file cannot be.
        try TextFile.write("not a folder\n", to: dir + "/afile")
        #expect(throws: CordIOError.self) { try NIfTIFile.write(v, to: dir + "/afile/x.nii") }
        #expect(throws: CordIOError.self) { try NIfTIFile.write(v, to: dir + "/x.img") }
        #expect(Support.files(in: dir) == ["afile"])
        try NIfTIFile.write(v, to: dir + "/new/folder/x.nii")
        #expect(TextFile.exists(dir + "/new/folder/x.nii"))
    }
}

/// gzip as CordQ writes it (independent members with a length field, decompressed on all
/// cores) and as others write it (one member, or members without the field).
@Suite struct GzipTests {
    static func bytes(_ n: Int, seed: UInt64) -> [UInt8] {
        var r = SeededRNG(seed: seed)
        // Half noise, half runs: compressible, like image data.
        return (0..<n).map { i in i % 4096 < 2048 ? UInt8(truncatingIfNeeded: Int(r.uniform() * 256)) : UInt8(i / 4096 % 256) }
    }

    @Test func multiMemberRoundTripReadableByZlib() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let data = Self.bytes(3 * Gzip.memberSize + 12345, seed: 4)
        let p = dir + "/m.bin.gz"
        try FileAccess.writeAtomically(data, to: p)
        let stored = [UInt8](try Data(contentsOf: URL(fileURLWithPath: p)))
        #expect(stored[3] == 0x04 && stored[12] == UInt8(ascii: "C") && stored[13] == UInt8(ascii: "Q"))  // FEXTRA with the CQ field
        #expect(try FileAccess.readAll(p) == data)                         // parallel members
        #expect(try FileAccess.readStreaming(p, limit: nil) == data)       // zlib reads it as one stream
        #expect(try FileAccess.readAll(p, limit: 100) == Array(data.prefix(100)))
    }

    @Test func concatenatedMembersWithoutLengthFieldAreRead() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let a = Self.bytes(5000, seed: 1), b = Self.bytes(7000, seed: 2)
        // zlib's own gzip writer (no extra field), two members back to back.
        func zlibMember(_ d: [UInt8], _ path: String) throws -> [UInt8] {
            let gz = try #require(gzopen(path, "wb6"))
            _ = d.withUnsafeBytes { gzwrite(gz, $0.baseAddress!, UInt32($0.count)) }
            gzclose(gz)
            return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        }
        let joined = try zlibMember(a, dir + "/a.gz") + zlibMember(b, dir + "/b.gz")
        try Data(joined).write(to: URL(fileURLWithPath: dir + "/ab.gz"))
        #expect(try FileAccess.readAll(dir + "/ab.gz") == a + b)
    }

    /// A cut or damaged multi-member file gets zlib's diagnosis, as every .gz did before.
    @Test func truncatedOrCorruptMultiMemberFilesAreReported() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let data = Self.bytes(2 * Gzip.memberSize + 999, seed: 7)
        let p = dir + "/t.nii.gz"
        try FileAccess.writeAtomically(data, to: p)
        let whole = try Data(contentsOf: URL(fileURLWithPath: p))
        try whole.prefix(whole.count - 5000).write(to: URL(fileURLWithPath: p))
        do { _ = try FileAccess.readAll(p); Issue.record("expected an error") } catch let e as CordIOError {
            #expect(e == .corrupt(path: p, reason: "the compressed stream ends early (truncated .gz)"))
        }
        var damaged = [UInt8](whole)
        for i in 3000..<3100 { damaged[i] ^= 0x5a }
        try Data(damaged).write(to: URL(fileURLWithPath: p))
        do { _ = try FileAccess.readAll(p); Issue.record("expected an error") } catch let e as CordIOError {
            #expect("\(e)".contains("t.nii.gz") && "\(e)".contains("corrupt"))
        }
    }
}
