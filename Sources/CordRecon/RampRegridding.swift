// Ramp-sampling regridding: the samples of a trapezoidal readout sit at non-uniform kx (known
// exactly from the gradient waveform); the uniform grid values are the band-limited
// least-squares solution of  s(k_n) = Σ_q g_q · sinc(k_n − q)  (an object confined to the
// FOV), as in Gadgetron's EPIReconXObjectTrapezoid, with a tiny Tikhonov term for stability.
import CordCore
import Foundation

/// The two resampling operators (forward and reflected readouts), nx × samples, row-major.
struct RampRegridding: Sendable {
    let positive: [Double]
    let negative: [Double]
    let positions: [Double]

    init(timing t: EPIReadoutTiming, gridPoints nx: Int) throws {
        let k = t.kPositions(encodedSamples: nx)
        guard k.count == t.numberOfSamples, k.allSatisfy({ $0.isFinite }) else {
            throw CordError.invalidValue(what: "ramp-sampling timing", detail: "gives no usable k-space positions")
        }
        positions = k
        positive = try Self.resampler(positions: k, gridPoints: nx)
        negative = try Self.resampler(positions: k.map { -$0 }, gridPoints: nx)
    }

    static func sinc(_ x: Double) -> Double { abs(x) < 1e-12 ? 1 : sin(Double.pi * x) / (Double.pi * x) }

    /// M = (QᵀQ + λI)⁻¹ Qᵀ with Q[n][q] = sinc(k_n − (q − nx/2)).
    static func resampler(positions k: [Double], gridPoints nx: Int) throws -> [Double] {
        let ns = k.count
        var q = [Double](repeating: 0, count: ns * nx)
        for n in 0..<ns { for j in 0..<nx { q[n * nx + j] = sinc(k[n] - Double(j - nx / 2)) } }
        var a = [Double](repeating: 0, count: nx * nx)
        for i in 0..<nx {
            for j in i..<nx {
                var s = 0.0
                for n in 0..<ns { s += q[n * nx + i] * q[n * nx + j] }
                a[i * nx + j] = s; a[j * nx + i] = s
            }
        }
        let trace = (0..<nx).reduce(0.0) { $0 + a[$1 * nx + $1] }
        let lambda = 1e-6 * trace / Double(nx)
        for i in 0..<nx { a[i * nx + i] += lambda }
        // Right-hand sides: Qᵀ (nx × ns).
        var qt = [Double](repeating: 0, count: nx * ns)
        for n in 0..<ns { for j in 0..<nx { qt[j * ns + n] = q[n * nx + j] } }
        guard let m = SmallLinearAlgebra.solveSPD(a, n: nx, qt, m: ns) else {
            throw CordError.invalidValue(what: "ramp-sampling regridding", detail: "the sample positions do not determine the uniform grid")
        }
        return m
    }
}
