// Marchenko–Pastur PCA denoising of 4D series (Veraart et al. 2016).
import CLAPACK
import CordCore

/// How denoised values are assembled from patches.
public enum MPReconstruction: Sendable, Equatable {
    /// Only each patch's centre voxel is reconstructed; one patch per voxel (MRtrix3
    /// `dwidenoise`).
    case centre
    /// Every voxel of a patch is reconstructed and the estimates of all patches covering a
    /// voxel are averaged with weights 1/(1 + M − P) (as DIPY's `mppca`). Patch centres lie
    /// on a lattice with this spacing (voxels) along each axis; 1 is fully overcomplete.
    case overcomplete(stride: Int)
}

/// How windows are formed at the field-of-view edge.
public enum MPEdgeHandling: String, Sendable, CaseIterable {
    /// The window is moved inward so it lies inside the image (all columns are distinct
    /// voxels); mirrored only along an axis shorter than the window. Default: a mirrored
    /// window repeats voxels, and the repeated noise looks like signal to the MP fit (on a
    /// 20×20×8 test series, mirroring raised the rank from 4 to ~11 and lowered σ by 20%).
    case shift
    /// The window stays centred and indices are reflected at the edge (MRtrix3 3.0).
    case mirror
}

/// Options of MP-PCA denoising.
public struct MPPCAOptions: Sendable {
    /// Window size (odd, voxels) along i, j, k; nil: the smallest odd cube with at least as
    /// many voxels as volumes (MRtrix3's default).
    public var extent: SIMD3<Int>?
    public var estimator: MPEstimator = .olesen2023
    public var reconstruction: MPReconstruction = .overcomplete(stride: 2)
    public var edges: MPEdgeHandling = .shift
    /// Fewest volumes a series needs to be denoised (default 15). With fewer, the
    /// Marchenko–Pastur edge cannot separate signal components from noise in an M-volume
    /// window (Veraart et al. 2016 used ≥ 30; MRtrix3 warns under about 10): the step refuses
    /// instead of returning a barely changed series. Both `cordq denoise mppca` and
    /// `cordq process` apply it.
    public var minimumVolumes = 15
    /// Slice group of each slice (voxel axis k), e.g. from `SliceTiming` of a multiband
    /// series; nil or a single group: the noise level is assumed to vary smoothly. With two or
    /// more groups the noise σ is estimated per group first (in-plane windows that never mix
    /// slices), each slice is divided by its group's σ, the 3D windows run on the whitened
    /// series, and the result is scaled back. Multiband g-factors make σ jump between
    /// neighbouring slices; a 3D window across such slices mixes noise levels, and the
    /// Marchenko–Pastur fit of the mixture under-reports σ (about 10% on an MB-2 phantom).
    public var sliceGroups: [Int]?
    /// What the σ map reports. Default: magnitude data from one channel (or adaptively
    /// combined), so σ is the Gaussian σ behind the Rician magnitudes (`MagnitudeNoise`);
    /// `.asMeasured` reports the spread of the data as MRtrix3 and DIPY do (5–10% low in
    /// cord DWI at SNR 20). Complex series are always Gaussian.
    public var noiseModel: MPNoiseModel = .magnitude(coils: 1)
    /// Subtract each volume's mean over the window before the PCA and add it back after
    /// (as DIPY's `mppca`): the mean signal is then kept whole instead of competing with the
    /// other components for the signal rank, and the Marchenko–Pastur fit sees N − 1 samples.
    /// Real series only. Measured
    /// on the uniform-noise phantom of Benchmarks/denoise: RMSE 0.0229 against 0.0234 without,
    /// 0.0087 against 0.0106 in the cord.
    public var demean = true
    public init() {}

    /// Why a series of `frames` volumes is not denoised under these options; nil when it is.
    public func refusal(frames: Int) -> String? {
        if frames < 2 { return frames == 1 ? "a 3D image; MP-PCA needs a 4D series" : "an empty series" }
        if frames < minimumVolumes {
            return "\(frames) volumes; MP-PCA needs at least \(minimumVolumes) to separate signal from noise (minimum volumes option)"
        }
        return nil
    }

    /// The window actually used for `frames` volumes.
    public func window(frames: Int) -> SIMD3<Int> {
        if let e = extent { return e }
        var e = 3
        while e * e * e < frames { e += 2 }
        return SIMD3(e, e, e)
    }
}

/// Denoised series with the noise level and rank per voxel.
public struct MPPCAResult: Sendable {
    public var denoised: Volume<Float>
    /// Noise standard deviation σ (data units); 0 outside the mask.
    public var sigma: Volume<Float>
    /// Signal components kept (patch-weighted mean in overcomplete mode); 0 outside the mask.
    public var rank: Volume<Float>
    /// With slice groups: the noise σ estimated for each group (data units), by group index.
    public var sliceGroupSigma: [Double]? = nil
}

public enum MPPCA {
    /// Denoises a 4D magnitude series. Windows are mirrored at the field-of-view edge;
    /// eigendecompositions in double precision (LAPACK `dsyevd`), Gram matrices and
    /// projections with BLAS, patches spread over all cores with per-worker buffers.
    /// Voxels outside `mask` keep their input values.
    public static func denoise(_ dwi: Volume<Float>, mask: Mask? = nil, options: MPPCAOptions = MPPCAOptions()) throws -> MPPCAResult {
        if let groups = options.sliceGroups, Set(groups).count > 1 {
            return try denoiseBySliceGroup(dwi, mask: mask, options: options, groups: groups)
        }
        return try denoise(dwi, mask: mask, options: options, columnScale: nil)
    }

    /// MP-PCA with an optional noise scale per voxel (`columnScale`, relative σ): each window's
    /// columns are divided by it after centring and multiplied back after the projection, and
    /// the σ map is returned in data units.
    static func denoise(_ dwi: Volume<Float>, mask: Mask?, options: MPPCAOptions, columnScale: [Double]?) throws -> MPPCAResult {
        var plan = try PatchPlan(grid: dwi.grid, frames: dwi.frames, mask: mask, options: options)
        plan.columnScale = columnScale
        try dwi.requireFinite("input series")
        NumericLibraries.configure()
        let m = dwi.frames, nvox = dwi.grid.voxelCount
        // Voxel-major copy: a voxel's M values are contiguous, so a patch column is one copy.
        let series = SharedBuffer<Double>(repeating: 0, count: nvox * m)
        dwi.data.withUnsafeBufferPointer { src in
            for t in 0..<m { for v in 0..<nvox { series[v * m + t] = Double(src[t * nvox + v]) } }
        }
        let acc = PatchAccumulator(voxels: nvox, frames: m, workers: workerCount, overlapping: plan.overlapping)
        runPatches(RealPatchScratch.self, m: m, plan: plan, series: series, estimator: options.estimator, into: acc, label: "MP-PCA")
        var result = acc.result(input: dwi, plan: plan)
        if let sc = columnScale {
            result.sigma.data.withUnsafeMutableBufferPointer { d in for v in 0..<nvox { d[v] *= Float(sc[v]) } }
        }
        if case let .magnitude(coils) = options.noiseModel {
            MagnitudeNoise(coils: max(coils, 1)).correct(sigma: &result.sigma, denoised: result.denoised)
        }
        return result
    }

    /// One non-negative group index per slice, or an error saying so.
    static func requireGroups(_ groups: [Int], slices nz: Int) throws {
        guard groups.count == nz, groups.allSatisfy({ $0 >= 0 }) else {
            throw CordError.invalidValue(what: "slice groups", detail: "\(groups.count) given for \(nz) slices; one non-negative group index per slice is needed")
        }
    }

    /// Options of the first, σ-only pass of slice-group MP-PCA: in-plane windows (the smallest
    /// odd square with ≥ M voxels, so no window mixes slices) barely overlapping (every voxel
    /// still in one), which keeps the pass to a fraction of the 3D pass's time.
    static func inPlaneSigmaPass(_ options: MPPCAOptions, grid g: Grid, frames m: Int) -> MPPCAOptions {
        var e = 3
        while e * e < m && e < max(g.nx, g.ny) { e += 2 }
        var first = options
        first.sliceGroups = nil
        first.extent = SIMD3(min(e, 2 * g.nx - 1), min(e, 2 * g.ny - 1), 1)
        first.reconstruction = .overcomplete(stride: max(1, e - 1))
        return first
    }

    /// Slice-group-aware MP-PCA (see `MPPCAOptions.sliceGroups`): σ per group from in-plane
    /// windows (median over signal-bearing voxels: temporal mean ≥ 5σ, since in signal-free
    /// background the magnitude noise is Rayleigh and MP-PCA reports about 0.66σ there), the
    /// series whitened slice by slice, denoised with the 3D windows, and scaled back.
    static func denoiseBySliceGroup(_ dwi: Volume<Float>, mask: Mask?, options: MPPCAOptions, groups: [Int]) throws -> MPPCAResult {
        let g = dwi.grid, nz = g.nz, m = dwi.frames, nvox = g.voxelCount, plane = g.nx * g.ny
        try requireGroups(groups, slices: nz)
        try dwi.requireFinite("input series")
        // 1. σ per group from in-plane windows.
        let local = try denoise(dwi, mask: mask, options: inPlaneSigmaPass(options, grid: g, frames: m)).sigma
        let ngroups = (groups.max() ?? 0) + 1
        var signalBearing = [[Float]](repeating: [], count: ngroups), all = [[Float]](repeating: [], count: ngroups)
        for k in 0..<nz {
            for p in 0..<plane {
                let v = k * plane + p
                if let mk = mask, mk.data[v] == 0 { continue }
                let s = local.data[v]
                guard s > 0 else { continue }
                var mean: Float = 0
                for t in 0..<m { mean += dwi.data[t * nvox + v] }
                mean /= Float(m)
                all[groups[k]].append(s)
                if mean >= 5 * s { signalBearing[groups[k]].append(s) }
            }
        }
        var groupSigma = [Double](repeating: .nan, count: ngroups)
        for q in 0..<ngroups {
            var values = signalBearing[q].count >= 20 ? signalBearing[q] : all[q]
            guard !values.isEmpty else { continue }
            values.sort()
            groupSigma[q] = Double(values[values.count / 2])
        }
        let known = groupSigma.filter { $0.isFinite && $0 > 0 }.sorted()
        guard !known.isEmpty else {
            throw CordError.invalidValue(what: "MP-PCA by slice group", detail: "no slice group has voxels with a measurable noise level")
        }
        let typical = known[known.count / 2]
        // Groups without voxels (outside the mask) keep scale 1.
        let scale = groupSigma.map { $0.isFinite && $0 > 0 ? $0 / typical : 1 }
        // 2. The 3D windows, each centred on the data as acquired and then whitened column by
        //    column (slice by slice) with its group's σ, so the PCA sees one noise level.
        var perVoxel = [Double](repeating: 1, count: nvox)
        for k in 0..<nz { for p in 0..<plane { perVoxel[k * plane + p] = scale[groups[k]] } }
        var plain = options
        plain.sliceGroups = nil
        var r = try denoise(dwi, mask: mask, options: plain, columnScale: perVoxel)
        r.sliceGroupSigma = groupSigma
        return r
    }
}

/// Per-worker patch buffers (real or complex), allocated once per worker.
protocol PatchScratch {
    init(m: Int, n: Int)
    func process(centre: Int, plan: PatchPlan, series: UnsafeMutableBufferPointer<Double>,
                 estimator: MPEstimator, into acc: PatchAccumulator, worker: Int)
}

/// Runs every patch of `plan` over all workers, each with its own scratch.
func runPatches<S: PatchScratch>(_ type: S.Type, m: Int, plan: PatchPlan, series: SharedBuffer<Double>,
                                 estimator: MPEstimator, into acc: PatchAccumulator, label: String) {
    let progress = ProgressReporter(label, total: plan.centres.count)
    parallelChunks(plan.centres.count, minimumChunk: 16) { range, w in
        let scratch = S(m: m, n: plan.patchSize)
        for c in range {
            scratch.process(centre: plan.centres[c], plan: plan, series: series.pointer, estimator: estimator, into: acc, worker: w)
            if c % 256 == 0 { progress.advance(by: min(256, range.upperBound - c)) }
        }
    }
    progress.finish()
}

/// Per-worker buffers for real patches, allocated once.
final class RealPatchScratch: PatchScratch {
    let m: Int, n: Int, r: Int
    var x: [Double], gram: [Double], w: [Double], xhat: [Double]
    let eigen: TopEigenSolver
    var vectors: [Double]
    var voxels: [Int]
    var mean: [Double]
    /// Columns that repeat an earlier column (mirrored windows at the edges).
    var duplicate: [Bool]

    init(m: Int, n: Int) {
        self.m = m; self.n = n; r = min(m, n)
        x = [Double](repeating: 0, count: m * n)
        gram = [Double](repeating: 0, count: r * r)
        w = [Double](repeating: 0, count: max(m, n) * r)
        xhat = [Double](repeating: 0, count: m * n)
        eigen = TopEigenSolver(size: r)
        vectors = [Double](repeating: 0, count: r * r)
        voxels = [Int](repeating: 0, count: n)
        mean = [Double](repeating: 0, count: m)
        duplicate = [Bool](repeating: false, count: n)
    }

    func process(centre: Int, plan: PatchPlan, series: UnsafeMutableBufferPointer<Double>,
                 estimator: MPEstimator, into acc: PatchAccumulator, worker: Int) {
        let (mirrored, target) = plan.patchVoxels(centre: centre, into: &voxels)
        for j in 0..<n { duplicate[j] = false }
        if mirrored {
            for j in 0..<n where j != target {
                for i in 0..<j where voxels[i] == voxels[j] { duplicate[j] = true; break }
            }
        }
        let m = self.m, n = self.n, r = self.r
        x.withUnsafeMutableBufferPointer { xp in
            for (j, v) in voxels.enumerated() {
                let src = series.baseAddress! + v * m
                (xp.baseAddress! + j * m).update(from: src, count: m)
            }
        }
        // Optional centring: each volume's mean over the window's columns.
        let centred = plan.demean && n >= 3
        if centred {
            for t in 0..<m { mean[t] = 0 }
            x.withUnsafeMutableBufferPointer { xp in
                for j in 0..<n { for t in 0..<m { mean[t] += xp[j * m + t] } }
                for t in 0..<m { mean[t] /= Double(n) }
                for j in 0..<n { for t in 0..<m { xp[j * m + t] -= mean[t] } }
            }
        }
        if let sc = plan.columnScale {  // whiten column by column (slice-group noise)
            x.withUnsafeMutableBufferPointer { xp in
                for j in 0..<n { let f = 1 / sc[voxels[j]]; for t in 0..<m { xp[j * m + t] *= f } }
            }
        }
        var im = Int32(m), inn = Int32(n), ir = Int32(r)
        var one = 1.0, zero = 0.0
        let lower = CChar(UInt8(ascii: "L")), noT = CChar(UInt8(ascii: "N")), tr = CChar(UInt8(ascii: "T"))
        var uplo = lower, transN = noT, transT = tr
        // Gram of the smaller side: XXᵀ (M×M) when M ≤ N, else XᵀX (N×N).
        if m <= n {
            dsyrk_(&uplo, &transN, &im, &inn, &one, x, &im, &zero, &gram, &ir)
        } else {
            dsyrk_(&uplo, &transT, &inn, &im, &one, x, &im, &zero, &gram, &ir)
        }
        let ok = gram.withUnsafeMutableBufferPointer { eigen.eigenvalues($0.baseAddress!) }
        // Centred: N − 1 samples; when N ≤ M the smallest eigenvalue is the removed mean's 0.
        let samples = centred ? n - 1 : n
        let skip = centred && n <= m ? 1 : 0
        var decision: MPDecision = ok
            ? eigen.values.withUnsafeBufferPointer {
                MarchenkoPastur.decide(eigenvalues: UnsafeBufferPointer(rebasing: $0[skip...]), m: m, n: samples, estimator: estimator)
            }
            : MPDecision(rank: r, sigma2: 0)
        let full = r - skip
        if decision.rank > 0 && decision.rank < full {
            let k = decision.rank
            let got = gram.withUnsafeMutableBufferPointer { g in vectors.withUnsafeMutableBufferPointer { eigen.topVectors(g.baseAddress!, count: k, into: $0.baseAddress!) } }
            if !got { decision = MPDecision(rank: full, sigma2: decision.sigma2) }  // keep the data rather than guess
        }
        let p = decision.rank
        var ip = Int32(p)
        if p == 0 {
            for i in 0..<(m * n) { xhat[i] = 0 }
        } else if p >= full {
            for i in 0..<(m * n) { xhat[i] = x[i] }
        } else {
            vectors.withUnsafeBufferPointer { g in
                let top = g.baseAddress!   // eigenvectors of the P largest eigenvalues (r×P)
                if m <= n {
                    // W = U_Pᵀ X (P×N), X̂ = U_P W.
                    dgemm_(&transT, &transN, &ip, &inn, &im, &one, top, &im, x, &im, &zero, &w, &ip)
                    dgemm_(&transN, &transN, &im, &inn, &ip, &one, top, &im, w, &ip, &zero, &xhat, &im)
                } else {
                    // W = X V_P (M×P), X̂ = W V_Pᵀ.
                    dgemm_(&transN, &transN, &im, &ip, &inn, &one, x, &im, top, &inn, &zero, &w, &im)
                    dgemm_(&transN, &transT, &im, &inn, &ip, &one, w, &im, top, &inn, &zero, &xhat, &im)
                }
            }
        }
        if let sc = plan.columnScale {
            for j in 0..<n { let f = sc[voxels[j]]; for t in 0..<m { xhat[j * m + t] *= f } }
        }
        if centred {
            for j in 0..<n { for t in 0..<m { xhat[j * m + t] += mean[t] } }
        }
        acc.add(patch: xhat, voxels: voxels, duplicate: duplicate, centreColumn: target, decision: decision, m: m, worker: worker)
    }
}
