// Slice-wise 2-D demons on a stack of axial slices sharing one in-plane lattice: the core of
// the image-driven in-plane refinement of template registration.
import CordCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A stack of axial slices on one regular in-plane lattice of world (x, y): pixel (i, j) of
/// slice s is at world (origin.x + i·spacing, origin.y + j·spacing, z[s]); arrays hold
/// slice after slice, x fastest.
struct SliceLattice: Sendable {
    let nx: Int, ny: Int
    /// World (x, y) of pixel (0, 0), mm (RAS+).
    let origin: SIMD2<Double>
    /// Pixel size, mm (isotropic in-plane).
    let spacing: Double
    /// World z of each slice, mm, ascending.
    let z: [Double]
    var perSlice: Int { nx * ny }
    var count: Int { z.count }
}

/// Parameters of `InPlaneDemons` (lengths in mm unless stated).
struct DemonsParameters: Sendable {
    /// Iterations per slice.
    var iterations = 60
    /// σ (mm) of the Gaussian applied to the whole field after every update (the
    /// "diffusion-like" regularisation of Thirion's demons).
    var sigma = 1.5
    /// Largest update per iteration, lattice pixels (Vercauteren et al. 2009's σ_x: the
    /// normalised demons force is bounded by half of it).
    var maximumStep = 1.0
    /// Bound on the Frobenius norm of the field's in-plane Jacobian ∇u (dimensionless): it
    /// keeps det(I + ∇u) ≥ (1 − bound)² > 0 and makes the inverse's fixed-point iteration a
    /// contraction of ratio ≤ bound.
    var gradientBound = 0.6
    /// Slices whose (weighted) correlation between fixed and moving is below this are left
    /// at zero displacement: the template contrast does not resemble the subject there.
    var minimumCorrelation = 0.2
}

/// Additive demons (Thirion 1998, Med Image Anal 2:243) with the symmetric (ESM) force and
/// the step normalisation of Vercauteren et al. 2009 (NeuroImage 45:S61), per axial slice:
/// find u (mm, in-plane) so that a·M(p + u(p)) + b ≈ F(p) inside the weight mask, where a, b
/// (a robust weighted least-squares linear intensity match, re-fitted every iteration) make
/// the similarity independent of the two contrasts' scale and offset. After each update the
/// field is smoothed (Gaussian σ), multiplied by the weight (so it fades to zero outside the
/// region), and scaled down if its Jacobian bound is exceeded.
enum InPlaneDemons {
    /// Field (ux, uy in mm, per lattice pixel) taking `fixed` onto `moving` slice by slice.
    /// `fixed`, `moving`, `weight` (0…1: where the field acts, fading to 0) and `metric` (0…1:
    /// where the similarity is measured; nil = `weight`) hold `lattice.count` slices each.
    static func register(fixed: [Float], moving: [Float], weight: [Float], metric: [Float]? = nil, lattice: SliceLattice,
                         parameters: DemonsParameters) -> (ux: [Float], uy: [Float]) {
        let metric = metric ?? weight
        let per = lattice.perSlice
        let ux = SharedBuffer<Float>(repeating: 0, count: per * lattice.count)
        let uy = SharedBuffer<Float>(repeating: 0, count: per * lattice.count)
        parallelChunks(lattice.count) { range, _ in
            var s = DemonsScratch(lattice: lattice, sigmaPixels: parameters.sigma / lattice.spacing)
            for k in range {
                let base = k * per
                s.run(fixed: fixed, moving: moving, weight: weight, metric: metric, base: base, parameters: parameters)
                for n in 0..<per { ux[base + n] = Float(s.ux[n] * lattice.spacing); uy[base + n] = Float(s.uy[n] * lattice.spacing) }
            }
        }
        return (ux.array, uy.array)
    }

    /// Gaussian smoothing across slices (σ mm of world z; slices may be unevenly spaced),
    /// then the weight and the Jacobian bound applied again per slice.
    static func smoothAcrossSlices(_ u: inout (ux: [Float], uy: [Float]), weight: [Float], lattice: SliceLattice,
                                   sigma: Double, gradientBound: Double) {
        let per = lattice.perSlice, z = lattice.z
        let inX = u.ux, inY = u.uy
        let outX = SharedBuffer<Float>(repeating: 0, count: inX.count), outY = SharedBuffer<Float>(repeating: 0, count: inY.count)
        parallelChunks(lattice.count) { range, _ in
            var sx = [Double](repeating: 0, count: per), sy = [Double](repeating: 0, count: per)
            for k in range {
                for n in 0..<per { sx[n] = 0; sy[n] = 0 }
                var total = 0.0
                for j in 0..<z.count where abs(z[j] - z[k]) <= 3 * sigma {
                    let w = sigma > 0 ? exp(-(z[j] - z[k]) * (z[j] - z[k]) / (2 * sigma * sigma)) : (j == k ? 1 : 0)
                    guard w > 0 else { continue }
                    total += w
                    for n in 0..<per { sx[n] += w * Double(inX[j * per + n]); sy[n] += w * Double(inY[j * per + n]) }
                }
                for n in 0..<per {
                    let wt = Double(weight[k * per + n]) / max(total, 1e-12)
                    sx[n] *= wt; sy[n] *= wt
                }
                let scale = DemonsScratch.boundScale(sx, sy, nx: lattice.nx, ny: lattice.ny, spacing: lattice.spacing, bound: gradientBound)
                for n in 0..<per { outX[k * per + n] = Float(sx[n] * scale); outY[k * per + n] = Float(sy[n] * scale) }
            }
        }
        u = (outX.array, outY.array)
    }
}

/// Per-worker buffers of one slice's demons (allocated once per chunk of slices).
struct DemonsScratch {
    let nx: Int, ny: Int, per: Int
    var ux: [Double], uy: [Double], dx: [Double], dy: [Double]
    var warped: [Double], tmp: [Double]
    let kernel: [Double]

    init(lattice: SliceLattice, sigmaPixels: Double) {
        nx = lattice.nx; ny = lattice.ny; per = nx * ny
        ux = [Double](repeating: 0, count: per); uy = ux; dx = ux; dy = ux; warped = ux; tmp = ux
        let r = max(1, CheckedNumber.clamped(3 * sigmaPixels, .up))
        let k = (-r...r).map { exp(-Double($0 * $0) / (2 * max(sigmaPixels, 1e-6) * max(sigmaPixels, 1e-6))) }
        let s = k.reduce(0, +)
        kernel = k.map { $0 / s }
    }

    /// Bilinear sample of slice `base` of `image` at pixel position (x, y), clamped to the lattice.
    @inline(__always) func sample(_ image: [Float], _ base: Int, _ x: Double, _ y: Double) -> Double {
        let cx = min(max(x, 0), Double(nx - 1)), cy = min(max(y, 0), Double(ny - 1))
        let i0 = min(CheckedNumber.clamped(cx), nx - 2), j0 = min(CheckedNumber.clamped(cy), ny - 2)
        let fx = cx - Double(i0), fy = cy - Double(j0)
        let o = base + i0 + nx * j0
        let a = Double(image[o]) * (1 - fx) + Double(image[o + 1]) * fx
        let b = Double(image[o + nx]) * (1 - fx) + Double(image[o + nx + 1]) * fx
        return a * (1 - fy) + b * fy
    }

    mutating func run(fixed: [Float], moving: [Float], weight: [Float], metric: [Float], base: Int, parameters: DemonsParameters) {
        for n in 0..<per { ux[n] = 0; uy[n] = 0 }
        guard nx >= 3, ny >= 3 else { return }
        var totalWeight = 0.0
        for n in 0..<per { totalWeight += Double(metric[base + n]) }
        guard totalWeight >= 16 else { return }
        let k2 = parameters.maximumStep * parameters.maximumStep
        for iteration in 0..<parameters.iterations {
            for j in 0..<ny { for i in 0..<nx {
                let n = i + nx * j
                warped[n] = sample(moving, base, Double(i) + ux[n], Double(j) + uy[n])
            } }
            guard let (a, b, r) = intensityMatch(fixed: fixed, weight: metric, base: base) else { return }
            if iteration == 0 && r < parameters.minimumCorrelation { return }
            for j in 0..<ny { for i in 0..<nx {
                let n = i + nx * j
                let w = Double(metric[base + n])
                guard w > 0, i > 0, j > 0, i < nx - 1, j < ny - 1 else { dx[n] = 0; dy[n] = 0; continue }
                let diff = a * warped[n] + b - Double(fixed[base + n])
                let gx = 0.25 * (a * (warped[n + 1] - warped[n - 1]) + Double(fixed[base + n + 1]) - Double(fixed[base + n - 1]))
                let gy = 0.25 * (a * (warped[n + nx] - warped[n - nx]) + Double(fixed[base + n + nx]) - Double(fixed[base + n - nx]))
                let denominator = gx * gx + gy * gy + diff * diff / k2
                guard denominator > 1e-20 else { dx[n] = 0; dy[n] = 0; continue }
                dx[n] = -w * diff * gx / denominator; dy[n] = -w * diff * gy / denominator
            } }
            for n in 0..<per { ux[n] += dx[n]; uy[n] += dy[n] }
            Self.smooth(&ux, tmp: &tmp, kernel: kernel, nx: nx, ny: ny); Self.smooth(&uy, tmp: &tmp, kernel: kernel, nx: nx, ny: ny)
            for n in 0..<per { let w = Double(weight[base + n]); ux[n] *= w; uy[n] *= w }
            let scale = Self.boundScale(ux, uy, nx: nx, ny: ny, spacing: 1, bound: parameters.gradientBound)
            if scale < 1 { for n in 0..<per { ux[n] *= scale; uy[n] *= scale } }
        }
    }

    /// a, b of a·warped + b ≈ fixed by weighted least squares with one Huber re-weighting
    /// (residual scale from the first fit's weighted RMS), and the weighted correlation.
    func intensityMatch(fixed: [Float], weight: [Float], base: Int) -> (Double, Double, Double)? {
        var a = 0.0, b = 0.0, scale = Double.infinity, correlation = 0.0
        for pass in 0..<2 {
            var moments = WeightedMoments(), sr = 0.0
            for n in 0..<per {
                var w = Double(weight[base + n])
                guard w > 0 else { continue }
                let f = Double(fixed[base + n]), m = warped[n]
                if pass == 1 { let r = abs(a * m + b - f); if r > scale { w *= scale / r } }
                moments.add(w, m, f)
            }
            guard moments.sw > 0 else { return nil }
            let vm = moments.varianceX, vf = moments.varianceY, c = moments.covariance
            guard vm > 1e-12, vf > 1e-12 else { return nil }
            a = c / vm; b = (moments.sy - a * moments.sx) / moments.sw
            if pass == 0 { correlation = c / (vm * vf).squareRoot() }
            for n in 0..<per { let w = Double(weight[base + n]); if w > 0 { let r = a * warped[n] + b - Double(fixed[base + n]); sr += w * r * r } }
            scale = 2 * max((sr / moments.sw).squareRoot(), 1e-9)
        }
        return (a, b, correlation)
    }

    /// Separable Gaussian, zero outside the lattice.
    static func smooth(_ u: inout [Double], tmp: inout [Double], kernel: [Double], nx: Int, ny: Int) {
        let r = kernel.count / 2, taps = kernel.count
        // Index loops over raw buffers, each tap range clipped to the slice once per pixel
        // (x = i + o − r inside [0, nx) ⇔ o in [r − i, nx − i + r)).
        kernel.withUnsafeBufferPointer { k in
            u.withUnsafeMutableBufferPointer { up in
                tmp.withUnsafeMutableBufferPointer { tp in
                    for j in 0..<ny {
                        let row = nx * j
                        for i in 0..<nx {
                            var s = 0.0, o = max(0, r - i)
                            let hi = min(taps, nx - i + r)
                            while o < hi { s += k[o] * up[row + i + o - r]; o += 1 }
                            tp[row + i] = s
                        }
                    }
                    for j in 0..<ny {
                        let lo = max(0, r - j), hi = min(taps, ny - j + r)
                        for i in 0..<nx {
                            var s = 0.0, o = lo
                            while o < hi { s += k[o] * tp[i + nx * (j + o - r)]; o += 1 }
                            up[i + nx * j] = s
                        }
                    }
                }
            }
        }
    }

    /// Factor (≤ 1) that brings the largest Frobenius norm of the bilinear field's Jacobian
    /// under `bound`: per lattice cell, each partial derivative of the bilinear interpolant lies
    /// between its two edge differences, so the cell's bound uses the larger of each pair.
    /// `u` in the same length unit as `spacing`.
    static func boundScale(_ ux: [Double], _ uy: [Double], nx: Int, ny: Int, spacing: Double, bound: Double) -> Double {
        var worst = 0.0
        guard nx >= 2, ny >= 2 else { return 1 }
        for j in 0..<(ny - 1) { for i in 0..<(nx - 1) {
            let n = i + nx * j
            @inline(__always) func edges(_ u: [Double]) -> Double {
                let ddx = max(abs(u[n + 1] - u[n]), abs(u[n + nx + 1] - u[n + nx]))
                let ddy = max(abs(u[n + nx] - u[n]), abs(u[n + nx + 1] - u[n + 1]))
                return ddx * ddx + ddy * ddy
            }
            worst = max(worst, edges(ux) + edges(uy))
        } }
        let g = worst.squareRoot() / spacing
        return g > bound ? bound / g : 1
    }
}

/// Weighted sums of x, y and their products: the weighted variances, covariance and
/// correlation behind the demons' intensity match and the choice of template contrast.
struct WeightedMoments {
    var sw = 0.0, sx = 0.0, sy = 0.0, sxx = 0.0, syy = 0.0, sxy = 0.0

    @inline(__always) mutating func add(_ w: Double, _ x: Double, _ y: Double) {
        sw += w; sx += w * x; sy += w * y; sxx += w * x * x; syy += w * y * y; sxy += w * x * y
    }
    /// Σw·(x − x̄)², Σw·(y − ȳ)², Σw·(x − x̄)(y − ȳ) (unnormalised).
    var varianceX: Double { sxx - sx * sx / sw }
    var varianceY: Double { syy - sy * sy / sw }
    var covariance: Double { sxy - sx * sy / sw }
    /// Pearson correlation; nil without weight or variance.
    var correlation: Double? {
        let vx = varianceX, vy = varianceY
        return sw > 0 && vx > 0 && vy > 0 ? covariance / (vx * vy).squareRoot() : nil
    }
}
