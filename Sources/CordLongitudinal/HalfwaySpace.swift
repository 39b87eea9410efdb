// Sessions of one subject in a common, unbiased space: cord-masked rigid alignment (3
// rotations + 3 translations) of every pair of sessions, combined in SE(3) so that no session
// is the reference, then slice-wise in-plane shifts regularised along the cord.
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
    /// S–I shifts scanned first (± mm, 1 mm steps) before the rigid optimisation.
    public var searchRange = 15.0
    /// Best S–I scan peaks (≥ 6 mm apart) each starting the rigid optimisation; the highest NCC wins.
    public var starts = 3
    /// In-plane sampling distance (mm) of the compared voxels (every voxel when finer than the grid).
    public var sampling = 1.0
    /// Estimate rotations (rigid); false: translation only.
    public var rotations = true
    /// Gaussian σ (mm) of the coarse-to-fine levels of the rigid optimisation (0 = the image).
    public var smoothing = [2.0, 1.0, 0.0]
    /// Slice-wise in-plane refinement after the rigid alignment.
    public var sliceWise = true
    /// Weight of the first-difference penalty on the in-plane shifts along z, relative to the
    /// median data curvature of one knot (≈ the number of knots over which shifts are smoothed, squared).
    public var sliceSmoothness = 1.0
    /// Largest in-plane shift (mm) the slice-wise step may add; larger ones are clamped.
    public var maximumSliceShift = 4.0
    public init() {}
}

/// In-plane shifts (halfway x, y; mm) as a function of halfway z: linear between knots every
/// `spacing` mm from `z0`, constant beyond the ends.
public struct InPlaneShifts: Sendable, Equatable {
    public var z0: Double, spacing: Double
    public var shifts: [SIMD2<Double>]
    public init(z0: Double, spacing: Double, shifts: [SIMD2<Double>]) { self.z0 = z0; self.spacing = spacing; self.shifts = shifts }

    /// Knot index and weight of the upper knot for height z.
    @inline(__always) func bracket(_ z: Double) -> (Int, Double) {
        guard shifts.count > 1 else { return (0, 0) }
        let u = (z - z0) / spacing
        if !(u > 0) { return (0, 0) }
        if u >= Double(shifts.count - 1) { return (shifts.count - 2, 1) }
        let k = min(CheckedNumber.clamped(u, .down), shifts.count - 2)
        return (k, u - Double(k))
    }
    public func shift(at z: Double) -> SIMD2<Double> {
        guard !shifts.isEmpty else { return .zero }
        let (k, w) = bracket(z)
        return shifts.count == 1 ? shifts[0] : shifts[k] * (1 - w) + shifts[k + 1] * w
    }
    /// Knot heights (mm).
    public var knots: [Double] { shifts.indices.map { z0 + Double($0) * spacing } }
    /// RMS length of the shifts (mm).
    public var rms: Double {
        shifts.isEmpty ? 0 : (shifts.map { ($0 * $0).sum() }.reduce(0, +) / Double(shifts.count)).squareRoot()
    }
}

/// How a halfway-space point h is found in one session: p = rigid(h + (shift(h.z), 0)).
public struct SessionMapping: Sendable, Equatable {
    public var rigid: RigidTransform
    public var inPlane: InPlaneShifts?
    public init(rigid: RigidTransform, inPlane: InPlaneShifts? = nil) { self.rigid = rigid; self.inPlane = inPlane }
    @inline(__always) public func apply(_ h: SIMD3<Double>) -> SIMD3<Double> {
        guard let s = inPlane?.shift(at: h.z) else { return rigid.apply(h) }
        return rigid.apply(SIMD3(h.x + s.x, h.y + s.y, h.z))
    }
    /// The halfway-space point of session point p (exact: the shifts do not move z).
    public func inverse(_ p: SIMD3<Double>) -> SIMD3<Double> {
        let q = rigid.inverse.apply(p)
        guard let s = inPlane?.shift(at: q.z) else { return q }
        return SIMD3(q.x - s.x, q.y - s.y, q.z)
    }
}

/// One pairwise alignment: session i's point p lies at `transform(p)` in session j.
public struct PairAlignment: Sendable {
    public var i: Int, j: Int
    public var transform: RigidTransform
    /// NCC over the compared samples after the rigid alignment, and after the slice-wise step.
    public var ncc: Double, nccSliceWise: Double?
    /// In-plane shifts of j relative to i in the halfway space (nil without the slice-wise step).
    public var inPlane: InPlaneShifts?
    /// Displacement (mm) of session i's cord centroid: transform(c) − c.
    public var t: SIMD3<Double>
}

/// The subject's sessions in a halfway space: `mappings[k]` takes a halfway point to session
/// k. The rigid parts are the SE(3) means of the pairwise transforms (for two sessions, each
/// is the exact half of their relative transform), the in-plane shifts are means of the
/// pairwise slice-wise shifts, so no session is privileged (Reuter et al. 2010, NeuroImage
/// 53:1181: inverse-consistent halfway registration).
public struct HalfwaySpace: Sendable {
    public var labels: [String]
    public var mappings: [SessionMapping]
    public var pairs: [PairAlignment]
    /// Where rotations are centred (mean cord centroid of the sessions, world mm).
    public var centre: SIMD3<Double>
    /// RMS (mm) over pairs of the disagreement between the combined and the pairwise
    /// transforms at the cord centroid (0 for two sessions).
    public var inconsistency: Double

    /// Displacement of each session at the centre: mapping(centre) − centre (mm, world).
    public var offsets: [SIMD3<Double>] { mappings.map { $0.apply(centre) - centre } }
    /// Rotation of each session relative to the halfway space (rotation vector, degrees).
    public var rotationsDegrees: [SIMD3<Double>] { mappings.map { $0.rigid.rotationVector * (180 / .pi) } }

    public func toSession(_ h: SIMD3<Double>, _ k: Int) -> SIMD3<Double> { mappings[k].apply(h) }
    public func toHalfway(_ p: SIMD3<Double>, from k: Int) -> SIMD3<Double> { mappings[k].inverse(p) }

    /// Aligns every pair of sessions (both cores), combines them into the halfway space, then
    /// refines slice-wise in-plane shifts pairwise in that space and averages them likewise.
    public static func estimate(_ sessions: [SessionAnatomy], options: HalfwayOptions = HalfwayOptions()) throws -> HalfwaySpace {
        let n = sessions.count
        guard n >= 1 else { throw CordError.invalidValue(what: "halfway space", detail: "needs at least one session") }
        for s in sessions {
            try s.image.grid.requireCompatible(with: s.cord.grid, "ses-\(s.label) image", "ses-\(s.label) cord segmentation")
            try s.cord.requireNonEmpty("ses-\(s.label) cord segmentation")
        }
        var jobs: [(Int, Int)] = []
        for i in 0..<n { for j in (i + 1)..<max(i + 1, n) { jobs.append((i, j)) } }
        let pairJobs = jobs
        let slots = ResultSlots<(RigidTransform, Double)>(jobs.count)
        parallelChunks(jobs.count) { range, _ in
            for q in range {
                let (i, j) = pairJobs[q]
                slots.set(q, Result { try align(fixed: sessions[i], moving: sessions[j], options: options) })
            }
        }
        let found = try slots.results("session alignment").map { try $0.get() }
        let centroids = sessions.map { s -> SIMD3<Double> in
            var c = SIMD3<Double>.zero, m = 0.0
            for v in 0..<s.cord.data.count where s.cord.data[v] != 0 { c += s.cord.grid.world(s.cord.grid.coordinates(of: v)); m += 1 }
            return c / max(m, 1)
        }
        let centre = centroids.reduce(.zero, +) / Double(n)
        // SE(3) mean per session of the transforms from every session (itself: identity).
        var rigid: [RigidTransform] = []
        for k in 0..<n {
            var w = SIMD3<Double>.zero, u = SIMD3<Double>.zero
            for (q, (i, j)) in jobs.enumerated() where i == k || j == k {
                let t = j == k ? found[q].0 : found[q].0.inverse   // from the other session to k
                let l = t.log(centre: centre)
                w += l.omega; u += l.u
            }
            rigid.append(RigidTransform.exp(omega: w / Double(n), u: u / Double(n), centre: centre))
        }
        var pairs = jobs.enumerated().map { q, ij in
            PairAlignment(i: ij.0, j: ij.1, transform: found[q].0, ncc: found[q].1, nccSliceWise: nil, inPlane: nil,
                          t: found[q].0.apply(centroids[ij.0]) - centroids[ij.0])
        }
        var mappings = rigid.map { SessionMapping(rigid: $0) }
        if options.sliceWise && n >= 2 {
            let knots = knotGrid(sessions, mappings: mappings)
            let fixedRigid = mappings
            let refine = ResultSlots<(InPlaneShifts, Double)>(jobs.count)
            parallelChunks(jobs.count) { range, _ in
                for q in range {
                    let (i, j) = pairJobs[q]
                    refine.set(q, Result { try sliceWise(fixed: sessions[i], fixedMapping: fixedRigid[i], moving: sessions[j],
                                                         movingMapping: fixedRigid[j], knots: knots, options: options) })
                }
            }
            let shifts = try refine.results("slice-wise session alignment").map { try $0.get() }
            for q in pairs.indices { pairs[q].inPlane = shifts[q].0; pairs[q].nccSliceWise = shifts[q].1 }
            for k in 0..<n {
                var sum = [SIMD2<Double>](repeating: .zero, count: knots.shifts.count)
                for (q, (i, j)) in jobs.enumerated() where i == k || j == k {
                    let sign = j == k ? 1.0 : -1.0
                    for m in sum.indices { sum[m] += sign * shifts[q].0.shifts[m] }
                }
                mappings[k].inPlane = InPlaneShifts(z0: knots.z0, spacing: knots.spacing, shifts: sum.map { $0 / Double(n) })
            }
        }
        var sq = 0.0
        for p in pairs {
            let combined = mappings[p.j].rigid.after(mappings[p.i].rigid.inverse).apply(centroids[p.i])
            let r = combined - p.transform.apply(centroids[p.i])
            sq += (r * r).sum()
        }
        return HalfwaySpace(labels: sessions.map(\.label), mappings: mappings, pairs: pairs, centre: centre,
                            inconsistency: pairs.isEmpty ? 0 : (sq / Double(pairs.count)).squareRoot())
    }

    /// Knots shared by every pair: halfway z over all sessions' cord, at the finest slice
    /// spacing of the sessions (the voxel axis closest to S–I).
    static func knotGrid(_ sessions: [SessionAnatomy], mappings: [SessionMapping]) -> InPlaneShifts {
        var lo = Double.infinity, hi = -Double.infinity, spacing = Double.infinity
        for (k, s) in sessions.enumerated() {
            let g = s.cord.grid, l = g.affine.linear
            let axis = (0..<3).max { abs(l.column($0).z) / length(l.column($0)) < abs(l.column($1).z) / length(l.column($1)) } ?? 2
            spacing = min(spacing, length(l.column(axis)))
            let inverse = mappings[k].rigid.inverse
            for v in 0..<s.cord.data.count where s.cord.data[v] != 0 {
                let z = inverse.apply(g.world(g.coordinates(of: v))).z
                lo = min(lo, z); hi = max(hi, z)
            }
        }
        let count = max(1, CheckedNumber.clamped((hi - lo) / spacing, .up) + 1)
        return InPlaneShifts(z0: lo, spacing: spacing, shifts: [SIMD2<Double>](repeating: .zero, count: count))
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
        let per = mappings.indices.map { k in
            VertebralLabels(points: halfway.points.map { VertebralLabels.Point(level: $0.level, kind: $0.kind, world: toSession($0.world, k)) })
        }
        return (halfway, per)
    }
}
