// Susceptibility field from a reverse phase-encoding (blip-up/blip-down) pair: 1D optimal
// transport per line to start, then Gauss–Newton on the HySCO objective.
import CordCore
#if canImport(Glibc)
import Glibc
#endif

/// Settings of the field estimation. Intensities are normalised so that the 99th percentile
/// of the pair's mean is 1; lengths are in mm.
public struct FieldEstimationOptions: Sendable {
    /// Weight α of the smoothness term ½α∫|∇d|² (d in voxels, ∇ per mm). Chosen on the
    /// phantom pair of the tests (α from 2 to 0.002: field RMSE in the cord + 5 mm lowest,
    /// 3.2 Hz, at 0.005; 9.8 Hz at 2).
    public var smoothness = 0.005
    /// Weight β of the barrier Σψ(∂d) that keeps both Jacobians 1 ± ∂d positive.
    public var barrierWeight = 1e-2
    /// Gaussian smoothing of the images (σ, mm) at each level, coarse to fine; the last level
    /// should be 0 (the images as acquired). One level suffices after the optimal-transport
    /// start (a 2 mm level first changed the phantom's field RMSE by +0.3 Hz).
    public var levels: [Double] = [0.0]
    /// Gauss–Newton iterations per level (at most).
    public var iterations = 15
    /// Coarse-to-fine: how many times the grid is halved (2 × 2 block means in plane; axes
    /// under 32 voxels are kept) for the optimal-transport start and the first Gauss–Newton
    /// iterations; 0 solves on the acquired grid only.
    public var coarsenings = 1
    /// Gauss–Newton iterations (at most) on the acquired grid after the coarser levels: a
    /// fixed amount of fine work. On the benchmark phantoms (96×96×16 and 128×128×16) one
    /// fine iteration after one coarsening gave the field RMSE of 15 single-level iterations
    /// within 0.1 Hz.
    public var fineIterations = 1
    /// Gauss–Newton iterations (at most) on each coarser level.
    public var coarseIterations = 4
    /// Conjugate-gradient iterations per Gauss–Newton step (at most; the line-block
    /// preconditioner leaves only the weak coupling across lines to them).
    public var conjugateGradientIterations = 5
    /// Gauss–Newton stops when an iteration lowers the objective by less than this fraction.
    public var tolerance = 2e-3
    /// Smoothing (σ, mm) of the optimal-transport start, weighted by signal.
    public var initialSmoothing = 2.0
    /// Start from the per-line optimal-transport solution (else from zero).
    public var transportInitialisation = true
    /// Draw a progress bar on a terminal.
    public var progress = true
    public init() {}
}

/// The estimated field and what it does to the pair.
public struct FieldEstimate: Sendable {
    /// Off-resonance field (Hz) on the pair's grid.
    public var fieldHz: Volume<Float>
    /// Displacement of the first image (voxels along +axis of the phase-encoding axis).
    public var displacement: Volume<Float>
    /// The first and second image unwarped (Jacobian-modulated), and their combination
    /// weighted by local sampling density (each image by its Jacobian).
    public var correctedFirst: Volume<Float>, correctedSecond: Volume<Float>, combined: Volume<Float>
    /// Jacobian 1 + ∂d of the first image's unwarp (the second's is 2 − this).
    public var jacobianFirst: Volume<Float>
    /// Smallest Jacobian of either unwarp over the grid (> 0: the warp is invertible everywhere).
    public var minimumJacobian: Double
    /// The first image's readout (defines the field's sign).
    public var readout: EPIReadout
    /// RMS difference of the pair over RMS of their mean (normalised intensities): before
    /// correction (as acquired) and after.
    public var mismatchBefore: Double, mismatchAfter: Double
    /// Gauss–Newton iterations run (all levels).
    public var iterations: Int
    /// Phase-encoding axis (0, 1, 2) of the file's voxels.
    public var axis: Int { readout.phaseEncoding.axis }
    /// Wall time (s) of the estimation's parts: "start" (checks, normalisation, optimal
    /// transport), "gauss-newton" (all levels), "outputs" (unwarped pair, mismatch).
    public var seconds: [String: Double] = [:]
}

/// Field estimation from a reverse phase-encoding pair (HySCO: Ruthotto et al. 2012, Phys
/// Med Biol 57:5715; Ruthotto et al. 2013, Bildverarbeitung für die Medizin 344; its
/// optimal-transport start and GPU version PyHySCO: Julian & Ruthotto 2024, Front Neurosci
/// 18:1406821).
///
/// The displacement d (voxels, along the phase-encoding axis, for the first image; −d for the
/// second) minimises
/// ½‖A(x + d)(1 + ∂d) − B(x − d)(1 − ∂d)‖² + ½α‖∇d‖² + β Σ ψ(∂d), ψ(v) = v⁴/(1 − v²):
/// the two Jacobian-modulated unwarped images agree, the field is smooth, and both warps
/// stay invertible. It starts from the closed-form 1D optimal-transport solution on each
/// line (the two images' cumulative intensities matched: the point of mass fraction q lies at
/// y_A(q) = x + d and y_B(q) = x − d), smoothed, and is refined by Gauss–Newton steps (matrix-free
/// preconditioned conjugate gradients, Armijo line search keeping |∂d| < 1) on a coarse
/// (smoothed images) then the fine level.
public enum FieldEstimation {
    public static func estimate(_ first: EPIImage, _ second: EPIImage,
                                options: FieldEstimationOptions = FieldEstimationOptions()) throws -> FieldEstimate {
        let pa = first.readout.phaseEncoding, pb = second.readout.phaseEncoding
        guard pa.axis == pb.axis else {
            throw DistortionError.differentPhaseEncodingAxes(first: first.name, firstDirection: pa.description,
                                                             second: second.name, secondDirection: pb.description)
        }
        guard pa.reversed != pb.reversed else {
            throw DistortionError.samePhaseEncoding(first: first.name, second: second.name, direction: pa.description)
        }
        let ta = first.readout.totalReadoutTime, tb = second.readout.totalReadoutTime
        guard abs(ta - tb) <= 0.01 * max(ta, tb) else {
            throw DistortionError.differentReadoutTimes(first: first.name, firstSeconds: ta, second: second.name, secondSeconds: tb)
        }
        _ = try EPIReadout.checked(phaseEncoding: pa, totalReadoutTime: ta, name: first.name)
        try first.image.grid.requireCompatible(with: second.image.grid, first.name, second.name)
        try first.image.requireFinite(first.name); try second.image.requireFinite(second.name)
        let grid = first.image.grid, axis = pa.axis
        let lines = AxisLines(grid, axis: axis)
        guard lines.length >= 8 else {
            throw DistortionError.tooFewVoxels(name: first.name, axis: pa.description, count: lines.length)
        }
        let clock = ContinuousClock(), t0 = clock.now
        var a = meanFrame(first.image), b = meanFrame(second.image)
        guard a.contains(where: { $0 > 0 }) else { throw DistortionError.noSignal(name: first.name) }
        guard b.contains(where: { $0 > 0 }) else { throw DistortionError.noSignal(name: second.name) }
        let scale = 1 / robustMaximum(a, b)
        for i in a.indices { a[i] = max(0, a[i] * scale); b[i] = max(0, b[i] * scale) }

        let spacing = grid.spacing
        let weights = SIMD3(1 / (spacing.x * spacing.x), 1 / (spacing.y * spacing.y), 1 / (spacing.z * spacing.z))
        // The pyramid: each coarser level halves every axis that keeps ≥ 16 voxels (2 × 2 block
        // means), as long as the phase-encoding axis is among them.
        var pyramid: [Level] = []
        do {
            var (ca, cb, cg) = (a, b, grid)
            for _ in 0..<max(0, options.coarsenings) {
                let dims = [cg.nx, cg.ny, cg.nz]
                let halve = [dims[0] >= 32, dims[1] >= 32, dims[2] >= 32]
                guard halve[axis] else { break }
                let next = Self.halve(ca, cb, cg, halve)
                pyramid.append(Level(a: next.a, b: next.b, grid: next.grid, halved: halve))
                (ca, cb, cg) = (next.a, next.b, next.grid)
            }
        }
        let fineIterations = pyramid.isEmpty ? options.iterations : min(options.iterations, options.fineIterations)
        let progress = ProgressReporter("distortion field", total: options.levels.count * options.iterations * (pyramid.count + 1) + 1,
                                        forceQuiet: !options.progress)
        // The start on the coarsest level.
        let startGrid = pyramid.last?.grid ?? grid
        let startLines = AxisLines(startGrid, axis: axis)
        var d = [Double](repeating: 0, count: startGrid.voxelCount)
        if options.transportInitialisation {
            let sa = pyramid.last?.a ?? a, sb = pyramid.last?.b ?? b, sp = startGrid.spacing
            d = transportStart(sa, sb, startLines)
            var w = [Double](repeating: 0, count: d.count), wd = w
            for i in 0..<d.count { w[i] = sa[i] + sb[i] + 0.02; wd[i] = w[i] * d[i] }
            let sm: Double = options.initialSmoothing
            let sigma = SIMD3<Double>(sm / sp.x, sm / sp.y, sm / sp.z)
            let num = LineOps.gaussian(wd, startGrid, sigma: sigma), den = LineOps.gaussian(w, startGrid, sigma: sigma)
            for i in 0..<d.count { d[i] = num[i] / den[i] }
            // Keep the start inside the barrier (|∂d| ≤ 0.8).
            let steepest = LineOps.derivative(d, startLines).reduce(0) { max($0, abs($1)) }
            if steepest > 0.8 { let f = 0.8 / steepest; for i in d.indices { d[i] *= f } }
        }
        progress.advance()
        let t1 = clock.now

        var iterations = 0
        // Coarse to fine: Gauss–Newton on each level, the result prolonged to the next finer one.
        for depth in stride(from: pyramid.count, through: 0, by: -1) {
            let here: Level = depth == 0 ? Level(a: a, b: b, grid: grid, halved: [false, false, false]) : pyramid[depth - 1]
            let la = here.a, lb = here.b, lg = here.grid
            if depth < pyramid.count {
                d = Self.prolong(d, from: pyramid[depth].grid, to: lg, halved: pyramid[depth].halved, axis: axis)
            }
            let ls = lg.spacing
            let lw = SIMD3(1 / (ls.x * ls.x), 1 / (ls.y * ls.y), 1 / (ls.z * ls.z))
            // d is in voxels of the level: halving the PE axis halves d, and the smoothness
            // term keeps its balance with the data term per voxel with α × 4 per halving.
            let factor: Double = pow(4.0, Double(depth))
            let alpha: Double = options.smoothness * factor
            let levelLines = AxisLines(lg, axis: axis)
            let budget = depth == 0 ? fineIterations : min(options.iterations, options.coarseIterations)
            for level in (depth == 0 ? options.levels : [0.0]) {
                let sigma = SIMD3(level / ls.x, level / ls.y, level / ls.z)
                let problem = PairProblem(a: level > 0 ? LineOps.gaussian(la, lg, sigma: sigma) : la,
                                          b: level > 0 ? LineOps.gaussian(lb, lg, sigma: sigma) : lb,
                                          grid: lg, lines: levelLines, alpha: alpha, beta: options.barrierWeight, weights: lw)
                iterations += problem.solve(&d, iterations: budget, options: options, progress: progress)
            }
        }
        _ = weights
        progress.finish()
        let t2 = clock.now

        // Outputs on the images as acquired.
        let finalProblem = PairProblem(a: a, b: b, grid: grid, lines: lines, alpha: options.smoothness,
                                       beta: options.barrierWeight, weights: weights)
        let unscaled = (meanFrame(first.image), meanFrame(second.image))
        let (ca, ja) = warpLines(unscaled.0, d, lines, sign: 1)
        let (cb, jb) = warpLines(unscaled.1, d, lines, sign: -1)
        var combined = [Float](repeating: 0, count: d.count)
        var minJ = Double.infinity
        for i in d.indices {
            let wa = max(ja[i], 0), wb = max(jb[i], 0)
            minJ = min(minJ, ja[i], jb[i])
            combined[i] = Float(wa + wb > 0 ? (wa * ca[i] + wb * cb[i]) / (wa + wb) : 0.5 * (ca[i] + cb[i]))
        }
        let perHz = first.readout.voxelsPerHz
        let before = finalProblem.mismatch(zero: true, d), after = finalProblem.mismatch(zero: false, d)
        func vol(_ x: [Double]) -> Volume<Float> { Volume(grid: grid, frames: 1, exactly: x.map { Float($0) }) }
        var e = FieldEstimate(fieldHz: vol(d.map { $0 / perHz }), displacement: vol(d),
                              correctedFirst: vol(ca), correctedSecond: vol(cb), combined: Volume(grid: grid, frames: 1, exactly: combined),
                              jacobianFirst: vol(ja), minimumJacobian: minJ, readout: first.readout,
                              mismatchBefore: before, mismatchAfter: after, iterations: iterations)
        e.seconds = ["start": (t1 - t0).seconds, "gauss-newton": (t2 - t1).seconds, "outputs": (clock.now - t2).seconds]
        return e
    }

    // MARK: - Pieces

    /// One level of the coarse-to-fine pyramid: the pair, its grid, the axes halved from the finer level.
    struct Level { var a: [Double], b: [Double], grid: Grid, halved: [Bool] }

    /// The pair on a grid halved along the axes in `halve` (means of 2 × 2 (× 2) blocks; an
    /// odd last voxel is its own block), the grid's spacing doubled along them.
    static func halve(_ a: [Double], _ b: [Double], _ grid: Grid, _ halve: [Bool]) -> (a: [Double], b: [Double], grid: Grid) {
        let f: [Int] = halve.map { $0 ? 2 : 1 }
        let mx = (grid.nx + f[0] - 1) / f[0], my = (grid.ny + f[1] - 1) / f[1], mz = (grid.nz + f[2] - 1) / f[2]
        let factors = SIMD3<Double>(Double(f[0]), Double(f[1]), Double(f[2]))
        let coarse = Grid(nx: mx, ny: my, nz: mz, spacing: grid.spacing * factors)
        let nx = grid.nx, ny = grid.ny, nz = grid.nz
        let packed = parallelFill(2 * coarse.voxelCount, units: mz) { range, out in
            a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in
                for z in range { for y in 0..<my { for x in 0..<mx {
                    var sa = 0.0, sb = 0.0, n = 0.0
                    for zz in (z * f[2])..<min(nz, z * f[2] + f[2]) {
                        for yy in (y * f[1])..<min(ny, y * f[1] + f[1]) {
                            for xx in (x * f[0])..<min(nx, x * f[0] + f[0]) {
                                let i = xx + nx * (yy + ny * zz)
                                sa += pa[i]; sb += pb[i]; n += 1
                            }
                        }
                    }
                    let o = x + mx * (y + my * z)
                    out[o] = sa / n; out[coarse.voxelCount + o] = sb / n
                } } }
            } }
        }
        return (Array(packed[0..<coarse.voxelCount]), Array(packed[coarse.voxelCount...]), coarse)
    }

    /// A displacement of the coarse grid (voxels of that grid) on the fine grid (voxels of
    /// the fine grid): trilinear at fine voxel centres (fine index f sits at coarse
    /// coordinate (f − ½)/2 along a halved axis), doubled when the phase-encoding axis was halved.
    static func prolong(_ d: [Double], from coarse: Grid, to fine: Grid, halved: [Bool], axis: Int) -> [Double] {
        let scale = halved[axis] ? 2.0 : 1.0
        let cn = [coarse.nx, coarse.ny, coarse.nz], fnx = fine.nx, fny = fine.ny
        func weights(_ n: Int, _ c: Int, _ h: Bool) -> [(Int, Int, Double)] {
            (0..<n).map { f in
                guard h else { return (f, f, 0) }
                let u = min(max((Double(f) - 0.5) / 2, 0), Double(c - 1))
                let i0 = CheckedNumber.clamped(u, .towardZero, to: 0...(c - 1)), i1 = min(i0 + 1, c - 1)
                return (i0, i1, u - Double(i0))
            }
        }
        let wx = weights(fine.nx, cn[0], halved[0]), wy = weights(fine.ny, cn[1], halved[1]), wz = weights(fine.nz, cn[2], halved[2])
        let cx = cn[0], cxy = cn[0] * cn[1]
        return parallelFill(fine.voxelCount, units: fine.nz) { range, out in
            d.withUnsafeBufferPointer { p in
                for z in range {
                    let (z0, z1, tz) = wz[z]
                    for y in 0..<fny {
                        let (y0, y1, ty) = wy[y]
                        for x in 0..<fnx {
                            let (x0, x1, tx) = wx[x]
                            @inline(__always) func at(_ i: Int, _ j: Int, _ k: Int) -> Double { p[i + cx * j + cxy * k] }
                            let c00 = at(x0, y0, z0) * (1 - tx) + at(x1, y0, z0) * tx
                            let c10 = at(x0, y1, z0) * (1 - tx) + at(x1, y1, z0) * tx
                            let c01 = at(x0, y0, z1) * (1 - tx) + at(x1, y0, z1) * tx
                            let c11 = at(x0, y1, z1) * (1 - tx) + at(x1, y1, z1) * tx
                            let v = (c00 * (1 - ty) + c10 * ty) * (1 - tz) + (c01 * (1 - ty) + c11 * ty) * tz
                            out[x + fnx * (y + fny * z)] = scale * v
                        }
                    }
                }
            }
        }
    }

    /// The mean over frames, as Double.
    static func meanFrame(_ v: Volume<Float>) -> [Double] {
        let n = v.grid.voxelCount
        var out = [Double](repeating: 0, count: n)
        v.data.withUnsafeBufferPointer { p in
            for t in 0..<v.frames { for i in 0..<n { out[i] += Double(p[t * n + i]) } }
        }
        let f = 1 / Double(v.frames)
        for i in 0..<n { out[i] *= f }
        return out
    }

    /// The 99th percentile of the pair's mean over voxels with signal (from every voxel of
    /// grids up to 32 768 voxels, else from an evenly spaced sample of about that many).
    static func robustMaximum(_ a: [Double], _ b: [Double]) -> Double {
        var m: [Double] = []
        let step = max(1, a.count / 32_768)
        m.reserveCapacity(a.count / step + 1)
        for i in stride(from: 0, to: a.count, by: step) { let v: Double = 0.5 * (a[i] + b[i]); if v > 0 { m.append(v) } }
        guard !m.isEmpty else { return 1 }
        m.sort()
        let v = m[min(m.count - 1, m.count * 99 / 100)]
        return v > 0 ? v : (m.last ?? 1)
    }

    /// The closed-form 1D optimal-transport displacement on every line: with cumulative
    /// intensities C_A, C_B (scaled to the same total), the position of mass fraction q is
    /// y_A(q) = x(q) + d and y_B(q) = x(q) − d, so x = (y_A + y_B)/2 and d = (y_A − y_B)/2,
    /// sampled at 4 levels per voxel and interpolated onto the voxel centres.
    static func transportStart(_ a: [Double], _ b: [Double], _ lines: AxisLines) -> [Double] {
        let n = lines.length, s = lines.stride
        return parallelFill(a.count, units: lines.count) { range, out in
            var ca = [Double](repeating: 0, count: n + 1), cb = ca
            let levels = 4 * n
            var xs = [Double](repeating: 0, count: levels), ds = xs
            for l in range {
                let o = lines.start(l)
                let floor = 0.01
                for k in 0..<n { ca[k + 1] = ca[k] + a[o + k * s] + floor; cb[k + 1] = cb[k] + b[o + k * s] + floor }
                let ratio = ca[n] / cb[n]
                for k in 0...n { cb[k] *= ratio }
                var ka = 0, kb = 0
                for m in 0..<levels {
                    let q = (Double(m) + 0.5) / Double(levels) * ca[n]
                    while ka < n - 1 && ca[ka + 1] < q { ka += 1 }
                    while kb < n - 1 && cb[kb + 1] < q { kb += 1 }
                    let ya = Double(ka) - 0.5 + (q - ca[ka]) / max(ca[ka + 1] - ca[ka], 1e-300)
                    let yb = Double(kb) - 0.5 + (q - cb[kb]) / max(cb[kb + 1] - cb[kb], 1e-300)
                    xs[m] = 0.5 * (ya + yb); ds[m] = 0.5 * (ya - yb)
                }
                // x(q) increases with q: interpolate d at the voxel centres.
                var m = 0
                for k in 0..<n {
                    let x = Double(k)
                    while m < levels - 2 && xs[m + 1] < x { m += 1 }
                    let x0 = xs[m], x1 = xs[m + 1]
                    let v: Double
                    if x <= x0 { v = ds[m] } else if x >= x1 { v = ds[m + 1] } else { v = ds[m] + (ds[m + 1] - ds[m]) * (x - x0) / max(x1 - x0, 1e-12) }
                    out[o + k * s] = v
                }
            }
        }
    }

    /// Unwarps lines of `image` by `sign · d` with Jacobian modulation: out(x) = I(x + σd)(1 + σ∂d);
    /// the Jacobian is returned too (clamped to ≥ 0 for the intensities only).
    static func warpLines(_ image: [Double], _ d: [Double], _ lines: AxisLines, sign: Double) -> ([Double], [Double]) {
        let dd = LineOps.derivative(d, lines)
        let n = lines.length, s = lines.stride
        let jac = dd.map { 1 + sign * $0 }
        let out = parallelFill(image.count, units: lines.count) { range, out in
            image.withUnsafeBufferPointer { p in
                for l in range {
                    let o = lines.start(l)
                    for k in 0..<n {
                        let i = o + k * s
                        out[i] = LineOps.sample(p, o, s, n, Double(k) + sign * d[i]) * max(jac[i], 0)
                    }
                }
            }
        }
        return (out, jac)
    }
}

// MARK: - The objective

/// The HySCO objective on one level: images, their derivatives along the lines, weights.
final class PairProblem: Sendable {
    let a: [Double], b: [Double], ga: [Double], gb: [Double]
    let grid: Grid
    let lines: AxisLines
    let alpha: Double, beta: Double
    let weights: SIMD3<Double>

    init(a: [Double], b: [Double], grid: Grid, lines: AxisLines, alpha: Double, beta: Double, weights: SIMD3<Double>) {
        self.a = a; self.b = b; self.grid = grid; self.lines = lines
        self.alpha = alpha; self.beta = beta; self.weights = weights
        ga = LineOps.derivative(a, lines); gb = LineOps.derivative(b, lines)
    }

    /// The objective and its Gauss–Newton pieces at one displacement.
    struct State {
        var d: [Double]
        /// Residual r = T_A − T_B; J = diag(c0) + diag(c1)·D_c; ψ″ of ∂d.
        var residual: [Double], c0: [Double], c1: [Double], curvature: [Double]
        var energy: Double
        var gradient: [Double]
    }

    func evaluate(_ d: [Double]) -> State {
        let dd = LineOps.derivative(d, lines)
        let n = lines.length, s = lines.stride, count = d.count
        let a = self.a, b = self.b, ga = self.ga, gb = self.gb, beta = self.beta
        // Five outputs per voxel, computed in one pass over the lines.
        let pack = parallelFill(5 * count, units: lines.count) { range, out in
            a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in
            ga.withUnsafeBufferPointer { pga in gb.withUnsafeBufferPointer { pgb in
                for l in range {
                    let o = lines.start(l)
                    for k in 0..<n {
                        let i = o + k * s, v = dd[i]
                        let ya = Double(k) + d[i], yb = Double(k) - d[i]
                        let av = LineOps.sample(pa, o, s, n, ya), bv = LineOps.sample(pb, o, s, n, yb)
                        let ag = LineOps.sample(pga, o, s, n, ya), bg = LineOps.sample(pgb, o, s, n, yb)
                        let psi = barrier(v)
                        out[i] = av * (1 + v) - bv * (1 - v)
                        out[count + i] = ag * (1 + v) + bg * (1 - v)
                        out[2 * count + i] = av + bv
                        out[3 * count + i] = psi.second
                        out[4 * count + i] = beta * psi.first + (psi.value.isFinite ? 0 : .infinity)
                    }
                }
            } } } }
        }
        let r = Array(pack[0..<count]), c0 = Array(pack[count..<(2 * count)]), c1 = Array(pack[(2 * count)..<(3 * count)])
        let curv = Array(pack[(3 * count)..<(4 * count)]), bfirst = Array(pack[(4 * count)..<(5 * count)])
        var data = 0.0, bar = 0.0
        for i in 0..<count {
            data += 0.5 * r[i] * r[i]
            if !bfirst[i].isFinite { bar = .infinity } else { bar += barrier(dd[i]).value }
        }
        let energy = data + alpha * LineOps.smoothnessEnergy(d, grid, weights: weights) + beta * bar
        // Gradient Jᵀr + αLd + βD_cᵀψ′.
        var inner = [Double](repeating: 0, count: count)
        for i in 0..<count { let bf: Double = bfirst[i].isFinite ? bfirst[i] : 0; inner[i] = c1[i] * r[i] + bf }
        let dt = LineOps.derivativeTranspose(inner, lines)
        let lap = LineOps.laplacian(d, grid, weights: weights)
        var g = [Double](repeating: 0, count: count)
        for i in 0..<count { let gi: Double = c0[i] * r[i] + dt[i]; g[i] = gi + alpha * lap[i] }
        return State(d: d, residual: r, c0: c0, c1: c1, curvature: curv, energy: energy, gradient: g)
    }

    /// Gauss–Newton from `d` (updated in place): at most `iterations` steps, each a
    /// preconditioned-CG solve and an Armijo line search keeping the barrier finite; stops
    /// when an iteration lowers the objective by less than `options.tolerance` (relative) or
    /// moves d by less than 0.001 voxel. Returns the iterations run.
    func solve(_ d: inout [Double], iterations: Int, options: FieldEstimationOptions, progress: ProgressReporter) -> Int {
        var state = evaluate(d)
        var run = 0
        for _ in 0..<iterations {
            run += 1
            progress.advance()
            let step = newtonStep(state, maxIterations: options.conjugateGradientIterations)
            var slope = 0.0
            for i in 0..<step.count { slope += state.gradient[i] * step[i] }
            guard slope < 0 else { break }
            var t = 1.0, accepted: State?
            var trial = d
            for _ in 0..<6 {
                for i in 0..<d.count { trial[i] = d[i] + t * step[i] }
                let s = evaluate(trial)
                if s.energy.isFinite && s.energy <= state.energy + 1e-4 * t * slope { accepted = s; swap(&d, &trial); break }
                t *= 0.5
            }
            guard let next = accepted else { break }
            let relative = (state.energy - next.energy) / max(state.energy, 1e-300)
            var moved = 0.0
            for v in step { moved = max(moved, abs(v)) }
            moved *= t
            state = next
            if relative < options.tolerance || moved < 1e-3 { break }
        }
        return run
    }

    /// H v with H = JᵀJ + αL + βD_cᵀ diag(ψ″) D_c.
    func hessianApply(_ st: State, _ v: [Double]) -> [Double] {
        // One pass per line: J v, then Jᵀ(J v) + βD_cᵀψ″D_c v on the line, plus αL v (which reads
        // the neighbouring lines' input values only).
        let n = lines.length, s = lines.stride, count = v.count
        let c0 = st.c0, c1 = st.c1, curv = st.curvature, beta = self.beta, alpha = self.alpha, w = weights
        let nx = grid.nx, ny = grid.ny, nz = grid.nz, plane = nx * ny
        return parallelFill(count, units: lines.count) { range, out in
            var jv = [Double](repeating: 0, count: n), inner = jv
            v.withUnsafeBufferPointer { p in
                for l in range {
                    let o = lines.start(l)
                    for k in 0..<n {
                        let idx = o + k * s
                        let dv = k == 0 ? p[idx + s] - p[idx] : (k == n - 1 ? p[idx] - p[idx - s] : 0.5 * (p[idx + s] - p[idx - s]))
                        let j = c0[idx] * p[idx] + c1[idx] * dv
                        jv[k] = j
                        inner[k] = c1[idx] * j + beta * curv[idx] * dv
                    }
                    for k in 0..<n {
                        // (D_cᵀ inner)_k
                        var dt = 0.0
                        if k == 0 { dt = -inner[0] - (n > 2 ? 0.5 * inner[1] : inner[1]) }
                        else if k == n - 1 { dt = inner[n - 1] + (n > 2 ? 0.5 * inner[n - 2] : inner[n - 2]) }
                        else {
                            dt = (k - 1 == 0 ? inner[0] : 0.5 * inner[k - 1]) - (k + 1 == n - 1 ? inner[n - 1] : 0.5 * inner[k + 1])
                        }
                        let idx = o + k * s, x = p[idx]
                        let i = idx % nx, jj = (idx / nx) % ny, kk = idx / plane
                        var lap = 0.0
                        if i > 0 { lap += w.x * (x - p[idx - 1]) }
                        if i < nx - 1 { lap += w.x * (x - p[idx + 1]) }
                        if jj > 0 { lap += w.y * (x - p[idx - nx]) }
                        if jj < ny - 1 { lap += w.y * (x - p[idx + nx]) }
                        if kk > 0 { lap += w.z * (x - p[idx - plane]) }
                        if kk < nz - 1 { lap += w.z * (x - p[idx + plane]) }
                        out[idx] = c0[idx] * jv[k] + dt + alpha * lap + 1e-6 * x
                    }
                }
            }
        }
    }

    /// The Gauss–Newton step: H δ = −g by conjugate gradients preconditioned with H's
    /// phase-encoding-line blocks (exact pentadiagonal LDLᵀ per line: data, barrier and the
    /// smoothness along the line; the coupling across lines, through α only, is left to CG).
    func newtonStep(_ st: State, maxIterations: Int) -> [Double] {
        let count = st.d.count
        let factors = lineFactors(st)
        var x = [Double](repeating: 0, count: count)
        var r = st.gradient.map { -$0 }
        var z = lineSolve(factors, r)
        var p = z
        var rz = 0.0
        for i in 0..<count { rz += r[i] * z[i] }
        var r0 = 0.0
        for v in r { r0 += v * v }
        r0 = r0.squareRoot()
        guard r0 > 0 else { return x }
        for _ in 0..<maxIterations {
            let hp = hessianApply(st, p)
            var php = 0.0
            for i in 0..<count { php += p[i] * hp[i] }
            guard php > 0 else { break }
            let step = rz / php
            var rr = 0.0
            for i in 0..<count { x[i] += step * p[i]; r[i] -= step * hp[i]; rr += r[i] * r[i] }
            if rr.squareRoot() < 1e-2 * r0 { break }
            z = lineSolve(factors, r)
            var rzNew = 0.0
            for i in 0..<count { rzNew += r[i] * z[i] }
            let beta = rzNew / rz
            rz = rzNew
            for i in 0..<count { p[i] = z[i] + beta * p[i] }
        }
        return x
    }

    /// LDLᵀ factors of every line block of H, packed as [D, l1, l2] (3 × count): l1, l2 are the
    /// multipliers at offsets 1 and 2 below the diagonal, stored at the lower voxel's index.
    func lineFactors(_ st: State) -> [Double] {
        let n = lines.length, s = lines.stride, count = st.d.count, axis = lines.axis
        let w = [weights.x, weights.y, weights.z]
        var across = 0.0
        for ax in 0..<3 where ax != axis { across += 2 * w[ax] }
        let alongWeight = alpha * w[axis], diagonalShift = alpha * across + 1e-6
        let c0 = st.c0, c1 = st.c1, curv = st.curvature, beta = self.beta
        return parallelFill(3 * count, units: lines.count) { range, out in
            var a0 = [Double](repeating: 0, count: n), a1 = a0, a2 = a0
            for l in range {
                let o = lines.start(l)
                for k in 0..<n { a0[k] = diagonalShift; a1[k] = 0; a2[k] = 0 }
                @inline(__always) func add(_ i: Int, _ j: Int, _ v: Double) {
                    let lo = min(i, j)
                    switch max(i, j) - lo { case 0: a0[lo] += v; case 1: a1[lo] += v; default: a2[lo] += v }
                }
                for k in 0..<n {
                    let idx = o + k * s
                    let (i1, v1, i2, v2): (Int, Double, Int, Double) =
                        k == 0 ? (0, -1, 1, 1) : (k == n - 1 ? (n - 2, -1, n - 1, 1) : (k - 1, -0.5, k + 1, 0.5))
                    let q0 = c0[idx], q1 = c1[idx], e = q1 * q1 + beta * curv[idx]
                    a0[k] += q0 * q0
                    // diag(c0·c1)·D_c and its transpose.
                    let cc = q0 * q1
                    add(k, i1, i1 == k ? 2 * cc * v1 : cc * v1); add(k, i2, i2 == k ? 2 * cc * v2 : cc * v2)
                    // D_cᵀ diag(c1² + βψ″) D_c.
                    add(i1, i1, e * v1 * v1); add(i2, i2, e * v2 * v2); add(i1, i2, e * v1 * v2)
                }
                for k in 0..<(n - 1) { a0[k] += alongWeight; a0[k + 1] += alongWeight; a1[k] -= alongWeight }
                // Banded LDLᵀ.
                var dPrev2 = 0.0, dPrev1 = 0.0, l1Prev = 0.0
                for k in 0..<n {
                    let l2 = k >= 2 ? a2[k - 2] / dPrev2 : 0
                    let l1 = k >= 1 ? (a1[k - 1] - l2 * dPrev2 * l1Prev) / dPrev1 : 0
                    let dk = max(a0[k] - l1 * l1 * dPrev1 - l2 * l2 * dPrev2, 1e-12)
                    let idx = o + k * s
                    out[idx] = dk; out[count + idx] = l1; out[2 * count + idx] = l2
                    dPrev2 = dPrev1; dPrev1 = dk; l1Prev = l1
                }
            }
        }
    }

    /// Solves every line block L D Lᵀ z = r with the factors of `lineFactors`.
    func lineSolve(_ f: [Double], _ r: [Double]) -> [Double] {
        let n = lines.length, s = lines.stride, count = r.count
        return parallelFill(count, units: lines.count) { range, out in
            f.withUnsafeBufferPointer { fp in r.withUnsafeBufferPointer { rp in
                for l in range {
                    let o = lines.start(l)
                    // Forward: y_k = r_k − l1_k y_{k−1} − l2_k y_{k−2}.
                    for k in 0..<n {
                        let idx = o + k * s
                        var y = rp[idx]
                        if k >= 1 { y -= fp[count + idx] * out[idx - s] }
                        if k >= 2 { y -= fp[2 * count + idx] * out[idx - 2 * s] }
                        out[idx] = y
                    }
                    for k in 0..<n { let idx = o + k * s; out[idx] /= fp[idx] }
                    // Backward: z_k = y_k/D_k − l1_{k+1} z_{k+1} − l2_{k+2} z_{k+2}.
                    for k in stride(from: n - 1, through: 0, by: -1) {
                        let idx = o + k * s
                        var z = out[idx]
                        if k + 1 < n { z -= fp[count + idx + s] * out[idx + s] }
                        if k + 2 < n { z -= fp[2 * count + idx + 2 * s] * out[idx + 2 * s] }
                        out[idx] = z
                    }
                }
            } }
        }
    }

    /// RMS(T_A − T_B) / RMS((T_A + T_B)/2): with `zero`, the images as acquired.
    func mismatch(zero: Bool, _ d: [Double]) -> Double {
        let use = zero ? [Double](repeating: 0, count: d.count) : d
        let (ta, _) = FieldEstimation.warpLines(a, use, lines, sign: 1)
        let (tb, _) = FieldEstimation.warpLines(b, use, lines, sign: -1)
        var num = 0.0, den = 0.0
        for i in ta.indices { let df = ta[i] - tb[i], m = 0.5 * (ta[i] + tb[i]); num += df * df; den += m * m }
        return den > 0 ? (num / den).squareRoot() : 0
    }
}

extension Duration {
    /// The duration in seconds.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
