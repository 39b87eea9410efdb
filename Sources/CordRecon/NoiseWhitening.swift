// Noise pre-whitening (Pruessmann 2001 MRM 46:638; Hansen & Kellman 2015 JMRI 41:573): the
// channel noise covariance Ψ from noise scans, or — without them — from the outermost kx
// samples of the outermost ky lines; data are multiplied by L⁻¹ (Ψ = L Lᴴ) so that the
// channels carry independent unit-variance noise.
import CordCore
import Foundation

struct NoiseWhitening {
    var whitening: [ComplexD]?
    var source: String
    var covarianceDiagonal: [Double]
    var warning = ""

    static func estimate(_ raw: RawDataset, plan: Plan, enabled: Bool) throws -> NoiseWhitening {
        let nc = plan.channels
        var samples: [[ComplexD]] = []   // each: one sample vector over channels
        var source: String
        if !plan.noiseIndices.isEmpty {
            source = "noise scans (\(plan.noiseIndices.count))"
            for i in plan.noiseIndices {
                let a = raw.acquisitions[i]
                guard a.channels == nc else {
                    throw CordError.invalidValue(what: "raw data", detail: "noise scan \(i + 1) has \(a.channels) channels, imaging \(nc)")
                }
                for n in 0..<a.samples {
                    samples.append((0..<nc).map { c in let v = a.data[c * a.samples + n]; return ComplexD(Double(v.real), Double(v.imaginary)) })
                }
            }
        } else {
            source = "outer k-space (no noise scan)"
            let ns = plan.samples, edge = max(2, ns / 16)
            for s in plan.slices.indices {
                for i in plan.imageLines(slice: s, volume: 0) {
                    let a = raw.acquisitions[i]
                    guard abs(a.index.kspaceEncodeStep1 - plan.centreLine) >= plan.ny / 4 else { continue }
                    for n in Array(0..<edge) + Array((ns - edge)..<ns) {
                        samples.append((0..<nc).map { c in let v = a.data[c * ns + n]; return ComplexD(Double(v.real), Double(v.imaginary)) })
                    }
                }
            }
        }
        var psi = [ComplexD](repeating: .zero, count: nc * nc)
        for v in samples { for i in 0..<nc { for j in 0..<nc { psi[i * nc + j] = psi[i * nc + j] + v[i] * v[j].conjugate } } }
        let m = Double(max(samples.count, 1))
        psi = psi.map { ComplexD($0.real / m, $0.imaginary / m) }
        let diag = (0..<nc).map { psi[$0 * nc + $0].real }
        guard enabled else { return NoiseWhitening(whitening: nil, source: "off", covarianceDiagonal: diag) }
        guard samples.count >= 10 * nc else {
            return NoiseWhitening(whitening: nil, source: "none", covarianceDiagonal: diag,
                                  warning: "too few noise samples (\(samples.count)) for pre-whitening; channels left as acquired")
        }
        guard let l = SmallLinearAlgebra.cholesky(psi, n: nc) else {
            return NoiseWhitening(whitening: nil, source: "none", covarianceDiagonal: diag,
                                  warning: "the noise covariance is not positive definite; channels left as acquired")
        }
        return NoiseWhitening(whitening: SmallLinearAlgebra.invertLower(l, n: nc), source: source, covarianceDiagonal: diag)
    }
}
