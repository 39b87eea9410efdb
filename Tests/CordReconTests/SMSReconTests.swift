// SMS (multiband) phantom reconstruction: slice-GRAPPA and split slice-GRAPPA against the
// simulator's per-slice truth, leakage, g-factor, and bad input. The simulator and the
// separation share only the raw-data convention (shift sign, slice order, polarity), not code;
// both were written from the same convention, so a convention error common to both would
// cancel here — the pygrappa benchmark (Benchmarks/recon/sms_pygrappa.sh) is the outside check.
import CordCore
import CordIO
import CordPhantom
import CordPipeline
import CordProtocol
import CordRecon
import CordTestSupport
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
            // Tolerance: 24×24, 8 coils, noise 0.3 % of the peak: measured 1.8–2.6 %.
            #expect(eSG < 0.05, "MB \(mb) slice-GRAPPA NRMSE \(eSG)")
            #expect(eSplit < 0.05, "MB \(mb) split slice-GRAPPA NRMSE \(eSplit)")
            #expect(split.sms.meanLeakage < sg.sms.meanLeakage, "split must leak less: \(split.sms.meanLeakage) vs \(sg.sms.meanLeakage)")
            #expect((sg.sms.meanGFactor ?? 0) >= 0.9)
            #expect(sg.epi.sliceTiming.count == 6)
        }
    }
}

@Suite struct SMSReconChecksTests {
    @Test func inPlaneGRAPPAOnTopAndOddEvenHandlingMatter() throws {
        // MB 2 with in-plane R = 2: separation, then GRAPPA per slice.
        let sim = try SMSKSpaceSimulator.simulate(smallSMS(mb: 2, acceleration: 2))
        var o = EPIReconOptions(); o.quiet = true
        let res = try SMSReconstruction.reconstruct(sim.raw, options: o)
        let e = smsNRMSE(res.epi.image, sim)
        print("MB 2 × R 2: NRMSE \(e)")
        // Tolerance: in-plane GRAPPA R = 2 on 24 lines with this array gives ~7 % single-band too.
        #expect(e < 0.12, "MB 2 × R 2 NRMSE \(e)")
        // Without ghost handling the slice-specific odd/even phase stays in the data (MB 2, R 1).
        let sim1 = try SMSKSpaceSimulator.simulate(smallSMS(mb: 2))
        let e1 = smsNRMSE(try SMSReconstruction.reconstruct(sim1.raw, options: o).epi.image, sim1)
        var naive = o; naive.ghost = .none
        let eNaive = smsNRMSE(try SMSReconstruction.reconstruct(sim1.raw, options: naive).epi.image, sim1)
        print("MB 2: NRMSE \(e1); without odd/even handling \(eNaive)")
        // Measured 0.034 vs 0.018 (the N/2 ghost falls partly outside the object mask).
        #expect(eNaive > 1.5 * e1, "no ghost handling should be clearly worse: \(eNaive) vs \(e1)")
    }

    @Test func missingCalibrationAndInconsistentMultibandAreRefused() throws {
        let sim = try SMSKSpaceSimulator.simulate(smallSMS(mb: 3))
        var o = EPIReconOptions(); o.quiet = true
        var noCal = sim.raw
        noCal.acquisitions.removeAll { $0.flags.contains(.isParallelCalibration) && $0.index.slice == 4 }
        #expect { try SMSReconstruction.reconstruct(noCal, options: o) } throws: { "\($0)".contains("single-band calibration") && "\($0)".contains("(4)") }
        var wrongMB = sim.raw
        wrongMB.header.userParameterLong["MultibandFactor"] = 4   // 6 slices do not split into groups of 4
        #expect { try SMSReconstruction.reconstruct(wrongMB, options: o) } throws: { "\($0)".contains("MultibandFactor 4 is inconsistent with the 6 slices") }
        var fewerGroups = sim.raw
        fewerGroups.header.userParameterLong["MultibandFactor"] = 6   // 1 group, but the data carry groups 0 and 1
        #expect { try SMSReconstruction.reconstruct(fewerGroups, options: o) } throws: { "\($0)".contains("inconsistent with the slices") }
        var noLimit = sim.raw
        noLimit.header.limits["slice"] = nil
        #expect { try SMSReconstruction.reconstruct(noLimit, options: o) } throws: { "\($0)".contains("encodingLimits.slice") }
    }

    @Test func mb4ReconstructionIsFlaggedDownstreamAndItsHeaderValidates() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let s = smallSMS(mb: 4, slices: 8)
        let sim = try SMSKSpaceSimulator.simulate(s)
        try ISMRMRDFile.write(sim.raw, to: dir + "/sms.h5")
        // The SMS header passes libismrmrd's parser and the 1.8 schema.
        try ISMRMRDHeaderXML.serialise(sim.raw.header).write(toFile: dir + "/header.xml", atomically: true, encoding: .utf8)
        let testXML = try #require(tool("ismrmrd_test_xml"), "ismrmrd-tools is not installed (scripts/install-deps.sh installs it)")
        #expect(try runTool(testXML, [dir + "/header.xml"], in: dir).status == 0)
        let xmllint = try #require(tool("xmllint"), "libxml2-utils is not installed (scripts/install-deps.sh installs it)")
        let v = try runTool(xmllint, ["--noout", "--schema", "/usr/share/ismrmrd/schema/ismrmrd.xsd", dir + "/header.xml"], in: dir)
        #expect(v.status == 0, "xmllint: \(v.output)")
        let back = try ISMRMRDFile.read(dir + "/sms.h5")
        #expect(back.header.multibandFactor == 4 && back.header.userParameterLong["MultibandCaipiShiftDenominator"] == 4)
        #expect(back.header.userParameterDouble["SliceSpacing_mm"] == 5)
        // Reconstructed into a BIDS dwi folder: the sidecar says MB 4 and the inventory flags it.
        try FileManager.default.createDirectory(atPath: dir + "/sub-01/dwi", withIntermediateDirectories: true)
        var r = ReconRequest(input: dir + "/sms.h5", output: dir + "/sub-01/dwi/sub-01_dwi.nii.gz")
        r.options.quiet = true
        r.smsReportOutput = dir + "/sms_report.json"
        r.gfactorOutput = dir + "/g.nii.gz"
        let rep = try ReconPipeline.run(r)
        let sms = try #require(rep.sms)
        #expect(sms.multibandFactor == 4 && sms.leakagePerSlice.count == 8 && sms.gFactorMeanPerSlice.count == 8)
        let side = try BIDSSidecar.read(dir + "/sub-01/dwi/sub-01_dwi.json")
        #expect(side.multibandAccelerationFactor == 4)
        let times = try #require(side.sliceTiming)
        #expect(times.count == 8 && Set(times).count == 2)   // 2 groups of 4 slices
        let inv = try SubjectInventory.read(dir + "/sub-01")
        #expect(inv.series.first?.harmfulMultiband == 4)
        #expect(FileManager.default.fileExists(atPath: dir + "/sms_report.json"))
    }
}

@Suite struct SMSLeakageTests {
    /// Out-of-sample leakage: the collapsed data carry only the first slice of every group
    /// (the simulator leaves the others out); what the separation puts into the other slices,
    /// relative to what it puts into the first, is leakage (noise kept low so it does not count).
    @Test func onlyOneExcitedSliceLeaksLittleAndSplitLeaksLess() throws {
        var s = smallSMS(mb: 3); s.onlyGroupMember = 0; s.noise = 0.0005
        let sim = try SMSKSpaceSimulator.simulate(s)
        var o = EPIReconOptions(); o.quiet = true
        var ratio: [SMSSeparation: Double] = [:]
        for m in SMSSeparation.allCases {
            var so = SMSReconOptions(); so.method = m
            let img = try SMSReconstruction.reconstruct(sim.raw, options: o, sms: so).epi.image
            let n = s.nx * s.ny, groups = s.slices / s.multiband
            var own = 0.0, other = 0.0
            for z in 0..<s.slices { for i in 0..<n {
                let e = Double(img.data[z * n + i].lengthSquared)
                if z < groups { own += e } else { other += e }
            } }
            ratio[m] = (other / own).squareRoot()
        }
        let sg = try #require(ratio[.sliceGRAPPA]), split = try #require(ratio[.splitSliceGRAPPA])
        print("out-of-sample leakage (amplitude): slice-GRAPPA \(sg), split \(split)")
        #expect(split < 0.1 && sg < 0.2, "leakage slice-GRAPPA \(sg), split \(split)")
        #expect(split < sg)
    }
}
