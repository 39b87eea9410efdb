// Twix diffusion, GRAPPA calibration and multi-slice oblique geometry, on synthetic twix files
// (SyntheticTwix) built from CordPhantom's simulated EPI: no real diffusion, GRAPPA or
// multi-slice twix is available here. The writer and the reader share the public byte layout,
// so these check the mapping (protocols/raw/siemens-ep2d.yaml) and what recon does with it.
import CordCore
import CordIO
import CordPhantom
import CordPipeline
import CordRecon
import CordTestSupport
import Foundation
import Testing

@Suite struct TwixSyntheticTests {
    static let phase0 = SIMD3<Double>(0, 1, 0), normal0 = SIMD3<Double>(0, 0, 1)

    func small(acceleration: Int = 1) throws -> EPISimulation {
        var s = EPISimulationSettings(); s.nx = 32; s.ny = 32; s.coils = 4; s.acceleration = acceleration
        s.calibrationLines = 16
        return try EPIKSpaceSimulator.simulate(s)
    }

    /// Diffusion from the ICE B-matrix (per scan) and from sDiffusion free directions.
    @Test func twixDiffusionFromICEBMatrixAndFromFreeDirections() throws {
        let sim = try small()
        let raw = SyntheticTwix.replicate(sim.raw, slices: 1, volumes: 4, phase: Self.phase0, slice: Self.normal0, positions: [.zero])
        let mapping = try RawInput.siemensMapping()
        // (b, unit direction in the magnet frame) per volume.
        let enc: [(Double, SIMD3<Double>)] = [(0, .zero), (1000, normalized(SIMD3(1, 0.5, -0.3))),
                                              (1000, normalized(SIMD3(-0.2, 0.9, 0.4))), (500, normalized(SIMD3(0.1, -0.2, -1)))]
        // 1. ICE B-matrix: uint16(B + 16384.5), diagonal signed with the gradient polarity.
        var w = SyntheticTwix(); w.describe(raw)
        w.ascconv += [("sDiffusion.lDiffWeightings", "2"), ("sDiffusion.alBValue[1]", "1000"), ("sDiffusion.lDiffDirections", "3")]
        for (i, a) in raw.acquisitions.enumerated() where !a.flags.contains(.isNoiseMeasurement) {
            let (b, g) = enc[a.index.repetition]
            let bm = [b * g.x * g.x * (g.x < 0 ? -1 : 1), b * g.y * g.y * (g.y < 0 ? -1 : 1), b * g.z * g.z * (g.z < 0 ? -1 : 1),
                      b * g.x * g.y, b * g.x * g.z, b * g.y * g.z]
            var p = [UInt16](repeating: 0, count: 24)
            for k in 0..<6 { p[k] = UInt16((bm[k] + 16384.5).rounded(.down)) }
            p[6] = UInt16(b + 16384)
            w.ice[i] = p
        }
        let ds = try TwixFile.parse(w.bytes(raw), path: "synthetic-ice.dat", mapping: mapping)
        #expect(ds.notes.contains { $0.contains("ICE B-matrix") }, "\(ds.notes)")
        var o = EPIReconOptions(); o.quiet = true
        let r = try EPIReconstruction.reconstruct(ds, options: o)
        let d = try #require(r.diffusion)
        #expect(d.count == 4)
        for (v, (b, g)) in enc.enumerated() {
            // Tolerance: the B-matrix is stored in whole s/mm² (±0.5), so b within 1 and direction within 2e-3.
            #expect(abs(d[v].b - b) < 1, "volume \(v): b \(d[v].b) vs \(b)")
            if b > 0 { #expect(length(d[v].directionLPS - g) < 2e-3, "volume \(v): \(d[v].directionLPS) vs \(g)") }
        }
        // 2. No ICE B-matrix: sDiffusion free directions (xyz frame, feet-first supine → LPS flips x and z).
        var f = SyntheticTwix(); f.describe(raw)
        f.xprot = f.xprot.map { $0.0 == "tPatientPosition" ? ($0.0, "\"FFS\"") : $0 }
        f.ascconv += [("sDiffusion.lDiffWeightings", "2"), ("sDiffusion.alBValue[1]", "1000"), ("sDiffusion.lDiffDirections", "3"),
                      ("sDiffusion.sFreeDiffusionData.lDiffDirections", "3"), ("sDiffusion.sFreeDiffusionData.ulCoordinateSystem", "1")]
        for (k, (b, g)) in enc.dropFirst().enumerated() {
            let v = g * (b / 1000).squareRoot()    // a shorter vector is a lower b (b ∝ |v|²)
            for (c, x) in zip(["dSag", "dCor", "dTra"], [v.x, v.y, v.z]) {
                f.ascconv.append(("sDiffusion.sFreeDiffusionData.asDiffDirVector[\(k)].\(c)", "\(x)"))
            }
        }
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let path = dir + "/free.dat"
        try Data(f.bytes(raw)).write(to: URL(fileURLWithPath: path))
        var req = ReconRequest(input: path, output: dir + "/free.nii.gz"); req.options.quiet = true
        _ = try ReconPipeline.run(req)
        let bval = try String(contentsOfFile: dir + "/free.bval", encoding: .utf8)
            .split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Double($0) }
        #expect(bval.count == 4)
        for (v, (b, _)) in enc.enumerated() { #expect(abs(bval[v] - b) < 1e-6 * max(1, b), "bval \(bval)") }
        let ds2 = try TwixFile.read(path, mapping: mapping)
        let r2 = try EPIReconstruction.reconstruct(ds2, options: o)
        let d2 = try #require(r2.diffusion)
        for (v, (b, g)) in enc.enumerated() where b > 0 {
            let lps = g * SIMD3(-1, 1, -1)   // FFS: magnet x, z are patient −L, −S
            #expect(length(d2[v].directionLPS - lps) < 1e-6, "volume \(v): \(d2[v].directionLPS) vs \(lps)")
        }
        // 3. Built-in direction table (no free vectors, no ICE): no bval/bvec, said so.
        var m = SyntheticTwix(); m.describe(raw)
        m.ascconv += [("sDiffusion.lDiffWeightings", "2"), ("sDiffusion.alBValue[1]", "1000"), ("sDiffusion.lDiffDirections", "3")]
        let ds3 = try TwixFile.parse(m.bytes(raw), path: "mddw.dat", mapping: mapping)
        #expect(ds3.notes.contains { $0.contains("no bval/bvec") })
        #expect(try EPIReconstruction.reconstruct(ds3, options: o).diffusion == nil)
    }

    /// GRAPPA R = 2 from a twix whose calibration train is tagged PATREFSCAN: the twix path gives
    /// the same image as the simulated data set itself, close to the truth.
    @Test func twixGRAPPACalibrationTrainReconstructs() throws {
        let sim = try small(acceleration: 2)
        let raw = SyntheticTwix.replicate(sim.raw, slices: 1, volumes: 1, phase: Self.phase0, slice: Self.normal0, positions: [.zero])
        var w = SyntheticTwix(); w.describe(raw)
        let ds = try TwixFile.parse(w.bytes(raw), path: "grappa.dat", mapping: try RawInput.siemensMapping())
        #expect(ds.vendorFlags["PATREFSCAN"] == 16)
        #expect(ds.acquisitions.filter { $0.flags.contains(.isParallelCalibration) }.count == 16)
        #expect(ds.header.accelerationFactorPE == 2)
        var o = EPIReconOptions(); o.quiet = true
        let a = try EPIReconstruction.reconstruct(ds, options: o)
        let b = try EPIReconstruction.reconstruct(raw, options: o)
        #expect(a.report.grappa.contains("GRAPPA R = 2"))
        // Same data through both paths (float32 in both): equal to 1e-5 relative.
        let diff = zip(a.image.data, b.image.data).map { Double(($0 - $1).length) }.max() ?? 1
        let top = b.image.data.map { Double($0.length) }.max() ?? 1
        #expect(diff < 1e-5 * top, "twix vs direct \(diff / top)")
        // NRMSE vs truth: tolerance 0.12 at 32² and 4 coils (the 48² GRAPPA test measures 0.064).
        let e = scaledNRMSE(a.image, sim.combinedTruth, sim.mask)
        #expect(e < 0.12, "GRAPPA twix NRMSE \(e)")
        o.parallelImaging = false
        let naive = scaledNRMSE(try EPIReconstruction.reconstruct(ds, options: o).image, sim.combinedTruth, sim.mask)
        #expect(naive > 2 * e, "without GRAPPA \(naive) vs \(e)")
    }

    /// Four oblique slices: the NIfTI affine from the scan headers' positions and quaternions,
    /// and the check against sSliceArray (agrees; a wrong protocol is flagged).
    @Test func multiSliceObliqueTwixGeometry() throws {
        let sim = try small()
        let n = normalized(SIMD3<Double>(0.2, -0.3, 0.93))
        let phase = normalized(SIMD3(0, n.z, -n.y))           // transverse main orientation, no in-plane rotation
        let read = cross(n, phase)
        let centre = SIMD3<Double>(4, -20, 35), gap = 6.0
        let positions = (0..<4).map { centre + (Double($0) - 1.5) * gap * n }
        let raw = SyntheticTwix.replicate(sim.raw, slices: 4, volumes: 1, phase: phase, slice: n, positions: positions)
        var w = SyntheticTwix(); w.describe(raw, slices: 4)
        for (k, p) in positions.enumerated() {
            for (c, x) in zip(["dSag", "dCor", "dTra"], [p.x, p.y, p.z]) { w.ascconv.append(("sSliceArray.asSlice[\(k)].sPosition.\(c)", "\(x)")) }
            for (c, x) in zip(["dSag", "dCor", "dTra"], [n.x, n.y, n.z]) { w.ascconv.append(("sSliceArray.asSlice[\(k)].sNormal.\(c)", "\(x)")) }
        }
        let mapping = try RawInput.siemensMapping()
        let bytes = w.bytes(raw)
        let ds = try TwixFile.parse(bytes, path: "oblique.dat", mapping: mapping)
        let check = try #require(try TwixGeometry.check(bytes, path: "oblique.dat", mapping: mapping))
        // float32 positions and quaternions: within 1e-4 mm and 1e-6.
        #expect(check.slices == 4 && check.positionError < 1e-4 && check.normalError < 1e-6 && (check.phaseError ?? 1) < 1e-6, "\(check)")
        #expect(ds.notes.contains { $0.hasPrefix("geometry: 4 slices") })
        let a: RawAcquisition = ds.acquisitions.first(where: { !$0.flags.contains(RawAcquisitionFlags.isNoiseMeasurement) })!
        #expect(length(a.readDirection - read) < 1e-6 && length(a.phaseDirection - phase) < 1e-6 && length(a.sliceDirection - n) < 1e-6)
        var o = EPIReconOptions(); o.quiet = true
        let g = try EPIReconstruction.reconstruct(ds, options: o).image.grid
        #expect(g.nz == 4)
        let fov = sim.raw.header.reconSpace.fieldOfView.x, dx = fov / 32
        let ras = SIMD3<Double>(-1, -1, 1)
        for (i, j, k) in [(0, 0, 0), (16, 16, 2), (31, 5, 3), (7, 30, 1)] {
            let inPlane: SIMD3<Double> = Double(i - 16) * dx * read + Double(j - 16) * dx * phase
            let lps: SIMD3<Double> = positions[k] + inPlane
            let err: Double = length(g.world(Double(i), Double(j), Double(k)) - ras * lps)
            #expect(err < 1e-3, "voxel (\(i), \(j), \(k))")
        }
        // A protocol whose slice 2 sits 2 mm elsewhere is flagged.
        var bad = w
        bad.ascconv = bad.ascconv.map { $0.0 == "sSliceArray.asSlice[2].sPosition.dTra" ? ($0.0, "\(positions[2].z + 2)") : $0 }
        let dsBad = try TwixFile.parse(bad.bytes(raw), path: "bad.dat", mapping: mapping)
        #expect(dsBad.notes.contains { $0.hasPrefix("WARNING geometry disagrees") })
    }
}

@Suite(.enabled(if: Support.hasSharedData, "../shared/data is absent: real twix geometry check skipped"))
struct TwixRealGeometryTests {
    /// epi.dat and gre.dat (one transverse-oblique slice each): scan headers agree with sSliceArray.
    @Test func realTwixSliceGeometryMatchesSSliceArray() throws {
        let mapping = try RawInput.siemensMapping()
        for name in ["epi.dat", "gre.dat"] {
            let path = Support.sharedData + "/raw/" + name
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            let c = try #require(try TwixGeometry.check(bytes, path: path, mapping: mapping))
            // float32 scan headers vs the protocol's decimal text: 1e-3 mm, 1e-6.
            #expect(c.positionError < 1e-3 && c.normalError < 1e-6 && (c.phaseError ?? 1) < 1e-6, "\(name): \(c)")
        }
    }
}
