// Sessions of one subject in a common, unbiased space: cord-masked rigid (translation)
// alignment of every pair of sessions, combined so that no session is the reference.
import CordCore
import CordRegistration

/// One session's anatomical image and cord segmentation, as the alignment needs them.
public struct SessionAnatomy: Sendable {
    public var label: String
    public var image: Volume<Float>
    public var cord: Mask
    public init(label: String, image: Volume<Float>, cord: Mask) { self.label = label; self.image = image; self.cord = cord }
}

/// Options of the between-session alignment.
public struct HalfwayOptions: Sendable {
    /// In-plane radius (mm) around each slice's cord centre that is compared: cord, CSF and
    /// the front of the vertebral column (whose discs fix the S–I position).
    public var radius = 10.0
    /// S–I shifts searched first (± mm, 1 mm steps), then refined in 3D down to `finestStep` mm.
    public var searchRange = 15.0
    public var finestStep = 0.1
    /// In-plane sampling distance (mm) of the compared voxels (every voxel when finer than the grid).
    public var sampling = 1.0
    public init() {}
}

/// The subject's position in each session relative to the halfway space (mm, world): a
/// point h of the halfway space is at h + offset[k] in session k. The offsets sum to zero
/// (the halfway space is the mean position), so no session is privileged.
public struct HalfwaySpace: Sendable {
    public var labels: [String]
    public var offsets: [SIMD3<Double>]
    /// Pairwise translations (i, j, t): a point p of session i lies at p + t in session j,
    /// with the normalised cross-correlation reached.
    public var pairs: [(i: Int, j: Int, t: SIMD3<Double>, ncc: Double)]
    /// RMS (mm) of the pairwise translations' disagreement with the offsets (0 for two sessions).
    public var inconsistency: Double

    /// World position in session `k` of halfway-space point `h`, and back.
    public func toSession(_ h: SIMD3<Double>, _ k: Int) -> SIMD3<Double> { h + offsets[k] }
    public func toHalfway(_ p: SIMD3<Double>, from k: Int) -> SIMD3<Double> { p - offsets[k] }

    /// Aligns every pair of sessions (both cores) and solves for offsets with zero sum: for a
    /// complete set of pairs the least-squares solution is offset[k] = mean over j of t(j→k).
    public static func estimate(_ sessions: [SessionAnatomy], options: HalfwayOptions = HalfwayOptions()) throws -> HalfwaySpace {
        let n = sessions.count
        guard n >= 1 else { throw CordError.invalidValue(what: "halfway space", detail: "needs at least one session") }
        for s in sessions {
            try s.image.grid.requireCompatible(with: s.cord.grid, "ses-\(s.label) image", "ses-\(s.label) cord segmentation")
            try s.cord.requireNonEmpty("ses-\(s.label) cord segmentation")
        }
        var pairList: [(Int, Int)] = []
        for i in 0..<n { for j in (i + 1)..<max(i + 1, n) { pairList.append((i, j)) } }
        let jobs = pairList
        let slots = ResultSlots<(SIMD3<Double>, Double)>(jobs.count)
        parallelChunks(jobs.count) { range, _ in
            for q in range {
                let (i, j) = jobs[q]
                slots.set(q, Result { try align(fixed: sessions[i], moving: sessions[j], options: options) })
            }
        }
        let found = try slots.results("session alignment").map { try $0.get() }
        var t = [[SIMD3<Double>]](repeating: [SIMD3<Double>](repeating: .zero, count: n), count: n)
        var pairs: [(i: Int, j: Int, t: SIMD3<Double>, ncc: Double)] = []
        for (q, (i, j)) in jobs.enumerated() {
            t[i][j] = found[q].0; t[j][i] = -found[q].0
            pairs.append((i, j, found[q].0, found[q].1))
        }
        var offsets: [SIMD3<Double>] = []
        for k in 0..<n {
            var s = SIMD3<Double>.zero
            for j in 0..<n { s += t[j][k] }
            offsets.append(s / Double(n))
        }
        var sq = 0.0
        for p in pairs { let r = p.t - (offsets[p.j] - offsets[p.i]); sq += (r * r).sum() }
        return HalfwaySpace(labels: sessions.map(\.label), offsets: offsets, pairs: pairs,
                            inconsistency: pairs.isEmpty ? 0 : (sq / Double(pairs.count)).squareRoot())
    }

    /// The translation t (mm) with moving(p + t) ≈ fixed(p), by normalised cross-correlation
    /// over the fixed session's cord neighbourhood: an S–I scan at 1 mm steps (in-plane start
    /// from the cord centroids), then a 3D pattern search halving the step to `finestStep`.
    public static func align(fixed: SessionAnatomy, moving: SessionAnatomy, options: HalfwayOptions = HalfwayOptions()) throws -> (SIMD3<Double>, Double) {
        let g = fixed.image.grid, mg = moving.image.grid
        // Samples: voxels within `radius` of each slice's cord centre (slice = voxel k).
        var points: [SIMD3<Double>] = [], values: [Double] = []
        var centre = SIMD3<Double>.zero, centreCount = 0.0
        let r2 = options.radius * options.radius
        let stepX = max(1, CheckedNumber.clamped(options.sampling / g.spacing.x, .toNearestOrAwayFromZero))
        let stepY = max(1, CheckedNumber.clamped(options.sampling / g.spacing.y, .toNearestOrAwayFromZero))
        for k in 0..<g.nz {
            var c = SIMD3<Double>.zero, count = 0.0
            for j in 0..<g.ny { for i in 0..<g.nx where fixed.cord.data[g.index(i, j, k)] != 0 { c += g.world(SIMD3(i, j, k)); count += 1 } }
            guard count > 0 else { continue }
            c /= count
            centre += c; centreCount += 1
            for j in stride(from: 0, to: g.ny, by: stepY) {
                for i in stride(from: 0, to: g.nx, by: stepX) {
                    let w = g.world(SIMD3(i, j, k))
                    let d = w - c
                    guard d.x * d.x + d.y * d.y <= r2 else { continue }
                    points.append(mg.voxel(ofWorld: w)); values.append(Double(fixed.image.data[g.index(i, j, k)]))
                }
            }
        }
        guard points.count >= 100 else {
            throw CordError.invalidValue(what: "ses-\(fixed.label) cord segmentation", detail: "covers too little of the image to align sessions (\(points.count) voxels)")
        }
        guard mg.nx >= 2, mg.ny >= 2, mg.nz >= 2 else {
            throw CordError.invalidValue(what: "ses-\(moving.label) image", detail: "needs at least 2 voxels along every axis to be aligned")
        }
        let inverse = mg.inverseAffine
        let nx = mg.nx, ny = mg.ny, nz = mg.nz, nxy = nx * ny
        let px = points.map(\.x), py = points.map(\.y), pz = points.map(\.z)
        /// NCC of fixed samples (every `stride`-th) against moving(p + t); samples leaving the
        /// moving grid are dropped. Trilinear interpolation inline on the contiguous buffer.
        func ncc(_ t: SIMD3<Double>, stride: Int = 1) -> Double {
            let d = inverse.apply(t) - inverse.apply(.zero)
            var sm = 0.0, smm = 0.0, sfm = 0.0, sf = 0.0, sff = 0.0, n = 0.0, tried = 0.0
            moving.image.data.withUnsafeBufferPointer { buf in
                var q = 0
                while q < px.count {
                    defer { q += stride }
                    tried += 1
                    let x = px[q] + d.x, y = py[q] + d.y, z = pz[q] + d.z
                    guard x >= 0, y >= 0, z >= 0, x <= Double(nx - 1), y <= Double(ny - 1), z <= Double(nz - 1) else { continue }
                    let i0 = min(CheckedNumber.clamped(x), nx - 2 < 0 ? 0 : nx - 2), j0 = min(CheckedNumber.clamped(y), max(ny - 2, 0))
                    let k0 = min(CheckedNumber.clamped(z), max(nz - 2, 0))
                    let fx = x - Double(i0), fy = y - Double(j0), fz = z - Double(k0)
                    let b = i0 + nx * j0 + nxy * k0
                    let c000 = Double(buf[b]), c100 = Double(buf[b + 1]), c010 = Double(buf[b + nx]), c110 = Double(buf[b + nx + 1])
                    let c001 = Double(buf[b + nxy]), c101 = Double(buf[b + nxy + 1]), c011 = Double(buf[b + nxy + nx]), c111 = Double(buf[b + nxy + nx + 1])
                    let c00 = c000 + (c100 - c000) * fx, c10 = c010 + (c110 - c010) * fx
                    let c01 = c001 + (c101 - c001) * fx, c11 = c011 + (c111 - c011) * fx
                    let c0 = c00 + (c10 - c00) * fy, c1 = c01 + (c11 - c01) * fy
                    let m = c0 + (c1 - c0) * fz
                    let f = values[q]
                    sm += m; smm += m * m; sfm += f * m; sf += f; sff += f * f; n += 1
                }
            }
            guard n > tried / 2 else { return -1 }
            let cov = sfm - sf * sm / n, vf = sff - sf * sf / n, vm = smm - sm * sm / n
            guard vf > 0, vm > 0 else { return -1 }
            return cov / (vf * vm).squareRoot()
        }
        // Start: in-plane from the cord centroids (S–I ignored: the cord fills the grid).
        var mc = SIMD3<Double>.zero, mcount = 0.0
        for n in 0..<moving.cord.data.count where moving.cord.data[n] != 0 { mc += mg.world(mg.coordinates(of: n)); mcount += 1 }
        var fc = SIMD3<Double>.zero, fcount = 0.0
        for n in 0..<fixed.cord.data.count where fixed.cord.data[n] != 0 { fc += g.world(g.coordinates(of: n)); fcount += 1 }
        let start = SIMD3(mc.x / mcount - fc.x / fcount, mc.y / mcount - fc.y / fcount, 0)
        // Coarse (every 4th sample) S–I scan and steps ≥ 0.5 mm, then all samples.
        var best = start, bestScore = -2.0
        var z = -options.searchRange
        while z <= options.searchRange + 1e-9 {
            let t = SIMD3(start.x, start.y, z), s = ncc(t, stride: 4)
            if s > bestScore { bestScore = s; best = t }
            z += 1
        }
        var step = 1.0
        var coarse = true
        while step >= options.finestStep - 1e-12 {
            if coarse && step < 0.5 { coarse = false; bestScore = ncc(best) }
            let stride = coarse ? 4 : 1
            var improved = true
            while improved {
                improved = false
                for axis in 0..<3 {
                    for sign in [-1.0, 1.0] {
                        var t = best; t[axis] += sign * step
                        let s = ncc(t, stride: stride)
                        if s > bestScore + 1e-9 { bestScore = s; best = t; improved = true }
                    }
                }
            }
            step /= 2
        }
        return (best, coarse ? ncc(best) : bestScore)
    }

    /// One labelling for the subject: each session's labels taken to the halfway space and
    /// averaged per level and kind (levels seen in any session), then taken to every session.
    /// `given[k]` is nil for a session without labels. Throws when no session has labels.
    public func sharedLabels(_ given: [VertebralLabels?]) throws -> (halfway: VertebralLabels, perSession: [VertebralLabels]) {
        var sums: [String: (SIMD3<Double>, Double, Int, LabelKind)] = [:]
        for (k, labels) in given.enumerated() {
            guard let labels else { continue }
            for p in labels.points {
                let key = "\(p.level)|\(p.kind.rawValue)"
                let h = toHalfway(p.world, from: k)
                let old = sums[key] ?? (.zero, 0, p.level, p.kind)
                sums[key] = (old.0 + h, old.1 + 1, p.level, p.kind)
            }
        }
        guard !sums.isEmpty else {
            throw CordError.invalidValue(what: "vertebral labels", detail: "no session has labels to share")
        }
        let points = sums.values.map { VertebralLabels.Point(level: $0.2, kind: $0.3, world: $0.0 / $0.1) }
        let halfway = VertebralLabels(points: points)
        let per = offsets.indices.map { k in
            VertebralLabels(points: halfway.points.map { VertebralLabels.Point(level: $0.level, kind: $0.kind, world: toSession($0.world, k)) })
        }
        return (halfway, per)
    }
}
