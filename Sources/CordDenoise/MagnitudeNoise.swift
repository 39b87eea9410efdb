// The Gaussian noise level behind magnitude data from the spread MP-PCA measures.
import CordCore

/// What the noise of the denoised series is.
public enum MPNoiseModel: Sendable, Equatable {
    /// Report the spread of the data as it is (MRtrix3 `dwidenoise`, DIPY `mppca`).
    case asMeasured
    /// Magnitude of a sum-of-squares combination of `coils` channels (1: Rician, also for
    /// adaptively combined data): the σ map reports the Gaussian σ of each real and imaginary
    /// channel (see `MagnitudeNoise`).
    case magnitude(coils: Int)
}

/// Rician / non-central χ correction of an MP-PCA noise level (Koay & Basser 2006, JMR
/// 179:317). The Marchenko–Pastur fit measures the spread of the magnitudes in a window,
/// whose variance is σ²·ξ(θ) with θ = A/σ the true signal-to-noise ratio and
///
///     ξ(θ) = 2N + θ² − (E[M]/σ)²,
///
/// 1 at high SNR and 2N − β_N² (0.43 for one coil) at zero signal. In cord DWI many windows
/// hold diffusion-weighted signal at 1–3σ, so the measured spread is 5–10% below σ. Per
/// voxel, with the denoised series x̂_t as the mean magnitudes, the fixed point
///
///     σ ← σ_MP / √(mean_t ξ(θ(x̂_t/σ)))
///
/// (θ from E[M]/σ by `NoncentralChi.invertMean`) converges in a few steps; ξ is tabulated
/// against E[M]/σ so the correction costs a table lookup per value.
struct MagnitudeNoise: Sendable {
    let coils: Int
    let floor: Double
    let step = 0.005
    let top: Double
    let table: [Double]

    init(coils: Int) {
        self.coils = coils
        floor = NoncentralChi.noiseFloor(coils: coils)
        top = floor + 60
        let n = CheckedNumber.clamped((top - floor) / step, .up, to: 1...100_000) + 1
        var t = [Double](repeating: 1, count: n)
        for i in 0..<n {
            let y = floor + Double(i) * step
            let theta = NoncentralChi.invertMean(y, coils: coils)
            t[i] = max(2 * Double(coils) + theta * theta - y * y, 1e-3)
        }
        table = t
    }

    /// ξ at mean magnitude y = E[M]/σ.
    @inline(__always) func xi(_ y: Double) -> Double {
        if y <= floor { return table[0] }
        let x = (y - floor) / step
        guard x < Double(table.count - 1) else { return table[table.count - 1] }
        let i = Int(x), f = x - Double(i)
        return table[i] + f * (table[i + 1] - table[i])
    }

    /// Corrects `sigma` (the measured spread per voxel) in place from the denoised series
    /// `denoised` (frames × voxels, frame-major), for voxels with σ > 0.
    func correct(sigma: inout Volume<Float>, denoised: Volume<Float>) {
        let nvox = sigma.grid.voxelCount, m = denoised.frames
        let s = SharedBuffer<Float>(repeating: 0, count: nvox)
        for v in 0..<nvox { s[v] = sigma.data[v] }
        let d = denoised.data
        parallelChunks(nvox, minimumChunk: 1024) { range, _ in
            for v in range {
                let measured = Double(s[v])
                guard measured > 0, measured.isFinite else { continue }
                var sig = measured
                for _ in 0..<5 {
                    var sum = 0.0
                    for t in 0..<m { sum += xi(Double(d[t * nvox + v]) / sig) }
                    let next = measured / (sum / Double(m)).squareRoot()
                    if abs(next - sig) <= 1e-4 * sig { sig = next; break }
                    sig = next
                }
                s[v] = Float(sig)
            }
        }
        sigma.data = s.array
    }
}
