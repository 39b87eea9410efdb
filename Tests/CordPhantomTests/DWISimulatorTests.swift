// The DWI simulator: exact signals for known tissues, consistent truth, noise.
import Foundation
import Testing
import CordCore
@testable import CordPhantom

@Suite struct DWISimulatorTests {
    static let grid = PhantomGrid.axial(inPlane: 1, sliceThickness: 4, fieldOfView: 16, inferior: -16, superior: -8, centre: [0, 4])
    static let subject: PhantomSubject = {
        var p = PhantomParameters(); p.snr = nil
        do { return try PhantomSubject(p, on: grid) } catch { fatalError("\(error)") }
    }()
    static let table = GradientTable(DiffusionSchemes.referenceVolumes(1) + DiffusionSchemes.shell(1000, 12)
                                     + DiffusionSchemes.shell(1000, 4, .spherical) + DiffusionSchemes.shell(2000, 6, .planar))

    @Test func pureTissuesHaveTheirAnalyticSignalAndTruth() throws {
        var p = DiffusionPhantomParameters(); p.snr = nil
        let sim = try DWISimulator.simulate(Self.subject, table: Self.table, parameters: p)
        let n = Self.grid.voxelCount
        var checkedCSF = 0, checkedWM = 0
        for i in 0..<n {
            guard let c = Self.subject.composition.pureTissue(at: i) else { continue }
            if c == .csf {
                // Free water, s0 2: S = 2·exp(−b·3.0) for every encoding shape.
                for (t, e) in Self.table.entries.enumerated() {
                    let expected: Double = 2 * exp(-e.b / 1000 * 3)
                    let got = Double(sim.noiseFree.data[t * n + i])
                    #expect(abs(got - expected) < 1e-5)  // Float storage
                }
                #expect(abs(Double(sim.truth.md.data[i]) - 3) < 1e-5 && sim.truth.microFA.data[i] < 1e-3)
                checkedCSF += 1
            }
            if c.isWhiteMatter {
                // One population (2.0, 0.4): μFA is the microscopic tensor's FA whatever the dispersion.
                let micro = MicroscopicPopulation(axial: 2.0, radial: 0.4).microscopicFA
                #expect(abs(Double(sim.truth.microFA.data[i]) - micro) < 1e-5)
                #expect(abs(Double(sim.truth.md.data[i]) - 0.9333333) < 1e-5)  // (2 + 2·0.4)/3 µm²/ms
                #expect(sim.truth.fa.data[i] < sim.truth.microFA.data[i])     // dispersion lowers FA only
                #expect(abs(Double(sim.truth.isotropicVariance.data[i])) < 1e-5)
                // Spherical encoding sees only the mean diffusivity: S = exp(−b·MD).
                #expect(abs(Double(sim.noiseFree.data[13 * n + i]) - exp(-0.9333333)) < 1e-5)
                checkedWM += 1
            }
        }
        #expect(checkedCSF > 10 && checkedWM > 20)
    }

    @Test func noiseHasTheRequestedSigmaAndIsSeeded() throws {
        var p = DiffusionPhantomParameters(); p.snr = 25; p.seed = 4
        let a = try DWISimulator.simulate(Self.subject, table: Self.table, parameters: p)
        let b = try DWISimulator.simulate(Self.subject, table: Self.table, parameters: p)
        #expect(a.image.data == b.image.data)
        #expect(abs(a.sigma - 1.0 / 25) < 1e-12)  // σ = white-matter s0 / SNR
        // In bright voxels (S ≫ σ) Rician noise is nearly Gaussian with SD σ.
        var d: [Double] = []
        for (x, y) in zip(a.image.data, a.noiseFree.data) where y > 0.5 { d.append(Double(x - y)) }
        let mean = d.reduce(0, +) / Double(d.count)
        let sd = (d.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(d.count)).squareRoot()
        #expect(abs(sd - a.sigma) < 0.1 * a.sigma)  // 10 %: a few thousand samples
    }

    @Test func partialVolumeMixesTruthBySignal() throws {
        var p = DiffusionPhantomParameters(); p.snr = nil
        let sim = try DWISimulator.simulate(Self.subject, table: Self.table, parameters: p)
        // A voxel of white matter and CSF has MD between the two, weighted toward CSF's brighter s0.
        var found = false
        for i in 0..<Self.grid.voxelCount {
            let comp = Self.subject.composition
            let fc = Double(comp.fraction(of: .csf, at: i))
            var fw = 0.0
            for c in TissueClass.allCases where c.isWhiteMatter { fw += Double(comp.fraction(of: c, at: i)) }
            guard fc > 0.2, fw > 0.2, fc + fw > 0.999 else { continue }
            let expected = (fc * 2 * 3 + fw * 0.9333333) / (2 * fc + fw)
            #expect(abs(Double(sim.truth.md.data[i]) - expected) < 1e-4)
            found = true
        }
        #expect(found)
    }
}
