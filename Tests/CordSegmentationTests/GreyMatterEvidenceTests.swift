// The placement test of grey-matter segmentation counts evidence per independent sample
// (issue #25): the voxels-per-sample factor against noise fields whose correlation is known.
import CordCore
import Testing
@testable import CordSegmentation

@Suite struct GreyMatterEvidenceTests {
    /// An 80 × 80 "cord" of pure Gaussian noise with a flat 0.2 prior: the mixture's residual
    /// is the noise. White noise: ρ = 0 on both axes, factor 1 (asserted within [1, 1.2]).
    /// Noise averaged with its right-hand neighbour, (n_i + n_{i+1})/√2: lag-1 correlation ½
    /// along x and 0 along y, so factor (1 + ½)/(1 − ½) = 3 (asserted within ±0.4; 6320
    /// neighbour pairs give ρ an SD of about 0.013). Averaged along both axes: 3 × 3 = 9 (±2).
    @Test func independenceFactorMatchesKnownNoiseCorrelation() {
        let nx = 80, ny = 80
        var rng = SeededRNG(seed: 25)
        let white = (0..<((nx + 1) * (ny + 1))).map { _ in rng.normal() }
        @inline(__always) func w(_ i: Int, _ j: Int) -> Double { white[j * (nx + 1) + i] }
        var plain = [Double](), alongX = [Double](), both = [Double]()
        for j in 0..<ny {
            for i in 0..<nx {
                plain.append(100 + w(i, j))
                alongX.append(100 + (w(i, j) + w(i + 1, j)) / 2.0.squareRoot())
                both.append(100 + (w(i, j) + w(i + 1, j) + w(i, j + 1) + w(i + 1, j + 1)) / 2)
            }
        }
        let prior = [Double](repeating: 0.2, count: nx * ny), cord = [Double](repeating: 1, count: nx * ny)
        let f0 = GreyMatterSegmenter.independenceFactor(plain, prior: prior, cord: cord, nx: nx)
        let f1 = GreyMatterSegmenter.independenceFactor(alongX, prior: prior, cord: cord, nx: nx)
        let f2 = GreyMatterSegmenter.independenceFactor(both, prior: prior, cord: cord, nx: nx)
        print("voxels per independent sample: white \(formatFixed(f0, 2)), x-correlated \(formatFixed(f1, 2)) (expected 3), both \(formatFixed(f2, 2)) (expected 9)")
        #expect(f0 >= 1 && f0 <= 1.2, "white noise: \(f0)")
        #expect(abs(f1 - 3) <= 0.4, "ρx = ½: \(f1)")
        #expect(abs(f2 - 9) <= 2, "ρx = ρy = ½: \(f2)")
    }
}
