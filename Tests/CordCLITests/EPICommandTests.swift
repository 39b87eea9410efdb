// `cordq epi field` and `cordq epi unwarp` in-process on a small distorted phantom pair written
// as files with BIDS sidecars, and their bad inputs (same polarity, no readout time, grids).
import ArgumentParser
import Foundation
import Testing
import CordTestSupport
@testable import CordCLI
import CordCore
import CordIO
import CordPhantom
@testable import CordPipeline

@Suite struct EPICommandTests {
    static func run(_ args: [String]) throws {
        var cmd = try CordQCommand.parseAsRoot(args)
        try cmd.run()
    }

    /// A 32 × 32 × 6 phantom (1 × 1 × 5 mm, b = 0 + 6 × b = 800) distorted by the phantom field
    /// (TotalReadoutTime 40 ms): up.nii.gz (j), down.nii.gz (j-), dwi.nii.gz (j) with bval/bvec,
    /// each with a sidecar unless `sidecars` says otherwise.
    static func write(_ dir: String, upPE: String = "j", downPE: String = "j-", readout: Double? = 0.04) throws -> DistortionSimulation {
        var p = PhantomParameters(); p.snr = nil
        let subject = try PhantomSubject(p, on: PhantomGrid.axial(inPlane: 1, sliceThickness: 5, fieldOfView: 32, inferior: -15, superior: 15))
        var d = DiffusionPhantomParameters(); d.snr = 30; d.orientationSamples = 60; d.seed = 2
        let table = GradientTable(DiffusionSchemes.referenceVolumes(1) + DiffusionSchemes.shell(800, 6))
        let sim = try DistortionSimulator.simulate(subject, table: table, diffusion: d, parameters: DistortionPhantomParameters())
        for (name, image, pe) in [("up", sim.up, upPE), ("down", sim.down, downPE), ("dwi", sim.dwi, "j")] {
            try NIfTIFile.write(image, to: dir + "/\(name).nii.gz")
            var s: [String: JSONValue] = ["PhaseEncodingDirection": .string(pe)]
            if let r = readout { s["TotalReadoutTime"] = .number(r) }
            try JSONFile.write(s, to: dir + "/\(name).json")
        }
        try GradientFiles.write(table, grid: subject.grid, bval: dir + "/dwi.bval", bvec: dir + "/dwi.bvec")
        try NIfTIFile.write(sim.fieldHz, to: dir + "/truth_field.nii.gz")
        return sim
    }

    static func rms(_ a: Volume<Float>, _ b: Volume<Float>, _ m: Mask) -> Double {
        var s = 0.0, n = 0.0
        for i in 0..<m.grid.voxelCount where m.data[i] != 0 { let d = Double(a.data[i] - b.data[i]); s += d * d; n += 1 }
        return (s / n).squareRoot()
    }

    @Test func fieldThenUnwarpOnPhantomFiles() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let sim = try Self.write(dir)
        try Self.run(["epi", "field", "--pe", dir + "/up.nii.gz", "--pe-reverse", dir + "/down.nii.gz", dir + "/out"])
        for f in ["field_hz.nii.gz", "pe_corrected.nii.gz", "pe-reverse_corrected.nii.gz", "b0_corrected.nii.gz", "jacobian.nii.gz", "field.json"] {
            #expect(TextFile.exists(dir + "/out/" + f), "\(f)")
        }
        let (field, _) = try NIfTIFile.read(dir + "/out/field_hz.nii.gz")
        let rmse = Self.rms(field, sim.fieldHz, sim.region)
        // The library test measures 3.2 Hz on a larger phantom; 6 slices here: tolerance 5 Hz.
        #expect(rmse < 5, "field RMSE \(rmse) Hz in the cord + 5 mm (tolerance 5 Hz)")
        let record = try JSONFile.read([String: JSONValue].self, from: dir + "/out/field.json")
        #expect(record["PhaseEncodingDirection"] == .string("j"))
        #expect(record["TotalReadoutTime"] == .number(0.04))
        if case let .number(j)? = record["MinimumJacobian"] { #expect(j > 0) } else { Issue.record("no MinimumJacobian in field.json") }

        try Self.run(["epi", "unwarp", dir + "/dwi.nii.gz", "--field", dir + "/out/field_hz.nii.gz", dir + "/dwi_unwarped.nii.gz"])
        #expect(TextFile.exists(dir + "/dwi_unwarped.bval") && TextFile.exists(dir + "/dwi_unwarped.bvec"))
        let (unwarped, _) = try NIfTIFile.read(dir + "/dwi_unwarped.nii.gz")
        #expect(unwarped.frames == sim.dwi.frames)
        // The b = 0 volume: RMS error against the undistorted series in the cord + 5 mm falls by half or more.
        let before = Self.rms(sim.dwi.frame(0), sim.dwiUndistorted.frame(0), sim.region)
        let after = Self.rms(unwarped.frame(0), sim.dwiUndistorted.frame(0), sim.region)
        #expect(after < 0.5 * before, "b = 0 RMS error \(before) → \(after)")
        // An existing output is refused without --overwrite.
        #expect(throws: (any Error).self) {
            try Self.run(["epi", "unwarp", dir + "/dwi.nii.gz", "--field", dir + "/out/field_hz.nii.gz", dir + "/dwi_unwarped.nii.gz"])
        }
    }

    /// The fallback without a pair: `--anat` (a T2w-like image of inverted contrast on the same
    /// grid) and `--anat-mask` (the true cord).
    @Test func anatomicalFallbackFromFiles() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let sim = try Self.write(dir)
        let top = max(sim.undistorted.data.max() ?? 1, 1e-6)
        try NIfTIFile.write(sim.undistorted.map { v -> Float in let t = max(0, v) / top; return 1 - 0.8 * t + 0.3 * t * t }, to: dir + "/t2w.nii.gz")
        try NIfTIFile.write(sim.cordMask.map { Float($0) }, to: dir + "/cord.nii.gz")
        try Self.run(["epi", "field", "--pe", dir + "/up.nii.gz", "--anat", dir + "/t2w.nii.gz", "--anat-mask", dir + "/cord.nii.gz", dir + "/out"])
        for f in ["field_hz.nii.gz", "pe_corrected.nii.gz", "jacobian.nii.gz", "anat_on_epi.nii.gz", "field.json"] {
            #expect(TextFile.exists(dir + "/out/" + f), "\(f)")
        }
        let (field, _) = try NIfTIFile.read(dir + "/out/field_hz.nii.gz")
        let zero = Volume<Float>(grid: field.grid)
        let rmse = Self.rms(field, sim.fieldHz, sim.region), none = Self.rms(zero, sim.fieldHz, sim.region)
        print("epi field --anat: field RMSE \(formatFixed(rmse, 2)) Hz (no correction \(formatFixed(none, 2)) Hz)")
        // The library test measures 6.2 Hz against 34 Hz on a larger phantom; tolerance: under a third of no correction.
        #expect(rmse < none / 3, "fallback field RMSE \(rmse) Hz vs \(none) Hz")
        let record = try JSONFile.read([String: JSONValue].self, from: dir + "/out/field.json")
        if case let .string(src)? = record["Source"] { #expect(src.hasPrefix("anatomical fallback")) } else { Issue.record("no Source in field.json") }
        // Both or neither of --pe-reverse and --anat, and a mask without --anat, are refused before anything is written.
        #expect(throws: (any Error).self) {
            try Self.run(["epi", "field", "--pe", dir + "/up.nii.gz", "--pe-reverse", dir + "/down.nii.gz", "--anat", dir + "/t2w.nii.gz", dir + "/both"])
        }
        #expect(throws: (any Error).self) { try Self.run(["epi", "field", "--pe", dir + "/up.nii.gz", dir + "/neither"]) }
        #expect(throws: (any Error).self) {
            try Self.run(["epi", "field", "--pe", dir + "/up.nii.gz", "--pe-reverse", dir + "/down.nii.gz", "--anat-mask", dir + "/cord.nii.gz", dir + "/mask"])
        }
        for d in ["both", "neither", "mask"] { #expect(!TextFile.exists(dir + "/" + d)) }
    }

    @Test func samePhaseEncodingOnBothIsRefusedAndNothingIsWritten() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        _ = try Self.write(dir, upPE: "j", downPE: "j")
        do {
            try Self.run(["epi", "field", "--pe", dir + "/up.nii.gz", "--pe-reverse", dir + "/down.nii.gz", dir + "/out"])
            Issue.record("a pair with the same phase encoding was accepted")
        } catch {
            let text = "\(error)"
            #expect(text.contains("up.nii.gz") && text.contains("down.nii.gz") && text.contains("opposite"), "\(text)")
        }
        #expect(!TextFile.exists(dir + "/out/field_hz.nii.gz"))
    }

    @Test func missingReadoutTimeIsRefusedUnlessGiven() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        _ = try Self.write(dir, readout: nil)
        do {
            try Self.run(["epi", "field", "--pe", dir + "/up.nii.gz", "--pe-reverse", dir + "/down.nii.gz", dir + "/out"])
            Issue.record("a pair without TotalReadoutTime was accepted")
        } catch {
            #expect("\(error)".contains("TotalReadoutTime") && "\(error)".contains("up.nii.gz"), "\(error)")
        }
        #expect(!TextFile.exists(dir + "/out"))
        // Milliseconds given as seconds are refused by the option check.
        #expect(throws: (any Error).self) {
            try Self.run(["epi", "field", "--pe", dir + "/up.nii.gz", "--pe-reverse", dir + "/down.nii.gz", dir + "/out", "--total-readout-time", "40"])
        }
        try Self.run(["epi", "field", "--pe", dir + "/up.nii.gz", "--pe-reverse", dir + "/down.nii.gz", dir + "/out", "--total-readout-time", "0.04"])
        #expect(TextFile.exists(dir + "/out/field_hz.nii.gz"))
        // unwarp needs it too.
        do {
            try Self.run(["epi", "unwarp", dir + "/dwi.nii.gz", "--field", dir + "/out/field_hz.nii.gz", dir + "/u.nii.gz"])
            Issue.record("unwarp without TotalReadoutTime was accepted")
        } catch {
            #expect("\(error)".contains("TotalReadoutTime"), "\(error)")
        }
        #expect(!TextFile.exists(dir + "/u.nii.gz"))
    }

    @Test func gridsThatDifferAreRefused() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let sim = try Self.write(dir)
        // down on a grid one voxel narrower.
        let g = sim.down.grid, small = Grid(nx: g.nx - 1, ny: g.ny, nz: g.nz, affine: g.affine)
        var cut = Volume<Float>(grid: small)
        for k in 0..<g.nz { for j in 0..<g.ny { for i in 0..<(g.nx - 1) { cut[i, j, k] = sim.down[i, j, k] } } }
        try NIfTIFile.write(cut, to: dir + "/down.nii.gz")
        do {
            try Self.run(["epi", "field", "--pe", dir + "/up.nii.gz", "--pe-reverse", dir + "/down.nii.gz", dir + "/out"])
            Issue.record("a pair on different grids was accepted")
        } catch {
            #expect("\(error)".contains("not on the same voxel grid"), "\(error)")
        }
        #expect(!TextFile.exists(dir + "/out"))
        // A field on another grid than the image to unwarp.
        try NIfTIFile.write(cut, to: dir + "/field_small.nii.gz")
        #expect(throws: (any Error).self) {
            try Self.run(["epi", "unwarp", dir + "/dwi.nii.gz", "--field", dir + "/field_small.nii.gz", dir + "/u.nii.gz"])
        }
        #expect(!TextFile.exists(dir + "/u.nii.gz"))
    }

    /// Real sidecars (spine-generic, no images): Siemens gives PhaseEncodingDirection j- and
    /// TotalReadoutTime 64.6 ms; GE gives the readout time but no direction, Philips neither:
    /// each refusal names the file and what is missing (the fix is --pe-dir / --total-readout-time).
    @Test(.enabled(if: Support.hasSharedData, "needs ../shared/data/spine-generic-sidecars; skipped without it"))
    func realSpineGenericSidecarsGiveTheReadoutOrNameWhatIsMissing() throws {
        let base = Support.sharedData + "/spine-generic-sidecars"
        let siemens = try EPIDistortion.readout(of: base + "/sub-amu01/dwi/sub-amu01_dwi.nii.gz", phaseEncoding: nil, totalReadoutTime: nil)
        #expect(siemens.phaseEncoding == PhaseEncoding(axis: 1, reversed: true))
        #expect(abs(siemens.totalReadoutTime - 0.0645984) < 1e-9)
        for (sub, missing) in [("sub-juntendo750w01", "PhaseEncodingDirection"), ("sub-tokyoIngenia01", "PhaseEncodingDirection")] {
            let path = base + "/\(sub)/dwi/\(sub)_dwi.nii.gz"
            do {
                _ = try EPIDistortion.readout(of: path, phaseEncoding: nil, totalReadoutTime: nil)
                Issue.record("\(sub): a sidecar without \(missing) was accepted")
            } catch {
                #expect("\(error)".contains(missing) && "\(error)".contains(sub), "\(error)")
            }
        }
        // Philips has no TotalReadoutTime either: with the direction given, that is what is missing.
        do {
            _ = try EPIDistortion.readout(of: base + "/sub-tokyoIngenia01/dwi/sub-tokyoIngenia01_dwi.nii.gz", phaseEncoding: PhaseEncoding(axis: 1, reversed: false), totalReadoutTime: nil)
            Issue.record("Philips sidecar without TotalReadoutTime accepted")
        } catch {
            #expect("\(error)".contains("TotalReadoutTime"), "\(error)")
        }
        let ge = try EPIDistortion.readout(of: base + "/sub-juntendo750w01/dwi/sub-juntendo750w01_dwi.nii.gz", phaseEncoding: PhaseEncoding(axis: 1, reversed: false), totalReadoutTime: nil)
        #expect(abs(ge.totalReadoutTime - 0.12388) < 1e-9)
    }
}
