// The real Siemens VE11 ep2d_bold twix (../shared/data/raw/epi.dat) read by CordIO against
// twixtools' reading of the same file (numbers printed by Benchmarks/recon/twixtools_reference.py),
// and reconstructed with and without Nyquist ghost correction.
import CordCore
import CordIO
import CordPipeline
import CordRecon
import CordTestSupport
import Foundation
import Testing

@Suite(.enabled(if: Support.hasSharedData, "../shared/data is absent: real twix checks skipped"))
struct TwixRealDataTests {
    let path = Support.sharedData + "/raw/epi.dat"

    @Test func realTwixEpiMatchesTwixtools() throws {
        let ds = try TwixFile.read(path, mapping: try RawInput.siemensMapping())
        #expect(ds.source == .siemensTwixVD)
        #expect(ds.acquisitions.count == 83)                      // twixtools: scans 83
        #expect(ds.acquisitions.allSatisfy { $0.channels == 2 && $0.samples == 160 })
        #expect(ds.vendorFlags["PHASCOR"] == 3)
        #expect(ds.vendorFlags["REFLECT"] == 42)
        #expect(ds.vendorFlags["LASTSCANINMEAS"] == 1)
        #expect(ds.vendorCounters["Seg"] == 42)                   // twixtools: Seg non-zero on 42
        #expect(ds.vendorCounters["Lin"] == 82)
        let lines = ds.acquisitions.map(\.index.kspaceEncodeStep1)
        #expect(lines.min() == 0 && lines.max() == 79)
        #expect(ds.acquisitions.allSatisfy { $0.index.segment == 0 })   // Seg is polarity, not a segment
        #expect(ds.acquisitions[2].index.average == 1)           // twixtools: Ave non-zero on scan 2
        #expect(ds.header.phaseLimit.center == 40)
        // Data: sums of |s|² per channel and two samples (tolerance: float32 rounding, 1e-6 relative).
        for (c, ref) in [1.265700266e-04, 1.420432527e-04].enumerated() {
            let sum = ds.acquisitions.reduce(0.0) { acc, a in a.channel(c).reduce(acc) { $0 + Double($1.lengthSquared) } }
            #expect(abs(sum - ref) / ref < 1e-6, "channel \(c): \(sum) vs twixtools \(ref)")
        }
        let s1 = ds.acquisitions[3].data[1 * 160 + 17]
        #expect(abs(Double(s1.real) - 1.306179911e-06) < 1e-14 && abs(Double(s1.imaginary) + 1.022312790e-05) < 1e-13)
        let s2 = ds.acquisitions[82].data[159]
        #expect(abs(Double(s2.real) + 3.199791536e-06) < 1e-14 && abs(Double(s2.imaginary) + 2.876389772e-06) < 1e-14)
        // Geometry (twixtools: position and quaternion columns phase, read, slice), 1e-5.
        let a = ds.acquisitions[3]
        #expect(length(a.position - SIMD3(-2.5896999835968018, 53.922428131103516, -53.999473571777344)) < 1e-5)
        #expect(length(a.phaseDirection - SIMD3(0, 0.9992629885673523, -0.038387998938560486)) < 1e-5)
        #expect(length(a.readDirection - SIMD3(-1, 0, 0)) < 1e-5)
        #expect(length(a.sliceDirection - SIMD3(0, 0.038387998938560486, 0.9992629885673523)) < 1e-5)
        // Protocol: ramp 160/240/160 µs, delay 32 µs, dwell 3.1 µs; matrix 80 × 80, 160 columns.
        let t = try #require(ds.header.epiTiming)
        #expect(t.rampUp == 160 && t.flatTop == 240 && t.rampDown == 160 && t.acquisitionDelay == 32)
        #expect(abs(t.dwell - 3.1) < 1e-9)
        #expect(ds.header.encodedSpace.matrix == SIMD3(160, 80, 1) && ds.header.reconSpace.matrix == SIMD3(80, 80, 1))
        #expect(ds.header.readoutOversampling == 2)
    }

    @Test func realTwixEpiInfoDescribesIt() throws {
        let text = try RawInfo.describe(path)
        for needle in ["Siemens twix VD/VE", "ep2d_bold", "epi (single-shot EPI)", "160 × 80 × 1", "80 × 80 × 1",
                       "ACQ_IS_PHASECORR_DATA ×3", "ACQ_IS_REVERSE ×42", "coils             2", "ramp up 160 µs"] {
            #expect(text.contains(needle), "cordq info lacks \(needle)")
        }
    }

    @Test func realTwixEpiGhostCorrectionLowersGhostToSignal() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var on = ReconRequest(input: path, output: dir + "/on.nii.gz"); on.options.quiet = true
        var off = ReconRequest(input: path, output: dir + "/off.nii.gz"); off.options.quiet = true; off.options.ghost = .none
        let a = try ReconPipeline.run(on), b = try ReconPipeline.run(off)
        // Measured 0.026 with correction, 0.084 without.
        #expect(a.ghostToSignal < 0.04, "GSR with correction \(a.ghostToSignal)")
        #expect(b.ghostToSignal > 0.06, "GSR without correction \(b.ghostToSignal)")
        #expect(a.ghostToSignal < 0.5 * b.ghostToSignal)
        let (img, hdr) = try NIfTIFile.read(dir + "/on.nii.gz")
        #expect(img.grid.nx == 80 && img.grid.ny == 80 && img.grid.nz == 1)
        // Voxel size 2.5 mm in-plane (200 mm / 80), slice 4 mm (tolerance 1e-4 mm).
        #expect(abs(img.grid.spacing.x - 2.5) < 1e-4 && abs(img.grid.spacing.y - 2.5) < 1e-4 && abs(img.grid.spacing.z - 4) < 1e-4)
        // The centre voxel (40, 40) maps to the slice centre, LPS → RAS (tolerance 1e-3 mm).
        let centre = img.grid.world(40, 40, 0)
        #expect(length(centre - SIMD3(2.5896999835968018, -53.922428131103516, -53.999473571777344)) < 1e-3)
        _ = hdr
        let sidecar = try String(contentsOfFile: dir + "/on.json", encoding: .utf8)
        #expect(sidecar.contains("\"EchoTime\": 0.027") && sidecar.contains("\"PhaseEncodingDirection\": \"j\""))
        #expect(sidecar.contains("\"TotalReadoutTime\": 0.0442"))   // 0.56 ms × 79
    }
}

/// The VB layout (one 128-byte MDH per channel, no raid header) rebuilt from epi.dat's VD scans:
/// CordIO must read the same acquisitions from both layouts. (No real VB file is available.)
@Suite(.enabled(if: Support.hasSharedData, "../shared/data is absent: VB layout check skipped"))
struct TwixVBLayoutTests {
    @Test func vbLayoutRebuiltFromRealVDScansReadsTheSame() throws {
        let path = Support.sharedData + "/raw/epi.dat"
        let vd = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        func u16(_ o: Int) -> Int { Int(vd[o]) | Int(vd[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        let measStart = u32(8 + 8) | u32(8 + 12) << 32
        let hdrLen = u32(measStart)
        var vb = Array(vd[measStart..<(measStart + hdrLen)])     // u32 header length + text buffers
        var pos = measStart + hdrLen
        var scans = 0
        while pos + 192 <= vd.count {
            let samples = u16(pos + 48), channels = u16(pos + 50)
            let block = 192 + channels * (32 + 8 * samples)
            guard samples > 0, pos + block <= vd.count else { break }
            for c in 0..<channels {
                var mdh = [UInt8](repeating: 0, count: 128)
                mdh.replaceSubrange(0..<20, with: vd[pos..<(pos + 20)])          // DMA length … PMU time stamp
                mdh.replaceSubrange(20..<28, with: vd[(pos + 40)..<(pos + 48)])  // EvalInfoMask
                mdh.replaceSubrange(28..<80, with: vd[(pos + 48)..<(pos + 100)]) // samples … CenterPar
                mdh.replaceSubrange(96..<124, with: vd[(pos + 100)..<(pos + 128)]) // SliceData
                mdh[124] = UInt8(c)
                vb += mdh
                let d = pos + 192 + c * (32 + 8 * samples) + 32
                vb += vd[d..<(d + 8 * samples)]
            }
            scans += 1
            pos += block
        }
        #expect(scans == 83)
        let mapping = try RawInput.siemensMapping()
        let a = try TwixFile.parse(vd, path: path, mapping: mapping)
        let b = try TwixFile.parse(vb, path: "rebuilt-vb.dat", mapping: mapping)
        #expect(b.source == .siemensTwixVB)
        #expect(a.acquisitions.count == b.acquisitions.count)
        for (x, y) in zip(a.acquisitions, b.acquisitions) {
            #expect(x.flags == y.flags && x.index == y.index && x.data == y.data && x.position == y.position && x.centerSample == y.centerSample)
        }
        #expect(a.header.epiTiming == b.header.epiTiming && a.header.encodedSpace == b.header.encodedSpace)
    }
}
