// Nyquist (N/2) ghost correction: reflected readouts carry a phase φ(x) relative to forward
// ones (gradient delays → linear term, eddy currents/B0 → constant term). Estimated from the
// EPI reference lines (Ahn & Cho 1987 IEEE TMI 6:32 autocorrelation for the linear term,
// coil-combined), optionally with a cubic polynomial residual fit; without reference lines,
// by minimising the image entropy over (constant, linear) (Clare 2003 "Iterative Nyquist
// ghost correction", ISMRM 11:1041; entropy as in Atkinson 1997 IEEE TMI 16:903).
import CordCore
import Foundation

enum GhostEstimation {
    /// `lines`: hybrid-space reference lines (nx × channels, coil-major) with their reflect flag.
    static func fromReferences(_ lines: [([ComplexD], Bool)], nx: Int, channels nc: Int, polynomial: Bool) throws -> GhostPhase {
        let fwd = lines.filter { !$0.1 }.map(\.0), rev = lines.filter { $0.1 }.map(\.0)
        guard !fwd.isEmpty, !rev.isEmpty else {
            throw CordError.invalidValue(what: "EPI reference lines", detail: "need forward and reflected reference readouts; found \(fwd.count) forward and \(rev.count) reflected")
        }
        func mean(_ ls: [[ComplexD]]) -> [ComplexD] {
            var m = [ComplexD](repeating: .zero, count: nx * nc)
            for l in ls { for i in m.indices { m[i] = m[i] + l[i] } }
            return m
        }
        let f = mean(fwd), r = mean(rev)
        var z = [ComplexD](repeating: .zero, count: nx)
        for c in 0..<nc { for x in 0..<nx { z[x] = z[x] + f[c * nx + x] * r[c * nx + x].conjugate } }
        return fit(z, nx: nx, polynomial: polynomial, source: "reference lines (\(fwd.count) forward, \(rev.count) reflected)")
    }

    /// Constant + linear (+ cubic residual) phase of z(x), x from the readout centre.
    static func fit(_ z: [ComplexD], nx: Int, polynomial: Bool, source: String) -> GhostPhase {
        var acc = ComplexD.zero
        for x in 0..<(nx - 1) { acc = acc + z[x + 1] * z[x].conjugate }
        let b = acc.lengthSquared > 0 ? atan2(acc.imaginary, acc.real) : 0
        var acc0 = ComplexD.zero
        for x in 0..<nx {
            let u = Double(x - nx / 2)
            acc0 = acc0 + z[x] * ComplexD(cos(-b * u), sin(-b * u))
        }
        let a = acc0.lengthSquared > 0 ? atan2(acc0.imaginary, acc0.real) : 0
        var coeffs = [a, b]
        if polynomial {
            let wmax = z.map(\.length).max() ?? 0
            var ata = [Double](repeating: 0, count: 16), atb = [Double](repeating: 0, count: 4)
            for x in 0..<nx {
                let w = z[x].length
                guard w > 0.25 * wmax else { continue }
                let u = Double(x - nx / 2) / Double(nx / 2)
                let rot = z[x] * ComplexD(cos(-(a + b * Double(x - nx / 2))), sin(-(a + b * Double(x - nx / 2))))
                let res = atan2(rot.imaginary, rot.real)
                // Samples outside the object (ripple, noise) carry arbitrary phase: keep the
                // residual only where it is a correction to the linear model (|res| < π/4).
                guard abs(res) < Double.pi / 4 else { continue }
                let basis = [1, u, u * u, u * u * u]
                let w2 = w * w
                for i in 0..<4 { atb[i] += w2 * basis[i] * res; for j in 0..<4 { ata[i * 4 + j] += w2 * basis[i] * basis[j] } }
            }
            for i in 0..<4 { ata[i * 4 + i] += 1e-9 * (ata[0] + 1) }
            if let c = SmallLinearAlgebra.solveSPD(ata, n: 4, atb, m: 1) {
                let s = Double(nx / 2)
                coeffs = [a + c[0], b + c[1] / s, c[2] / (s * s), c[3] / (s * s * s)]
            }
        }
        return GhostPhase(coefficients: coeffs, source: source)
    }

    /// Multiplies reflected rows by e^{iφ(x)}.
    static func apply(_ g: GhostPhase, to k: inout [ComplexD], nx: Int, ny: Int, channels nc: Int, reverseRows: [Bool]) {
        let ph = (0..<nx).map { x -> ComplexD in let p = g.phase(at: Double(x - nx / 2)); return ComplexD(cos(p), sin(p)) }
        for c in 0..<nc {
            for r in 0..<ny where reverseRows[r] {
                for x in 0..<nx { let o = (c * ny + r) * nx + x; k[o] = k[o] * ph[x] }
            }
        }
    }

    /// Entropy of the sum-of-squares image after correcting reflected rows by (a, b).
    static func entropy(_ k: [ComplexD], nx: Int, ny: Int, channels nc: Int, reverseRows: [Bool], a: Double, b: Double) -> Double {
        var work = k
        apply(GhostPhase(coefficients: [a, b], source: ""), to: &work, nx: nx, ny: ny, channels: nc, reverseRows: reverseRows)
        var sos = [Double](repeating: 0, count: nx * ny)
        for c in 0..<nc {
            var img = Array(work[(c * nx * ny)..<((c + 1) * nx * ny)])
            CentredFFT.alongY(&img, nx: nx, ny: ny, inverse: true)
            for i in 0..<(nx * ny) { sos[i] += img[i].lengthSquared }
        }
        let mag = sos.map { $0.squareRoot() }
        let total = mag.reduce(0, +)
        guard total > 0 else { return 0 }
        var e = 0.0
        for m in mag where m > 0 { let p = m / total; e -= p * log(p) }
        return e
    }

    /// Reference-free (constant, linear) phase by entropy minimisation: a coarse grid, then
    /// coordinate-wise golden-section refinement.
    static func referenceFree(_ k: [ComplexD], nx: Int, ny: Int, channels nc: Int, reverseRows: [Bool], acquired: [Bool],
                              polynomial: Bool) -> GhostPhase {
        func f(_ a: Double, _ b: Double) -> Double { entropy(k, nx: nx, ny: ny, channels: nc, reverseRows: reverseRows, a: a, b: b) }
        let bMax = 4 * Double.pi / Double(nx)   // up to ±2 samples of echo shift
        var best = (a: 0.0, b: 0.0, e: f(0, 0))
        // The constant term is searched in (−π/2, π/2]: a and a + π give the same image shifted
        // by FOV/2 (equal entropy), so the search keeps the object where the data put it.
        for ia in 0..<9 {
            let a = -Double.pi / 2 + Double(ia) * Double.pi / 8
            for ib in 0...12 {
                let b = -bMax + Double(ib) * 2 * bMax / 12
                let e = f(a, b)
                if e < best.e { best = (a, b, e) }
            }
        }
        func golden(_ lo: Double, _ hi: Double, _ g: (Double) -> Double) -> Double {
            var lo = lo, hi = hi
            let r = (5.0.squareRoot() - 1) / 2
            var x1 = hi - r * (hi - lo), x2 = lo + r * (hi - lo)
            var f1 = g(x1), f2 = g(x2)
            for _ in 0..<24 {
                if f1 < f2 { hi = x2; x2 = x1; f2 = f1; x1 = hi - r * (hi - lo); f1 = g(x1) } else { lo = x1; x1 = x2; f1 = f2; x2 = lo + r * (hi - lo); f2 = g(x2) }
            }
            return (lo + hi) / 2
        }
        var a = best.a, b = best.b
        for _ in 0..<2 {
            a = golden(a - Double.pi / 8, a + Double.pi / 8) { f($0, b) }
            b = golden(b - 2 * bMax / 12, b + 2 * bMax / 12) { f(a, $0) }
        }
        return GhostPhase(coefficients: [a, b], source: "reference-free (entropy minimisation)")
    }
}
