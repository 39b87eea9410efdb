// MP-PCA for complex-valued series (before magnitude: no Rician bias to begin with).
import CLAPACK
import CordCore

/// Denoised complex series with the per-channel noise level and rank per voxel.
public struct ComplexMPPCAResult: Sendable {
    public var denoised: Volume<ComplexF>
    /// σ of each of the real and imaginary channels (the σ a magnitude image shows at high
    /// SNR); 0 outside the mask.
    public var sigma: Volume<Float>
    public var rank: Volume<Float>
    /// With slice groups: σ per group (per channel, data units), by group index.
    public var sliceGroupSigma: [Double]? = nil
}

extension MPPCA {
    /// Complex MP-PCA: the Casorati matrix is complex, its Gram Hermitian (LAPACK `zheevd`).
    /// Complex Gaussian noise with σ² per channel has E|n|² = 2σ², and the Marchenko–Pastur
    /// law holds for complex matrices with that variance, so the estimators apply unchanged
    /// and σ (per channel) = √(σ²_MP / 2).
    /// With `options.sliceGroups` (two or more groups), σ is estimated per group first from
    /// in-plane windows, each slice is divided by its group's σ relative to the typical one,
    /// the 3D windows run on that whitened series and the result is scaled back. Complex
    /// windows are not centred, so whitening the series is the same as whitening every
    /// window's columns; complex noise is Gaussian at every signal level, so every voxel in
    /// the mask measures σ (no Rayleigh background to avoid).
    public static func denoise(complex dwi: Volume<ComplexF>, mask: Mask? = nil,
                               options: MPPCAOptions = MPPCAOptions()) throws -> ComplexMPPCAResult {
        if let groups = options.sliceGroups, Set(groups).count > 1 {
            return try denoiseBySliceGroup(complex: dwi, mask: mask, options: options, groups: groups)
        }
        let plan = try PatchPlan(grid: dwi.grid, frames: dwi.frames, mask: mask, options: options)
        var bad = 0
        for c in dwi.data where !(c.real.isFinite && c.imaginary.isFinite) { bad += 1 }
        if bad > 0 { throw CordError.nonFinite(name: "input series", count: bad) }
        NumericLibraries.configure()
        let m = dwi.frames, nvox = dwi.grid.voxelCount
        // Voxel-major, interleaved: voxel v's M complex values are 2M contiguous doubles.
        let series = SharedBuffer<Double>(repeating: 0, count: nvox * 2 * m)
        for t in 0..<m { for v in 0..<nvox {
            let c = dwi.data[t * nvox + v]
            series[v * 2 * m + 2 * t] = Double(c.real); series[v * 2 * m + 2 * t + 1] = Double(c.imaginary)
        } }
        let acc = PatchAccumulator(voxels: nvox, frames: 2 * m, workers: workerCount, overlapping: plan.overlapping)
        runPatches(ComplexPatchScratch.self, m: m, plan: plan, series: series, estimator: options.estimator, into: acc, label: "MP-PCA (complex)")
        // Interleaved real/imaginary frames back to a complex series.
        var inputInterleaved = Volume<Float>(grid: dwi.grid, frames: 2 * m)
        for t in 0..<m { for v in 0..<nvox {
            inputInterleaved.data[2 * t * nvox + v] = dwi.data[t * nvox + v].real
            inputInterleaved.data[(2 * t + 1) * nvox + v] = dwi.data[t * nvox + v].imaginary
        } }
        let r = acc.result(input: inputInterleaved, plan: plan)
        var out = dwi
        for t in 0..<m { for v in 0..<nvox {
            out.data[t * nvox + v] = ComplexF(r.denoised.data[2 * t * nvox + v], r.denoised.data[(2 * t + 1) * nvox + v])
        } }
        return ComplexMPPCAResult(denoised: out, sigma: r.sigma, rank: r.rank)
    }

    static func denoiseBySliceGroup(complex dwi: Volume<ComplexF>, mask: Mask?, options: MPPCAOptions, groups: [Int]) throws -> ComplexMPPCAResult {
        let g = dwi.grid, nz = g.nz, m = dwi.frames, nvox = g.voxelCount, plane = g.nx * g.ny
        try requireGroups(groups, slices: nz)
        // 1. σ per group: in-plane windows, median over the group's voxels.
        let local = try denoise(complex: dwi, mask: mask, options: inPlaneSigmaPass(options, grid: g, frames: m)).sigma
        let ngroups = (groups.max() ?? 0) + 1
        var values = [[Float]](repeating: [], count: ngroups)
        for k in 0..<nz { for p in 0..<plane {
            let v = k * plane + p
            if let mk = mask, mk.data[v] == 0 { continue }
            if local.data[v] > 0 { values[groups[k]].append(local.data[v]) }
        } }
        let groupSigma = values.map { v -> Double in
            guard !v.isEmpty else { return .nan }
            return Double(v.sorted()[v.count / 2])
        }
        let known = groupSigma.filter { $0.isFinite && $0 > 0 }.sorted()
        guard !known.isEmpty else {
            throw CordError.invalidValue(what: "MP-PCA by slice group", detail: "no slice group has voxels with a measurable noise level")
        }
        let typical = known[known.count / 2]
        let scale = groupSigma.map { $0.isFinite && $0 > 0 ? $0 / typical : 1 }
        // 2. Whiten, denoise with the 3D windows, scale back.
        var white = dwi
        for t in 0..<m { for k in 0..<nz {
            let f = Float(1 / scale[groups[k]])
            for p in 0..<plane { let i = t * nvox + k * plane + p; white.data[i] = ComplexF(dwi.data[i].real * f, dwi.data[i].imaginary * f) }
        } }
        var plain = options
        plain.sliceGroups = nil
        var r = try denoise(complex: white, mask: mask, options: plain)
        for t in 0..<m { for k in 0..<nz {
            let f = Float(scale[groups[k]])
            for p in 0..<plane { let i = t * nvox + k * plane + p; r.denoised.data[i] = ComplexF(r.denoised.data[i].real * f, r.denoised.data[i].imaginary * f) }
        } }
        for k in 0..<nz { let f = Float(scale[groups[k]]); for p in 0..<plane { r.sigma.data[k * plane + p] *= f } }
        r.sliceGroupSigma = groupSigma
        return r
    }
}

/// Per-worker buffers for complex patches.
final class ComplexPatchScratch: PatchScratch {
    let m: Int, n: Int, r: Int
    var x: [Complex<Double>], gram: [Complex<Double>], w: [Complex<Double>], xhat: [Complex<Double>]
    let eigen: HermitianEigenSolver
    var voxels: [Int], duplicate: [Bool]
    var flat: [Double]

    init(m: Int, n: Int) {
        self.m = m; self.n = n; r = min(m, n)
        x = [Complex<Double>](repeating: .zero, count: m * n)
        gram = [Complex<Double>](repeating: .zero, count: r * r)
        w = [Complex<Double>](repeating: .zero, count: max(m, n) * r)
        xhat = [Complex<Double>](repeating: .zero, count: m * n)
        eigen = HermitianEigenSolver(size: r)
        voxels = [Int](repeating: 0, count: n)
        duplicate = [Bool](repeating: false, count: n)
        flat = [Double](repeating: 0, count: 2 * m * n)
    }

    func process(centre: Int, plan: PatchPlan, series: UnsafeMutableBufferPointer<Double>,
                 estimator: MPEstimator, into acc: PatchAccumulator, worker: Int) {
        let (mirrored, target) = plan.patchVoxels(centre: centre, into: &voxels)
        let m = self.m, n = self.n, r = self.r
        for j in 0..<n { duplicate[j] = false }
        if mirrored {
            for j in 0..<n where j != target { for i in 0..<j where voxels[i] == voxels[j] { duplicate[j] = true; break } }
        }
        for (j, v) in voxels.enumerated() {
            for t in 0..<m { x[j * m + t] = Complex(series[v * 2 * m + 2 * t], series[v * 2 * m + 2 * t + 1]) }
        }
        var im = Int32(m), inn = Int32(n), ir = Int32(r)
        var one = 1.0, zero = 0.0
        var cOne = Complex<Double>(1, 0), cZero = Complex<Double>.zero
        var uplo = CChar(UInt8(ascii: "L")), tN = CChar(UInt8(ascii: "N")), tC = CChar(UInt8(ascii: "C"))
        if m <= n {
            zherk_(&uplo, &tN, &im, &inn, &one, x, &im, &zero, &gram, &ir)
        } else {
            zherk_(&uplo, &tC, &inn, &im, &one, x, &im, &zero, &gram, &ir)
        }
        let ok = gram.withUnsafeMutableBufferPointer { eigen.decompose($0.baseAddress!) }
        var d: MPDecision = ok
            ? eigen.values.withUnsafeBufferPointer { MarchenkoPastur.decide(eigenvalues: $0, m: m, n: n, estimator: estimator) }
            : MPDecision(rank: r, sigma2: 0)
        let p = d.rank
        var ip = Int32(p)
        if p == 0 {
            for i in 0..<(m * n) { xhat[i] = .zero }
        } else if p >= r {
            for i in 0..<(m * n) { xhat[i] = x[i] }
        } else {
            gram.withUnsafeBufferPointer { g in
                let top = g.baseAddress! + (r - p) * r
                if m <= n {
                    zgemm_(&tC, &tN, &ip, &inn, &im, &cOne, top, &im, x, &im, &cZero, &w, &ip)
                    zgemm_(&tN, &tN, &im, &inn, &ip, &cOne, top, &im, w, &ip, &cZero, &xhat, &im)
                } else {
                    zgemm_(&tN, &tN, &im, &ip, &inn, &cOne, x, &im, top, &inn, &cZero, &w, &im)
                    zgemm_(&tN, &tC, &im, &inn, &ip, &cOne, w, &im, top, &inn, &cZero, &xhat, &im)
                }
            }
        }
        for i in 0..<(m * n) { flat[2 * i] = xhat[i].real; flat[2 * i + 1] = xhat[i].imaginary }
        d.sigma2 /= 2   // per-channel variance
        acc.add(patch: flat, voxels: voxels, duplicate: duplicate, centreColumn: target, decision: d, m: 2 * m,
                weightFrames: m, worker: worker)
    }
}
