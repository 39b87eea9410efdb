// One in-plane transform shared by several axial slices: the slices a multiband acquisition
// excites together move together, so they are registered as one stack.
import CordCore
#if canImport(Glibc)
import Glibc
#endif

/// Options of a slice-group (stack) registration.
public struct SliceGroupRegistrationOptions: Sendable {
    /// Largest translation searched (mm).
    public var maximumShift = 5.0
    /// Estimate an in-plane rotation too (within ±`maximumRotation` degrees).
    public var rigid = true
    public var maximumRotation = 5.0
    /// Margin (mm) added around the mask's bounding box in each slice to form the metric region.
    public var maskMargin = 4.0
    /// Integer-voxel grid search before the pattern search (off: start at `start` and refine only).
    public var gridSearch = true
    public init() {}
}

/// Registration of a stack of axial slices that share one rigid in-plane transform.
///
/// The metric is the normalised cross-correlation pooled over the stack's slices (the sums
/// of every slice's region added before the ratio is taken), so a slice with little signal
/// weighs little. Search: integer-voxel translations at zero rotation, then a pattern search
/// over (tx, ty, θ) whose step halves from ½ voxel (and ½°) down to 1/50 voxel, bilinear
/// interpolation. The transform has SliceTransform's meaning: the moving content is turned
/// by θ about `centre`, then shifted, to match the fixed slices.
public enum SliceGroupRegistration {
    /// Aligns slices `slices` (k of the canonical RPI grid) of `moving` to `fixed` (both
    /// canonical, 3D, same grid). `mask` (canonical) restricts the metric to a box around it
    /// per slice; `centre` (mm in the slice's voxel-axis frame) is the shared rotation centre.
    /// Returns nil when no slice of the stack has a usable region.
    public static func align(moving: Volume<Float>, fixed: Volume<Float>, slices: [Int], mask: Mask?,
                             centre: SIMD2<Double>, start: SliceTransform? = nil,
                             options: SliceGroupRegistrationOptions) -> SliceTransform? {
        let pairs = slices.compactMap { SlicePair(fixed: fixed, moving: moving, mask: mask, k: $0, margin: options.maskMargin, centre: centre) }
        guard !pairs.isEmpty else { return nil }
        let sp = SIMD2(fixed.grid.spacing.x, fixed.grid.spacing.y)
        func score(_ shift: SIMD2<Double>, _ rot: Double) -> Double? {
            var total = CorrelationSums(regionCount: 0)
            for p in pairs { total = total + p.sums(shift: shift, rotation: rot) }
            return total.correlation
        }
        func scoreWhole(_ dx: Int, _ dy: Int) -> Double? {
            var total = CorrelationSums(regionCount: 0)
            for p in pairs { total = total + p.sums(dx: dx, dy: dy) }
            return total.correlation
        }
        var best = (score: -2.0, shift: start?.shift ?? .zero, rot: start?.rotation ?? 0)
        if let s = score(best.shift, best.rot) { best.score = s }
        if options.gridSearch {
            let rx = CheckedNumber.clamped(options.maximumShift / sp.x, .down), ry = CheckedNumber.clamped(options.maximumShift / sp.y, .down)
            for dy in -ry...ry { for dx in -rx...rx {
                if let c = scoreWhole(dx, dy), c > best.score { best = (c, SIMD2(Double(dx) * sp.x, Double(dy) * sp.y), 0) }
            } }
        }
        guard best.score > -2 else { return nil }
        best = refineSliceTransform(from: best, spacing: sp, maximumShift: options.maximumShift,
                                    maximumRotation: options.maximumRotation, rigid: options.rigid) { score($0, $1) }
        return SliceTransform(shift: best.shift, rotation: best.rot, centre: centre, score: best.score)
    }

    /// The pooled correlation of the stack at one transform (nil when no slice has a region).
    public static func correlation(moving: Volume<Float>, fixed: Volume<Float>, slices: [Int], mask: Mask?,
                                   transform t: SliceTransform, margin: Double) -> Double? {
        var total = CorrelationSums(regionCount: 0)
        for k in slices {
            guard let p = SlicePair(fixed: fixed, moving: moving, mask: mask, k: k, margin: margin, centre: t.centre) else { continue }
            total = total + p.sums(shift: t.shift, rotation: t.rotation)
        }
        return total.correlation
    }

    /// Writes slice `k` of `moving` (canonical 3D) transformed by `t` into `out` (bilinear, 0 outside).
    public static func resample(_ moving: Volume<Float>, into out: inout Volume<Float>, k: Int, transform t: SliceTransform) {
        let sp = moving.grid.spacing
        SlicePair.resample(moving, into: &out, k: k, transform: t, spacing: SIMD2(sp.x, sp.y))
    }
}

extension SliceTransform {
    /// The transform that undoes this one (same centre): content turned by −θ about the
    /// centre after the shift is taken back.
    public var inverse: SliceTransform {
        // Forward: q ↦ R(θ)(q − c) + c + s. Inverse: p ↦ R(−θ)(p − c − s) + c = R(−θ)(p − c) + c − R(−θ)s.
        let c = cos(-rotation), s = sin(-rotation)
        let back = SIMD2(c * shift.x - s * shift.y, s * shift.x + c * shift.y)
        return SliceTransform(shift: -back, rotation: -rotation, centre: centre, score: score)
    }

    /// Where the point `p` (mm, slice voxel-axis frame) goes: R(θ)(p − centre) + centre + shift.
    public func apply(_ p: SIMD2<Double>) -> SIMD2<Double> {
        let c = cos(rotation), s = sin(rotation), d = p - centre
        return SIMD2(c * d.x - s * d.y, s * d.x + c * d.y) + centre + shift
    }
}
