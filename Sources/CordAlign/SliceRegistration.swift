// Slice-wise in-plane alignment of one image to another (translation, optionally rigid),
// regularised along the cord: MT-off/T1w → MT-on, later DWI volumes → their mean.
import CordCore

/// In-plane motion of one axial slice, in mm along the canonical (RPI) in-plane axes:
/// `shift` moves the moving image's content by (x toward L, y toward A), `rotation` turns
/// it about `centre` (radians, counter-clockwise seen from above).
public struct SliceTransform: Sendable, Equatable {
    public var shift: SIMD2<Double>
    public var rotation: Double
    /// Rotation centre (mm, in-plane canonical voxel axes scaled by spacing).
    public var centre: SIMD2<Double>
    /// Normalised cross-correlation reached (−1…1); nil when the slice had too little signal.
    public var score: Double?
    public init(shift: SIMD2<Double>, rotation: Double, centre: SIMD2<Double>, score: Double?) {
        self.shift = shift; self.rotation = rotation; self.centre = centre; self.score = score
    }
    public static let identity = SliceTransform(shift: .zero, rotation: 0, centre: .zero, score: nil)
}

/// Options of slice-wise registration.
public struct SliceRegistrationOptions: Sendable {
    /// Largest translation searched (mm).
    public var maximumShift = 6.0
    /// Also estimate an in-plane rotation (rigid) within ±`maximumRotation` degrees.
    public var rigid = false
    public var maximumRotation = 6.0
    /// Degree of the polynomial in slice position that smooths the per-slice parameters
    /// (weighted by each slice's correlation); nil (default): slices independent. Applied
    /// only when at least `degree + 3` slices have a score. On the SCT tutorial MT pair (22
    /// slices of 5 mm) smoothing lowered the cord-region correlation, so it is opt-in.
    public var smoothingDegree: Int? = nil
    /// Margin (mm) added around the mask's bounding box to form each slice's metric region.
    public var maskMargin = 8.0
    /// Keep the alignment only when it raises the mean slice NCC with the fixed image;
    /// otherwise the moving image is returned unchanged (`kept` false). Noisy or already
    /// aligned series can otherwise be pulled off by the search. On by default; `cordq mt
    /// mtr/mtsat --register` and `cordq process` share it.
    public var keepOnlyIfBetter = true
    public init() {}
}

/// Result: one transform per axial slice (k of the canonical RPI grid, inferior first).
public struct SliceRegistrationResult: Sendable {
    public var transforms: [SliceTransform]
    /// The moving image resampled with the transforms, on the moving image's own grid.
    public var aligned: Volume<Float>
    /// Mean normalised cross-correlation over the scored slices, before and after.
    public var correlationBefore: Double, correlationAfter: Double
    /// False when `keepOnlyIfBetter` rejected the alignment: `aligned` is the moving image,
    /// the transforms are identities, and `correlationAfter` is what the rejected one reached.
    public var kept = true
}

/// Slice-wise registration in the spirit of SCT's `sct_register_multimodal` slicereg and
/// `sct_dmri_moco` (translations per axial slice smoothed along z by a low-order polynomial):
/// for each slice, the translation (and rotation) maximising the normalised cross-correlation
/// with the fixed slice, found by an integer grid search and refined by a shrinking pattern
/// search with bilinear interpolation.
public enum SliceRegistration {
    /// Aligns `moving` to `fixed` (same grid). `mask` (same grid) restricts the metric to a box
    /// around the mask in each slice, e.g. the cord plus a margin.
    public static func align(moving: Volume<Float>, fixed: Volume<Float>, mask: Mask? = nil,
                             options: SliceRegistrationOptions = SliceRegistrationOptions()) throws -> SliceRegistrationResult {
        try fixed.grid.requireCompatible(with: moving.grid, "fixed image", "moving image")
        if let m = mask { try fixed.grid.requireCompatible(with: m.grid, "fixed image", "mask"); try m.requireNonEmpty("registration mask") }
        guard fixed.frames == 1, moving.frames == 1 else {
            throw CordError.invalidValue(what: "slice registration", detail: "needs 3D images")
        }
        let (f, reo) = fixed.reoriented()
        let (m, _) = moving.reoriented()
        let mk = mask.map { reo.apply($0) }
        let g = f.grid
        let sp = g.spacing
        let nz = g.nz
        var transforms = [SliceTransform](repeating: .identity, count: nz)
        let results = SharedBuffer<SliceTransform>(repeating: .identity, count: nz)
        let before = SharedBuffer<Double>(repeating: .nan, count: nz)
        parallelChunks(nz) { range, _ in
            for k in range {
                let slice = SlicePair(fixed: f, moving: m, mask: mk, k: k, margin: options.maskMargin)
                guard let s = slice else { continue }
                before[k] = s.correlation(shift: .zero, rotation: 0) ?? .nan
                results[k] = s.search(options: options, spacing: SIMD2(sp.x, sp.y))
            }
        }
        transforms = results.array
        if let degree = options.smoothingDegree { transforms = smooth(transforms, degree: degree) }
        var alignedCanonical = m
        var after = [Double](repeating: .nan, count: nz)
        for k in 0..<nz {
            SlicePair.resample(m, into: &alignedCanonical, k: k, transform: transforms[k], spacing: SIMD2(sp.x, sp.y))
            if let s = SlicePair(fixed: f, moving: alignedCanonical, mask: mk, k: k, margin: options.maskMargin) {
                after[k] = s.correlation(shift: .zero, rotation: 0) ?? .nan
            }
        }
        let b = before.array
        let scored = (0..<nz).filter { b[$0].isFinite && after[$0].isFinite }
        let meanBefore = scored.isEmpty ? .nan : scored.map { b[$0] }.reduce(0, +) / Double(scored.count)
        let meanAfter = scored.isEmpty ? .nan : scored.map { after[$0] }.reduce(0, +) / Double(scored.count)
        if options.keepOnlyIfBetter && !(meanAfter >= meanBefore) && meanBefore.isFinite {
            return SliceRegistrationResult(transforms: [SliceTransform](repeating: .identity, count: nz), aligned: moving,
                                           correlationBefore: meanBefore, correlationAfter: meanAfter, kept: false)
        }
        return SliceRegistrationResult(transforms: transforms, aligned: reo.invert(alignedCanonical),
                                       correlationBefore: meanBefore, correlationAfter: meanAfter)
    }

    /// Weighted least-squares polynomial in k through each parameter; slices without a
    /// score take the fitted value.
    static func smooth(_ t: [SliceTransform], degree: Int) -> [SliceTransform] {
        let scored = t.indices.filter { t[$0].score != nil }
        guard scored.count >= degree + 3 else { return t }
        let n = Double(t.count - 1)
        let xs = scored.map { n > 0 ? 2 * Double($0) / n - 1 : 0 }
        let ws = scored.map { max(t[$0].score ?? 0, 0.05) }
        func fit(_ values: [Double]) -> [Double] {
            let c = polynomialFit(x: xs, y: values, w: ws, degree: degree)
            return t.indices.map { k in
                let x = n > 0 ? 2 * Double(k) / n - 1 : 0
                return c.enumerated().reduce(0) { $0 + $1.element * pow(x, Double($1.offset)) }
            }
        }
        let sx = fit(scored.map { t[$0].shift.x }), sy = fit(scored.map { t[$0].shift.y }), r = fit(scored.map { t[$0].rotation })
        return t.indices.map { SliceTransform(shift: SIMD2(sx[$0], sy[$0]), rotation: r[$0], centre: t[$0].centre, score: t[$0].score) }
    }

    /// Coefficients c₀…c_d of the weighted least-squares polynomial (normal equations solved
    /// by Gaussian elimination with partial pivoting; d ≤ 3 keeps them well conditioned on [−1, 1]).
    static func polynomialFit(x: [Double], y: [Double], w: [Double], degree: Int) -> [Double] {
        let m = degree + 1
        var a = [Double](repeating: 0, count: m * m), b = [Double](repeating: 0, count: m)
        for (i, xi) in x.enumerated() {
            var p = [Double](repeating: 1, count: m)
            for j in 1..<max(m, 1) where j < m { p[j] = p[j - 1] * xi }
            for r in 0..<m {
                b[r] += w[i] * p[r] * y[i]
                for c in 0..<m { a[r * m + c] += w[i] * p[r] * p[c] }
            }
        }
        for col in 0..<m {
            let piv = (col..<m).max { abs(a[$0 * m + col]) < abs(a[$1 * m + col]) } ?? col
            if piv != col {
                for c in 0..<m { a.swapAt(col * m + c, piv * m + c) }
                b.swapAt(col, piv)
            }
            let d = a[col * m + col]
            guard abs(d) > 1e-12 else { continue }
            for r in (col + 1)..<m {
                let f = a[r * m + col] / d
                for c in col..<m { a[r * m + c] -= f * a[col * m + c] }
                b[r] -= f * b[col]
            }
        }
        var c = [Double](repeating: 0, count: m)
        for r in stride(from: m - 1, through: 0, by: -1) {
            var s = b[r]
            for k in (r + 1)..<m { s -= a[r * m + k] * c[k] }
            c[r] = abs(a[r * m + r]) > 1e-12 ? s / a[r * m + r] : 0
        }
        return c
    }
}

#if canImport(Glibc)
import Glibc
#endif
