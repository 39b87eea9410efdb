// The weaker fallback when no reverse phase-encoding pair exists: the b = 0 EPI registered to
// the undistorted anatomical T2w (resampled onto the EPI grid) by a displacement along phase
// encoding only, smooth, with Jacobian modulation, under a contrast-robust local correlation.
import CordCore
#if canImport(Glibc)
import Glibc
#endif

/// What can be wrong with the inputs of the anatomical fallback.
public enum AnatomicalFallbackError: Error, Equatable, Sendable, CustomStringConvertible {
    case noOverlap(epi: String, anatomical: String)
    case emptyMask(name: String)

    public var description: String {
        switch self {
        case let .noOverlap(e, a):
            return "\(a) has no signal where \(e) has (after resampling onto the EPI grid): the anatomical image does not cover the EPI field of view, so no field can be estimated by registration"
        case let .emptyMask(n):
            return "\(n) is empty on the EPI grid: the cord mask must overlap the EPI field of view"
        }
    }
}

/// Settings of the anatomical (T2w) fallback. Lengths in mm; the cost is normalised per
/// voxel of the region.
public struct AnatomicalFallbackOptions: Sendable {
    /// Weight α of the smoothness term α·mean|∇d|² (d in voxels, ∇ per mm). Chosen on the
    /// phantom of the tests (see `AnatomicalFallbackTests`).
    public var smoothness = 0.02
    /// Weight β of the barrier mean ψ(∂d) keeping the Jacobian 1 + ∂d positive.
    public var barrierWeight = 1e-3
    /// Half-width r (voxels) of the local-correlation windows: (2r + 1)² in plane, one slice
    /// thick unless slices are about as thin as the in-plane voxels.
    public var windowRadius = 2
    /// σ (mm) of the Gaussian that parametrises the displacement (d = G_σ p): it keeps d
    /// smooth and lets the optimiser move whole regions at once.
    public var parameterSmoothing = 2.0
    /// Image smoothing σ (mm) per level, coarse to fine (capture range first).
    public var levels: [Double] = [2.0, 0.0]
    /// L-BFGS iterations per level (at most).
    public var iterations = 40
    /// How far (mm) the cord mask is widened to make the cost region.
    public var regionMargin = 5.0
    public var progress = true
    public init() {}
}

/// The fallback's field and the corrected b = 0.
public struct AnatomicalFieldEstimate: Sendable {
    /// Off-resonance field (Hz) on the EPI grid, same sign convention as the pair estimate.
    public var fieldHz: Volume<Float>
    /// Displacement (voxels along +axis) and the EPI unwarped with it (Jacobian-modulated).
    public var displacement: Volume<Float>, corrected: Volume<Float>, jacobian: Volume<Float>
    public var minimumJacobian: Double
    public var readout: EPIReadout
    /// Mean squared local correlation with the anatomical image in the region, before and after.
    public var similarityBefore: Double, similarityAfter: Double
    public var iterations: Int
    /// Voxels of the cost region (cord mask widened, or every voxel with signal).
    public var regionVoxels: Int
}

/// Registration of a b = 0 EPI to the anatomical image along phase encoding only (the
/// fallback when no reverse phase-encoding pair was acquired; weaker: it relies on the
/// anatomical image being undistorted and well aligned, and on local contrast shared by both).
///
/// The displacement d (voxels along the phase-encoding axis) maximises the mean squared local
/// (windowed) correlation coefficient cc² between the Jacobian-modulated unwarped EPI
/// M(x) = E(x + d)(1 + ∂d) and the anatomical image F, over windows centred in the region
/// (the cord mask widened by 5 mm): cc² is unchanged by any linear intensity map within a
/// window, including an inverted one, so T2w and b = 0 need not share contrast (the squared
/// local correlation of Avants et al. 2008, Med Image Anal 12:26). With a smoothness term
/// α·mean|∇d|² and the pair estimate's barrier on ∂d, d = G_σ p is optimised over p by L-BFGS
/// (Nocedal 1980) on smoothed, then original images; the gradient is exact (box sums of the
/// correlation's derivatives, chain rule through the sampling and the Jacobian).
public enum AnatomicalFallback {
    public static func estimate(_ epi: EPIImage, anatomical: Volume<Float>, anatomicalName: String,
                                cordMask: Mask? = nil, maskName: String = "cord mask",
                                options: AnatomicalFallbackOptions = AnatomicalFallbackOptions()) throws -> AnatomicalFieldEstimate {
        let grid = epi.image.grid
        let pe = epi.readout.phaseEncoding
        _ = try EPIReadout.checked(phaseEncoding: pe, totalReadoutTime: epi.readout.totalReadoutTime, name: epi.name)
        try grid.requireCompatible(with: anatomical.grid, epi.name, anatomicalName)
        try epi.image.requireFinite(epi.name); try anatomical.requireFinite(anatomicalName)
        let axis = pe.axis
        let lines = AxisLines(grid, axis: axis)
        guard lines.length >= 8 else { throw DistortionError.tooFewVoxels(name: epi.name, axis: pe.description, count: lines.length) }
        var e = FieldEstimation.meanFrame(epi.image), f = FieldEstimation.meanFrame(anatomical)
        guard e.contains(where: { $0 > 0 }) else { throw DistortionError.noSignal(name: epi.name) }
        guard f.contains(where: { $0 > 0 }) else { throw DistortionError.noSignal(name: anatomicalName) }
        let se = 1 / FieldEstimation.robustMaximum(e, e), sf = 1 / FieldEstimation.robustMaximum(f, f)
        for i in e.indices { e[i] = max(0, e[i] * se); f[i] = max(0, f[i] * sf) }

        // The region: windows centred here count.
        var region = [Double](repeating: 0, count: grid.voxelCount)
        if let m = cordMask {
            try grid.requireCompatible(with: m.grid, epi.name, maskName)
            guard m.count > 0 else { throw AnatomicalFallbackError.emptyMask(name: maskName) }
            let sp = grid.spacing
            func reach(_ h: Double) -> Int { CheckedNumber.clamped(options.regionMargin / h, .up, to: 0...64) }
            let r = SIMD3(reach(sp.x), reach(sp.y), reach(sp.z))
            let inside = (0..<grid.voxelCount).map { m.data[$0] != 0 ? 1.0 : 0.0 }
            let widened = boxSum(inside, grid, radius: r)
            for i in region.indices where widened[i] > 0 { region[i] = 1 }
        } else {
            for i in region.indices where f[i] > 0.05 && e[i] > 0.05 { region[i] = 1 }
        }
        let regionVoxels = region.reduce(0) { $0 + ($1 > 0 ? 1 : 0) }
        guard regionVoxels > 0 else { throw AnatomicalFallbackError.noOverlap(epi: epi.name, anatomical: anatomicalName) }
        var fOverlap = 0.0
        for i in region.indices where region[i] > 0 { fOverlap += f[i] }
        guard fOverlap > 0 else { throw AnatomicalFallbackError.noOverlap(epi: epi.name, anatomical: anatomicalName) }

        let sp = grid.spacing
        // The displacement's Gaussian parametrisation acts in plane (slices are smoothed by the
        // smoothness term only: the field changes quickly across thick slices near the discs).
        let psigma = SIMD3(options.parameterSmoothing / sp.x, options.parameterSmoothing / sp.y, 0)
        let progress = ProgressReporter("anatomical fallback", total: options.levels.count * options.iterations, forceQuiet: !options.progress)
        var p = [Double](repeating: 0, count: grid.voxelCount)
        var iterations = 0
        // Windows of (2r + 1)² voxels in plane; through plane too only when slices are about as
        // thin as the in-plane voxels (thick axial slices change anatomy from one to the next).
        let thin = sp.z <= 1.5 * max(sp.x, sp.y)
        let window = SIMD3(options.windowRadius, options.windowRadius, thin ? options.windowRadius : 0)
        for level in options.levels {
            // Image smoothing in plane only (through plane too on thin slices).
            let s = SIMD3(level / sp.x, level / sp.y, thin ? level / sp.z : 0)
            let problem = RegistrationProblem(e: level > 0 ? LineOps.gaussian(e, grid, sigma: s) : e,
                                              f: level > 0 ? LineOps.gaussian(f, grid, sigma: s) : f,
                                              region: region, grid: grid, lines: lines, window: window,
                                              alpha: options.smoothness, beta: options.barrierWeight, parameterSigma: psigma)
            iterations += problem.minimise(&p, iterations: options.iterations, progress: progress)
        }
        progress.finish()
        let final = RegistrationProblem(e: e, f: f, region: region, grid: grid, lines: lines, window: window,
                                        alpha: options.smoothness, beta: options.barrierWeight, parameterSigma: psigma)
        let d = final.displacement(p)
        let before = final.similarity([Double](repeating: 0, count: d.count))
        let after = final.similarity(d)
        let raw = FieldEstimation.meanFrame(epi.image)
        let (corrected, jac) = FieldEstimation.warpLines(raw, d, lines, sign: 1)
        let perHz = epi.readout.voxelsPerHz
        func vol(_ x: [Double]) -> Volume<Float> { Volume(grid: grid, frames: 1, exactly: x.map { Float($0) }) }
        return AnatomicalFieldEstimate(fieldHz: vol(d.map { $0 / perHz }), displacement: vol(d), corrected: vol(corrected),
                                       jacobian: vol(jac), minimumJacobian: jac.min() ?? 1, readout: epi.readout,
                                       similarityBefore: before, similarityAfter: after, iterations: iterations,
                                       regionVoxels: regionVoxels)
    }

    /// The first frame of `v` smoothed by a Gaussian of σ (mm) per axis (0: that axis untouched).
    public static func smoothed(_ v: Volume<Float>, sigmaMM: SIMD3<Double>) -> Volume<Float> {
        let sp = v.grid.spacing
        let x = (0..<v.grid.voxelCount).map { Double(v.data[$0]) }
        let y = LineOps.gaussian(x, v.grid, sigma: SIMD3(sigmaMM.x / sp.x, sigmaMM.y / sp.y, sigmaMM.z / sp.z))
        return Volume(grid: v.grid, frames: 1, exactly: y.map { Float($0) })
    }

    /// Sums over boxes of (2r + 1) voxels per axis, truncated at the grid's faces.
    static func boxSum(_ v: [Double], _ grid: Grid, radius: SIMD3<Int>) -> [Double] {
        var cur = v
        for axis in 0..<3 where radius[axis] > 0 {
            let lines = AxisLines(grid, axis: axis)
            let n = lines.length, s = lines.stride, r = radius[axis]
            let input = cur
            cur = parallelFill(v.count, units: lines.count) { range, out in
                input.withUnsafeBufferPointer { p in
                    for l in range {
                        let o = lines.start(l)
                        var acc = 0.0
                        for k in 0..<min(r, n) { acc += p[o + k * s] }
                        for k in 0..<n {
                            if k + r < n { acc += p[o + (k + r) * s] }
                            if k - r - 1 >= 0 { acc -= p[o + (k - r - 1) * s] }
                            out[o + k * s] = acc
                        }
                    }
                }
            }
        }
        return cur
    }
}

/// The fallback's objective on one level.
final class RegistrationProblem: Sendable {
    let e: [Double], ge: [Double], f: [Double], region: [Double]
    let grid: Grid, lines: AxisLines, window: SIMD3<Int>
    let alpha: Double, beta: Double, parameterSigma: SIMD3<Double>
    let regionCount: Double, count: Double
    let weights: SIMD3<Double>
    /// Box sums that do not change with d: window sizes, Σ F, Σ F².
    let n: [Double], sumF: [Double], sumFF: [Double]

    init(e: [Double], f: [Double], region: [Double], grid: Grid, lines: AxisLines, window: SIMD3<Int>,
         alpha: Double, beta: Double, parameterSigma: SIMD3<Double>) {
        self.e = e; self.f = f; self.region = region; self.grid = grid; self.lines = lines; self.window = window
        self.alpha = alpha; self.beta = beta; self.parameterSigma = parameterSigma
        ge = LineOps.derivative(e, lines)
        regionCount = max(1, region.reduce(0, +)); count = Double(e.count)
        let sp = grid.spacing
        weights = SIMD3(1 / (sp.x * sp.x), 1 / (sp.y * sp.y), 1 / (sp.z * sp.z))
        n = AnatomicalFallback.boxSum([Double](repeating: 1, count: e.count), grid, radius: window)
        sumF = AnatomicalFallback.boxSum(f, grid, radius: window)
        sumFF = AnatomicalFallback.boxSum(f.map { $0 * $0 }, grid, radius: window)
    }

    func displacement(_ p: [Double]) -> [Double] { LineOps.gaussian(p, grid, sigma: parameterSigma) }

    /// The unwarped EPI M = E(x + d)(1 + ∂d) and its pieces: E(x + d), E′(x + d), ∂d.
    func warp(_ d: [Double]) -> (m: [Double], ev: [Double], eg: [Double], dd: [Double]) {
        let dd = LineOps.derivative(d, lines)
        let nl = lines.length, s = lines.stride, count = d.count
        let e = self.e, ge = self.ge
        let pack = parallelFill(3 * count, units: lines.count) { range, out in
            e.withUnsafeBufferPointer { pe in ge.withUnsafeBufferPointer { pg in
                for l in range {
                    let o = lines.start(l)
                    for k in 0..<nl {
                        let i = o + k * s, y = Double(k) + d[i]
                        let v = LineOps.sample(pe, o, s, nl, y)
                        out[i] = v * (1 + dd[i]); out[count + i] = v; out[2 * count + i] = LineOps.sample(pg, o, s, nl, y)
                    }
                }
            } }
        }
        return (Array(pack[0..<count]), Array(pack[count..<(2 * count)]), Array(pack[(2 * count)...]), dd)
    }

    /// Mean cc² over the region's windows (and, with `gradient`, its derivative with respect to M).
    func correlation(_ m: [Double], gradient: Bool) -> (value: Double, dm: [Double]) {
        let sm = AnatomicalFallback.boxSum(m, grid, radius: window)
        var fm = [Double](repeating: 0, count: m.count), mm = fm
        for i in m.indices { fm[i] = f[i] * m[i]; mm[i] = m[i] * m[i] }
        let sfm = AnatomicalFallback.boxSum(fm, grid, radius: window), smm = AnatomicalFallback.boxSum(mm, grid, radius: window)
        var total = 0.0
        var a1 = [Double](repeating: 0, count: m.count), a2 = a1, b1 = a1, b2 = a1
        for c in m.indices where region[c] > 0 {
            let k = n[c], muF = sumF[c] / k, muM = sm[c] / k
            let A = sfm[c] - k * muF * muM
            let B = max(sumFF[c] - k * muF * muF, 0) + 1e-5 * k
            let C = max(smm[c] - k * muM * muM, 0) + 1e-5 * k
            total += A * A / (B * C)
            if gradient {
                let alphaC = 2 * A / (B * C), betaC = A * A / (B * C * C)
                a1[c] = alphaC; a2[c] = alphaC * muF; b1[c] = betaC; b2[c] = betaC * muM
            }
        }
        guard gradient else { return (total / regionCount, []) }
        let ba1 = AnatomicalFallback.boxSum(a1, grid, radius: window), ba2 = AnatomicalFallback.boxSum(a2, grid, radius: window)
        let bb1 = AnatomicalFallback.boxSum(b1, grid, radius: window), bb2 = AnatomicalFallback.boxSum(b2, grid, radius: window)
        var dm = [Double](repeating: 0, count: m.count)
        for i in m.indices { dm[i] = (f[i] * ba1[i] - ba2[i] - 2 * m[i] * bb1[i] + 2 * bb2[i]) / regionCount }
        return (total / regionCount, dm)
    }

    func similarity(_ d: [Double]) -> Double { correlation(warp(d).m, gradient: false).value }

    /// Objective −mean cc² + α mean|∇d|² + β mean ψ(∂d) at p, and its gradient in p.
    func objective(_ p: [Double]) -> (value: Double, gradient: [Double]) {
        let d = displacement(p)
        let w = warp(d)
        var bar = 0.0
        var psiFirst = [Double](repeating: 0, count: d.count)
        for i in d.indices {
            let b = barrier(w.dd[i])
            guard b.value.isFinite else { return (.infinity, []) }
            bar += b.value; psiFirst[i] = b.first
        }
        let (cc, dm) = correlation(w.m, gradient: true)
        let value = -cc + alpha * 2 * LineOps.smoothnessEnergy(d, grid, weights: weights) / count + beta * bar / count
        // ∂/∂d: −dm·E′(x + d)(1 + ∂d) + D_cᵀ(−dm·E(x + d) + βψ′/N) + 2α L d / N.
        var g0 = [Double](repeating: 0, count: d.count), inner = g0
        for i in d.indices {
            g0[i] = -dm[i] * w.eg[i] * (1 + w.dd[i])
            inner[i] = -dm[i] * w.ev[i] + beta * psiFirst[i] / count
        }
        let dt = LineOps.derivativeTranspose(inner, lines)
        let lap = LineOps.laplacian(d, grid, weights: weights)
        for i in d.indices { g0[i] += dt[i] + 2 * alpha * lap[i] / count }
        // d = G p with G symmetric (up to the faces): ∂/∂p = G ∂/∂d.
        return (value, LineOps.gaussian(g0, grid, sigma: parameterSigma))
    }

    /// L-BFGS (memory 6) with a backtracking Armijo line search that keeps the barrier finite;
    /// stops on a relative decrease below 1e-5. Returns the iterations run.
    func minimise(_ p: inout [Double], iterations: Int, progress: ProgressReporter) -> Int {
        var (value, g) = objective(p)
        guard value.isFinite else { return 0 }
        var sList: [[Double]] = [], yList: [[Double]] = []
        var run = 0
        func dot(_ a: [Double], _ b: [Double]) -> Double { var s = 0.0; for i in a.indices { s += a[i] * b[i] }; return s }
        for _ in 0..<iterations {
            run += 1
            progress.advance()
            // Two-loop recursion for the direction −H g.
            var q = g
            var alphas = [Double](repeating: 0, count: sList.count)
            for j in stride(from: sList.count - 1, through: 0, by: -1) {
                let rho = 1 / dot(yList[j], sList[j])
                alphas[j] = rho * dot(sList[j], q)
                for i in q.indices { q[i] -= alphas[j] * yList[j][i] }
            }
            if let s = sList.last, let y = yList.last {
                let gamma = dot(s, y) / dot(y, y)
                for i in q.indices { q[i] *= gamma }
            } else {
                // First step: at most 0.5 voxel of displacement.
                var largest = 0.0
                for v in LineOps.gaussian(q, grid, sigma: parameterSigma) { largest = max(largest, abs(v)) }
                let scale = largest > 0 ? 0.5 / largest : 1
                for i in q.indices { q[i] *= scale }
            }
            for j in 0..<sList.count {
                let rho = 1 / dot(yList[j], sList[j])
                let beta = rho * dot(yList[j], q)
                for i in q.indices { q[i] += sList[j][i] * (alphas[j] - beta) }
            }
            var slope = -dot(g, q)
            if !(slope < 0) { q = g.map { -$0 }; slope = -dot(g, g); sList.removeAll(); yList.removeAll() }
            else { for i in q.indices { q[i] = -q[i] } }
            var t = 1.0, accepted: (p: [Double], value: Double, g: [Double])?
            for _ in 0..<12 {
                let trial = zip(p, q).map { $0 + t * $1 }
                let r = objective(trial)
                if r.value.isFinite && r.value <= value + 1e-4 * t * slope { accepted = (trial, r.value, r.gradient); break }
                t *= 0.5
            }
            guard let next = accepted else { break }
            let s = zip(next.p, p).map { $0 - $1 }, y = zip(next.g, g).map { $0 - $1 }
            if dot(s, y) > 1e-12 {
                sList.append(s); yList.append(y)
                if sList.count > 6 { sList.removeFirst(); yList.removeFirst() }
            }
            let relative = (value - next.value) / max(abs(value), 1e-12)
            p = next.p; value = next.value; g = next.g
            if relative < 1e-5 { break }
        }
        return run
    }
}
