// Magnitude-image noise for simulated acquisitions.
import CordCore

/// Rician noise: the magnitude of a complex signal whose real and imaginary channels each
/// carry independent Gaussian noise of standard deviation σ (Gudbjartsson & Patz 1995,
/// MRM 34:910): M = √((S + σ·n₁)² + (σ·n₂)²), n₁, n₂ ~ N(0, 1).
public enum RicianNoise {
    /// Adds Rician noise to every frame of `image` (noise-free magnitude signal S ≥ 0).
    ///
    /// Reproducible and independent of the number of threads: each (frame t, slice k)
    /// draws from its own `SeededRNG(seed: seed, stream: t·2³² + k)`, voxels in i-fastest
    /// order, n₁ then n₂ per voxel. σ ≤ 0 returns the image unchanged.
    public static func apply(to image: Volume<Float>, sigma: Double, seed: UInt64) -> Volume<Float> {
        apply(to: image, sigmaPerSlice: [Double](repeating: sigma, count: image.grid.nz), seed: seed)
    }

    /// As above with σ varying across slices (voxel axis k), as multiband g-factors and coil
    /// geometry make it: slice k gets `sigmaPerSlice[k]`.
    public static func apply(to image: Volume<Float>, sigmaPerSlice: [Double], seed: UInt64) -> Volume<Float> {
        precondition(sigmaPerSlice.count == image.grid.nz, "one σ per slice")
        guard sigmaPerSlice.contains(where: { $0 > 0 }) else { return image }
        let g = image.grid
        let perSlice = g.nx * g.ny
        let slices = g.nz * image.frames
        let out = SharedBuffer<Float>(repeating: 0, count: image.data.count)
        let input = image.data
        parallelChunks(slices) { range, _ in
            for slice in range {
                let t = slice / g.nz, k = slice % g.nz
                var rng = SeededRNG(seed: seed, stream: UInt64(t) << 32 | UInt64(k))
                let sigma = sigmaPerSlice[k]
                let base = slice * perSlice
                for n in base..<(base + perSlice) {
                    let re = Double(input[n]) + sigma * rng.normal()
                    let im = sigma * rng.normal()
                    out[n] = Float((re * re + im * im).squareRoot())
                }
            }
        }
        var noisy = image
        noisy.data = out.array
        return noisy
    }
}
