// The anatomy's hot geometry: evaluated for every sub-sample of every voxel.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Immutable numbers and small tables describing the cord, sac and vertebrae along the
/// centerline. A final class with raw-pointer tables: struct copies and array reference
/// counting would dominate the per-sample cost in unoptimised (debug/test) builds.
final class CordShape: @unchecked Sendable {
    let curve: CenterlineCurve
    /// Arc length (mm) of PAM50 disc labels 1…9 (9 values).
    let discs: UnsafeMutablePointer<Double>
    /// Plateau area (mm²) and AP/RL ratio per level (8 values each).
    let plateau: UnsafeMutablePointer<Double>, ratio: UnsafeMutablePointer<Double>
    let transition: Double
    /// Compression centre (arc length, mm; NaN without compression), fraction, length (mm).
    let compressionCentre: Double, compressionFraction: Double, compressionLength: Double
    let sacA: Double, sacB: Double
    let vertebrae: Bool
    let bodyA: Double, bodyB: Double, bodyCentre: Double, halfDisc: Double
    /// Largest |da/ds|, |db/ds| of the cord's semi-axes in the transitions (mm per mm).
    let sizeSlope: Double
    /// Upper bound of the centerline's curvature (1/mm): amplitude·(π/span)².
    let kappa: Double

    init(_ p: PhantomParameters, discs d: [Double], plateau pl: [Double]) {
        func table(_ v: [Double]) -> UnsafeMutablePointer<Double> {
            let t = UnsafeMutablePointer<Double>.allocate(capacity: v.count)
            t.initialize(from: v, count: v.count)
            return t
        }
        discs = table(d); plateau = table(pl)
        let r = p.levels.map { $0.apDiameter / $0.rlDiameter }
        ratio = table(r)
        curve = CenterlineCurve(x0: p.centerlineX, y0: p.centerlineY, lordosis: p.lordosisAmplitude,
                                lateral: p.lateralAmplitude, zTop: p.topOfC1, span: d[8])
        transition = p.levelTransition
        if let c = p.compression {
            compressionCentre = (d[c.level.rawValue - 1] + d[c.level.rawValue]) / 2
            compressionFraction = c.fraction; compressionLength = c.length
        } else {
            compressionCentre = .nan; compressionFraction = 0; compressionLength = 0
        }
        sacA = p.csfSacRLDiameter / 2; sacB = p.csfSacAPDiameter / 2
        vertebrae = p.vertebrae
        bodyA = p.vertebralBodyRLDiameter / 2; bodyB = p.vertebralBodyAPDepth / 2
        bodyCentre = sacB + p.epiduralGap + bodyB
        halfDisc = p.discHeight / 2
        let bow = (p.lordosisAmplitude * p.lordosisAmplitude + p.lateralAmplitude * p.lateralAmplitude).squareRoot()
        kappa = bow * (Double.pi / d[8]) * (Double.pi / d[8])
        // The quintic smoothstep's steepest slope is 15/8 per unit of t, t spanning 2h mm.
        var slope = 0.0
        for l in 0..<7 {
            let a0 = (pl[l] / (Double.pi * r[l])).squareRoot(), a1 = (pl[l + 1] / (Double.pi * r[l + 1])).squareRoot()
            slope = max(slope, absolute(a1 - a0), absolute(r[l + 1] * a1 - r[l] * a0))
        }
        // 1.25: area and ratio blend together, so a(s) is not exactly a smoothstep.
        sizeSlope = 1.25 * slope * 15 / 8 / (2 * p.levelTransition) + 0.05
    }
    deinit { discs.deallocate(); plateau.deallocate(); ratio.deallocate() }

    /// Index 0…7 of the level containing s (clamped above C1 and below T1).
    @inline(__always) func levelIndex(_ s: Double) -> Int {
        var l = 0
        while l < 7 && s >= discs[l + 1] { l += 1 }
        return l
    }

    /// Piecewise-constant values per level, blended with a quintic smoothstep near discs.
    @inline(__always) func profile(_ values: UnsafeMutablePointer<Double>, _ s: Double) -> Double {
        let l = levelIndex(s)
        var disc = -1
        if l + 1 <= 7 && discs[l + 1] - s < transition { disc = l + 1 }
        if l >= 1 && s - discs[l] < transition { disc = l }
        guard disc >= 1 else { return values[l] }
        let t = (s - discs[disc] + transition) / (2 * transition)
        let w = t * t * t * (t * (6 * t - 15) + 10)
        return values[disc - 1] + (values[disc] - values[disc - 1]) * w
    }

    /// The compression bump g(s) = cos²(π(s − s_c)/length) inside the narrowing, else 0.
    @inline(__always) func compressionWeight(_ s: Double) -> Double {
        let d = absolute(s - compressionCentre)
        guard d < compressionLength / 2 else { return 0 }  // false for NaN: no compression
        let c = cos(Double.pi * d / compressionLength)
        return c * c
    }

    /// Cord semi-axes (mm): a along u (RL), b along v (AP), compression included.
    @inline(__always) func semiAxes(_ s: Double) -> (a: Double, b: Double) {
        let area = profile(plateau, s), r = profile(ratio, s)
        let a = (area / (Double.pi * r)).squareRoot()
        return (a, r * a * (1 - compressionFraction * compressionWeight(s)))
    }

    /// AP semi-axis (mm) of the CSF sac: effaced toward the cord at a compression.
    @inline(__always) func sacB(_ s: Double, cordB: Double) -> Double {
        let g = compressionWeight(s)
        return g == 0 ? sacB : sacB + (min(sacB, cordB + 0.5) - sacB) * g
    }

    /// The tissue at cord coordinates (s, u, v).
    @inline(__always) func tissue(s: Double, u: Double, v: Double) -> TissueClass {
        let (a, b) = semiAxes(s)
        let x = u / a, y = v / b
        if x * x + y * y <= 1 { return CrossSectionTemplate.classify(x, y) }
        let p = u / sacA, q = v / sacB(s, cordB: b)
        if p * p + q * q <= 1 { return .csf }
        if vertebrae && s >= discs[1] {
            let e = u / bodyA, f = (v - bodyCentre) / bodyB
            if e * e + f * f <= 1 {
                for n in 2...8 where absolute(s - discs[n]) <= halfDisc { return .intervertebralDisc }
                return .vertebralBody
            }
        }
        return .background
    }

    /// Whether every point within `radius` mm of (s, u, v) is the same tissue as the point
    /// itself, from conservative distance bounds: for an ellipse with semi-axes a, b the
    /// distance of a point at normalised radius ρ to the boundary is at least |ρ − 1|·min(a, b).
    /// Points inside the cord, and inside the sac near a compression, count as mixed.
    @inline(__always) func isUniform(s: Double, u: Double, v: Double, radius m: Double) -> Bool {
        // A point q within m mm of p, at distance ρ from the centerline (curvature ≤ κ), has
        // its foot point within m/(1 − κ(ρ + m)) along the cord, and its in-plane position
        // moves by at most m plus the frame's turn κ·Δs·ρ.
        let rho = (u * u + v * v).squareRoot()
        let bend = kappa * (rho + m)
        guard bend < 0.5 else { return false }
        let ms = m / (1 - bend) + 0.05
        let mp = m + kappa * ms * rho + 0.05
        let rs = ((u / sacA) * (u / sacA) + (v / sacB) * (v / sacB)).squareRoot()
        if absolute(s - compressionCentre) < compressionLength / 2 + ms {
            // Cord and sac only shrink at a compression: outside the healthy sac is safe.
            if rs <= 1 || (rs - 1) * min(sacA, sacB) <= mp { return false }
        } else {
            // Over ms along the cord the semi-axes change by at most sizeSlope·ms.
            let (a, b) = semiAxes(s)
            let rc = ((u / a) * (u / a) + (v / b) * (v / b)).squareRoot()
            if rc <= 1 || (rc - 1) * min(a, b) <= mp + sizeSlope * ms { return false }
            if absolute(rs - 1) * min(sacA, sacB) <= mp { return false }
        }
        if vertebrae {
            let f = (v - bodyCentre) / bodyB
            let rb = ((u / bodyA) * (u / bodyA) + f * f).squareRoot()
            if absolute(rb - 1) * min(bodyA, bodyB) <= mp { return false }
            if rb < 1 {
                if absolute(s - discs[1]) <= ms { return false }
                for n in 2...8 where absolute(absolute(s - discs[n]) - halfDisc) <= ms { return false }
            }
        }
        return true
    }
}
