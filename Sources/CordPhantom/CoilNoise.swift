// The receive-noise model the k-space simulators share: correlated complex Gaussian noise
// between coil channels.
import CordCore

/// Channel noise with covariance Ψ = C Cᴴ, C lower bidiagonal: channel i has SD
/// `noise`·(1 + 0.1·i) and neighbour correlation `noise`·`correlation`.
struct CoilNoise {
    let coils: Int
    /// C, row-major (coils × coils).
    let cholesky: [ComplexD]
    /// Ψ = C Cᴴ, row-major.
    let covariance: [ComplexD]

    init(coils nc: Int, noise: Double, correlation: Double) {
        coils = nc
        var c = [ComplexD](repeating: .zero, count: nc * nc)
        for i in 0..<nc {
            c[i * nc + i] = ComplexD(noise * (1 + 0.1 * Double(i)), 0)
            if i > 0 { c[i * nc + i - 1] = ComplexD(noise * correlation, 0) }
        }
        var psi = [ComplexD](repeating: .zero, count: nc * nc)
        for i in 0..<nc { for j in 0..<nc { var t = ComplexD.zero; for k in 0..<nc { t = t + c[i * nc + k] * c[j * nc + k].conjugate }; psi[i * nc + j] = t } }
        cholesky = c; covariance = psi
    }

    /// One noise sample per channel: unit complex normals (real then imaginary part, channel by
    /// channel, from `rng`) coloured by C.
    func sample(_ rng: inout SeededRNG) -> [ComplexD] {
        let nc = coils
        let z = (0..<nc).map { _ in ComplexD(rng.normal() / 2.0.squareRoot(), rng.normal() / 2.0.squareRoot()) }
        return (0..<nc).map { i in (0...i).reduce(ComplexD.zero) { $0 + cholesky[i * nc + $1] * z[$1] } }
    }
}
