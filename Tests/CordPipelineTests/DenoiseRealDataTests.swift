import Foundation
import Testing
import CordTestSupport
@testable import CordCore
@testable import CordDenoise
@testable import CordIO
@testable import CordPipeline

/// MP-PCA on the SCT tutorial DWI (96×36×15, 35 volumes).
@Suite(.enabled(if: Support.hasSharedData, "../shared/data is absent: real DWI denoising checks skipped"))
struct DenoiseRealDataTests {
    let dwi = Support.sharedData + "/sct_tutorial_data/dmri/dmri.nii.gz"

    /// Median over the voxels of a box around the cord (i 44–57, j 12–20, all slices; the cord
    /// is the bright disc there on the b=0 volume).
    func cordBoxMedian(_ v: Volume<Float>) -> Double {
        var vals: [Float] = []
        for k in 0..<v.grid.nz { for j in 12...20 { for i in 44...57 { vals.append(v[i, j, k]) } } }
        vals.sort()
        return Double(vals[vals.count / 2])
    }

    /// Median over volumes of the correlation between the residual (input − output) and the
    /// denoised image: a residual that is pure noise does not correlate with the anatomy.
    func residualAnatomyCorrelation(_ input: Volume<Float>, _ output: Volume<Float>) -> Double {
        let n = input.grid.voxelCount
        var cs: [Double] = []
        for t in 0..<input.frames {
            var sr = 0.0, so = 0.0, srr = 0.0, soo = 0.0, sro = 0.0
            for v in 0..<n {
                let o = Double(output.data[t * n + v]), r = Double(input.data[t * n + v]) - o
                sr += r; so += o; srr += r * r; soo += o * o; sro += r * o
            }
            let c = (sro - sr * so / Double(n)) / ((srr - sr * sr / Double(n)) * (soo - so * so / Double(n))).squareRoot()
            cs.append(c)
        }
        cs.sort()
        return cs[cs.count / 2]
    }

    @Test func sigmaAgreesWithDwidenoiseInTheCordRegion() throws {
        let (input, _) = try NIfTIFile.read(dwi)
        // MRtrix3 3.0.3 `dwidenoise dmri.nii.gz out.nii.gz -noise sigma.nii.gz` gave median σ
        // 221.0 in this box and 185.4 over the field of view (measured here, Debian mrtrix3).
        // dwidenoise's algorithm: centre mode, Exp2, uncentred windows, the spread as measured.
        var centre = MPPCAOptions(); centre.reconstruction = .centre
        centre.estimator = .exp2; centre.demean = false; centre.noiseModel = .asMeasured
        let c = try MPPCA.denoise(input, options: centre)
        #expect(abs(cordBoxMedian(c.sigma) - 221.0) / 221.0 < 0.01)      // measured 221.0
        #expect(abs(residualAnatomyCorrelation(input, c.denoised)) < 0.05)  // measured −0.001
        // CordQ's default reports the Gaussian σ behind the Rician magnitudes: the measured
        // spread is smaller where b = 800 signals (CSF, the cord's edge) sit near the noise
        // floor, so σ is higher than dwidenoise's, by at most 1/√(2 − π/2) = 1.53 (signal-free
        // voxels). Release build, same box: 258 (spread as measured with the default windows: 229).
        let o = try MPPCA.denoise(input)
        let ratio = cordBoxMedian(o.sigma) / 221.0
        #expect(ratio > 1.0 && ratio < 1.35, "default σ / dwidenoise σ = \(ratio)")   // measured 1.17
        #expect(abs(residualAnatomyCorrelation(input, o.denoised)) < 0.1)   // measured 0.068 before centring
    }
}
