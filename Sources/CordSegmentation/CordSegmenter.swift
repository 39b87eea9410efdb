// Cord segmentation: centerline, polar boundary per slice, partial-volume output.
import CordCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Options of `CordSegmenter.segment`.
public struct CordSegmentationOptions: Sendable {
    /// The contrast (fixes the polarity); nil: polarity detected from the image.
    public var contrast: SegmentationContrast?
    /// A point in the cord the centerline must pass within 3 mm of.
    public var hint: CenterlineHint?
    /// An axial slice in which the cord is visible, as an index along the input's voxel
    /// axis closest to superior–inferior (the slice index of an axial acquisition; the row
    /// along I–S of a sagittal one, e.g. the second index of an AIL image). Detection searches
    /// that whole slice for the most cord-like candidate and tracks the cord up and down
    /// from it. Ignored when `hint` is given.
    public var hintSlice: Int?
    /// A known centerline (one centre per slice where given, continuous voxel coordinates
    /// on the input grid): detection is skipped and these centres are used.
    public var centerline: [SIMD3<Double>]?
    /// Detection z-score below which a slice at either end is treated as having no cord.
    public var minimumSignificance = 6.0
    /// Where the boundary sits between the cord's level (0) and the CSF's (1) along each ray
    /// (see `PolarBoundaryFinder.boundaryLevel`).
    public var boundaryLevel = 0.4
    public init() {}
}

/// A cord segmentation on the input image's grid.
public struct CordSegmentation: Sendable {
    /// Fraction of each voxel inside the cord (0…1), from the sub-voxel outline.
    public var soft: Volume<Float>
    /// Voxels whose fraction is ≥ ½.
    public var binary: Mask
    /// The cord centre per segmented axial slice: continuous voxel coordinates on the input
    /// grid and world position (mm, RAS+).
    public var centerlineVoxels: [SIMD3<Double>]
    public var centerlineWorld: [SIMD3<Double>]
    /// The polarity used (given by the contrast or detected).
    public var polarity: CordPolarity
    /// Axial slices (RPI order) that were segmented.
    public var slices: Range<Int>
}

/// Classical cord segmentation without training data.
///
/// 1. Reorient to RPI (`AxialStack`); 2. find the cord's centre per axial slice
/// (`CenterlineDetector`: disc/ring score + dynamic programming; or the given centerline);
/// 3. per slice, a star-shaped outline by dynamic programming in polar coordinates
/// (`PolarBoundaryFinder`); 4. recentre on each outline's centroid, smooth the centres along
/// z (local linear regression, σ = 3 mm) and search again with the neighbouring slices'
/// outlines as a weak prior (ν = 0.05 per mm), which smooths the surface along the cord;
/// 5. rasterise with partial volume and restore the input's voxel order.
/// Fails (throws `SegmentationError`) rather than return a wrong mask when the detection is
/// not significant or when an outline reaches the edge of the image.
public enum CordSegmenter {
    public static func segment(_ image: Volume<Float>, options: CordSegmentationOptions = CordSegmentationOptions()) throws -> CordSegmentation {
        let stack = AxialStack(image)
        guard stack.nx >= 8, stack.ny >= 8 else {
            throw SegmentationError.invalidInput("the image's axial slices are \(stack.nx)×\(stack.ny) pixels; at least 8×8 are needed")
        }
        var finite = true
        for v in stack.data where !v.isFinite { finite = false; break }
        guard finite else { throw SegmentationError.invalidInput("the image holds NaN or infinite values") }
        if let s = options.hintSlice, options.hint == nil { _ = try CenterlineDetector.rpiSlice(ofInputSlice: s, image: image, stack: stack) }
        let narrowAllowed = (options.centerline ?? []).isEmpty
        if let p = options.contrast?.polarity {
            var (found, error) = search(image, stack, polarity: p, options: options, rounds: retryRounds(options))
            if narrowAllowed && !isCordLike(found) {
                let (narrow, _) = search(image, stack, polarity: p, options: options, rounds: 1, ringScale: CenterlineDetector.narrowRingScale)
                if isCordLike(narrow) { (found, error) = (narrow, nil) }
            }
            if let f = found { return f.segmentation }
            throw error ?? SegmentationError.noCordFound(detail: "no cord-like outline")
        }
        // Unknown polarity: one detection per polarity; more (away from the first ones) only
        // when neither gave a cord-like outline; the narrow-sac ring (one detection per
        // polarity: a fallback doubles the time of a scan without a findable cord otherwise,
        // e.g. the full-neck tutorial MT scan, 6.7 → 13 s) only when those did not either.
        var (results, firstError) = attempts(image, stack, options: options, rounds: 1)
        if !results.contains(where: isCordLike) && retryRounds(options) > 1 {
            (results, firstError) = attempts(image, stack, options: options, rounds: retryRounds(options))
        }
        if narrowAllowed && !results.contains(where: isCordLike) {
            let narrow = attempts(image, stack, options: options, rounds: 1, ringScale: CenterlineDetector.narrowRingScale).0
            if narrow.contains(where: isCordLike) { results = narrow.filter(isCordLike) }
        }
        guard results.count == 2 else {
            if let only = results.first { return only.segmentation }
            throw firstError ?? SegmentationError.noCordFound(detail: "neither polarity gave a cord")
        }
        return choose(results[0], results[1], stack: stack).segmentation
    }

    static func isCordLike(_ a: Attempt?) -> Bool { (a?.cordLike ?? 0) >= cordLikeMinimum }
    static func isCordLike(_ a: Attempt) -> Bool { a.cordLike >= cordLikeMinimum }

    /// Fraction of cord-like outlines (`Attempt.cordLike`) a detection needs to be accepted
    /// without looking further.
    static let cordLikeMinimum = 0.5

    /// Detections tried per polarity: 3, or 1 when a hint or a centerline fixes the cord.
    static func retryRounds(_ options: CordSegmentationOptions) -> Int {
        options.hint == nil && options.hintSlice == nil && (options.centerline ?? []).isEmpty ? 3 : 1
    }

    /// Segments with both polarities (`search` with `rounds`); returns the results that
    /// succeeded and the first error.
    static func attempts(_ image: Volume<Float>, _ stack: AxialStack, options: CordSegmentationOptions,
                         rounds: Int = 1, ringScale: Double = 1) -> ([Attempt], Error?) {
        var results: [Attempt] = []
        var firstError: Error?
        for p in CordPolarity.allCases {
            let (found, error) = search(image, stack, polarity: p, options: options, rounds: rounds, ringScale: ringScale)
            if let f = found { results.append(f) } else if firstError == nil { firstError = error }
        }
        return (results, firstError)
    }

    /// Up to `rounds` detections for one polarity, each one excluding the pixels within
    /// 4 mm of the centres found before (a dark vessel or fat plane behind the cord can
    /// outscore a cord whose posterior CSF is thin), with the detector's ring scaled by
    /// `ringScale` (`segment` tries `CenterlineDetector.narrowRingScale` only when the default
    /// found nothing cord-like). Returns the first cord-like result; when no round gives one,
    /// the first round's result or error stands, so a failure is never replaced by a
    /// non-cord-like outline found elsewhere.
    static func search(_ image: Volume<Float>, _ stack: AxialStack, polarity: CordPolarity,
                       options: CordSegmentationOptions, rounds: Int, ringScale: Double = 1) -> (Attempt?, Error?) {
        var excluded: [[SIMD2<Double>]] = Array(repeating: [], count: stack.nz)
        var first: (Attempt?, Error?)?
        for _ in 0..<max(rounds, 1) {
            var outcome: (Attempt?, Error?)
            var centres: [SIMD2<Double>?] = []
            do {
                let (c, attempt) = try straightened(image, stack, polarity: polarity, options: options, excluded: excluded, ringScale: ringScale)
                centres = c
                outcome = (attempt, nil)
            } catch {
                outcome = (nil, error)
            }
            if let a = outcome.0, a.cordLike >= cordLikeMinimum { return (a, nil) }
            if first == nil { first = outcome }
            guard !centres.isEmpty else { break }
            for k in 0..<stack.nz { if let c = centres[k] { excluded[k].append(c) } }
        }
        return first ?? (nil, nil)
    }

    /// Kinked slices searched again per detection. One or two stray slices are what this
    /// repairs (one on the MT-off test scan); a path with more kinks has followed something
    /// else than the cord, and each repair costs a detection and its outlines.
    static let maximumKinkRepairs = 3

    /// Detection and outlines, then kinks taken out: where an outline's centre leaves the point
    /// its neighbouring slices' outlines predict by more than the cord can bend
    /// (`CenterlineDetector.maximumKink`: on thick slices the path's slope penalty lets it
    /// step aside to a dark structure beside the cord and back, as on the MT-off test scan's
    /// middle slice), that slice is detected again within `kinkSearchRadius` of the predicted
    /// point, interior slices first, each slice at most once, at most `maximumKinkRepairs`,
    /// and only for a result that is otherwise cord-like (`search` looks elsewhere for the
    /// others). A search near the prediction that fails, or whose result has fewer cord-like
    /// outlines or fewer slices, keeps the result found so far.
    /// Returns the detected centres (for `excluded`) and the result.
    static func straightened(_ image: Volume<Float>, _ stack: AxialStack, polarity: CordPolarity,
                             options: CordSegmentationOptions, excluded: [[SIMD2<Double>]],
                             ringScale: Double = 1) throws -> ([SIMD2<Double>?], Attempt) {
        var constrained: [Int: SIMD2<Double>] = [:]
        var (centres, detection) = try detectCentres(image, stack, polarity: polarity, options: options, excluded: excluded, ringScale: ringScale)
        var attempt = try segmentScored(image, stack, polarity: polarity, options: options, centres: centres, detection: detection)
        let fixed = !(options.centerline ?? []).isEmpty || attempt.cordLike < cordLikeMinimum
        for ends in [false, true] where !fixed {
            while constrained.count < maximumKinkRepairs {
                let outlineCentres = attempt.contours.map { c in c.map { $0.centre + $0.polygon().centroid / SIMD2(stack.dx, stack.dy) } }
                guard let (k, predicted, _) = CenterlineDetector.worstKink(outlineCentres, stack: stack, ends: ends),
                      constrained[k] == nil else { break }
                constrained[k] = predicted
                guard let again = try? detectCentres(image, stack, polarity: polarity, options: options, excluded: excluded,
                                                     constrained: constrained, ringScale: ringScale),
                      let next = try? segmentScored(image, stack, polarity: polarity, options: options, centres: again.0, detection: again.1),
                      next.cordLike >= attempt.cordLike,
                      next.contours.compactMap({ $0 }).count >= attempt.contours.compactMap({ $0 }).count
                else { break }
                centres = again.0
                attempt = next
            }
        }
        return (centres, attempt)
    }

    /// Picks the cord among the two polarities' results, in this order:
    /// 1. Shape: the wrong polarity finds a crescent of CSF or an irregular blob beside the
    ///    cord (solidity 0.75–0.83 on the real test scans), the right one a convex cord on
    ///    nearly every slice; when the fractions of cord-like outlines (`Attempt.cordLike`)
    ///    differ by 0.25 or more, the higher wins.
    /// 2. Nesting: a dark cord sits inside a bright CSF sac (and a bright cord inside a dark
    ///    one), so when one outline encloses the other's centre on most slices the inner one
    ///    is the cord.
    /// 3. Otherwise the higher `quality`.
    static func choose(_ a: Attempt, _ b: Attempt, stack: AxialStack) -> Attempt {
        if abs(a.cordLike - b.cordLike) >= 0.25 { return a.cordLike > b.cordLike ? a : b }
        var nested = 0, common = 0, areaA = 0.0, areaB = 0.0
        for k in 0..<stack.nz {
            guard let ca = a.contours[k], let cb = b.contours[k] else { continue }
            common += 1
            let pa = ca.polygon().area, pb = cb.polygon().area
            areaA += pa; areaB += pb
            let (outer, inner) = pa > pb ? (ca, cb) : (cb, ca)
            if outer.contains(inner.centre + inner.polygon().centroid / SIMD2(stack.dx, stack.dy), dx: stack.dx, dy: stack.dy) { nested += 1 }
        }
        if common > 0 && 2 * nested > common { return areaA < areaB ? a : b }
        return a.quality >= b.quality ? a : b
    }

    /// One polarity's result: the segmentation, its outlines per RPI slice and a quality.
    struct Attempt {
        var segmentation: CordSegmentation
        var contours: [StarContour?]
        /// Fraction of the segmented slices whose outline is cord-like: area 20–250 mm²,
        /// smallest radius ≥ 1 mm (not a crescent) and solidity ≥ 0.9 (convex).
        var cordLike: Double
        /// detection significance × ring contrast × `cordLike` (see `segmentScored`).
        var quality: Double
    }

    /// The cord's centre per RPI slice for one polarity (the given centerline, or detection
    /// with the hint as anchor and the surroundings of `excluded` centres left out) and the
    /// detection's median significance (1 for a given centerline). Throws when the best
    /// candidate is not significant.
    static func detectCentres(_ image: Volume<Float>, _ stack: AxialStack, polarity: CordPolarity,
                              options: CordSegmentationOptions, excluded: [[SIMD2<Double>]],
                              constrained: [Int: SIMD2<Double>] = [:], ringScale: Double = 1) throws -> ([SIMD2<Double>?], Double) {
        func toRPI(_ v: SIMD3<Double>) -> SIMD3<Double> { stack.grid.voxel(ofWorld: image.grid.world(v.x, v.y, v.z)) }
        if let given = options.centerline, !given.isEmpty {
            var centres: [SIMD2<Double>?] = Array(repeating: nil, count: stack.nz)
            for v in given.map(toRPI) {
                let k = CheckedNumber.clamped(v.z, .toNearestOrAwayFromZero)
                if k >= 0 && k < stack.nz { centres[k] = SIMD2(v.x, v.y) }
            }
            return (centres, 1)
        }
        let anchor = options.hint.map { h -> (k: Int, p: SIMD2<Double>) in
            let v = toRPI(h.voxel)
            return (min(max(CheckedNumber.clamped(v.z, .toNearestOrAwayFromZero), 0), stack.nz - 1), SIMD2(v.x, v.y))
        }
        let seedSlice = try options.hintSlice.map {
            (k: try CenterlineDetector.rpiSlice(ofInputSlice: $0, image: image, stack: stack), input: $0)
        }
        let found = try CenterlineDetector.detect(stack, polarity: polarity, anchor: anchor, excluded: excluded, constrained: constrained, ringScale: ringScale,
                                                  seedSlice: seedSlice, minimumSignificance: options.minimumSignificance)
        var centres = found.centres
        let sig = found.significance.sorted()
        let median = sig[sig.count / 2]
        guard median >= options.minimumSignificance else {
            throw SegmentationError.noCordFound(detail: "the best cord candidate scores \(formatFixed(median, 1)) noise SDs (at least \(formatFixed(options.minimumSignificance, 1)) needed)")
        }
        // Slices at either end without a significant cord are left out (partial coverage).
        var lo = 0, hi = stack.nz - 1
        while lo < hi && found.significance[lo] < options.minimumSignificance { centres[lo] = nil; lo += 1 }
        while hi > lo && found.significance[hi] < options.minimumSignificance { centres[hi] = nil; hi -= 1 }
        return (centres, median)
    }

    /// One polarity from its centres: the segmentation, its outlines and its quality.
    static func segmentScored(_ image: Volume<Float>, _ stack: AxialStack, polarity: CordPolarity,
                              options: CordSegmentationOptions, centres: [SIMD2<Double>?], detection: Double) throws -> Attempt {
        let stats = stack.intensityStatistics()
        let range = max(stats.high - stats.low, 1e-12)
        let present = centres.indices.filter { centres[$0] != nil }
        guard let first = present.first, let last = present.last, last > first else {
            throw SegmentationError.tooFewSlices(found: present.count)
        }

        // MARK: Outlines, two passes
        let sign = polarity.sign
        var finder = PolarBoundaryFinder()
        finder.boundaryLevel = options.boundaryLevel
        var smoothed = smoothCentres(centres, stack: stack, range: first...last)
        var contours = outlines(stack, smoothed, finder: finder, sign: sign, range: range, noise: stats.noise, priors: nil)
        let recentred: [SIMD2<Double>?] = contours.map { c in
            c.map { $0.centre + $0.polygon().centroid / SIMD2(stack.dx, stack.dy) }
        }
        smoothed = smoothCentres(recentred, stack: stack, range: first...last)
        var priors: [[Double]?] = Array(repeating: nil, count: stack.nz)
        for k in first...last {
            let neighbours = [k - 1, k + 1].filter { $0 >= first && $0 <= last }.compactMap { contours[$0] }
            guard !neighbours.isEmpty else { continue }
            priors[k] = (0..<finder.angles).map { a in neighbours.reduce(0) { $0 + $1.radii[a] } / Double(neighbours.count) }
        }
        finder.priorWeight = 0.05
        contours = outlines(stack, smoothed, finder: finder, sign: sign, range: range, noise: stats.noise, priors: priors)

        // MARK: Checks
        for k in first...last {
            guard let c = contours[k] else { continue }
            if !c.insideImage {
                throw SegmentationError.centerlineLeavesImage(slice: k, detail: "the cord's outline reaches the edge of the slice")
            }
        }
        let edgeSig = contours.compactMap { $0?.edgeSignificance }.sorted()
        let strength = edgeSig.isEmpty ? 0 : edgeSig[edgeSig.count / 2]
        if strength < 2 {
            throw SegmentationError.noCordFound(detail: "the outline's cord/CSF edge is only \(formatFixed(strength, 1)) noise SDs strong")
        }
        // Quality for choosing a polarity: the detection's median significance × the median
        // contrast between a ring 0.75–2 mm outside each outline and the outline's inner part
        // (signed by the polarity, over the image range) × the fraction of cord-like outlines
        // (`Attempt.cordLike`).
        var contrasts: [Double] = [], plausible = 0
        for k in first...last {
            guard let c = contours[k] else { continue }
            contrasts.append(Double(sign * c.ringContrast(stack, slice: k) / range))
            if c.isCordLike { plausible += 1 }
        }
        contrasts.sort()
        let cordLike = Double(plausible) / Double(contrasts.count)
        let quality = detection * contrasts[contrasts.count / 2] * cordLike

        // MARK: Output
        var soft = [Float](repeating: 0, count: stack.nx * stack.ny * stack.nz)
        let per = stack.nx * stack.ny
        soft.withUnsafeMutableBufferPointer { out in
            let target = SendablePointer(out.baseAddress!)
            let snapshot = contours
            parallelChunks(stack.nz) { ks, _ in
                for k in ks { snapshot[k]?.rasterise(into: target.pointer + per * k, nx: stack.nx, ny: stack.ny, dx: stack.dx, dy: stack.dy) }
            }
        }
        let softVolume = stack.restore(soft)
        let binary = softVolume.map { $0 >= 0.5 ? UInt8(1) : UInt8(0) }
        var voxels: [SIMD3<Double>] = [], world: [SIMD3<Double>] = []
        for k in first...last {
            guard let c = contours[k] else { continue }
            let p = c.centre + c.polygon().centroid / SIMD2(stack.dx, stack.dy)
            let w = stack.grid.world(p.x, p.y, Double(k))
            world.append(w); voxels.append(image.grid.voxel(ofWorld: w))
        }
        let result = CordSegmentation(soft: softVolume, binary: binary, centerlineVoxels: voxels, centerlineWorld: world,
                                      polarity: polarity, slices: first..<(last + 1))
        return Attempt(segmentation: result, contours: contours, cordLike: cordLike, quality: quality)
    }

    // MARK: - Steps

    static func smoothCentres(_ centres: [SIMD2<Double>?], stack: AxialStack, range: ClosedRange<Int>) -> [SIMD2<Double>?] {
        let scale = SIMD2(stack.dx, stack.dy)
        let mm = centres.enumerated().map { k, c in range.contains(k) ? c.map { $0 * scale } : nil }
        let fit = CenterlineFit.smooth(mm, dz: stack.dz, sigma: 3)
        return fit.enumerated().map { k, f in range.contains(k) ? f.map { $0.position / scale } : nil }
    }

    static func outlines(_ stack: AxialStack, _ centres: [SIMD2<Double>?], finder: PolarBoundaryFinder, sign: Float,
                         range: Float, noise: Float, priors: [[Double]?]?) -> [StarContour?] {
        let out = SharedBuffer<StarContour?>(repeating: nil, count: stack.nz)
        parallelChunks(stack.nz) { ks, _ in
            for k in ks {
                guard let c = centres[k] else { continue }
                out[k] = finder.find(stack, slice: k, centre: c, sign: sign, range: range, noise: noise, prior: priors?[k])
            }
        }
        return out.array
    }
}
