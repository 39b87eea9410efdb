// Diffusion-weighted images of the phantom for any b-tensor, with their ground truth.
import CordCore
#if canImport(Glibc)
import Glibc
#endif

/// Ground-truth diffusion maps of a simulated series (signal-weighted over the tissues in
/// each voxel): FA and MD of the mean tensor ⟨D⟩, μFA, and the isotropic and anisotropic
/// variances of the microscopic tensors. Diffusivities in µm²/ms.
public struct DiffusionTruth: Sendable {
    public var fa: Volume<Float>, md: Volume<Float>, microFA: Volume<Float>
    /// V_I = Var(MD of the microscopic tensors), V_A = (2/5)·⟨V_λ⟩, (µm²/ms)².
    public var isotropicVariance: Volume<Float>, anisotropicVariance: Volume<Float>
    /// b = 0 signal.
    public var s0: Volume<Float>
}

/// A simulated diffusion series.
public struct DWISimulation: Sendable {
    public var table: GradientTable
    public var noiseFree: Volume<Float>
    /// With Rician noise (equal to `noiseFree` without noise).
    public var image: Volume<Float>
    /// Noise σ per complex channel (0 without noise).
    public var sigma: Double
    /// σ of each slice (equal to `sigma` everywhere unless a slice ramp was asked for).
    public var sigmaPerSlice: [Double]
    public var truth: DiffusionTruth
}

/// Simulates diffusion-weighted images of a `PhantomSubject` for any gradient table.
///
/// Each tissue is a mixture of populations of axisymmetric microscopic tensors whose
/// axes follow a Watson distribution about the cord's local tangent, discretised on a
/// Fibonacci sphere (`orientationSamples` points, weights ∝ exp(κ(u·n)²)). The signal of
/// a voxel for b-tensor B is Σ_c f_c·S0_c·Σ_k w_k·exp(−⟨B, D_k⟩) over its tissue fractions
/// f_c (partial volume from `TissueComposition`): exact for any encoding (LTE, PTE, STE,
/// DDE at long mixing time, general), no Gaussian or cumulant approximation. The truth
/// maps use the same discrete distribution, so they are exact too.
public enum DWISimulator {
    public static func simulate(_ subject: PhantomSubject, table: GradientTable,
                                parameters p: DiffusionPhantomParameters) throws -> DWISimulation {
        try p.validate()
        let grid = subject.grid, comp = subject.composition, nvox = grid.voxelCount, nb = table.count
        guard nb > 0 else { throw CordError.invalidValue(what: "gradient table", detail: "has no volumes") }
        let btensors = table.entries.map { (1.0 / 1000) * $0.bTensor }  // ms/µm²
        // Distinct tissue profiles (classes sharing parameters are simulated once).
        var profiles: [TissueDiffusion] = [], profileOf: [Int] = []
        for t in p.tissues {
            if let i = profiles.firstIndex(of: t) { profileOf.append(i) } else { profileOf.append(profiles.count); profiles.append(t) }
        }
        let classProfile = profileOf, classes = TissueClass.allCases
        let kernels = profiles.map { TissueKernel($0, samples: p.orientationSamples) }
        let oriented = kernels.map(\.dependsOnOrientation)
        let classOriented = classProfile.map { oriented[$0] }

        // 1. Fibre direction per voxel (cord tangent, quantised) where an oriented tissue is present.
        let keyOf = SharedBuffer<Int64>(repeating: -1, count: nvox)
        let anatomy = subject.anatomy
        parallelChunks(nvox, minimumChunk: 256) { range, _ in
            for n in range {
                var needs = false
                for c in 0..<TissueClass.count where classOriented[c] && comp.fraction(of: classes[c], at: n) > 0 { needs = true; break }
                guard needs else { continue }
                let v = grid.coordinates(of: n)
                let t = anatomy.coordinates(ofWorld: grid.world(v)).tangent
                keyOf[n] = TangentKey.encode(t)
            }
        }
        let keys = Array(Set(keyOf.array.filter { $0 >= 0 })).sorted()
        let slot = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($0.element, $0.offset) })
        // 2. Per (direction, profile): signals for every volume and the truth moments.
        let np = profiles.count
        let sigs = SharedBuffer<Double>(repeating: 0, count: max(keys.count, 1) * np * nb)
        let moments = SharedBuffer<KernelMoments>(repeating: KernelMoments(), count: max(keys.count, 1) * np)
        let fixed = SharedBuffer<Double>(repeating: 0, count: np * nb)
        let fixedMoments = SharedBuffer<KernelMoments>(repeating: KernelMoments(), count: np)
        for q in 0..<np where !oriented[q] {
            kernels[q].evaluate(fibre: SIMD3(0, 0, 1), btensors, into: fixed.pointer.baseAddress! + q * nb)
            fixedMoments[q] = kernels[q].moments(fibre: SIMD3(0, 0, 1))
        }
        parallelChunks(keys.count) { range, _ in
            for s in range {
                let t = TangentKey.decode(keys[s])
                for q in 0..<np where oriented[q] {
                    kernels[q].evaluate(fibre: t, btensors, into: sigs.pointer.baseAddress! + (s * np + q) * nb)
                    moments[s * np + q] = kernels[q].moments(fibre: t)
                }
            }
        }
        // 3. Assemble voxel signals and truth.
        let out = SharedBuffer<Float>(repeating: 0, count: nvox * nb)
        let truth = (0..<6).map { _ in SharedBuffer<Float>(repeating: 0, count: nvox) }
        let s0s = p.tissues.map(\.s0)
        parallelChunks(nvox, minimumChunk: 256) { range, _ in
            for n in range {
                let s = keyOf[n] >= 0 ? slot[keyOf[n]] ?? 0 : 0
                var total = 0.0, m = KernelMoments()
                for c in 0..<TissueClass.count {
                    let f = Double(comp.fraction(of: classes[c], at: n))
                    guard f > 0 else { continue }
                    let q = classProfile[c], a = f * s0s[c]
                    let base = oriented[q] ? sigs.pointer.baseAddress! + (s * np + q) * nb : fixed.pointer.baseAddress! + q * nb
                    for v in 0..<nb { out[v * nvox + n] += Float(a * base[v]) }
                    m.add(oriented[q] ? moments[s * np + q] : fixedMoments[q], weight: a)
                    total += a
                }
                guard total > 0 else { continue }
                let r = m.scaled(1 / total).truth
                truth[0][n] = Float(r.fa); truth[1][n] = Float(r.md); truth[2][n] = Float(r.microFA)
                truth[3][n] = Float(r.vI); truth[4][n] = Float(r.vA); truth[5][n] = Float(total)
            }
        }
        let noiseFree = try Volume(grid: grid, frames: nb, data: out.array)
        let wmS0 = TissueClass.allCases.filter(\.isWhiteMatter).map { p.tissues[Int($0.rawValue)].s0 }.max() ?? 1
        let sigma = p.snr.map { wmS0 / $0 } ?? 0
        let nz = grid.nz
        let groups = try p.sliceGroups(slices: nz)
        let perSlice = (0..<nz).map { k in
            sigma * (1 + p.sliceNoiseRamp * (nz > 1 ? Double(k) / Double(nz - 1) : 0)) * p.groupNoiseFactor(groups[k])
        }
        let image = RicianNoise.apply(to: noiseFree, sigmaPerSlice: perSlice, seed: p.seed)
        func vol(_ i: Int) -> Volume<Float> { (try? Volume(grid: grid, frames: 1, data: truth[i].array)) ?? Volume(grid: grid) }
        return DWISimulation(table: table, noiseFree: noiseFree, image: image, sigma: sigma, sigmaPerSlice: perSlice,
                             truth: DiffusionTruth(fa: vol(0), md: vol(1), microFA: vol(2), isotropicVariance: vol(3),
                                                   anisotropicVariance: vol(4), s0: vol(5)))
    }
}

/// A unit direction quantised to 1/2000 per component, packed in 64 bits.
enum TangentKey {
    static let scale = 2000.0
    static func encode(_ t: SIMD3<Double>) -> Int64 {
        let q = (normalized(t) * scale).rounded(.toNearestOrEven)
        func u(_ x: Double) -> Int64 { Int64(CheckedNumber.clamped(x, to: -4096...4095)) + 4096 }  // |x| ≤ scale
        return (u(q.x) << 26) | (u(q.y) << 13) | u(q.z)
    }
    static func decode(_ k: Int64) -> SIMD3<Double> {
        let x = Double((k >> 26) & 8191 - 4096), y = Double((k >> 13) & 8191 - 4096), z = Double(k & 8191 - 4096)
        return normalized(SIMD3(x, y, z))
    }
}
