import Foundation
import Testing
@testable import CordCore
@testable import CordMyelin
@testable import CordPhantom

/// FLASH timings as in the SCT testing data: PD- and MT-weighted 9°/30 ms, T1-weighted 15°/15 ms.
let mtTiming = FLASHTiming(flipAngleDegrees: 9, repetitionTime: 0.030)
let pdTiming = FLASHTiming(flipAngleDegrees: 9, repetitionTime: 0.030)
let t1Timing = FLASHTiming(flipAngleDegrees: 15, repetitionTime: 0.015)

struct MTPhantom {
    let sim: FLASHSimulation
    var mt: Volume<Float> { sim.images[0] }
    var pd: Volume<Float> { sim.images[1] }
    var t1w: Volume<Float> { sim.images[2] }

    init(b1: B1Field = B1Field(), power: Double = 0, snr: Double? = nil) throws {
        var params = PhantomParameters(); params.snr = nil
        let grid = PhantomGrid.axial(inPlane: 1, sliceThickness: 3, fieldOfView: 36, inferior: -6, superior: 6)
        let subject = try PhantomSubject(params, on: grid)
        var p = FLASHSimulationParameters(); p.b1 = b1; p.mtSaturationB1Power = power; p.snr = snr
        sim = try FLASHSimulator.simulate(subject.composition, acquisitions: [
            FLASHAcquisition(flipAngleDegrees: mtTiming.flipAngleDegrees, repetitionTime: mtTiming.repetitionTime, mtPulse: true),
            FLASHAcquisition(flipAngleDegrees: pdTiming.flipAngleDegrees, repetitionTime: pdTiming.repetitionTime, mtPulse: false),
            FLASHAcquisition(flipAngleDegrees: t1Timing.flipAngleDegrees, repetitionTime: t1Timing.repetitionTime, mtPulse: false),
        ], parameters: p)
    }
    func options(_ form: FLASHForm, _ b1: B1Correction = .none) -> MTsatOptions {
        var o = MTsatOptions(mt: mtTiming, pd: pdTiming, t1: t1Timing); o.form = form; o.b1Correction = b1; return o
    }
    /// Worst relative error of a map against truth over pure voxels with truth above `floor`.
    func worstRelativeError(_ map: Volume<Float>, _ truth: Volume<Float>, floor: Float = 0.5) -> Double {
        var worst = 0.0
        for v in 0..<map.data.count where sim.pureMask.data[v] != 0 && truth.data[v] > floor {
            worst = max(worst, abs(Double(map.data[v] - truth.data[v]) / Double(truth.data[v])))
        }
        return worst
    }
}

@Suite struct FLASHInversionTests {
    @Test func exactInversionRecoversRandomTissues() {
        var r = SeededRNG(seed: 5)
        let inv = FLASHInversion(form: .exact)
        for _ in 0..<500 {
            let t1 = 0.3 + 3.7 * r.uniform(), a = 100 + 900 * r.uniform(), d = 0.04 * r.uniform()
            let aP = (4 + 10 * r.uniform()) * .pi / 180, aT = aP + (5 + 15 * r.uniform()) * .pi / 180
            let trP = 0.02 + 0.02 * r.uniform(), trT = 0.01 + 0.02 * r.uniform()
            let sP = FLASHSignal.exact(a: a, r1: 1 / t1, tr: trP, alpha: aP)
            let sT = FLASHSignal.exact(a: a, r1: 1 / t1, tr: trT, alpha: aT)
            let sM = FLASHSignal.exact(a: a, r1: 1 / t1, tr: trP, alpha: aP, delta: d)
            guard let (r1, aa) = inv.r1AndA(sPD: sP, alphaPD: aP, trPD: trP, sT1: sT, alphaT1: aT, trT1: trT),
                  let dd = inv.delta(sMT: sM, alphaMT: aP, trMT: trP, r1: r1, a: aa) else { Issue.record("no solution"); continue }
            #expect(abs(1 / r1 - t1) / t1 < 1e-9)   // bisection to 1e-13 in log R1
            #expect(abs(aa - a) / a < 1e-9)
            #expect(abs(dd - d) < 1e-9)
        }
    }

    @Test func smallAngleFormMatchesHelmsWhereItsApproximationHolds() {
        // With α → 0 and R1·TR → 0 the small-angle solution converges to the exact one.
        let inv = FLASHInversion(form: .smallAngle)
        let t1 = 1.0, a = 500.0, d = 0.02
        let aP = 1 * Double.pi / 180, aT = 3 * Double.pi / 180, tr = 0.001
        let sP = FLASHSignal.exact(a: a, r1: 1 / t1, tr: tr, alpha: aP)
        let sT = FLASHSignal.exact(a: a, r1: 1 / t1, tr: tr, alpha: aT)
        let sM = FLASHSignal.exact(a: a, r1: 1 / t1, tr: tr, alpha: aP, delta: d)
        let (r1, aa) = inv.r1AndA(sPD: sP, alphaPD: aP, trPD: tr, sT1: sT, alphaT1: aT, trT1: tr)!
        #expect(abs(1 / r1 - t1) < 0.002)                 // bias O(α², R1·TR) ≈ 1e-3 here
        // Helms' form also drops the (1−δ) factor of the numerator: an O(δ²) = 4e-4 error remains.
        #expect(abs(inv.delta(sMT: sM, alphaMT: aP, trMT: tr, r1: r1, a: aa)! - d) < 2 * d * d)
    }
}

@Suite struct MTsatPhantomTests {
    @Test func exactFormRecoversMTsatAndT1Within1Percent() throws {
        let ph = try MTPhantom()
        let m = try MagnetizationTransfer.saturation(mt: ph.mt, pd: ph.pd, t1w: ph.t1w, options: ph.options(.exact))
        #expect(ph.worstRelativeError(m.mtsat, ph.sim.mtsat) < 0.01)   // measured ~1e-6 (float32 images)
        #expect(ph.worstRelativeError(m.t1, ph.sim.t1, floor: 0.1) < 0.01)
        #expect(m.invalidVoxels == 0)
    }

    @Test func smallAngleBiasIsWithinItsTheoreticalSize() throws {
        // Helms' linearisation errors are O(α²/4) from sin/cos and O(R1·TR/2) from
        // 1−E1 ≈ R1·TR: with α ≤ 15° and R1·TR ≤ 0.03 s⁻¹·s, about 1.7% + 1.5% ≈ 3.2% on T1.
        let ph = try MTPhantom()
        let small = try MagnetizationTransfer.saturation(mt: ph.mt, pd: ph.pd, t1w: ph.t1w, options: ph.options(.smallAngle))
        let tangent = try MagnetizationTransfer.saturation(mt: ph.mt, pd: ph.pd, t1w: ph.t1w, options: ph.options(.tangent))
        let alpha = 15 * Double.pi / 180, r1tr = 0.030 / 1.0
        let bound = alpha * alpha / 4 + r1tr / 2
        let t1Bias = ph.worstRelativeError(small.t1, ph.sim.t1, floor: 0.5)
        #expect(t1Bias > 0.001 && t1Bias < bound)   // the bias exists and stays within its size
        let mtBias = ph.worstRelativeError(small.mtsat, ph.sim.mtsat)
        #expect(mtBias < 2 * bound)                  // MTsat inherits the R1 and A errors
        // Replacing α by 2·tan(α/2) removes the flip-angle part: smaller T1 bias.
        #expect(ph.worstRelativeError(tangent.t1, ph.sim.t1, floor: 0.5) < t1Bias)
    }

    @Test func b1CorrectionKeepsMTsatWithin3PercentOverB1From0_8To1_2() throws {
        let ph = try MTPhantom(b1: B1Field(minimum: 0.8, maximum: 1.2, axis: 2))
        let none = try MagnetizationTransfer.saturation(mt: ph.mt, pd: ph.pd, t1w: ph.t1w, options: ph.options(.exact))
        let full = try MagnetizationTransfer.saturation(mt: ph.mt, pd: ph.pd, t1w: ph.t1w, b1: ph.sim.b1, options: ph.options(.exact, .full))
        #expect(ph.worstRelativeError(full.mtsat, ph.sim.mtsat) < 0.03)      // measured ~1e-6
        #expect(ph.worstRelativeError(full.t1, ph.sim.t1, floor: 0.1) < 0.03)
        #expect(ph.worstRelativeError(none.mtsat, ph.sim.mtsat) > 0.10)      // ≈ δ/B1² − δ: up to 56%
        // Weiskopf's factor is applied on top of the full correction.
        let w = try MagnetizationTransfer.saturation(mt: ph.mt, pd: ph.pd, t1w: ph.t1w, b1: ph.sim.b1, options: ph.options(.exact, .weiskopf))
        for v in 0..<w.mtsat.data.count where ph.sim.pureMask.data[v] != 0 && full.mtsat.data[v] > 1 {
            let b = Double(ph.sim.b1.data[v])
            #expect(abs(Double(w.mtsat.data[v] / full.mtsat.data[v]) - 0.6 / (1 - 0.4 * b)) < 1e-5)
        }
    }

    @Test func noisyPhantomWhiteMatterMTsatIsUnbiasedOnAverage() throws {
        let ph = try MTPhantom(snr: 100)
        let m = try MagnetizationTransfer.saturation(mt: ph.mt, pd: ph.pd, t1w: ph.t1w, options: ph.options(.exact))
        var sum = 0.0, count = 0
        for v in 0..<m.mtsat.data.count where ph.sim.pureMask.data[v] != 0 && abs(ph.sim.mtsat.data[v] - 2.8) < 1e-4 {
            sum += Double(m.mtsat.data[v]); count += 1
        }
        #expect(count > 50)
        #expect(abs(sum / Double(count) - 2.8) < 0.15)   // mean over WM voxels at SNR 100
    }

    @Test func mtrEqualsItsDefinitionOnThePhantom() throws {
        let ph = try MTPhantom()
        let r = try MagnetizationTransfer.ratio(mtOn: ph.mt, mtOff: ph.pd)
        for v in stride(from: 0, to: r.map.data.count, by: 7) where ph.pd.data[v] > 0 {
            let expected = 100 * (ph.pd.data[v] - ph.mt.data[v]) / ph.pd.data[v]
            #expect(abs(r.map.data[v] - expected) < 1e-4)
        }
        #expect(r.invalidVoxels == 0)
    }
}

@Suite struct MyelinConventionTests {
    let g = Grid(nx: 4, ny: 1, nz: 1, spacing: [1, 1, 1])
    func vol(_ v: [Float]) -> Volume<Float> { try! Volume(grid: g, data: v) }

    @Test func mtrZeroDenominatorRules() throws {
        let on = vol([50, 10, 300, 5]), off = vol([100, 0, 100, -1])
        let c = try MagnetizationTransfer.ratio(mtOn: on, mtOff: off)
        #expect(c.map.data == [50, 0, -200, 0] && c.invalidVoxels == 2)    // CordQ: 0 where M0 ≤ 0, no clipping
        let s = try MagnetizationTransfer.ratio(mtOn: on, mtOff: off, convention: .sct)
        #expect(s.map.data[0] == 50 && s.map.data[1].isNaN && s.map.data[2] == -100 && s.map.data[3] == 100)
    }

    @Test func sctConventionReproducesItsClippingAndB1Factor() throws {
        // Voxel 0: a plausible tissue; voxel 1: a T1w signal too low for its PD (R1 < 0) → T1 = 0.
        let a = 1000.0, t1 = 1.0
        let sP = Float(FLASHSignal.smallAngle(a: a, r1: 1 / t1, tr: 0.03, alpha: 9 * .pi / 180))
        let sT = Float(FLASHSignal.smallAngle(a: a, r1: 1 / t1, tr: 0.015, alpha: 15 * .pi / 180))
        let sM = Float(FLASHSignal.smallAngle(a: a, r1: 1 / t1, tr: 0.03, alpha: 9 * .pi / 180, delta: 0.02))
        var o = MTsatOptions(mt: mtTiming, pd: pdTiming, t1: t1Timing); o.convention = .sct
        let m = try MagnetizationTransfer.saturation(mt: vol([sM, 100, 1, 1]), pd: vol([sP, 100, 1, 0]), t1w: vol([sT, 20, 1, 0]), options: o)
        #expect(abs(m.mtsat.data[0] - 2) < 1e-3 && abs(m.t1.data[0] - 1) < 1e-4)  // small-angle model inverts itself
        #expect(m.t1.data[1] == 0)
        o.b1Correction = .none
        let b1 = vol([1.2, 1, 1, 1])
        let mb = try MagnetizationTransfer.saturation(mt: vol([sM, 100, 1, 1]), pd: vol([sP, 100, 1, 0]), t1w: vol([sT, 20, 1, 0]), b1: b1, options: o)
        #expect(abs(mb.mtsat.data[0] - 2 * 0.6 / (1 - 0.48)) < 2e-3)   // SCT: Weiskopf factor only
        #expect(mb.mtsat.data.allSatisfy { $0.isFinite })
    }

    @Test func badInputsAreRefusedWithClearMessages() throws {
        let o = MTsatOptions(mt: mtTiming, pd: pdTiming, t1: t1Timing)
        let other = try Volume<Float>(grid: Grid(nx: 4, ny: 1, nz: 2, spacing: [1, 1, 1]), data: [Float](repeating: 1, count: 8))
        do { _ = try MagnetizationTransfer.saturation(mt: vol([1, 1, 1, 1]), pd: other, t1w: vol([1, 1, 1, 1]), options: o); Issue.record("no error") } catch {
            #expect("\(error)".contains("PD-weighted image") && "\(error)".contains("same voxel grid"))
        }
        do { _ = try MagnetizationTransfer.saturation(mt: vol([1, 1, 1, 1]), pd: vol([0, 0, 0, 0]), t1w: vol([1, 1, 1, 1]), options: o); Issue.record("no error") } catch {
            #expect("\(error)".contains("no positive signal"))
        }
        var f = o; f.b1Correction = .full
        #expect(throws: CordError.self) { try MagnetizationTransfer.saturation(mt: vol([1, 1, 1, 1]), pd: vol([1, 1, 1, 1]), t1w: vol([1, 1, 1, 1]), options: f) }
        var same = o; same.t1 = pdTiming
        #expect(throws: CordError.self) { try MagnetizationTransfer.saturation(mt: vol([1, 1, 1, 1]), pd: vol([1, 1, 1, 1]), t1w: vol([1, 1, 1, 1]), options: same) }
        let m = try MagnetizationTransfer.saturation(mt: vol([1, 0, 1, 1]), pd: vol([2, 2, -1, 2]), t1w: vol([1, 1, 1, .nan]), options: o)
        #expect(m.mtsat.data.allSatisfy { $0.isFinite })  // never silent NaN
        #expect(m.invalidVoxels >= 3)
    }
}
