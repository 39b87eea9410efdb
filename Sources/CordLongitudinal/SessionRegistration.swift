// The image engine of the between-session alignment: cord-neighbourhood samples of one
// session compared with another session under a rigid transform (Levenberg–Marquardt on the
// intensity-fitted SSD, i.e. on 1 − NCC², coarse to fine) and under per-slice in-plane shifts
// regularised along the cord (Gauss–Newton with a first-difference penalty).
import CordCore

/// Samples of the fixed session: world positions near the cord and their intensities.
struct CordSamples {
    var points: [SIMD3<Double>]
    /// Intensity at each point, per smoothing level (index as in `HalfwayOptions.smoothing`).
    var values: [[Double]]
    /// Fixed-image slice (voxel k) of each point.
    var slice: [Int]
    /// Cord centroid (world) of the fixed session and per-slice cord centroids (world).
    var centroid: SIMD3<Double>
    var sliceCentroids: [SIMD3<Double>]
}

/// A moving image prepared for sampling: smoothed copies, inverse affine and the voxel→world
/// linear part (for the gradient in world coordinates).
struct MovingImage {
    var levels: [Volume<Float>]
    var grid: Grid
    var inverse: Mat4
    /// L⁻ᵀ: maps a voxel-index gradient to a world gradient.
    var gradientMap: Mat3

    init(_ image: Volume<Float>, smoothing: [Double]) {
        grid = image.grid
        inverse = grid.inverseAffine
        gradientMap = (grid.affine.linear.inverse ?? .identity).transposed
        levels = smoothing.map { $0 > 0 ? gaussianSmoothed(image, sigmaMM: $0) : image }
    }

    /// Trilinear value and world gradient at world position `x` on smoothing level `l`; nil outside.
    @inline(__always) func sample(_ x: SIMD3<Double>, level l: Int) -> (Double, SIMD3<Double>)? {
        let v = inverse.apply(x)
        let nx = grid.nx, ny = grid.ny, nz = grid.nz
        guard v.x >= 0, v.y >= 0, v.z >= 0, v.x <= Double(nx - 1), v.y <= Double(ny - 1), v.z <= Double(nz - 1) else { return nil }
        let i0 = min(CheckedNumber.clamped(v.x), max(nx - 2, 0)), j0 = min(CheckedNumber.clamped(v.y), max(ny - 2, 0))
        let k0 = min(CheckedNumber.clamped(v.z), max(nz - 2, 0))
        let fx = v.x - Double(i0), fy = v.y - Double(j0), fz = v.z - Double(k0)
        let nxy = nx * ny, b = i0 + nx * j0 + nxy * k0
        return levels[l].data.withUnsafeBufferPointer { buf -> (Double, SIMD3<Double>) in
            let c000 = Double(buf[b]), c100 = Double(buf[b + 1]), c010 = Double(buf[b + nx]), c110 = Double(buf[b + nx + 1])
            let c001 = Double(buf[b + nxy]), c101 = Double(buf[b + nxy + 1]), c011 = Double(buf[b + nxy + nx]), c111 = Double(buf[b + nxy + nx + 1])
            let c00 = c000 + (c100 - c000) * fx, c10 = c010 + (c110 - c010) * fx
            let c01 = c001 + (c101 - c001) * fx, c11 = c011 + (c111 - c011) * fx
            let c0 = c00 + (c10 - c00) * fy, c1 = c01 + (c11 - c01) * fy
            let value = c0 + (c1 - c0) * fz
            // Derivatives of the trilinear interpolant along i, j, k.
            let dx0 = (c100 - c000) + ((c110 - c010) - (c100 - c000)) * fy
            let dx1 = (c101 - c001) + ((c111 - c011) - (c101 - c001)) * fy
            let di = dx0 + (dx1 - dx0) * fz
            let dj = (c10 - c00) + ((c11 - c01) - (c10 - c00)) * fz
            let dk = c1 - c0
            return (value, gradientMap * SIMD3(di, dj, dk))
        }
    }
}

/// Separable Gaussian smoothing with σ in mm (per axis in voxels from the grid spacing).
func gaussianSmoothed(_ image: Volume<Float>, sigmaMM: Double) -> Volume<Float> {
    let g = image.grid
    var data = image.data.map(Double.init)
    let dims = [g.nx, g.ny, g.nz], strides = [1, g.nx, g.nx * g.ny]
    let spacing = [g.spacing.x, g.spacing.y, g.spacing.z]
    for axis in 0..<3 {
        let s = sigmaMM / spacing[axis]
        guard s > 0.2, dims[axis] > 1 else { continue }
        let radius = min(dims[axis] - 1, max(1, CheckedNumber.clamped(3 * s, .up)))
        var kernel = (-radius...radius).map { exp(-0.5 * Double($0 * $0) / (s * s)) }
        let sum = kernel.reduce(0, +)
        kernel = kernel.map { $0 / sum }
        let n = dims[axis], stride = strides[axis]
        let lines = g.voxelCount / n
        let src = data
        let out = SharedBuffer<Double>(repeating: 0, count: g.voxelCount)
        let k = kernel
        parallelChunks(lines, minimumChunk: 64) { range, _ in
            var line = [Double](repeating: 0, count: n)
            for l in range {
                // Start index of line l along `axis`.
                let start: Int
                switch axis {
                case 0: start = l * g.nx
                case 1: start = (l % g.nx) + (l / g.nx) * g.nx * g.ny
                default: start = l
                }
                for q in 0..<n { line[q] = src[start + q * stride] }
                for q in 0..<n {
                    var acc = 0.0, w = 0.0
                    for r in -radius...radius {
                        let p = q + r
                        guard p >= 0, p < n else { continue }
                        acc += k[r + radius] * line[p]; w += k[r + radius]
                    }
                    out[start + q * stride] = acc / w
                }
            }
        }
        data = out.array
    }
    return Volume(grid: g, frames: 1, exactly: data.map(Float.init))
}

/// The normalised cross-correlation of paired values, and the least-squares fit f ≈ a·m + b.
struct IntensityFit {
    var a = 0.0, b = 0.0, ncc = -1.0, count = 0
    init(sm: Double, smm: Double, sf: Double, sff: Double, sfm: Double, n: Double) {
        guard n > 2 else { return }
        let cov = sfm - sf * sm / n, vm = smm - sm * sm / n, vf = sff - sf * sf / n
        guard vm > 0, vf > 0 else { return }
        a = cov / vm; b = (sf - a * sm) / n
        ncc = cov / (vm * vf).squareRoot(); count = CheckedNumber.clamped(n, .toNearestOrAwayFromZero)
    }
}

/// Solves the symmetric positive (semi)definite system A x = b (n×n, row-major) by
/// Gaussian elimination with partial pivoting; nil when singular.
func solveDense(_ a: [Double], _ b: [Double], n: Int) -> [Double]? {
    var a = a, b = b
    for col in 0..<n {
        var piv = col
        for r in (col + 1)..<max(col + 1, n) where abs(a[r * n + col]) > abs(a[piv * n + col]) { piv = r }
        guard abs(a[piv * n + col]) > 1e-300 else { return nil }
        if piv != col {
            for c in 0..<n { a.swapAt(col * n + c, piv * n + c) }
            b.swapAt(col, piv)
        }
        let d = a[col * n + col]
        for r in (col + 1)..<max(col + 1, n) {
            let f = a[r * n + col] / d
            guard f != 0 else { continue }
            for c in col..<n { a[r * n + c] -= f * a[col * n + c] }
            b[r] -= f * b[col]
        }
    }
    var x = [Double](repeating: 0, count: n)
    for r in stride(from: n - 1, through: 0, by: -1) {
        var s = b[r]
        for c in (r + 1)..<max(r + 1, n) { s -= a[r * n + c] * x[c] }
        x[r] = s / a[r * n + r]
        guard x[r].isFinite else { return nil }
    }
    return x
}

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Pairwise alignment

extension HalfwaySpace {
    /// Cord-neighbourhood samples of a session: voxels within `radius` of each slice's cord
    /// centroid (slice = voxel k), every `sampling` mm in plane, on every smoothing level.
    static func samples(_ s: SessionAnatomy, smoothing: [Double], options: HalfwayOptions) throws -> CordSamples {
        let g = s.image.grid
        var points: [SIMD3<Double>] = [], indices: [Int] = [], slice: [Int] = [], centroids: [SIMD3<Double>] = []
        var centre = SIMD3<Double>.zero, centreCount = 0.0
        let r2 = options.radius * options.radius
        let stepX = max(1, CheckedNumber.clamped(options.sampling / g.spacing.x, .toNearestOrAwayFromZero))
        let stepY = max(1, CheckedNumber.clamped(options.sampling / g.spacing.y, .toNearestOrAwayFromZero))
        for k in 0..<g.nz {
            var c = SIMD3<Double>.zero, count = 0.0
            for j in 0..<g.ny { for i in 0..<g.nx where s.cord.data[g.index(i, j, k)] != 0 { c += g.world(SIMD3(i, j, k)); count += 1 } }
            guard count > 0 else { continue }
            c /= count
            centre += c * count; centreCount += count
            centroids.append(c)
            for j in stride(from: 0, to: g.ny, by: stepY) {
                for i in stride(from: 0, to: g.nx, by: stepX) {
                    let w = g.world(SIMD3(i, j, k))
                    let d = w - c
                    guard d.x * d.x + d.y * d.y <= r2 else { continue }
                    points.append(w); indices.append(g.index(i, j, k)); slice.append(k)
                }
            }
        }
        guard points.count >= 100 else {
            throw CordError.invalidValue(what: "ses-\(s.label) cord segmentation", detail: "covers too little of the image to align sessions (\(points.count) voxels)")
        }
        guard g.nx >= 2, g.ny >= 2, g.nz >= 2 else {
            throw CordError.invalidValue(what: "ses-\(s.label) image", detail: "needs at least 2 voxels along every axis to be aligned")
        }
        let values = smoothing.map { sigma -> [Double] in
            let v = sigma > 0 ? gaussianSmoothed(s.image, sigmaMM: sigma) : s.image
            return indices.map { Double(v.data[$0]) }
        }
        return CordSamples(points: points, values: values, slice: slice, centroid: centre / centreCount, sliceCentroids: centroids)
    }

    /// Per-slice cord centroids (world) of a session.
    static func sliceCentroids(_ s: SessionAnatomy) -> [SIMD3<Double>] {
        let g = s.cord.grid
        var out: [SIMD3<Double>] = []
        for k in 0..<g.nz {
            var c = SIMD3<Double>.zero, count = 0.0
            for j in 0..<g.ny { for i in 0..<g.nx where s.cord.data[g.index(i, j, k)] != 0 { c += g.world(SIMD3(i, j, k)); count += 1 } }
            if count > 0 { out.append(c / count) }
        }
        return out
    }

    /// Least-squares slopes dx/dz and dy/dz of a centroid line.
    static func slopes(_ c: [SIMD3<Double>]) -> SIMD2<Double> {
        guard c.count >= 3 else { return .zero }
        let n = Double(c.count), mz = c.map(\.z).reduce(0, +) / n
        let mx = c.map(\.x).reduce(0, +) / n, my = c.map(\.y).reduce(0, +) / n
        var szz = 0.0, sxz = 0.0, syz = 0.0
        for p in c { szz += (p.z - mz) * (p.z - mz); sxz += (p.x - mx) * (p.z - mz); syz += (p.y - my) * (p.z - mz) }
        return szz > 0 ? SIMD2(sxz / szz, syz / szz) : .zero
    }

    /// The rigid transform T (fixed world → moving world) with moving(T(p)) ≈ a·fixed(p) + b
    /// over the fixed session's cord neighbourhood, and the NCC reached.
    ///
    /// Start: rotations about R–L and A–P from the slopes of the two cord centroid lines,
    /// in-plane translation from the centroids, S–I translation from a 1 mm scan of the NCC.
    /// Then Levenberg–Marquardt on the SSD after the least-squares intensity fit (equivalently
    /// 1 − NCC²) over 3 rotations (about the fixed cord centroid) and 3 translations, on
    /// Gaussian-smoothed images coarse to fine (`options.smoothing`), with the analytic
    /// gradient of the trilinear interpolant.
    public static func align(fixed: SessionAnatomy, moving: SessionAnatomy, options: HalfwayOptions = HalfwayOptions()) throws -> (RigidTransform, Double) {
        let levels = options.smoothing.isEmpty ? [0.0] : options.smoothing
        let fs = try samples(fixed, smoothing: levels, options: options)
        let mg = moving.image.grid
        guard mg.nx >= 2, mg.ny >= 2, mg.nz >= 2 else {
            throw CordError.invalidValue(what: "ses-\(moving.label) image", detail: "needs at least 2 voxels along every axis to be aligned")
        }
        try moving.cord.requireNonEmpty("ses-\(moving.label) cord segmentation")
        let mv = MovingImage(moving.image, smoothing: levels)
        let movingCentroids = sliceCentroids(moving)
        let mc = movingCentroids.reduce(.zero, +) / Double(max(movingCentroids.count, 1))
        let c = fs.centroid
        var rotation0 = Mat3.identity
        if options.rotations {
            let sf = slopes(fs.sliceCentroids), sm = slopes(movingCentroids)
            rotation0 = RigidTransform.rodrigues(SIMD3(atan(sf.y) - atan(sm.y), atan(sm.x) - atan(sf.x), 0))
        }
        let fcAll = fs.sliceCentroids.reduce(.zero, +) / Double(fs.sliceCentroids.count)
        let t0 = SIMD3(mc.x - fcAll.x, mc.y - fcAll.y, 0)
        let n = fs.points.count
        var mValues = [Double](repeating: 0, count: n), grads = [SIMD3<Double>](repeating: .zero, count: n)
        var valid = [Bool](repeating: false, count: n)

        /// Samples the moving image for every `stride`-th point; returns the intensity fit.
        func evaluate(_ r: Mat3, _ t: SIMD3<Double>, level: Int, stride: Int) -> IntensityFit {
            var sm = 0.0, smm = 0.0, sf = 0.0, sff = 0.0, sfm = 0.0, cnt = 0.0, tried = 0.0
            let f = fs.values[level]
            var q = 0
            while q < n {
                tried += 1
                let x = r * (fs.points[q] - c) + c + t
                if let (m, gr) = mv.sample(x, level: level) {
                    mValues[q] = m; grads[q] = gr; valid[q] = true
                    sm += m; smm += m * m; sf += f[q]; sff += f[q] * f[q]; sfm += f[q] * m; cnt += 1
                } else { valid[q] = false }
                q += stride
            }
            guard cnt > tried / 2 else { return IntensityFit(sm: 0, smm: 0, sf: 0, sff: 0, sfm: 0, n: 0) }
            return IntensityFit(sm: sm, smm: smm, sf: sf, sff: sff, sfm: sfm, n: cnt)
        }

        // S–I scan (coarsest level, every 4th sample); the best local maxima at least 6 mm
        // apart each start the optimisation (vertebrae repeat every 15–20 mm, so one peak can
        // be a neighbouring level), and the start reaching the highest NCC wins.
        var scan: [(Double, Double)] = []
        var z = -options.searchRange
        while z <= options.searchRange + 1e-9 {
            scan.append((z, evaluate(rotation0, SIMD3(t0.x, t0.y, z), level: 0, stride: 4).ncc))
            z += 1
        }
        var peaks: [(Double, Double)] = []
        for (q, p) in scan.enumerated() where (q == 0 || scan[q - 1].1 <= p.1) && (q == scan.count - 1 || scan[q + 1].1 <= p.1) {
            peaks.append(p)
        }
        var starts: [Double] = []
        for p in peaks.sorted(by: { $0.1 > $1.1 }) where starts.count < options.starts && starts.allSatisfy({ abs($0 - p.0) >= 6 }) {
            starts.append(p.0)
        }
        if starts.isEmpty { starts = [0] }

        let parameters = options.rotations ? 6 : 3
        /// Levenberg–Marquardt from one start over every smoothing level.
        func optimise(_ r0: Mat3, _ tStart: SIMD3<Double>) -> (Mat3, SIMD3<Double>, Double) {
            var rotation = r0, t = tStart
            for (level, sigma) in levels.enumerated() {
                let stride = sigma >= 2 ? 3 : sigma >= 1 ? 2 : 1
                var fit = evaluate(rotation, t, level: level, stride: stride)
                var mu = 1e-3
                for _ in 0..<40 {
                    guard fit.count > 0 else { break }
                    var h = [Double](repeating: 0, count: parameters * parameters), gv = [Double](repeating: 0, count: parameters)
                    let f = fs.values[level]
                    var q = 0
                    var jrow = [Double](repeating: 0, count: parameters)
                    while q < n {
                        defer { q += stride }
                        guard valid[q] else { continue }
                        let r = fit.a * mValues[q] + fit.b - f[q]
                        let g = fit.a * grads[q]
                        jrow[0] = g.x; jrow[1] = g.y; jrow[2] = g.z
                        if parameters == 6 {
                            let v = rotation * (fs.points[q] - c)
                            let w = SIMD3(v.y * g.z - v.z * g.y, v.z * g.x - v.x * g.z, v.x * g.y - v.y * g.x)
                            jrow[3] = w.x; jrow[4] = w.y; jrow[5] = w.z
                        }
                        for a in 0..<parameters {
                            gv[a] += jrow[a] * r
                            for b in a..<parameters { h[a * parameters + b] += jrow[a] * jrow[b] }
                        }
                    }
                    for a in 0..<parameters { for b in 0..<a { h[a * parameters + b] = h[b * parameters + a] } }
                    var accepted = false
                    while mu < 1e8 {
                        var damped = h
                        for a in 0..<parameters { damped[a * parameters + a] *= 1 + mu }
                        guard let delta = solveDense(damped, gv.map { -$0 }, n: parameters) else { mu *= 10; continue }
                        let newT = t + SIMD3(delta[0], delta[1], delta[2])
                        let newR = parameters == 6 ? RigidTransform.rodrigues(SIMD3(delta[3], delta[4], delta[5])) * rotation : rotation
                        let newFit = evaluate(newR, newT, level: level, stride: stride)
                        if newFit.count > 0 && newFit.ncc > fit.ncc {
                            t = newT; rotation = newR; fit = newFit; mu = max(mu / 3, 1e-7); accepted = true
                            let step = SIMD3(delta[0], delta[1], delta[2])
                            let turn = parameters == 6 ? SIMD3(delta[3], delta[4], delta[5]) : .zero
                            if length(step) < 1e-3 && length(turn) < 1e-5 { accepted = false }
                            break
                        }
                        // Restore the sample cache of the current parameters before a larger damping.
                        _ = evaluate(rotation, t, level: level, stride: stride)
                        mu *= 4
                    }
                    if !accepted { break }
                }
            }
            return (rotation, t, evaluate(rotation, t, level: levels.count - 1, stride: 1).ncc)
        }
        var best: (Mat3, SIMD3<Double>, Double)?
        for z0 in starts {
            let candidate = optimise(rotation0, SIMD3(t0.x, t0.y, z0))
            if best == nil || candidate.2 > (best?.2 ?? -2) { best = candidate }
        }
        guard let (rotation, t, ncc) = best else {
            throw CordError.invalidValue(what: "ses-\(fixed.label) and ses-\(moving.label)", detail: "could not be aligned (no overlap)")
        }
        return (RigidTransform(rotation: rotation, translation: c - rotation * c + t), ncc)
    }

    /// In-plane shifts d(z) (halfway axes, mm) with moving(H_j(h + d(h.z))) ≈ a·fixed(H_i(h)) + b,
    /// on the knots of `knots`: Gauss–Newton on the intensity-fitted SSD plus
    /// λ Σ |d_{m+1} − d_m|² (first differences along z), λ = `sliceSmoothness` × the median
    /// data curvature of a knot; kept only when it raises the NCC (else zero shifts).
    static func sliceWise(fixed: SessionAnatomy, fixedMapping: SessionMapping, moving: SessionAnatomy, movingMapping: SessionMapping,
                          knots: InPlaneShifts, options: HalfwayOptions) throws -> (InPlaneShifts, Double) {
        let levels = options.smoothing.filter { $0 <= 1 }.isEmpty ? [0.0] : options.smoothing.filter { $0 <= 1 }
        let fs = try samples(fixed, smoothing: levels, options: options)
        let mv = MovingImage(moving.image, smoothing: levels)
        let n = fs.points.count, kc = knots.shifts.count, u = 2 * kc
        let toHalfway = fixedMapping.rigid.inverse
        let hs = fs.points.map { toHalfway.apply($0) }
        let brackets = hs.map { knots.bracket($0.z) }
        let rj = movingMapping.rigid.rotation.transposed
        var d = [SIMD2<Double>](repeating: .zero, count: kc)
        var mValues = [Double](repeating: 0, count: n), gh = [SIMD2<Double>](repeating: .zero, count: n)
        var valid = [Bool](repeating: false, count: n)
        func evaluate(_ d: [SIMD2<Double>], level: Int) -> IntensityFit {
            var sm = 0.0, smm = 0.0, sf = 0.0, sff = 0.0, sfm = 0.0, cnt = 0.0
            let f = fs.values[level]
            for q in 0..<n {
                let (k, w) = brackets[q]
                let s = kc == 1 ? d[0] : d[k] * (1 - w) + d[k + 1] * w
                let h = hs[q]
                let x = movingMapping.rigid.apply(SIMD3(h.x + s.x, h.y + s.y, h.z))
                if let (m, g) = mv.sample(x, level: level) {
                    let gl = rj * g
                    mValues[q] = m; gh[q] = SIMD2(gl.x, gl.y); valid[q] = true
                    sm += m; smm += m * m; sf += f[q]; sff += f[q] * f[q]; sfm += f[q] * m; cnt += 1
                } else { valid[q] = false }
            }
            guard cnt > Double(n) / 2 else { return IntensityFit(sm: 0, smm: 0, sf: 0, sff: 0, sfm: 0, n: 0) }
            return IntensityFit(sm: sm, smm: smm, sf: sf, sff: sff, sfm: sfm, n: cnt)
        }
        let last = levels.count - 1
        let before = evaluate(d, level: last).ncc
        for level in levels.indices {
            for _ in 0..<10 {
                let fit = evaluate(d, level: level)
                guard fit.count > 0 else { break }
                var a = [Double](repeating: 0, count: u * u), b = [Double](repeating: 0, count: u)
                let f = fs.values[level]
                for q in 0..<n where valid[q] {
                    let r = fit.a * mValues[q] + fit.b - f[q]
                    let j = fit.a * gh[q]
                    let (k, w) = brackets[q]
                    // The sample's two knots (one when there is a single knot), without allocating.
                    let count = kc == 1 ? 1 : 2
                    for ia in 0..<count {
                        let ka = k + ia, wa = count == 1 ? 1 : (ia == 0 ? 1 - w : w)
                        b[2 * ka] += wa * j.x * r; b[2 * ka + 1] += wa * j.y * r
                        for ib in 0..<count {
                            let kb = k + ib, ww = wa * (count == 1 ? 1 : (ib == 0 ? 1 - w : w))
                            a[(2 * ka) * u + 2 * kb] += ww * j.x * j.x; a[(2 * ka) * u + 2 * kb + 1] += ww * j.x * j.y
                            a[(2 * ka + 1) * u + 2 * kb] += ww * j.y * j.x; a[(2 * ka + 1) * u + 2 * kb + 1] += ww * j.y * j.y
                        }
                    }
                }
                let curvature = (0..<kc).map { 0.5 * (a[(2 * $0) * u + 2 * $0] + a[(2 * $0 + 1) * u + 2 * $0 + 1]) }.filter { $0 > 0 }.sorted()
                guard !curvature.isEmpty else { break }
                let lambda = options.sliceSmoothness * curvature[curvature.count / 2]
                // Penalty λ Σ |d_{m+1} − d_m|²: its Hessian (2λ L) and gradient (2λ L d) halved like the data term's.
                for m in 0..<max(kc - 1, 0) {
                    for c in 0..<2 {
                        let p = 2 * m + c, q = 2 * (m + 1) + c
                        a[p * u + p] += lambda; a[q * u + q] += lambda; a[p * u + q] -= lambda; a[q * u + p] -= lambda
                        let diff = d[m + 1][c] - d[m][c]
                        b[p] -= lambda * diff; b[q] += lambda * diff
                    }
                }
                for p in 0..<u { a[p * u + p] += 1e-9 * lambda + 1e-12 }
                guard let delta = solveDense(a, b.map { -$0 }, n: u) else { break }
                var largest = 0.0
                for m in 0..<kc {
                    var s = d[m] + SIMD2(delta[2 * m], delta[2 * m + 1])
                    let len = (s * s).sum().squareRoot()
                    if len > options.maximumSliceShift { s *= options.maximumSliceShift / len }
                    largest = max(largest, abs(delta[2 * m]), abs(delta[2 * m + 1]))
                    d[m] = s
                }
                if largest < 0.005 { break }
            }
        }
        let after = evaluate(d, level: last).ncc
        guard after > before else {
            return (InPlaneShifts(z0: knots.z0, spacing: knots.spacing, shifts: [SIMD2<Double>](repeating: .zero, count: kc)), before)
        }
        return (InPlaneShifts(z0: knots.z0, spacing: knots.spacing, shifts: d), after)
    }
}
