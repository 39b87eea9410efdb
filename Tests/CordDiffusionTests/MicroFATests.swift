// μFA routes against the phantom's known microscopic anisotropy.
import Testing
import CordCore
import CordDiffusion
import CordPhantom

@Suite struct MicroFATests {
    static func fit(_ scheme: String, _ method: MicroFAMethod, snr: Double? = nil, seed: UInt64 = 1,
                    mask: Mask = Phantoms.pureWhiteMatter) throws -> (MicroFAResult, DWISimulation) {
        let table = try #require(DiffusionSchemes.named(scheme))
        let sim = Phantoms.simulate(table, snr: snr, seed: seed)
        return (try MicroFA.fit(try MaskedSignals(sim.image, mask: mask), table: table, method: method), sim)
    }

    /// Noise-free white matter (μFA 0.77, FA 0.62–0.70 from dispersion): μFA to 0.01 for every
    /// route on a scheme that supports it (issue 4).
    @Test(arguments: [("lte-ste", MicroFAMethod.gamma), ("lte-ste", .qti), ("lte-pte-ste", .qti), ("lte-pte-ste", .gamma),
                      ("multishell", .smt), ("dde", .dde)])
    func noiseFreeMicroFA(scheme: String, method: MicroFAMethod) throws {
        let (r, sim) = try Self.fit(scheme, method)
        let wm = Phantoms.pureWhiteMatter
        let mufa = Errors(try #require(r.map("microFA")), sim.truth.microFA, mask: wm)
        let md = Errors(try #require(r.map("MD")), sim.truth.md, mask: wm)
        print("\(method) on \(scheme), noise-free WM: μFA \(mufa); MD \(md)")
        #expect(r.method == method)
        #expect(mufa.count > 150)
        #expect(mufa.maxAbs < 0.01)  // issue 4: μFA to 0.01 (measured: gamma 0.006, QTI 0.003, SMT 1e-4, DDE 0.007)
        #expect(md.maxAbs < 0.005)   // µm²/ms; cumulant/gamma truncation at b = 2000 (measured ≤ 0.003)
        if method == .qti {
            let fa = Errors(try #require(r.map("FA")), sim.truth.fa, mask: wm)
            print("  QTI FA \(fa)")
            // FA of ⟨D⟩: the cumulant expansion's truncation at b ≤ 2000 (measured 0.0065; MD
            // 0.0033), not a fit error: QTITruncationTests recovers cumulant-form signals to
            // 10⁻⁷ and this phantom to < 10⁻³ at b ≤ 500.
            #expect(fa.maxAbs < 0.01)
            // The mean tensor's trace gives MD; the covariance's bulk part gives V_MD.
            let d = try #require(r.map("meanTensor")), c = try #require(r.map("covariance")), mdMap = try #require(r.map("MD"))
            let vmd = try #require(r.map("VMD"))
            let nv = d.grid.voxelCount
            for i in 0..<nv where wm.data[i] != 0 {
                let trace = Double(d.data[i]) + Double(d.data[i + nv]) + Double(d.data[i + 2 * nv])
                #expect(abs(trace / 3 - Double(mdMap.data[i])) < 1e-5)  // Float storage
                // ℂ:𝔼_bulk = (C11 + C22 + C33 + 2(C12 + C13 + C23))/9; upper-triangle indices 0, 6, 11 and 1, 2, 7.
                let f = { (k: Int) in Double(c.data[i + k * nv]) }
                #expect(abs((f(0) + f(6) + f(11) + 2 * (f(1) + f(2) + f(7))) / 9 - Double(vmd.data[i])) < 1e-5)
            }
            #expect(c.frames == 21 && d.frames == 6)
        }
    }

    /// SNR 50 (white-matter b = 0 / σ, Rician): μFA bias below 0.03 in white matter for the
    /// gamma model and QTI (issue 4), over two noise seeds.
    @Test(arguments: [MicroFAMethod.gamma, .qti])
    func microFABiasAtSNR50(method: MicroFAMethod) throws {
        var biases: [Double] = []
        for seed in [UInt64(11), 12] {
            let (r, sim) = try Self.fit("lte-ste", method, snr: 50, seed: seed)
            let e = Errors(try #require(r.map("microFA")), sim.truth.microFA, mask: Phantoms.pureWhiteMatter)
            print("\(method) SNR 50 seed \(seed): μFA \(e)")
            biases.append(e.mean)
        }
        let bias = biases.reduce(0, +) / Double(biases.count)
        #expect(abs(bias) < 0.03)  // issue 4 (measured: gamma ≈ +0.004, QTI ≈ −0.002)
    }

    @Test func autoExplainsItsChoiceAndFlagsModelDependence() throws {
        let lteSte = try EncodingScheme(try #require(DiffusionSchemes.named("lte-ste")))
        let (m1, why1) = try MicroFA.choose(.auto, for: lteSte)
        #expect(m1 == .gamma && why1.contains("spherical"))
        let multi = try EncodingScheme(try #require(DiffusionSchemes.named("multishell")))
        let (m2, why2) = try MicroFA.choose(.auto, for: multi)
        #expect(m2 == .smt && why2.contains("model-dependent"))
        let dde = try EncodingScheme(try #require(DiffusionSchemes.named("dde")))
        #expect(try MicroFA.choose(.auto, for: dde).0 == .dde)
        let (r, _) = try Self.fit("multishell", .auto)
        #expect(r.method == .smt && r.modelDependent && !r.assumptions.isEmpty)
    }

    @Test func refusesMethodsTheEncodingsCannotSupport() throws {
        let dti = try EncodingScheme(try #require(DiffusionSchemes.named("dti")))
        let multi = try EncodingScheme(try #require(DiffusionSchemes.named("multishell")))
        func message(_ m: MicroFAMethod, _ s: EncodingScheme) -> String {
            do { _ = try MicroFA.choose(m, for: s); return "accepted" } catch { return "\(error)" }
        }
        #expect(message(.qti, dti).contains("spherical or planar"))   // QTI with LTE only
        #expect(message(.gamma, multi).contains("spherical (or planar) shells"))  // gamma without STE
        #expect(message(.smt, dti).contains("two non-zero shells"))   // SMT on one shell
        #expect(message(.dde, multi).contains("double-diffusion-encoding"))
        #expect(message(.auto, dti).contains("single linear shell supports DTI only"))
        // The refusal names what is present.
        #expect(message(.qti, dti).contains("linear b=800 ×30"))
    }
}

/// QTI's positivity options on the realistic tensor-valued scheme (qti286: LTE/PTE/STE at
/// b = 500–2000 s/mm², 286 volumes) at SNR 20 in the phantom's white and grey matter.
@Suite struct QTIPositivityTests {
    @Test func isotropicProjectionBeatsPlainWLSAndKeepsTheRefitRare() throws {
        var anatomy = PhantomParameters(); anatomy.snr = nil
        let grid = PhantomGrid.axial(inPlane: 0.8, sliceThickness: 3, fieldOfView: 16, inferior: -30, superior: -21, centre: [0, 4])
        let subject = try PhantomSubject(anatomy, on: grid)
        var p = DiffusionPhantomParameters(); p.snr = 20; p.seed = 3; p.orientationSamples = 200
        let table = try #require(DiffusionSchemes.named("qti286"))
        let sim = try DWISimulator.simulate(subject, table: table, parameters: p)
        var interior = Mask(grid: grid, frames: 1, repeating: 0)
        for n in 0..<grid.voxelCount {
            if let t = subject.composition.pureTissue(at: n), t.isWhiteMatter || t.isGreyMatter { interior.data[n] = 1 }
        }
        let signals = try MaskedSignals(sim.image, mask: interior)
        func medianError(_ positivity: QTIPositivity) throws -> (error: Double, refits: Int) {
            let r = try MicroFA.fit(signals, table: table, method: .qti, qtiPositivity: positivity)
            let u = try #require(r.map("microFA")), flags = try #require(r.map("constrained"))
            var e: [Double] = [], refits = 0
            for v in signals.voxels.map(Int.init) {
                e.append(abs(Double(u.data[v] - sim.truth.microFA.data[v])))
                if flags.data[v] == 2 { refits += 1 }
            }
            e.sort()
            return (e[e.count / 2], refits)
        }
        let none = try medianError(.none), iso = try medianError(.isotropic), full = try medianError(.full)
        print("QTI positivity at SNR 20, \(signals.count) voxels: median |ΔμFA| none \(none.error), isotropic \(iso.error), full \(full.error)")
        #expect(signals.count > 100)
        #expect(iso.error < none.error * 0.97, "isotropic \(iso.error) vs plain \(none.error)")
        #expect(iso.refits < signals.count / 20)          // the expensive refit is rare by default
        #expect(full.refits > signals.count / 2)          // and would run in most voxels with `full`
    }
}
