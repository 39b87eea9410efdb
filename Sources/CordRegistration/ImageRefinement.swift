// Image-driven in-plane refinement of template registration: per axial slice, a smooth 2-D
// displacement that aligns the subject image with the template contrast mapped through the
// current (segmentation-driven) transform, near the cord only, invertible by fixed point.
import CordAtlas
import CordCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A slice-wise in-plane displacement u(x, y; z) (mm, world x and y) applied to subject points
/// before the radial stretch and the affine: subject p ↦ p + u(p) ↦ template. It is found by
/// `InPlaneDemons` between the subject image F and the template contrast M mapped onto the
/// subject through the current map, on a world-aligned lattice of axial slices at the subject
/// profile's heights; it is 1× inside the cord dilated by `margin` mm, fades to 0 over a
/// cosine ramp of max(2, 2σ) mm beyond, is smoothed across slices (Gaussian, `zSigma` mm) and
/// fades out over `fade` mm beyond the first and last slice. Its Jacobian is bounded
/// (‖∇u‖_F ≤ 0.6, so det(I + ∇u) ≥ 0.16) and it is inverted by the fixed-point iteration
/// p ← y − u(p), a contraction of ratio ≤ 0.6 (run to 10⁻⁹ mm).
struct ImageRefinement: Sendable {
    let lattice: SliceLattice
    /// Displacement (mm) per lattice pixel, slice after slice.
    let ux: [Float], uy: [Float]
    let fade: Double
    /// Name of the template contrast that drove it ("T2w", or "T2w-like (tissue maps)" …).
    let contrast: String

    /// A template image to compare with the subject: an atlas contrast, or one synthesised from
    /// the tissue probability maps (CSF, white and grey matter weights) when the atlas has none.
    enum Source: Sendable {
        case image(String, Volume<Float>)
        case tissue(String, csf: Float, whiteMatter: Float, greyMatter: Float)
        var name: String { switch self { case .image(let n, _), .tissue(let n, _, _, _): n } }
    }

    /// Template contrasts to try: the atlas's, else T2w- and T1w-like images from its tissue
    /// maps (relative intensities CSF 1, WM 0.35, GM 0.45 and CSF 0.25, WM 1, GM 0.85; only
    /// their ratios matter, the intensity match absorbs scale and offset).
    static func sources(_ atlas: Atlas, requested: String?) throws -> [Source] {
        var all: [Source] = atlas.contrasts.keys.sorted().map { .image($0, atlas.contrasts[$0]!) }
        if all.isEmpty, atlas.cord != nil, atlas.csf != nil {
            all = [.tissue("T2w-like (tissue maps)", csf: 1, whiteMatter: 0.35, greyMatter: 0.45),
                   .tissue("T1w-like (tissue maps)", csf: 0.25, whiteMatter: 1, greyMatter: 0.85)]
        }
        if let r = requested {
            guard let s = all.first(where: { $0.name == r || $0.name.hasPrefix(r + "-like") }) else {
                throw RegistrationError.atlasIncomplete("\(atlas.source) has no template contrast '\(r)' for the image-driven refinement (available: \(all.map(\.name).joined(separator: ", ")))")
            }
            return [s]
        }
        guard !all.isEmpty else {
            throw RegistrationError.atlasIncomplete("\(atlas.source) has neither template contrasts (T1w/T2w) nor cord and CSF maps: the image-driven refinement needs one")
        }
        return all
    }

    /// Builds the refinement on top of `map` (its radial step included when set).
    init(map: CordMap, subject: Volume<Float>, segmentation: Volume<Float>, atlas: Atlas,
         options: TemplateRegistrationOptions) throws {
        let slices = map.subject.slices
        let sp = subject.grid.spacing
        let h = min(max(min(sp.x, sp.y, sp.z), 0.3), 1.0)
        let ramp = max(2, 2 * options.imageRegularisation)
        let pad = options.imageMargin + ramp + 2 * h
        var lo = SIMD2(Double.infinity, Double.infinity), hi = -lo
        for s in slices {
            let half = SIMD2(2.5 * s.covariance.x.squareRoot(), 2.5 * s.covariance.z.squareRoot()) + pad
            lo = pointwiseMin(lo, s.centre - half); hi = pointwiseMax(hi, s.centre + half)
        }
        let nx = min(600, CheckedNumber.clamped((hi.x - lo.x) / h, .up) + 1), ny = min(600, CheckedNumber.clamped((hi.y - lo.y) / h, .up) + 1)
        let origin = lo
        let lattice = SliceLattice(nx: nx, ny: ny, origin: origin, spacing: h, z: slices.map(\.z))
        let per = lattice.perSlice, total = per * lattice.count
        // Subject image, cord mask and template points on the lattice.
        let fixed = SharedBuffer<Float>(repeating: 0, count: total), cordMask = SharedBuffer<Float>(repeating: 0, count: total)
        let qx = SharedBuffer<Double>(repeating: 0, count: total), qy = SharedBuffer<Double>(repeating: 0, count: total)
        let qz = SharedBuffer<Double>(repeating: 0, count: total)
        parallelChunks(lattice.count) { range, _ in
            for k in range { for j in 0..<ny { for i in 0..<nx {
                let n = k * per + i + nx * j
                let p = SIMD3(origin.x + Double(i) * h, origin.y + Double(j) * h, lattice.z[k])
                fixed[n] = subject.trilinear(world: p)
                cordMask[n] = segmentation.trilinear(world: p) >= 0.5 ? 1 : 0
                let q = map.templatePoint(ofSubject: p)
                qx[n] = q.x; qy[n] = q.y; qz[n] = q.z
            } } }
        }
        let weight = Self.weights(cordMask.array, lattice: lattice, margin: options.imageMargin, ramp: ramp)
        let fixedArray = fixed.array
        // The template contrast that correlates best with the subject inside the region.
        var best: (Source, [Float], Double)?
        for source in try Self.sources(atlas, requested: options.imageContrast) {
            let moving = SharedBuffer<Float>(repeating: 0, count: total)
            parallelChunks(lattice.count) { range, _ in
                for n in (range.lowerBound * per)..<(range.upperBound * per) {
                    moving[n] = Self.sample(source, atlas: atlas, SIMD3(qx[n], qy[n], qz[n]))
                }
            }
            let m = moving.array
            let r = Self.correlation(fixedArray, m, weight: weight)
            if best == nil || r > best!.2 { best = (source, m, r) }
        }
        guard let (source, moving, _) = best else { throw RegistrationError.atlasIncomplete("\(atlas.source): no template contrast") }
        var parameters = DemonsParameters()
        parameters.iterations = options.imageIterations; parameters.sigma = options.imageRegularisation
        // A synthesised image knows nothing outside the canal: measure the similarity only
        // where the mapped template has cord or CSF.
        var metric: [Float]?
        if case .tissue = source {
            let canal = SharedBuffer<Float>(repeating: 0, count: total)
            parallelChunks(lattice.count) { range, _ in
                for n in (range.lowerBound * per)..<(range.upperBound * per) where weight[n] > 0 {
                    let v = atlas.grid.voxel(ofWorld: SIMD3(qx[n], qy[n], qz[n]))
                    let c = (atlas.cord?.trilinear(v) ?? 0) + (atlas.csf?.trilinear(v) ?? 0)
                    canal[n] = weight[n] * min(max(c, 0), 1)
                }
            }
            metric = canal.array
        }
        var u = InPlaneDemons.register(fixed: fixedArray, moving: moving, weight: weight, metric: metric, lattice: lattice, parameters: parameters)
        InPlaneDemons.smoothAcrossSlices(&u, weight: weight, lattice: lattice, sigma: options.imageZSmoothing,
                                         gradientBound: parameters.gradientBound)
        self.lattice = lattice; ux = u.ux; uy = u.uy; fade = 5; contrast = source.name
    }

    static func sample(_ s: Source, atlas: Atlas, _ q: SIMD3<Double>) -> Float {
        switch s {
        case .image(_, let v): return v.trilinear(world: q)
        case .tissue(_, let c, let w, let g):
            let v = atlas.grid.voxel(ofWorld: q)
            let cord = atlas.cord?.trilinear(v) ?? 0, csf = atlas.csf?.trilinear(v) ?? 0, gm = atlas.greyMatter?.trilinear(v) ?? 0
            return c * csf + w * max(cord - gm, 0) + g * gm
        }
    }

    /// Weighted Pearson correlation over the whole stack.
    static func correlation(_ a: [Float], _ b: [Float], weight: [Float]) -> Double {
        var moments = WeightedMoments()
        for n in 0..<a.count where weight[n] > 0 { moments.add(Double(weight[n]), Double(a[n]), Double(b[n])) }
        return moments.correlation ?? -1
    }

    /// 1 within `margin` mm of the slice's cord pixels, cosine ramp to 0 over `ramp` mm beyond
    /// (distance to the nearest boundary pixel of the cord, exact Euclidean).
    static func weights(_ cord: [Float], lattice: SliceLattice, margin: Double, ramp: Double) -> [Float] {
        let nx = lattice.nx, ny = lattice.ny, per = lattice.perSlice, h = lattice.spacing
        let out = SharedBuffer<Float>(repeating: 0, count: cord.count)
        parallelChunks(lattice.count) { range, _ in
            var boundary: [SIMD2<Double>] = []
            boundary.reserveCapacity(per)
            for k in range {
                let base = k * per
                boundary.removeAll(keepingCapacity: true)
                for j in 0..<ny { for i in 0..<nx where cord[base + i + nx * j] != 0 {
                    let edge = i == 0 || j == 0 || i == nx - 1 || j == ny - 1 || cord[base + i - 1 + nx * j] == 0
                        || cord[base + i + 1 + nx * j] == 0 || cord[base + i + nx * (j - 1)] == 0 || cord[base + i + nx * (j + 1)] == 0
                    if edge { boundary.append(SIMD2(Double(i), Double(j))) }
                } }
                guard !boundary.isEmpty else { continue }
                for j in 0..<ny { for i in 0..<nx {
                    let n = base + i + nx * j
                    if cord[n] != 0 { out[n] = 1; continue }
                    var d2 = Double.infinity
                    let p = SIMD2(Double(i), Double(j))
                    for b in boundary { let d = b - p; d2 = min(d2, (d * d).sum()) }
                    let d = d2.squareRoot() * h
                    out[n] = d <= margin ? 1 : d >= margin + ramp ? 0 : Float(0.5 * (1 + cos(Double.pi * (d - margin) / ramp)))
                } }
            }
        }
        return out.array
    }

    /// u at subject point p (mm; bilinear in-plane, linear between slices, fading beyond the ends).
    @inline(__always) func displacement(_ p: SIMD3<Double>) -> SIMD2<Double> {
        let z = lattice.z
        guard let first = z.first, let last = z.last else { return .zero }
        var w = 1.0
        if p.z < first { w = max(0, 1 - (first - p.z) / fade) } else if p.z > last { w = max(0, 1 - (p.z - last) / fade) }
        let x = (p.x - lattice.origin.x) / lattice.spacing, y = (p.y - lattice.origin.y) / lattice.spacing
        let nx = lattice.nx, ny = lattice.ny
        guard w > 0, x >= 0, y >= 0, x <= Double(nx - 1), y <= Double(ny - 1), nx >= 2, ny >= 2 else { return .zero }
        var lo = 0, hi = z.count - 1, t = 0.0
        if p.z <= first { hi = 0 } else if p.z >= last { lo = hi } else {
            while hi - lo > 1 { let mid = (lo + hi) / 2; if z[mid] <= p.z { lo = mid } else { hi = mid } }
            t = (p.z - z[lo]) / (z[hi] - z[lo])
        }
        let i0 = min(CheckedNumber.clamped(x), nx - 2), j0 = min(CheckedNumber.clamped(y), ny - 2)
        let fx = x - Double(i0), fy = y - Double(j0)
        @inline(__always) func bilinear(_ u: [Float], _ k: Int) -> Double {
            let o = k * lattice.perSlice + i0 + nx * j0
            let a = Double(u[o]) * (1 - fx) + Double(u[o + 1]) * fx
            let b = Double(u[o + nx]) * (1 - fx) + Double(u[o + nx + 1]) * fx
            return a * (1 - fy) + b * fy
        }
        let dx = bilinear(ux, lo) * (1 - t) + bilinear(ux, hi) * t
        let dy = bilinear(uy, lo) * (1 - t) + bilinear(uy, hi) * t
        return SIMD2(dx, dy) * w
    }

    /// Subject point → refined subject point p + u(p) (same z).
    func forward(_ p: SIMD3<Double>) -> SIMD3<Double> {
        let d = displacement(p)
        return SIMD3(p.x + d.x, p.y + d.y, p.z)
    }

    /// The inverse of `forward`: p with p + u(p) = y, by p ← y − u(p) from p = y.
    func inverse(_ y: SIMD3<Double>) -> SIMD3<Double> {
        var p = y
        for _ in 0..<100 {
            let d = displacement(p)
            let next = SIMD3(y.x - d.x, y.y - d.y, y.z)
            let step = next - p
            p = next
            if (step * step).sum() < 1e-18 { break }
        }
        return p
    }

    /// Largest |u| (mm) over the lattice.
    var maximumDisplacement: Double {
        var m = 0.0
        for n in 0..<ux.count { m = max(m, Double(ux[n] * ux[n] + uy[n] * uy[n])) }
        return m.squareRoot()
    }
}
