// Simulated multi-coil ramp-sampled EPI (CordPhantom) reconstructed by CordRecon, against the
// simulation's ground truth: NRMSE in the object after one least-squares scale.
import CordCore
import CordPhantom
import CordRecon
import Testing

/// NRMSE of `image` (magnitude of slice 0) against `truth` inside `mask` after the scale that
/// minimises it (the recon is in whitened units, the truth in the simulator's).
func scaledNRMSE(_ image: Volume<ComplexF>, _ truth: [Double], _ mask: [Bool]) -> Double {
    let m = (0..<truth.count).map { Double(image.data[$0].length) }
    var num = 0.0, den = 0.0
    for i in truth.indices where mask[i] { num += m[i] * truth[i]; den += m[i] * m[i] }
    let a = den > 0 ? num / den : 0
    return EPIQuality.nrmse(m.map { $0 * a }, truth, mask: mask)
}

@Suite struct PhantomEPIReconTests {
    func run(_ s: EPISimulationSettings, _ configure: (inout EPIReconOptions) -> Void = { _ in }) throws -> (Double, EPISimulation) {
        let sim = try EPIKSpaceSimulator.simulate(s)
        var o = EPIReconOptions(); o.quiet = true
        configure(&o)
        let r = try EPIReconstruction.reconstruct(sim.raw, options: o)
        #expect(r.image.grid.nx == s.nx && r.image.grid.ny == s.ny)
        let e = scaledNRMSE(r.image, sim.combinedTruth, sim.mask)
        if o.ghost != .none {
            // The simulated odd/even phase is 0.4 rad + 0.03 rad/pixel; recovered within 0.03 rad and 0.002 rad/pixel.
            let g = try #require(r.report.ghostPhases.first)
            #expect(abs(g.coefficients[0] - s.ghostConstant) < 0.03 && abs(g.coefficients[1] - s.ghostLinear) < 0.002, "ghost \(g.coefficients)")
        }
        return (e, sim)
    }

    @Test func singleShotEPIMatchesTruthAndNaiveIsWorse() throws {
        let s = EPISimulationSettings()
        let (full, _) = try run(s)
        let (naive, _) = try run(s) { $0.ghost = .none }
        // Tolerance 0.02 (measured 0.010): noise 1 % of the object peak, 4 correlated coils, ramp sampling.
        #expect(full < 0.02, "NRMSE \(full)")
        // Measured 0.058 without ghost correction.
        #expect(naive > 3 * full, "naive (no ghost correction) \(naive) vs \(full)")
        let (poly, _) = try run(s) { $0.ghost = .polynomial }
        #expect(poly < 0.02, "polynomial ghost NRMSE \(poly)")
        let (sos, _) = try run(s) { $0.coilCombination = .sos }
        #expect(sos < 0.03, "SOS NRMSE \(sos)")   // measured 0.010
    }

    @Test func partialFourierSixEighthsPOCSBeatsZeroFilling() throws {
        var s = EPISimulationSettings(); s.partialFourier = 0.75
        let (pocs, _) = try run(s)
        let (homodyne, _) = try run(s) { $0.partialFourier = .homodyne }
        let (zero, _) = try run(s) { $0.partialFourier = .zero }
        // Tolerances: POCS 0.025 (measured 0.012), homodyne 0.04 (measured 0.022); zero filling
        // blurs (measured 0.042).
        #expect(pocs < 0.025, "POCS NRMSE \(pocs)")
        #expect(homodyne < 0.04, "homodyne NRMSE \(homodyne)")
        #expect(zero > 2 * pocs, "zero filling \(zero) vs POCS \(pocs)")
    }

    @Test func referenceFreeGhostCorrectionWithoutReferenceLines() throws {
        var s = EPISimulationSettings(); s.referenceLines = false
        let (rf, _) = try run(s)
        let (naive, _) = try run(s) { $0.ghost = .none }
        #expect(rf < 0.02, "reference-free NRMSE \(rf)")   // measured 0.010
        #expect(naive > 3 * rf)
    }

    @Test func inconsistentCountersAreRefused() throws {
        var sim = try EPIKSpaceSimulator.simulate(EPISimulationSettings())
        sim.raw.acquisitions[sim.raw.acquisitions.count - 1].index.kspaceEncodeStep1 = 500
        var o = EPIReconOptions(); o.quiet = true
        #expect(throws: CordError.self) { try EPIReconstruction.reconstruct(sim.raw, options: o) }
        var sim2 = try EPIKSpaceSimulator.simulate(EPISimulationSettings())
        sim2.raw.acquisitions[10].index.slice = 3   // beyond encodingLimits.slice
        #expect(throws: CordError.self) { try EPIReconstruction.reconstruct(sim2.raw, options: o) }
    }
}
