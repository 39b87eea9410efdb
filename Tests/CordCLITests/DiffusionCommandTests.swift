// `cordq dwi simulate|dti|microfa` in-process on phantom series in a temporary folder.
import ArgumentParser
import Foundation
import Testing
import CordTestSupport
@testable import CordCLI
@testable import CordCore
@testable import CordIO
@testable import CordPipeline

@Suite struct DiffusionCommandTests {
    static func run(_ args: [String]) throws {
        var cmd = try CordQCommand.parseAsRoot(args)
        try cmd.run()
    }
    static func simulate(_ dir: String, _ scheme: String) throws -> String {
        let out = dir + "/" + scheme
        try run(["dwi", "simulate", out, "--scheme", scheme, "--snr", "0", "--in-plane", "1", "--slice-thickness", "4",
                 "--field-of-view", "16", "--z-range=-16,-8"])
        return out
    }
    static func median(_ v: Volume<Float>, _ t: Volume<Float>, _ m: Volume<Float>) -> Double {
        var d: [Double] = []
        for i in 0..<m.data.count where m.data[i] > 0 { d.append(abs(Double(v.data[i]) - Double(t.data[i]))) }
        return d.sorted()[d.count / 2]
    }

    @Test func simulateThenFitDTIAndMicroFAFromFiles() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let sim = try Self.simulate(dir, "lte-ste")
        #expect(TextFile.exists(sim + "/dwi_encoding.tsv"))
        try Self.run(["dwi", "microfa", "--dwi", sim + "/dwi.nii.gz", "-o", dir + "/mufa"])  // auto; TSV found beside the image
        let meta = try JSONFile.read([String: JSONValue].self, from: dir + "/mufa/microfa.json")
        #expect(meta["Method"] == .string("gamma") && meta["ModelDependent"] == .bool(false))
        let (mufa, _) = try NIfTIFile.read(dir + "/mufa/microFA.nii.gz")
        let (truth, _) = try NIfTIFile.read(sim + "/truth_microFA.nii.gz")
        let (wm, _) = try NIfTIFile.read(sim + "/mask_wm.nii.gz")
        #expect(Self.median(mufa, truth, wm) < 0.01)  // noise-free, as the library test (measured ≈ 0.006)
        // QTI records its positivity rule; full positivity is an option.
        try Self.run(["dwi", "microfa", "--dwi", sim + "/dwi.nii.gz", "--method", "qti", "--qti-positivity", "full", "-o", dir + "/qti"])
        let qmeta = try JSONFile.read([String: JSONValue].self, from: dir + "/qti/microfa.json")
        #expect(qmeta["QTIPositivity"] == .string("full") && qmeta["Method"] == .string("qti"))
        // DTI on the LTE volumes of the same files works too (the STE volumes enter through their b-tensor).
        try Self.run(["dwi", "dti", "--dwi", sim + "/dwi.nii.gz", "-o", dir + "/dti", "--robust", "--nonlinear"])
        for f in ["FA", "MD", "AD", "RD", "S0", "V1", "tensor", "mask", "outliers"] { #expect(TextFile.exists(dir + "/dti/\(f).nii.gz")) }
        let (v1, _) = try NIfTIFile.read(dir + "/dti/V1.nii.gz")
        #expect(v1.frames == 3)
    }

    /// `--noise-sigma` removes the magnitude bias before the fit: on the exact mean magnitudes
    /// of a noise-free series at SNR 8 (what an ideal denoiser returns: E[M] = σ·√(π/2)·L½(−A²/2σ²),
    /// computed here from the Rice distribution's moments, not from CordQ's inversion), the
    /// noise floor lifts the high-b powder averages and μFA is off; with σ given the error
    /// falls back to the noise-free fit's. A σ that cannot be right is refused.
    @Test func noiseSigmaRemovesTheMagnitudeFloorBeforeTheMicroFAFit() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let sim = try Self.simulate(dir, "lte-ste")
        let (clean, header) = try NIfTIFile.read(sim + "/dwi.nii.gz")
        let (s0, _) = try NIfTIFile.read(sim + "/truth_S0.nii.gz"), (wm, _) = try NIfTIFile.read(sim + "/mask_wm.nii.gz")
        let wmS0 = (0..<s0.data.count).filter { wm.data[$0] > 0 }.map { Double(s0.data[$0]) }.sorted()
        let sigma = wmS0[wmS0.count / 2] / 8
        // Rice mean by numerical integration of M·p(M | A, σ) (trapezoid, 0…A + 12σ, 2 000 steps).
        func riceMean(_ a: Double) -> Double {
            let hi = a + 12 * sigma, n = 2000, h = hi / Double(n)
            var sum = 0.0
            for k in 0...n {
                let m = Double(k) * h, z = m * a / (sigma * sigma)
                let p = m / (sigma * sigma) * exp(-(m - a) * (m - a) / (2 * sigma * sigma)) * SpecialFunctions.besselI0Scaled(z)
                sum += (k == 0 || k == n ? 0.5 : 1) * m * p
            }
            return sum * h
        }
        var floored = clean
        for i in 0..<clean.data.count { floored.data[i] = Float(riceMean(Double(clean.data[i]))) }
        try NIfTIFile.write(floored, to: dir + "/floored.nii.gz", like: header)
        for ext in ["bval", "bvec"] { try TextFile.write(try TextFile.read(sim + "/dwi." + ext), to: dir + "/floored." + ext) }
        try TextFile.write(try TextFile.read(sim + "/dwi_encoding.tsv"), to: dir + "/floored_encoding.tsv")
        let (truth, _) = try NIfTIFile.read(sim + "/truth_microFA.nii.gz")
        try Self.run(["dwi", "microfa", "--dwi", sim + "/dwi.nii.gz", "--mask", sim + "/mask_cord.nii.gz", "-o", dir + "/clean"])
        try Self.run(["dwi", "microfa", "--dwi", dir + "/floored.nii.gz", "--mask", sim + "/mask_cord.nii.gz", "-o", dir + "/floored"])
        try Self.run(["dwi", "microfa", "--dwi", dir + "/floored.nii.gz", "--mask", sim + "/mask_cord.nii.gz", "-o", dir + "/debiased",
                      "--noise-sigma", String(sigma)])
        let e = try ["clean", "floored", "debiased"].map { Self.median(try NIfTIFile.read(dir + "/\($0)/microFA.nii.gz").0, truth, wm) }
        print("μFA median |error| in WM at SNR 8 (exact mean magnitudes): noise-free \(e[0]), with the floor \(e[1]), debiased \(e[2])")
        #expect(e[1] > e[0] + 0.01)           // the floor biases μFA (measured 0.026 vs 0.006)
        #expect(e[2] < e[0] + 0.005)          // removed: back to the noise-free error (measured ≈ 0.006)
        let meta = try JSONFile.read([String: JSONValue].self, from: dir + "/debiased/microfa.json")
        #expect(meta["MagnitudeBiasCorrection"]?.qc("Coils")?.qcNumber == 1)
        // A σ that cannot be right, and a map on another grid, are refused and nothing is written.
        try NIfTIFile.write(Volume<Float>(grid: Grid(nx: 4, ny: 4, nz: 2, spacing: SIMD3(1, 1, 1)), frames: 1, repeating: 5), to: dir + "/small.nii.gz")
        for (bad, needle) in [("-3", "positive"), (dir + "/small.nii.gz", "small.nii.gz")] {
            do {
                try Self.run(["dwi", "microfa", "--dwi", dir + "/floored.nii.gz", "-o", dir + "/bad", "--noise-sigma=" + bad])
                Issue.record("--noise-sigma \(bad) was accepted")
            } catch { #expect("\(error)".contains(needle), "\(error)") }
            #expect(!TextFile.exists(dir + "/bad"))
        }
    }

    /// `--max-b` fits b = 0 and the volumes at or below the bound only (recorded). On exact
    /// signals of multi-compartment tissue (`--tissue heterogeneous`, no noise) QTI's
    /// cumulant-truncation error in grey matter falls when the b = 2000 shells are left out
    /// (benchmark on qti286: 0.047 → 0.028 at b ≤ 1000); a bound that leaves no weighted
    /// volume is refused and nothing is written.
    @Test func maxBRestrictsTheFitToTheLowShells() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let sim = dir + "/het"
        try Self.run(["dwi", "simulate", sim, "--scheme", "lte-ste", "--snr", "0", "--in-plane", "0.5", "--slice-thickness", "4",
                      "--field-of-view", "16", "--z-range=-16,-8", "--tissue", "heterogeneous"])
        let bvals = try TextFile.read(sim + "/dwi.bval").split(whereSeparator: \.isWhitespace).compactMap { Double($0) }
        let (truth, _) = try NIfTIFile.read(sim + "/truth_microFA.nii.gz"), (gm, _) = try NIfTIFile.read(sim + "/mask_gm.nii.gz")
        try Self.run(["dwi", "microfa", "--dwi", sim + "/dwi.nii.gz", "--mask", sim + "/mask_cord.nii.gz", "--method", "qti", "-o", dir + "/all"])
        try Self.run(["dwi", "microfa", "--dwi", sim + "/dwi.nii.gz", "--mask", sim + "/mask_cord.nii.gz", "--method", "qti", "--max-b", "1000", "-o", dir + "/low"])
        let meta = try JSONFile.read([String: JSONValue].self, from: dir + "/low/microfa.json")
        #expect(meta["VolumesFitted"]?.qcNumber == Double(bvals.filter { $0 <= 1000 }.count))
        #expect(meta["MaximumB_s_per_mm2"]?.qcNumber == 1000)
        #expect(meta["Encodings"]?.qcString?.contains("2000") == false)
        #expect(gm.data.contains { $0 > 0 })
        let all = Self.median(try NIfTIFile.read(dir + "/all/microFA.nii.gz").0, truth, gm)
        let low = Self.median(try NIfTIFile.read(dir + "/low/microFA.nii.gz").0, truth, gm)
        print("QTI μFA median |error| in GM, noise-free heterogeneous lte-ste: b ≤ 2000 \(all), b ≤ 1000 \(low)")
        #expect(low < all - 0.005)
        do {
            try Self.run(["dwi", "microfa", "--dwi", sim + "/dwi.nii.gz", "--max-b", "100", "-o", dir + "/none"])
            Issue.record("--max-b 100 was accepted")
        } catch { #expect("\(error)".contains("leaves no diffusion-weighted volume"), "\(error)") }
        #expect(!TextFile.exists(dir + "/none"))
    }

    /// Gradient files the way users have them: `--bval/--bvec` or MRtrix3's `--fslgrad BVECS
    /// BVALS` for a series with none beside it give the same maps as files beside the image;
    /// none at all, or unpaired files, are refused.
    @Test func gradientFilesFromTheCommandLine() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let sim = try Self.simulate(dir, "dti")
        try TextFile.makeDirectory(dir + "/bare")
        try FileManager.default.copyItem(atPath: sim + "/dwi.nii.gz", toPath: dir + "/bare/series.nii.gz")
        try FileManager.default.copyItem(atPath: sim + "/dwi.bval", toPath: dir + "/grad.bvals")
        try FileManager.default.copyItem(atPath: sim + "/dwi.bvec", toPath: dir + "/grad.bvecs")
        try Self.run(["dwi", "dti", "--dwi", sim + "/dwi.nii.gz", "-o", dir + "/beside"])
        try Self.run(["dwi", "dti", "--dwi", dir + "/bare/series.nii.gz", "--bval", dir + "/grad.bvals", "--bvec", dir + "/grad.bvecs", "-o", dir + "/fsl"])
        try Self.run(["dwi", "dti", "--dwi", dir + "/bare/series.nii.gz", "--fslgrad", dir + "/grad.bvecs", dir + "/grad.bvals", "-o", dir + "/mrtrix"])
        let (ref, _) = try NIfTIFile.read(dir + "/beside/FA.nii.gz")
        for out in ["fsl", "mrtrix"] {
            let (fa, _) = try NIfTIFile.read(dir + "/\(out)/FA.nii.gz")
            #expect(fa.data.count == ref.data.count && zip(fa.data, ref.data).allSatisfy { $0 == $1 }, "\(out)")
        }
        do {
            try Self.run(["dwi", "dti", "--dwi", dir + "/bare/series.nii.gz", "-o", dir + "/none"])
            Issue.record("a series without gradient files was fitted")
        } catch { #expect("\(error)".contains("series.nii.gz") && "\(error)".contains(".bval"), "\(error)") }
        #expect(!TextFile.exists(dir + "/none"))
        #expect(throws: (any Error).self) {
            try CordQCommand.parseAsRoot(["dwi", "dti", "--dwi", dir + "/bare/series.nii.gz", "--bval", dir + "/grad.bvals", "-o", dir + "/half"])
        }
        #expect(throws: (any Error).self) {
            try CordQCommand.parseAsRoot(["dwi", "dti", "--dwi", dir + "/bare/series.nii.gz", "--fslgrad", dir + "/grad.bvecs", "-o", dir + "/half"])
        }
    }

    /// `--maps FA,MD` skips the eigensystem but gives the same FA and MD as the full run;
    /// the automatic mask (mean b = 0 above 5 % of its 99th percentile, found by selection)
    /// is the one a full sort gives.
    @Test func mapSubsetAndAutomaticMaskAgreeWithTheFullRun() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let sim = try Self.simulate(dir, "dti")
        try Self.run(["dwi", "dti", "--dwi", sim + "/dwi.nii.gz", "-o", dir + "/all"])
        try Self.run(["dwi", "dti", "--dwi", sim + "/dwi.nii.gz", "-o", dir + "/some", "--maps", "FA,MD", "--no-compress"])
        for m in ["FA", "MD"] {
            let (a, _) = try NIfTIFile.read(dir + "/all/\(m).nii.gz"), (b, _) = try NIfTIFile.read(dir + "/some/\(m).nii")
            #expect(a.data == b.data)  // bit-identical
        }
        #expect(!TextFile.exists(dir + "/some/AD.nii") && !TextFile.exists(dir + "/some/V1.nii"))
        let (dwi, _) = try NIfTIFile.read(sim + "/dwi.nii.gz"), (mask, _) = try NIfTIFile.read(dir + "/all/mask.nii.gz")
        let n = dwi.grid.voxelCount
        var mean = [Float](repeating: 0, count: n)
        for t in 0..<5 { for i in 0..<n { mean[i] += dwi.data[t * n + i] / 5 } }  // the dti scheme's 5 b = 0 volumes
        let sorted = mean.sorted(), p99 = sorted[min(n - 1, Int(0.99 * Double(n)))]
        #expect((0..<n).allSatisfy { (mean[$0] > 0.05 * p99) == (mask.data[$0] > 0) })
    }

    @Test func selectionFindsTheSortedRank() {
        var r = SeededRNG(seed: 9)
        for count in [1, 2, 3, 10, 257, 5000] {
            // Few distinct values: many ties, the hard case for partitioning.
            let v = (0..<count).map { _ in Float(Int(r.uniform() * 7)) }
            let sorted = v.sorted()
            for k in Set([0, count / 2, Int(0.99 * Double(count)), count - 1]) where k < count {
                var w = v
                #expect(w.withUnsafeMutableBufferPointer { select(rank: k, in: $0) } == sorted[k])
            }
        }
    }

    @Test func smtResultIsFlaggedModelDependent() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let sim = try Self.simulate(dir, "multishell")
        try Self.run(["dwi", "microfa", "--dwi", sim + "/dwi.nii.gz", "--method", "smt", "-o", dir + "/smt", "--mask", sim + "/mask_cord.nii.gz"])
        let meta = try JSONFile.read([String: JSONValue].self, from: dir + "/smt/microfa.json")
        #expect(meta["ModelDependent"] == .bool(true))
        guard case let .array(a)? = meta["Assumptions"], case let .string(first)? = a.first else { Issue.record("no assumptions"); return }
        #expect(first.contains("model-dependent"))
    }

    @Test func badInputIsRefusedWithAClearMessageAndNoOutput() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let sim = try Self.simulate(dir, "dti")
        func failure(_ args: [String]) -> String {
            do { try Self.run(args); return "succeeded" } catch { return "\(error)" }
        }
        // A method without the encodings it needs.
        let qti = failure(["dwi", "microfa", "--dwi", sim + "/dwi.nii.gz", "--method", "qti", "-o", dir + "/q"])
        #expect(qti.contains("qti cannot be fitted") && qti.contains("spherical or planar"))
        #expect(!TextFile.exists(dir + "/q"))
        // Encoding table with the wrong number of rows.
        try TSVTable(columns: ["shape"], rows: [["none"], ["linear"]]).write(to: dir + "/short.tsv")
        let count = failure(["dwi", "dti", "--dwi", sim + "/dwi.nii.gz", "--encoding", dir + "/short.tsv", "-o", dir + "/d"])
        #expect(count.contains("lists 2 volumes but") && count.contains("lists 35 b-values"))
        // All-zero b-values.
        try String(repeating: "0 ", count: 35).write(toFile: sim + "/dwi.bval", atomically: true, encoding: .utf8)
        let zero = failure(["dwi", "dti", "--dwi", sim + "/dwi.nii.gz", "--encoding", "linear", "-o", dir + "/z"])
        #expect(zero.contains("all 35 volumes have b = 0"))
        #expect(!TextFile.exists(dir + "/d") && !TextFile.exists(dir + "/z"))
        // Argument errors.
        #expect(throws: (any Error).self) { try CordQCommand.parseAsRoot(["dwi", "microfa", "--dwi", "x.nii", "--method", "magic", "-o", dir + "/m"]) }
        #expect(throws: (any Error).self) { try CordQCommand.parseAsRoot(["dwi", "microfa", "--dwi", "x.nii", "--qti-positivity", "some", "-o", dir + "/m"]) }
        #expect(throws: (any Error).self) { try CordQCommand.parseAsRoot(["denoise", "mppca", "x.nii", "y.nii", "--slice-groups", "seven"]) }
        #expect(throws: (any Error).self) { try CordQCommand.parseAsRoot(["denoise", "mppca", "x.nii", "y.nii", "--noise-model", "gaussian"]) }
        #expect(throws: (any Error).self) { try CordQCommand.parseAsRoot(["dwi", "dti", "--dwi", "x.nii", "--encoding", "dde", "-o", dir + "/m"]) }
    }

    @Test func helpExplainsUnitsAndCites() throws {
        let dti = DTICommand.helpMessage(), mufa = MicroFACommand.helpMessage(), group = DWICommand.helpMessage()
        #expect(group.contains("µm²/ms") && group.contains("s/mm²"))
        #expect(dti.contains("Basser") && dti.contains("RESTORE"))
        for cite in ["Lasič", "Westin", "Kaden", "Jespersen", "Szczepankiewicz", "MODEL-DEPENDENT"] { #expect(mufa.contains(cite)) }
    }
}
