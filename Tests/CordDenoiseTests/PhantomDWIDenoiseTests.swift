import Testing
@testable import CordCore
@testable import CordDenoise
@testable import CordPhantom

/// MP-PCA on the project's DWI phantom (30×30×10 voxels of 0.8×0.8×3 mm, 5 b=0 + 30 × b=800,
/// SNR 40 in white matter). σ is judged in the cord and CSF, where the signal stays above
/// the magnitude noise floor (at b = 1000 CSF falls into it and every MP-PCA tool, MRtrix3
/// and DIPY included, reads σ 10–15% low there: Rician noise has less variance than σ²).
@Suite struct PhantomDWIDenoiseTests {
    func simulate(ramp: Double) throws -> (DWISimulation, Mask) {
        var anatomy = PhantomParameters(); anatomy.snr = nil
        let grid = PhantomGrid.axial(inPlane: 0.8, sliceThickness: 3, fieldOfView: 24, inferior: -20, superior: 10, centre: [0, 4])
        let subject = try PhantomSubject(anatomy, on: grid)
        var p = DiffusionPhantomParameters(); p.snr = 40; p.seed = 11; p.sliceNoiseRamp = ramp
        let table = try #require(DiffusionSchemes.named("dti"))
        let sim = try DWISimulator.simulate(subject, table: table, parameters: p)
        var region = subject.cordMask
        for v in 0..<grid.voxelCount where subject.composition.pureTissue(at: v) == .csf { region.data[v] = 1 }
        return (sim, region)
    }
    func sigmaRatio(_ sigma: Volume<Float>, _ sim: DWISimulation, _ region: Mask) -> Double {
        let g = sigma.grid
        var r: [Float] = []
        for v in 0..<g.voxelCount where region.data[v] != 0 { r.append(sigma.data[v] / Float(sim.sigmaPerSlice[g.coordinates(of: v).z])) }
        return median(r)
    }
    func cordRMSE(_ x: Volume<Float>, _ sim: DWISimulation, _ region: Mask) -> Double {
        let n = x.grid.voxelCount
        var s = 0.0, c = 0
        for t in 0..<x.frames { for v in 0..<n where region.data[v] != 0 {
            let d = Double(x.data[t * n + v] - sim.noiseFree.data[t * n + v]); s += d * d; c += 1
        } }
        return (s / Double(c)).squareRoot()
    }

    @Test func uniformNoiseSigmaAndRMSE() throws {
        let (sim, region) = try simulate(ramp: 0)
        let r = try MPPCA.denoise(sim.image)
        #expect(abs(sigmaRatio(r.sigma, sim, region) - 1) < 0.05)                           // measured 0.983
        #expect(cordRMSE(r.denoised, sim, region) < cordRMSE(sim.image, sim, region) / 2)   // measured 3.4× lower
    }

    @Test func sliceVaryingNoiseWithInPlaneWindows() throws {
        let (sim, region) = try simulate(ramp: 1)                                           // σ doubles across the slab
        var o = MPPCAOptions(); o.extent = SIMD3(9, 9, 1)
        let r = try MPPCA.denoise(sim.image, options: o)
        #expect(abs(sigmaRatio(r.sigma, sim, region) - 1) < 0.05)                           // measured 0.954
        #expect(cordRMSE(r.denoised, sim, region) < cordRMSE(sim.image, sim, region) / 2)   // measured 2.9× lower
    }
}
