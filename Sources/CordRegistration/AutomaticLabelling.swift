// Automatic vertebral labelling on T2w images: intervertebral discs found along the cord
// and numbered, from the image and the cord segmentation (optionally one user label).
import CordAtlas
import CordCore

/// Settings of automatic disc labelling. Lengths in mm.
public struct AutomaticLabellingOptions: Sendable {
    /// Distances in front of the cord's centre (mm, along the anterior direction orthogonal
    /// to the centerline) covered by the band where vertebral bodies and discs are sampled.
    public var bandDepth: ClosedRange<Double> = 9...21
    /// Half-width (mm) of the band to each side of the midline.
    public var bandHalfWidth = 3.0
    /// Sample spacing of the profile along world z (mm).
    public var step = 0.5
    /// Ridge-filter scales σ (mm) tried; scales under half the image's spacing along z are
    /// skipped (their response follows the slices, not the anatomy).
    public var filterScales: [Double] = [1.0, 1.5, 2.0, 2.5]
    /// Per-subject factor on the reference's disc spacing.
    public var spacingScale: ClosedRange<Double> = 0.8...1.25
    /// Allowed ratio of one gap between neighbouring discs to the scaled reference gap.
    public var gapRatio: ClosedRange<Double> = 0.75...1.3
    /// Median disc contrast (robust z-score of the ridge response against the profile away
    /// from the discs) below which the result is refused.
    public var minimumContrast = 4.0
    /// Discs weaker than this (z-score) are not returned (their neighbours keep their numbers).
    public var minimumDiscContrast = 2.5
    /// How far (mm) the centerline is continued beyond the segmentation's ends.
    public var centerlineExtension = 20.0
    /// Disc spacing of the reference (PAM50's by default).
    public var reference: LevelReference = .pam50
    public init() {}
}

/// One disc found by automatic labelling.
public struct DetectedDisc: Sendable, Equatable {
    /// Disc value n: the disc at the top of vertebra n (PAM50 `label_disc`; 3 = C2/C3).
    public var level: Int
    /// The centerline point (world mm, RAS+) at the disc's height.
    public var world: SIMD3<Double>
    /// Ridge response as a robust z-score against the profile away from the discs.
    public var contrast: Double
    /// "C2/C3", "C7/T1", …
    public var name: String { DetectedDisc.name(level) }

    /// Name of disc value n (the disc between vertebrae n−1 and n).
    public static func name(_ n: Int) -> String {
        n <= 1 ? "top of C1" : "\(VertebralLevelName.name(n - 1))/\(VertebralLevelName.name(n))"
    }
}

/// The discs found and how much to trust them.
public struct DiscLabelling: Sendable {
    /// Discs found, superior first.
    public var discs: [DetectedDisc]
    /// The discs as disc labels (kind `.disc`), ready for `levelMap` and `TemplateRegistration`.
    public var labels: VertebralLabels {
        VertebralLabels(points: discs.map { VertebralLabels.Point(level: $0.level, kind: .disc, world: $0.world) })
    }
    /// Factor on the reference's disc spacing that fitted this subject.
    public var spacingScale: Double
    /// Ridge-filter scale σ (mm) chosen.
    public var filterScale: Double
    /// Median disc contrast (z-score).
    public var medianContrast: Double
    /// RMS of (gap / scaled reference gap − 1) over neighbouring discs found.
    public var spacingResidual: Double
    /// What fixed the numbering: the user's hint, or the C2/C3 disc under the disc-free C2
    /// body and dens.
    public var anchor: String
}

/// Automatic vertebral labelling of a T2-weighted image from its cord segmentation.
///
/// Method (classical, after the intensity-profile approach of Ullmann et al. 2014 Int J
/// Biomed Imaging 719520, which SCT's `sct_label_vertebrae` descends from): (1) the image
/// is sampled along the smoothed centerline of the segmentation in a band in front of the
/// cord, where vertebral bodies and discs alternate, giving one intensity per 0.5 mm of
/// world z; (2) a scale-normalised ridge filter (minus the Gaussian second derivative,
/// Lindeberg 1998) turns each disc — brighter than the vertebral bodies, or a bright line
/// between dark end plates — into a peak, and the response is expressed as a robust
/// z-score; (3) dynamic programming picks the chain of peaks whose gaps best follow the
/// reference's disc spacing (PAM50 by default) times one per-subject factor (0.8…1.25),
/// each gap within 0.75…1.3 of it; (4) the chain is numbered from a user hint (one disc or
/// vertebral body with its level), or, without a hint, by taking the highest disc as C2/C3
/// when at least 1.3 reference gaps of image above it show no disc (C2's body and dens);
/// weak peaks above the first strong disc (under half the median contrast) are not discs.
///
/// Throws `RegistrationError.automaticLabellingFailed` when the discs are weak (median
/// z-score under `minimumContrast`), fewer than two are found, their spacing is
/// inconsistent, or — without a hint — the top of the image does not show the C2 region.
public enum AutomaticLabelling {
    public static func label(image: Volume<Float>, segmentation: Mask, hint: VertebralLabels.Point? = nil,
                             options: AutomaticLabellingOptions = AutomaticLabellingOptions()) throws -> DiscLabelling {
        try image.grid.requireCompatible(with: segmentation.grid, "image", "cord segmentation")
        try segmentation.requireNonEmpty("cord segmentation")
        try image.requireFinite("image")
        let ref = try DiscReference(options.reference)
        if let h = hint, ref.position(level: h.level, kind: h.kind) == nil {
            throw RegistrationError.automaticLabellingFailed(reason: "the hint's level \(h.level) is not in the reference's levels (\(ref.levels.map { "\($0)" }.joined(separator: ", ")))")
        }
        let (canonical, _) = image.reoriented()
        let profileOfCord = try CordProfile(segmentation.map { Float($0 != 0 ? 1 : 0) })
        let centerline = SmoothCenterline(profileOfCord)
        let zr = centerline.zRange
        let profile = DiscProfile(image: canonical, centerline: centerline,
                                  zRange: (zr.lowerBound - options.centerlineExtension)...(zr.upperBound + options.centerlineExtension),
                                  step: options.step, depth: options.bandDepth, halfWidth: options.bandHalfWidth)
        let run = profile.validRun
        let h = options.step
        let length = Double(run.count) * h
        guard length >= 0.75 * ref.smallestGap * options.spacingScale.lowerBound + 6 else {
            throw RegistrationError.automaticLabellingFailed(reason: "the band in front of the cord is inside the image over only \(String(format1: length)) mm along the cord; two discs need at least \(String(format1: 0.75 * ref.smallestGap * options.spacingScale.lowerBound + 6)) mm")
        }
        if let hnt = hint {
            let lo = profile.z(run.lowerBound), hi = profile.z(run.upperBound - 1)
            guard hnt.world.z >= lo - 5, hnt.world.z <= hi + 5 else {
                throw RegistrationError.automaticLabellingFailed(reason: "the hint (world z \(String(format1: hnt.world.z)) mm) lies outside the part of the cord where discs can be sampled (z \(String(format1: lo))…\(String(format1: hi)) mm)")
            }
        }
        // Scales finer than half the image's spacing along z see the slices, not the anatomy.
        let dz = canonical.grid.spacing.z
        var scales = options.filterScales.filter { $0 >= 0.5 * dz }
        if scales.isEmpty { scales = [options.filterScales.max() ?? 0.5 * dz] }

        let values = profile.values[run]
        let zOf: (Int) -> Double = { profile.z(run.lowerBound + $0) }
        var best: (candidate: ScaleCandidate, score: Double)?
        for sigma in scales {
            let raw = RidgeFilter.response(values, step: h, sigma: sigma)
            let global = RidgeFilter.robustScale(raw) { _ in true }
            let z = raw.map { ($0 - global.median) / global.sd }
            let search = DiscChainSearch(scores: z, z0: zOf(0), step: h, reference: ref, options: options, hint: hint)
            guard let chain = search.best() else { continue }
            // Background: the response away from the chain's discs (±4 mm).
            let centres = chain.nodes.map(\.index)
            let radius = CheckedNumber.clamped(4 / h, .toNearestOrAwayFromZero)
            let bg = RidgeFilter.robustScale(raw) { j in centres.allSatisfy { abs($0 - j) > radius } }
            let zb = raw.map { ($0 - bg.median) / bg.sd }
            let contrasts = centres.map { zb[$0] }
            let score = RidgeFilter.median(contrasts)
            if best == nil || score > best!.score {
                best = (ScaleCandidate(sigma: sigma, chain: chain, z: zb), score)
            }
        }
        guard let (chosen, median) = best else {
            throw RegistrationError.automaticLabellingFailed(reason: hint == nil
                ? "no chain of discs with the reference's spacing was found in front of the cord"
                : "no chain of discs with the reference's spacing passes near the hint")
        }
        var chain = chosen.chain
        let zb = chosen.z, alpha = chain.alpha
        guard median >= options.minimumContrast else {
            throw RegistrationError.automaticLabellingFailed(reason: "the discs found are weak (median contrast z = \(String(format1: median)), at least \(String(format1: options.minimumContrast)) needed)")
        }
        if hint == nil {
            // C2/C3 is the first strong disc: weaker peaks on top of the chain (the upper end
            // of C2's body, the dens) are dropped and the chain renumbered from 3.
            while chain.nodes.count > 2, zb[chain.nodes[0].index] < 0.5 * median { chain.nodes.removeFirst() }
            let first = ref.levels[0]
            chain.nodes = chain.nodes.enumerated().map { (first + $0.offset, $0.element.index) }
        }
        // Gap consistency.
        var residuals: [Double] = []
        for (a, b) in zip(chain.nodes, chain.nodes.dropFirst()) {
            let gap = Double(a.index - b.index) * h
            residuals.append(gap / (alpha * ref.gap(above: b.level)) - 1)
        }
        let rms = residuals.isEmpty ? 0 : (residuals.map { $0 * $0 }.reduce(0, +) / Double(residuals.count)).squareRoot()
        guard rms <= 0.2 else {
            throw RegistrationError.automaticLabellingFailed(reason: "the spacing of the discs found is inconsistent (RMS deviation \(CheckedNumber.clamped(rms * 100, .toNearestOrAwayFromZero)) % from the reference spacing)")
        }
        // Numbering without a hint: the highest disc is C2/C3 only if the image shows C2 above it.
        var anchor = "hint (\(hint.map { $0.kind == .disc ? "disc \(DetectedDisc.name($0.level))" : "body of \(VertebralLevelName.name($0.level))" } ?? ""))"
        if hint == nil, let top = chain.nodes.first {
            let needed = 1.3 * alpha * ref.gap(above: top.level + 1)
            let available = Double(values.count - 1 - top.index) * h
            guard available >= needed else {
                throw RegistrationError.automaticLabellingFailed(reason: "the image ends \(String(format1: available)) mm above the highest disc found (world z \(String(format1: zOf(top.index))) mm); \(String(format1: needed)) mm of image above it are needed to tell C2/C3 from a lower disc")
            }
            let from = top.index + CheckedNumber.clamped(0.5 * alpha * ref.gap(above: top.level + 1) / h, .toNearestOrAwayFromZero)
            let to = top.index + CheckedNumber.clamped(needed / h, .toNearestOrAwayFromZero)
            let strongest = (from...min(to, values.count - 1)).map { zb[$0] }.max() ?? 0
            guard strongest < max(3, 0.5 * median) else {
                throw RegistrationError.automaticLabellingFailed(reason: "a disc-like band (z = \(String(format1: strongest))) lies above the highest disc found, so it cannot be taken as C2/C3")
            }
            guard zb[top.index] >= options.minimumDiscContrast else {
                throw RegistrationError.automaticLabellingFailed(reason: "the highest disc (taken as C2/C3) is weak (z = \(String(format1: zb[top.index])))")
            }
            anchor = "C2/C3 below \(String(format1: available)) mm without a disc (C2 body and dens)"
        }
        // Refine each disc to the centroid of the positive response around it.
        let window = CheckedNumber.clamped(min(3, 0.2 * alpha * ref.smallestGap) / h, .toNearestOrAwayFromZero)
        var discs: [DetectedDisc] = []
        for node in chain.nodes where zb[node.index] >= options.minimumDiscContrast {
            var sw = 0.0, sj = 0.0
            for j in max(0, node.index - window)...min(values.count - 1, node.index + window) where zb[j] > 0 {
                sw += zb[j]; sj += zb[j] * Double(j)
            }
            let zc = zOf(0) + (sw > 0 ? sj / sw : Double(node.index)) * h
            discs.append(DetectedDisc(level: node.level, world: centerline.at(zc).centre, contrast: zb[node.index]))
        }
        guard discs.count >= 2 else {
            throw RegistrationError.automaticLabellingFailed(reason: "only \(discs.count) disc\(discs.count == 1 ? "" : "s") stand\(discs.count == 1 ? "s" : "") out clearly enough (z ≥ \(String(format1: options.minimumDiscContrast))); at least 2 are needed")
        }
        return DiscLabelling(discs: discs, spacingScale: alpha, filterScale: chosen.sigma, medianContrast: median,
                             spacingResidual: rms, anchor: anchor)
    }

    struct ScaleCandidate { let sigma: Double; let chain: DiscChain; let z: [Double] }
}

/// Disc positions of a level reference: disc n at the top of level n.
struct DiscReference: Sendable {
    let reference: LevelReference
    /// Disc values with a position and a disc above them (3 … for PAM50: C2/C3 … T1/T2).
    let levels: [Int]

    init(_ reference: LevelReference) throws {
        self.reference = reference
        let have = reference.extents.keys.filter { $0 >= 3 && reference.extents[$0 - 1] != nil }.sorted()
        var run: [Int] = []
        for n in have where run.isEmpty || n == run.last! + 1 { run.append(n) }
        guard run.count >= 2 else {
            throw RegistrationError.automaticLabellingFailed(reason: "the level reference has fewer than 2 discs below C2")
        }
        levels = run
    }

    func position(level: Int, kind: LabelKind) -> Double? { reference.position(level: level, kind: kind) }
    /// Reference distance (mm) from disc n−1 down to disc n.
    func gap(above n: Int) -> Double {
        guard let a = reference.position(level: n - 1, kind: .disc), let b = reference.position(level: n, kind: .disc) else {
            return smallestGap
        }
        return a - b
    }
    var smallestGap: Double {
        levels.dropFirst().map { gap(above: $0) }.min() ?? 15
    }
}
