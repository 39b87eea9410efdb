// One tissue's discretised distribution of microscopic tensors: signals and moments.
import CordCore
#if canImport(Glibc)
import Glibc
#endif

/// Moments of a distribution of diffusion tensors D: the mean ⟨D⟩ (6 unique entries),
/// ⟨‖D‖²⟩ (Frobenius) and ⟨(tr D)²⟩ — enough for FA, MD, μFA, V_I and V_A, and additive
/// over mixtures.
struct KernelMoments: Sendable {
    var xx = 0.0, yy = 0.0, zz = 0.0, xy = 0.0, xz = 0.0, yz = 0.0
    var normSquared = 0.0, traceSquared = 0.0

    mutating func add(_ m: KernelMoments, weight w: Double) {
        xx += w * m.xx; yy += w * m.yy; zz += w * m.zz; xy += w * m.xy; xz += w * m.xz; yz += w * m.yz
        normSquared += w * m.normSquared; traceSquared += w * m.traceSquared
    }
    func scaled(_ s: Double) -> KernelMoments { var m = KernelMoments(); m.add(self, weight: s); return m }

    /// FA and MD of ⟨D⟩; μFA² = (3/2)·(⟨‖D‖²⟩ − ⟨tr²⟩/3)/⟨‖D‖²⟩ (= (3/2)V_λ/(V_λ + V_I + D̄²),
    /// Lasič 2014, Westin 2016); V_I = ⟨tr²⟩/9 − MD²; V_A = (2/5)·(⟨‖D‖²⟩ − ⟨tr²⟩/3)/3.
    var truth: (fa: Double, md: Double, microFA: Double, vI: Double, vA: Double) {
        let tr = xx + yy + zz, md = tr / 3
        let norm = xx * xx + yy * yy + zz * zz + 2 * (xy * xy + xz * xz + yz * yz)
        let fa = norm > 0 ? (max(0, 1.5 * (norm - tr * tr / 3) / norm)).squareRoot() : 0
        let shear = normSquared - traceSquared / 3
        let mufa = normSquared > 0 ? (max(0, 1.5 * shear / normSquared)).squareRoot() : 0
        return (fa, md, mufa, max(0, traceSquared / 9 - md * md), 0.4 * shear / 3)
    }
}

/// A tissue's populations discretised over orientations in the fibre frame (fibre = +z).
final class TissueKernel: @unchecked Sendable {
    /// Per term: weight, λ⊥, λ∥ − λ⊥, and the axis in the fibre frame.
    let weights: [Double], radial: [Double], delta: [Double], axes: [SIMD3<Double>]
    let dependsOnOrientation: Bool

    init(_ tissue: TissueDiffusion, samples: Int) {
        var w: [Double] = [], r: [Double] = [], d: [Double] = [], a: [SIMD3<Double>] = []
        var oriented = false
        let sphere = TissueKernel.fibonacciSphere(samples)
        for p in tissue.populations {
            let isotropic = abs(p.axial - p.radial) < 1e-15
            if isotropic || p.aligned {
                w.append(p.weight); r.append(p.radial); d.append(p.axial - p.radial); a.append(SIMD3(0, 0, 1))
                oriented = oriented || !isotropic
                continue
            }
            oriented = true
            let raw = sphere.map { exp(p.kappa * ($0.z * $0.z - 1)) }
            let total = raw.reduce(0, +)
            for (u, x) in zip(sphere, raw) {
                w.append(p.weight * x / total); r.append(p.radial); d.append(p.axial - p.radial); a.append(u)
            }
        }
        weights = w; radial = r; delta = d; axes = a
        dependsOnOrientation = oriented
    }

    /// n points spread evenly on the unit sphere (Fibonacci lattice; González 2010, Math Geosci 42:49).
    static func fibonacciSphere(_ n: Int) -> [SIMD3<Double>] {
        let golden = Double.pi * (3 - 5.0.squareRoot())
        return (0..<n).map { i in
            let z = 1 - (2 * Double(i) + 1) / Double(n)
            let r = (1 - z * z).squareRoot(), phi = golden * Double(i)
            return SIMD3(r * cos(phi), r * sin(phi), z)
        }
    }

    /// The rotation taking +z to `n` (Rodrigues), applied to a vector.
    @inline(__always) static func rotate(_ v: SIMD3<Double>, toward n: SIMD3<Double>) -> SIMD3<Double> {
        let c = n.z
        if c > 1 - 1e-12 { return v }
        if c < -1 + 1e-12 { return SIMD3(v.x, -v.y, -v.z) }
        let k = normalized(SIMD3(-n.y, n.x, 0))  // axis z × n
        let s = (1 - c * c).squareRoot()
        return v * c + cross(k, v) * s + k * dot(k, v) * (1 - c)
    }

    /// Σ_k w_k·exp(−⟨B, D_k⟩) for each b-tensor (ms/µm²), fibres along `fibre`.
    func evaluate(fibre: SIMD3<Double>, _ btensors: [Mat3], into out: UnsafeMutablePointer<Double>) {
        let rotated = axes.map { TissueKernel.rotate($0, toward: fibre) }
        for (v, b) in btensors.enumerated() {
            let tr = b.trace
            var s = 0.0
            for k in 0..<weights.count {
                let u = rotated[k]
                s += weights[k] * exp(-(radial[k] * tr + delta[k] * dot(u, b * u)))
            }
            out[v] = s
        }
    }

    /// Moments of the discrete distribution, fibres along `fibre`.
    func moments(fibre: SIMD3<Double>) -> KernelMoments {
        var m = KernelMoments()
        for k in 0..<weights.count {
            let u = TissueKernel.rotate(axes[k], toward: fibre)
            let l = radial[k], dl = delta[k], w = weights[k]
            // D = λ⊥·I + Δ·u uᵀ
            m.xx += w * (l + dl * u.x * u.x); m.yy += w * (l + dl * u.y * u.y); m.zz += w * (l + dl * u.z * u.z)
            m.xy += w * dl * u.x * u.y; m.xz += w * dl * u.x * u.z; m.yz += w * dl * u.y * u.z
            let par = l + dl
            m.normSquared += w * (par * par + 2 * l * l)
            m.traceSquared += w * (par + 2 * l) * (par + 2 * l)
        }
        return m
    }
}
