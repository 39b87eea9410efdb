// Patch geometry (windows mirrored at the edges, centre lattice, mask) and accumulation.
import CordCore

/// Which patches to process and which voxels each one holds.
struct PatchPlan: Sendable {
    let grid: Grid
    let half: SIMD3<Int>
    let patchSize: Int
    let edges: MPEdgeHandling
    /// Linear indices of the patch centres.
    let centres: [Int]
    /// Whether patches overlap in what they write (overcomplete mode).
    let overlapping: Bool
    let mask: [UInt8]?
    /// Subtract each volume's mean over the window before the PCA (`MPPCAOptions.demean`).
    let demean: Bool
    /// Relative noise σ per voxel: window columns are divided by it before the PCA.
    var columnScale: [Double]?

    init(grid g: Grid, frames: Int, mask: Mask?, options: MPPCAOptions) throws {
        guard frames >= 2 else {
            throw CordError.invalidValue(what: "MP-PCA input", detail: "has \(frames) volume\(frames == 1 ? "" : "s"); a 4D series of at least 2 volumes is needed")
        }
        let e = options.window(frames: frames)
        guard e.x >= 1, e.y >= 1, e.z >= 1, e.x % 2 == 1, e.y % 2 == 1, e.z % 2 == 1 else {
            throw CordError.invalidValue(what: "window extent \(e.x),\(e.y),\(e.z)", detail: "each size must be an odd number of voxels")
        }
        guard e.x <= 2 * g.nx + 1, e.y <= 2 * g.ny + 1, e.z <= 2 * g.nz + 1 else {
            throw CordError.invalidValue(what: "window extent \(e.x),\(e.y),\(e.z)", detail: "larger than the image (\(g.shortDescription)) can mirror")
        }
        if let m = mask { try g.requireCompatible(with: m.grid, "input series", "mask"); try m.requireNonEmpty("mask") }
        grid = g
        half = e / 2
        patchSize = e.x * e.y * e.z
        edges = options.edges
        demean = options.demean
        self.mask = mask?.data
        var stride = SIMD3(1, 1, 1)
        switch options.reconstruction {
        case .centre: overlapping = false
        case let .overcomplete(st):
            guard st >= 1 else {
                throw CordError.invalidValue(what: "patch stride \(st)", detail: "must be at least 1")
            }
            // Along each axis at most twice the half-width, so every voxel is in some window.
            stride = SIMD3(min(st, max(1, 2 * half.x)), min(st, max(1, 2 * half.y)), min(st, max(1, 2 * half.z)))
            overlapping = true
        }
        func lattice(_ n: Int, _ step: Int) -> [Int] {
            var l = Array(Swift.stride(from: 0, to: n, by: step))
            if l.last != n - 1 { l.append(n - 1) }
            return l
        }
        var centres: [Int] = []
        let li = lattice(g.nx, stride.x), lj = lattice(g.ny, stride.y), lk = lattice(g.nz, stride.z)
        let h = half
        for k in lk { for j in lj { for i in li {
            if let m = mask?.data {
                if !overlapping {
                    if m[g.index(i, j, k)] == 0 { continue }
                } else {
                    // Keep a patch when its (unmirrored) window touches the mask.
                    var touches = false
                    outer: for kk in max(0, k - h.z)...min(g.nz - 1, k + h.z) {
                        for jj in max(0, j - h.y)...min(g.ny - 1, j + h.y) {
                            for ii in max(0, i - h.x)...min(g.nx - 1, i + h.x) where m[g.index(ii, jj, kk)] != 0 { touches = true; break outer }
                        }
                    }
                    if !touches { continue }
                }
            }
            centres.append(g.index(i, j, k))
        } } }
        self.centres = centres
    }

    @inline(__always) static func mirror(_ i: Int, _ n: Int) -> Int {
        if n == 1 { return 0 }
        var x = i
        while x < 0 || x >= n { x = x < 0 ? -x : 2 * (n - 1) - x }
        return x
    }

    /// Start of the window along one axis: centred, or moved inward to fit (`shift`) when
    /// the axis is at least as long as the window.
    @inline(__always) func start(_ c: Int, _ h: Int, _ n: Int) -> Int {
        let s = c - h
        guard edges == .shift, n >= 2 * h + 1 else { return s }
        return min(max(s, 0), n - (2 * h + 1))
    }

    /// Linear indices of the window for the patch centred at `centre` (i fastest). Returns
    /// whether any index was mirrored (then voxels may repeat) and the column holding
    /// `centre` itself.
    @discardableResult
    func patchVoxels(centre: Int, into out: inout [Int]) -> (mirrored: Bool, target: Int) {
        let c = grid.coordinates(of: centre)
        let s = SIMD3(start(c.x, half.x, grid.nx), start(c.y, half.y, grid.ny), start(c.z, half.z, grid.nz))
        let e = half &* 2 &+ 1
        let mirrored = s.x < 0 || s.y < 0 || s.z < 0 || s.x + e.x > grid.nx || s.y + e.y > grid.ny || s.z + e.z > grid.nz
        var n = 0
        for k in s.z..<(s.z + e.z) {
            let kk = PatchPlan.mirror(k, grid.nz)
            for j in s.y..<(s.y + e.y) {
                let jj = PatchPlan.mirror(j, grid.ny)
                for i in s.x..<(s.x + e.x) {
                    out[n] = grid.index(PatchPlan.mirror(i, grid.nx), jj, kk); n += 1
                }
            }
        }
        let target = (c.x - s.x) + e.x * ((c.y - s.y) + e.y * (c.z - s.z))
        return (mirrored, target)
    }
}

/// Sums of patch estimates per voxel. Overcomplete mode keeps one buffer per worker (patches
/// overlap); centre mode writes each voxel once.
final class PatchAccumulator: @unchecked Sendable {
    let voxels: Int, frames: Int, overlapping: Bool
    var sums: [UnsafeMutableBufferPointer<Float>]
    var weights: [UnsafeMutableBufferPointer<Double>]
    var sigma2: [UnsafeMutableBufferPointer<Double>]
    var ranks: [UnsafeMutableBufferPointer<Double>]

    init(voxels: Int, frames: Int, workers: Int, overlapping: Bool) {
        self.voxels = voxels; self.frames = frames; self.overlapping = overlapping
        let copies = overlapping ? workers : 1
        func make<T: Numeric>(_ count: Int) -> UnsafeMutableBufferPointer<T> {
            let p = UnsafeMutableBufferPointer<T>.allocate(capacity: count); p.initialize(repeating: 0); return p
        }
        sums = (0..<copies).map { _ in make(voxels * frames) }
        weights = (0..<copies).map { _ in make(voxels) }
        sigma2 = (0..<copies).map { _ in make(voxels) }
        ranks = (0..<copies).map { _ in make(voxels) }
    }
    deinit { for b in sums { b.deallocate() }; for b in weights + sigma2 + ranks { b.deallocate() } }

    /// Adds a reconstructed patch (M×N column-major, columns in `voxels` order).
    /// `m` values per column are accumulated; `weightFrames` (M of the Casorati matrix) sets the
    /// patch weight 1/(1 + M − P) (it differs from `m` for interleaved complex columns).
    func add(patch: [Double], voxels v: [Int], duplicate: [Bool], centreColumn: Int, decision: MPDecision, m: Int,
             weightFrames: Int? = nil, worker: Int) {
        if !overlapping {
            let vox = v[centreColumn]
            for t in 0..<m { sums[0][vox * m + t] = Float(patch[centreColumn * m + t]) }
            weights[0][vox] = 1; sigma2[0][vox] = decision.sigma2; ranks[0][vox] = Double(decision.rank)
            return
        }
        let wgt = 1 / (1 + Double((weightFrames ?? m) - decision.rank))
        let s = sums[worker], w = weights[worker], s2 = sigma2[worker], rk = ranks[worker]
        for (j, vox) in v.enumerated() {
            // A mirrored window can hold a voxel twice; count it once.
            if duplicate[j] { continue }
            for t in 0..<m { s[vox * m + t] += Float(wgt * patch[j * m + t]) }
            w[vox] += wgt; s2[vox] += wgt * decision.sigma2; rk[vox] += wgt * Double(decision.rank)
        }
    }

    func result(input: Volume<Float>, plan: PatchPlan) -> MPPCAResult {
        let m = frames, n = voxels
        var out = input
        var sigma = Volume<Float>(grid: input.grid), rank = Volume<Float>(grid: input.grid)
        for v in 0..<n {
            if let mk = plan.mask, mk[v] == 0 { continue }
            var wsum = 0.0, s2 = 0.0, rk = 0.0
            for c in 0..<weights.count { wsum += weights[c][v]; s2 += sigma2[c][v]; rk += ranks[c][v] }
            guard wsum > 0 else { continue }
            for t in 0..<m {
                var s = 0.0
                for c in 0..<sums.count { s += Double(sums[c][v * m + t]) }
                out.data[t * n + v] = Float(s / wsum)
            }
            sigma.data[v] = Float((s2 / wsum).squareRoot()); rank.data[v] = Float(rk / wsum)
        }
        return MPPCAResult(denoised: out, sigma: sigma, rank: rank)
    }
}
