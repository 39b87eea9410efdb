// Diffusion tensor imaging: weighted linear fit, optional non-linear refinement and robust
// down-weighting of outliers.
import CordCore
#if canImport(Glibc)
import Glibc
#endif

/// How the tensor is estimated.
public struct DTIOptions: Sendable, Equatable {
    /// Weighted least-squares passes after the ordinary fit, each weighting ln S by the
    /// squared signal predicted by the previous pass (Salvador et al. 2005, Hum Brain Mapp
    /// 24:144; MRtrix3 `dwi2tensor` uses 2).
    public var wlsIterations = 2
    /// Refine by non-linear least squares on the signal itself (Levenberg–Marquardt).
    public var nonlinear = false
    /// Robust fit after RESTORE (Chang et al. 2005, MRM 53:1088): iteratively reweighted
    /// least squares with Geman–McClure weights w = (c²/(r² + c²))², c = 3σ̂,
    /// σ̂ = 1.4826·median|r| of the signal residuals, then measurements more than 3σ̂ from
    /// that fit are excluded and the rest refitted with their ordinary weights.
    public var robust = false
    public var robustIterations = 4
    /// Compute the eigenvalues and principal eigenvector (AD, RD, V1). FA and MD come from
    /// the tensor's invariants and need neither; without it AD, RD and V1 are NaN.
    public var eigensystem = true
    public init() {}
}

/// The outputs of a DTI fit, per voxel.
public enum DTIOutput: Int, CaseIterable, Sendable {
    case s0 = 0, dxx, dyy, dzz, dxy, dxz, dyz, fa, md, ad, rd, v1x, v1y, v1z, outliers
    public static let count = 15
}

/// The diffusion tensor model ln S = ln S₀ − ⟨B, D⟩ (Basser, Mattiello & Le Bihan 1994,
/// Biophys J 66:259), for any b-tensor B: 7 unknowns (ln S₀ and the 6 elements of D).
/// Diffusivities in µm²/ms (b in s/mm² ÷ 1000).
public final class DTIModel: Sendable {
    public let scheme: EncodingScheme
    /// Design matrix, m × 7, row-major: (1, −Bxx, −Byy, −Bzz, −2Bxy, −2Bxz, −2Byz).
    let design: [Double]

    /// Builds the model; throws when the encodings cannot determine a tensor (fewer than
    /// 6 non-collinear diffusion directions, or no b = 0 volume and only one shell).
    public init(_ table: GradientTable) throws {
        let scheme = try EncodingScheme(table)
        var x = [Double](repeating: 0, count: scheme.count * 7)
        for (r, v) in scheme.volumes.enumerated() {
            let t = v.tensor
            x[r * 7] = 1
            x[r * 7 + 1] = -t[0, 0]; x[r * 7 + 2] = -t[1, 1]; x[r * 7 + 3] = -t[2, 2]
            x[r * 7 + 4] = -2 * t[0, 1]; x[r * 7 + 5] = -2 * t[0, 2]; x[r * 7 + 6] = -2 * t[1, 2]
        }
        // Identifiability: XᵀX must be positive definite (scaled to unit diagonal).
        var ata = [Double](repeating: 0, count: 49), rhs = [Double](repeating: 0, count: 7)
        let ones = [Double](repeating: 1, count: scheme.count)
        x.withUnsafeBufferPointer { xp in
            normalEquations(xp.baseAddress!, rows: scheme.count, cols: 7, weights: ones, values: ones, ata: &ata, aty: &rhs)
        }
        var scaled = ata
        for i in 0..<7 { for j in 0..<7 { scaled[i * 7 + j] = ata[i * 7 + j] / (ata[i * 8] * ata[j * 8]).squareRoot() } }
        var dummy = [Double](repeating: 0, count: 7)
        guard ata.enumerated().allSatisfy({ $0.offset % 8 != 0 || $0.element > 0 }),
              choleskySolve(&scaled, &dummy, 7, relativeTolerance: 1e-10) else {
            let dirs = scheme.volumes.filter { $0.kind != .none }.count
            throw DiffusionError.tooFewMeasurements(
                model: "the diffusion tensor", unknowns: 7, found: min(dirs + (scheme.referenceVolumes.isEmpty ? 0 : 1), 6),
                hint: "it needs a b = 0 volume and at least 6 non-collinear linear-encoding directions (found \(scheme.summary))")
        }
        self.scheme = scheme
        design = x
        var factor = ata
        _ = choleskyFactor(&factor, 7)
        olsFactor = factor
    }
    /// Cholesky factor of XᵀX (all volumes weighted 1), for the ordinary first pass.
    let olsFactor: [Double]

    /// Fits every voxel of `data` on all cores. Outputs per voxel: `DTIOutput` order.
    public func fit(_ data: MaskedSignals, options: DTIOptions = DTIOptions(), progress: ProgressReporter? = nil) throws -> DTIFit {
        guard data.frames == scheme.count else {
            throw DiffusionError.countMismatch(what: "volumes in the series vs encodings", expected: scheme.count, found: data.frames)
        }
        let values = fitVoxels(data, outputs: DTIOutput.count, blockSize: DTIFitter.blockSize, progress: progress) { DTIFitter(self, options) }
        return DTIFit(signals: data, values: values, options: options)
    }
}

/// Per-voxel DTI results.
public struct DTIFit: Sendable {
    public let signals: MaskedSignals
    /// `DTIOutput.count` values per masked voxel.
    public let values: [Double]
    public let options: DTIOptions
    public func map(_ o: DTIOutput) -> Volume<Float> { signals.volume(from: values, stride: DTIOutput.count, offset: o.rawValue) }
    /// Principal eigenvector (world RAS+ components) as a 3-frame volume.
    public var principalDirection: Volume<Float> { signals.vectorVolume(from: values, stride: DTIOutput.count, offset: DTIOutput.v1x.rawValue) }
    public func value(_ o: DTIOutput, voxel n: Int) -> Double { values[n * DTIOutput.count + o.rawValue] }
}

/// One worker's DTI fitter with its scratch buffers (allocated once).
final class DTIFitter: VoxelFitter {
    let m: Int
    let x: UnsafeMutablePointer<Double>
    let y, w, robustW, s, pred, resid, ata, aty, beta, trial, olsFactor: UnsafeMutablePointer<Double>
    let options: DTIOptions

    init(_ model: DTIModel, _ options: DTIOptions) {
        m = model.scheme.count
        self.options = options
        x = .allocate(capacity: m * 7); x.initialize(from: model.design, count: m * 7)
        func buf(_ n: Int) -> UnsafeMutablePointer<Double> { let p = UnsafeMutablePointer<Double>.allocate(capacity: n); p.initialize(repeating: 0, count: n); return p }
        y = buf(m); w = buf(m); robustW = buf(m); s = buf(m); pred = buf(m); resid = buf(m)
        ata = buf(49); aty = buf(7); beta = buf(7); trial = buf(7)
        olsFactor = buf(49); olsFactor.update(from: model.olsFactor, count: 49)
        gram = WeightedGram(design: x, rows: m, cols: 7)
        block = options.robust || options.nonlinear ? nil : DTIBlockFitter(model, passes: options.wlsIterations, capacity: DTIFitter.blockSize)
    }
    /// Voxels per block handed to a worker (the block path's matrix products get wider).
    static let blockSize = 256
    let gram: WeightedGram
    /// Block path (BLAS products, four-voxel solves) for plain weighted fits.
    let block: DTIBlockFitter?

    func fitBlock(_ data: MaskedSignals, _ range: Range<Int>, scratch: UnsafeMutablePointer<Double>,
                  _ out: UnsafeMutablePointer<Double>, outputs: Int) {
        guard let block else {
            data.gatherRows(range, into: scratch)
            for v in 0..<range.count { fit(scratch + v * m, out + v * outputs) }
            return
        }
        block.fit(data, range, eigensystem: options.eigensystem, out, outputs: outputs)
        // Voxels whose weighted normal matrix was singular: the one-voxel path decides.
        for v in 0..<range.count where block.state[v] == 2 {
            for r in 0..<m { scratch[r] = block.s[v + r * block.capacity] }
            for r in 0..<m where scratch[r] < 0 { scratch[r] = 0 }  // the block marks values ≤ 0 negative
            fit(scratch, out + v * outputs)
        }
    }
    deinit { for p in [x, y, w, robustW, s, pred, resid, ata, aty, beta, trial, olsFactor] { p.deallocate() } }

    /// Ordinary least squares with the precomputed factor (every measurement positive).
    @inline(__always) func ordinaryFit() {
        for j in 0..<7 { beta[j] = 0 }
        for r in 0..<m {
            let yr = y[r]
            for j in 0..<7 { beta[j] += x[r * 7 + j] * yr }
        }
        choleskySubstitute(olsFactor, beta, 7)
    }

    /// Weighted linear fit of ln S with weights w·robustW; false when singular.
    @inline(__always) func linearFit() -> Bool {
        for i in 0..<m { resid[i] = w[i] * robustW[i] }
        gram.accumulate(weights: resid, values: y, ata: ata, aty: aty)
        guard choleskySolve(ata, aty, 7) else { return false }
        for i in 0..<7 { beta[i] = aty[i] }
        return true
    }
    @inline(__always) func predict(_ b: UnsafeMutablePointer<Double>) {
        for r in 0..<m {
            var v = 0.0
            for j in 0..<7 { v += x[r * 7 + j] * b[j] }
            pred[r] = fastExp(v)
        }
    }

    func fit(_ signal: UnsafePointer<Double>, _ out: UnsafeMutablePointer<Double>) {
        var smax = 0.0
        for i in 0..<m { s[i] = signal[i]; smax = max(smax, s[i]) }
        for o in 0..<DTIOutput.count { out[o] = 0 }
        guard smax > 0 else { return }
        let floor = smax * 1e-6
        var allPositive = true
        for i in 0..<m {
            y[i] = fastLog(max(s[i], floor))
            w[i] = s[i] > 0 ? 1 : 0
            robustW[i] = 1
            if s[i] <= 0 { allPositive = false }
        }
        if allPositive { ordinaryFit() } else { guard linearFit() else { return } }
        for _ in 0..<options.wlsIterations {
            // Weights Ŝ², with the block path's exponential (weights need no more precision).
            for r in 0..<m where s[r] > 0 {
                var v = 0.0
                for j in 0..<7 { v += x[r * 7 + j] * beta[j] }
                let p = weightExp(Lanes(repeating: v))[0]
                w[r] = p * p
            }
            guard linearFit() else { return }
        }
        var outliers = 0
        if options.robust {
            for _ in 0..<options.robustIterations {
                predict(beta)
                for i in 0..<m { resid[i] = abs(s[i] - pred[i]) }
                let sigma = max(1.4826 * median(resid, m), 1e-3 * exp(beta[0]))
                let c2 = 9 * sigma * sigma
                for i in 0..<m {
                    let r2 = (s[i] - pred[i]) * (s[i] - pred[i])
                    let g = c2 / (r2 + c2)
                    robustW[i] = g * g
                    w[i] = s[i] > 0 ? pred[i] * pred[i] : 0
                }
                guard linearFit() else { return }
            }
            // As RESTORE: measurements beyond 3σ̂ of the robust fit are outliers; the others are
            // refitted with their plain weights (down-weighting inliers would bias the tensor).
            predict(beta)
            for i in 0..<m { resid[i] = abs(s[i] - pred[i]) }
            let sigma = max(1.4826 * median(resid, m), 1e-3 * exp(beta[0]))
            for i in 0..<m {
                let bad = abs(s[i] - pred[i]) > 3 * sigma
                robustW[i] = bad ? 0 : 1
                if bad { outliers += 1 }
            }
            if m - outliers >= 10 {
                for _ in 0..<max(options.wlsIterations, 1) {
                    for i in 0..<m { w[i] = s[i] > 0 ? pred[i] * pred[i] : 0 }
                    guard linearFit() else { return }
                    predict(beta)
                }
            }
        }
        if options.nonlinear { refineNonlinear() }
        DTIFitter.writeOutputs(beta[0], beta[1], beta[2], beta[3], beta[4], beta[5], beta[6], outliers: outliers,
                               eigensystem: options.eigensystem, out)
    }

    /// Writes one voxel's `DTIOutput` row from ln S₀ and D (xx yy zz xy xz yz). MD = tr D/3
    /// and FA = √(3/2·(‖D‖² − 3MD²)/‖D‖²) (‖·‖ Frobenius; equal to the eigenvalue form);
    /// AD, RD and V1 from the eigensystem when asked for, else NaN.
    @inline(__always)
    static func writeOutputs(_ lnS0: Double, _ xx: Double, _ yy: Double, _ zz: Double, _ xy: Double, _ xz: Double, _ yz: Double,
                             outliers: Int, eigensystem: Bool, _ out: UnsafeMutablePointer<Double>) {
        out[0] = exp(lnS0)
        out[1] = xx; out[2] = yy; out[3] = zz; out[4] = xy; out[5] = xz; out[6] = yz
        let md = (xx + yy + zz) / 3
        let norm = xx * xx + yy * yy + zz * zz + 2 * (xy * xy + xz * xz + yz * yz)
        out[7] = norm > 0 ? min(1, (max(0, 1.5 * (norm - 3 * md * md) / norm)).squareRoot()) : 0
        out[8] = md
        if eigensystem {
            let (l1, l2, l3, v) = symmetricEigen3(xx, yy, zz, xy, xz, yz)
            out[9] = l1; out[10] = (l2 + l3) / 2
            out[11] = v.x; out[12] = v.y; out[13] = v.z
        } else {
            for k in 9...13 { out[k] = .nan }
        }
        out[14] = Double(outliers)
    }

    /// Levenberg–Marquardt on Σ robustW·(S − exp(Xβ))², from the linear estimate.
    func refineNonlinear() {
        func cost(_ b: UnsafeMutablePointer<Double>) -> Double {
            predict(b)
            var c = 0.0
            for i in 0..<m { let r = s[i] - pred[i]; c += robustW[i] * r * r }
            return c
        }
        var current = cost(beta)
        var lambda = 1e-3
        for _ in 0..<30 {
            predict(beta)
            // Jacobian rows J_i = Ŝ_i·X_i: scale design rows into the residual buffers.
            for i in 0..<m { resid[i] = s[i] - pred[i]; w[i] = robustW[i] * pred[i] * pred[i]; y[i] = resid[i] / max(pred[i], 1e-300) }
            gram.accumulate(weights: w, values: y, ata: ata, aty: aty, damping: lambda)
            guard choleskySolve(ata, aty, 7) else { return }
            for j in 0..<7 { trial[j] = beta[j] + aty[j] }
            let c = cost(trial)
            if c < current {
                let gain = (current - c) / max(current, 1e-300)
                for j in 0..<7 { beta[j] = trial[j] }
                current = c
                lambda = max(lambda / 10, 1e-9)
                if gain < 1e-10 { return }
            } else {
                lambda *= 10
                if lambda > 1e8 { return }
            }
        }
    }
}

/// Median of the first `n` values of a scratch buffer, which it sorts in place
/// (insertion sort: n is the number of volumes, small).
@inline(__always)
func median(_ v: UnsafeMutablePointer<Double>, _ n: Int) -> Double {
    if n == 0 { return 0 }
    for i in 1..<max(n, 1) {
        let key = v[i]
        var j = i - 1
        while j >= 0 && v[j] > key { v[j + 1] = v[j]; j -= 1 }
        v[j + 1] = key
    }
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2
}
