// The signal each volume should have had: a diffusion tensor fitted to the other data
// predicts it, for registration targets, outlier scores, gains and replacement.
import CordCore
#if canImport(Glibc)
import Glibc
#endif

/// Log-linear weighted least-squares diffusion tensor per voxel, used only as a predictor:
/// ln S = ln S₀ − ⟨B, D⟩ (B the b-tensor in ms/µm², D in µm²/ms; Basser et al. 1994, Biophys
/// J 66:259), weights w·S² with S the observed signal in the first pass and the predicted one
/// in the second (Salvador et al. 2005, HBM 24:144; Veraart et al. 2013, NeuroImage 81:335).
/// A (volume, slice) weight of 0 leaves that measurement out, so a slice group judged an outlier
/// is predicted from the other volumes (as FSL eddy's `--repol`, Andersson et al. 2016,
/// NeuroImage 141:556). Kept local because CordMultiband may not import CordDiffusion.
struct TensorPredictor: Sendable {
    let volumes: Int
    /// nb × 7 design: [1, −Bxx, −Byy, −Bzz, −2Bxy, −2Bxz, −2Byz].
    let design: [Double]

    init(_ table: GradientTable) {
        volumes = table.count
        var d: [Double] = []
        d.reserveCapacity(7 * table.count)
        for e in table.entries {
            let b = (1.0 / 1000) * e.bTensor
            d += [1, -b[0, 0], -b[1, 1], -b[2, 2], -2 * b[0, 1], -2 * b[0, 2], -2 * b[1, 2]]
        }
        design = d
    }

    /// Whether the tensor is over-determined enough to predict a left-out group: at least
    /// 7 + 3 volumes and at least 6 diffusion-weighted ones.
    var canPredict: Bool { volumes >= 10 }

    /// Predicted signals of `data` (nb frames of `perFrame` voxels) at `voxels`, written into
    /// a buffer laid out like `data` (other voxels 0). `weight[v · nz + k]` weighs volume v in
    /// slice k (`perSlice` voxels per slice); `floor` clips signals before the logarithm.
    func predict(_ data: [Float], perFrame: Int, perSlice: Int, voxels: [Int], weight: [Double], slices nz: Int,
                 floor: Double) -> [Float] {
        let nb = volumes
        let out = SharedBuffer<Float>(repeating: 0, count: data.count)
        let design = design
        parallelChunks(voxels.count, minimumChunk: 64) { range, _ in
            // Per-chunk scratch: normal equations, right-hand side, solution, weights.
            var a = [Double](repeating: 0, count: 49), r = [Double](repeating: 0, count: 7)
            var x = [Double](repeating: 0, count: 7), w = [Double](repeating: 0, count: nb), y = [Double](repeating: 0, count: nb)
            data.withUnsafeBufferPointer { src in
                for idx in range {
                    let n = voxels[idx], k = n / perSlice
                    for v in 0..<nb {
                        let s = max(Double(src[v * perFrame + n]), floor)
                        y[v] = log(s); w[v] = weight[v * nz + k] * s * s
                    }
                    var ok = false
                    for pass in 0..<2 {
                        if pass == 1 {
                            for v in 0..<nb {
                                var lp = 0.0
                                for c in 0..<7 { lp += design[v * 7 + c] * x[c] }
                                let p = exp(min(lp, 30))
                                w[v] = weight[v * nz + k] * p * p
                            }
                        }
                        ok = TensorPredictor.solve(design: design, y: y, w: w, a: &a, r: &r, x: &x, count: nb)
                        if !ok { break }
                    }
                    for v in 0..<nb {
                        if ok {
                            var lp = 0.0
                            for c in 0..<7 { lp += design[v * 7 + c] * x[c] }
                            out[v * perFrame + n] = Float(exp(min(lp, 30)))
                        } else {
                            out[v * perFrame + n] = src[v * perFrame + n]
                        }
                    }
                }
            }
        }
        return out.array
    }

    /// Weighted normal equations solved by Cholesky (a tiny ridge keeps them positive definite).
    @inline(__always) static func solve(design: [Double], y: [Double], w: [Double], a: inout [Double], r: inout [Double],
                                        x: inout [Double], count nb: Int) -> Bool {
        for i in 0..<49 { a[i] = 0 }
        for i in 0..<7 { r[i] = 0 }
        var used = 0
        for v in 0..<nb where w[v] > 0 {
            used += 1
            let base = v * 7
            for i in 0..<7 {
                let di = design[base + i] * w[v]
                r[i] += di * y[v]
                for j in i..<7 { a[i * 7 + j] += di * design[base + j] }
            }
        }
        guard used >= 7 else { return false }
        var trace = 0.0
        for i in 0..<7 { trace += a[i * 7 + i] }
        for i in 0..<7 { a[i * 7 + i] += 1e-10 * trace; for j in 0..<i { a[i * 7 + j] = a[j * 7 + i] } }
        // Cholesky in place (lower triangle).
        for j in 0..<7 {
            var d = a[j * 7 + j]
            for k in 0..<j { d -= a[j * 7 + k] * a[j * 7 + k] }
            guard d > 0 else { return false }
            let l = d.squareRoot()
            a[j * 7 + j] = l
            for i in (j + 1)..<7 {
                var s = a[i * 7 + j]
                for k in 0..<j { s -= a[i * 7 + k] * a[j * 7 + k] }
                a[i * 7 + j] = s / l
            }
        }
        for i in 0..<7 {
            var s = r[i]
            for k in 0..<i { s -= a[i * 7 + k] * x[k] }
            x[i] = s / a[i * 7 + i]
        }
        for i in stride(from: 6, through: 0, by: -1) {
            var s = x[i]
            for k in (i + 1)..<7 { s -= a[k * 7 + i] * x[k] }
            x[i] = s / a[i * 7 + i]
        }
        return x.allSatisfy(\.isFinite)
    }
}
