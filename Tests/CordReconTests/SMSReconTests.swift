// SMS (multiband) phantom reconstruction: slice-GRAPPA and split slice-GRAPPA against the
// simulator's per-slice truth, leakage, g-factor, and bad input. The simulator and the
// separation share only the raw-data convention (shift sign, slice order, polarity), not code;
// both were written from the same convention, so a convention error common to both would
// cancel here — the pygrappa benchmark (Benchmarks/recon/sms_pygrappa.sh) is the outside check.
import CordCore
import CordPhantom
import CordRecon
import Foundation
import Testing

/// NRMSE of |image| against the truth inside the object, over all slices of the first volume.
func smsNRMSE(_ image: Volume<ComplexF>, _ sim: SMSSimulation) -> Double {
    var num = 0.0, den = 0.0
    for i in sim.combinedTruth.indices where sim.mask[i] {
        let d = Double(image.data[i].length) - sim.combinedTruth[i]
        num += d * d; den += sim.combinedTruth[i] * sim.combinedTruth[i]
    }
    return (num / den).squareRoot()
}

func smallSMS(mb: Int, slices: Int = 6, acceleration: Int = 1) -> SMSSimulationSettings {
    var s = SMSSimulationSettings()
    s.nx = 24; s.ny = 24; s.coils = 8; s.slices = slices; s.multiband = mb; s.acceleration = acceleration
    s.noise = 0.003; s.seed = 7
    return s
}

@Suite struct SMSReconTests {
    @Test func sliceGRAPPAAndSplitSeparateMB2AndMB3() throws {
        for mb in [2, 3] {
            let sim = try SMSKSpaceSimulator.simulate(smallSMS(mb: mb))
            var o = EPIReconOptions(); o.quiet = true; o.gFactor = true; o.gFactorReplicas = 8
            var results: [SMSSeparation: SMSReconResult] = [:]
            for m in SMSSeparation.allCases {
                var so = SMSReconOptions(); so.method = m
                results[m] = try SMSReconstruction.reconstruct(sim.raw, options: o, sms: so)
            }
            let sg = try #require(results[.sliceGRAPPA]), split = try #require(results[.splitSliceGRAPPA])
            let eSG = smsNRMSE(sg.epi.image, sim), eSplit = smsNRMSE(split.epi.image, sim)
            print("MB \(mb): NRMSE slice-GRAPPA \(eSG), split \(eSplit); leakage \(sg.sms.meanLeakage) vs \(split.sms.meanLeakage); g \(sg.sms.meanGFactor ?? -1) vs \(split.sms.meanGFactor ?? -1)")
            #expect(sg.epi.image.grid.nz == 6)
            // Tolerance: 24×24 object edges and adaptive combination leave ~5 % error at this SNR.
            #expect(eSG < 0.12, "MB \(mb) slice-GRAPPA NRMSE \(eSG)")
            #expect(eSplit < 0.12, "MB \(mb) split slice-GRAPPA NRMSE \(eSplit)")
            #expect(split.sms.meanLeakage < sg.sms.meanLeakage, "split must leak less: \(split.sms.meanLeakage) vs \(sg.sms.meanLeakage)")
            #expect((sg.sms.meanGFactor ?? 0) >= 0.9)
            #expect(sg.epi.sliceTiming.count == 6)
        }
    }
}
