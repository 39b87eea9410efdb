// Coil combination of pre-whitened coil images: root sum of squares (Roemer 1990 MRM 16:192)
// or adaptive (Walsh, Gmitro & Marcellin 2000 MRM 43:682): per pixel, the dominant eigenvector
// v of the coil correlation matrix summed over a kernel×kernel window; image = vᴴ·I, with v's
// phase referred to the strongest coil so the combined phase is smooth.
import CordCore
import Foundation

enum CoilCombiner {
    /// Combined image Σ_c conj(w_c)·I_c with the weights of `weights`.
    static func combine(_ coils: [ComplexD], nx: Int, ny: Int, channels nc: Int, method: CoilCombination, kernel: Int) -> [ComplexD] {
        let w = weights(coils, nx: nx, ny: ny, channels: nc, method: method, kernel: kernel)
        return apply(w, to: coils, n: nx * ny, channels: nc)
    }

    static func apply(_ w: [ComplexD], to coils: [ComplexD], n: Int, channels nc: Int) -> [ComplexD] {
        (0..<n).map { i in (0..<nc).reduce(ComplexD.zero) { $0 + w[i * nc + $1].conjugate * coils[$1 * n + i] } }
    }

    /// Unit-norm combination weights per pixel (n × channels): adaptive eigenvectors, or
    /// I_c/‖I‖ for the sum of squares (Σ conj(w)·I = ‖I‖).
    static func weights(_ coils: [ComplexD], nx: Int, ny: Int, channels nc: Int, method: CoilCombination, kernel: Int) -> [ComplexD] {
        let n = nx * ny
        if nc == 1 { return [ComplexD](repeating: ComplexD(1, 0), count: n) }
        if method == .sos {
            var w = [ComplexD](repeating: .zero, count: n * nc)
            for i in 0..<n {
                let norm = (0..<nc).reduce(0.0) { $0 + coils[$1 * n + i].lengthSquared }.squareRoot()
                for c in 0..<nc { w[i * nc + c] = norm > 0 ? ComplexD(coils[c * n + i].real / norm, coils[c * n + i].imaginary / norm) : ComplexD(c == 0 ? 1 : 0, 0) }
            }
            return w
        }
        // Correlation matrices, box-filtered separably.
        let m = nc * nc
        var r = [ComplexD](repeating: .zero, count: n * m)
        for i in 0..<n {
            for a in 0..<nc { for b in 0..<nc { r[i * m + a * nc + b] = coils[a * n + i] * coils[b * n + i].conjugate } }
        }
        let hw = max(1, kernel / 2)
        var tmp = r
        for y in 0..<ny {
            for x in 0..<nx {
                let dst = (y * nx + x) * m
                for e in 0..<m { tmp[dst + e] = .zero }
                for xx in max(0, x - hw)...min(nx - 1, x + hw) {
                    let src = (y * nx + xx) * m
                    for e in 0..<m { tmp[dst + e] = tmp[dst + e] + r[src + e] }
                }
            }
        }
        for y in 0..<ny {
            for x in 0..<nx {
                let dst = (y * nx + x) * m
                for e in 0..<m { r[dst + e] = .zero }
                for yy in max(0, y - hw)...min(ny - 1, y + hw) {
                    let src = (yy * nx + x) * m
                    for e in 0..<m { r[dst + e] = r[dst + e] + tmp[src + e] }
                }
            }
        }
        // Reference coil: the strongest.
        let energy = (0..<nc).map { c in (0..<n).reduce(0.0) { $0 + coils[c * n + $1].lengthSquared } }
        let ref = energy.indices.max { energy[$0] < energy[$1] } ?? 0
        var out = [ComplexD](repeating: .zero, count: n * nc)
        var start = [ComplexD](repeating: ComplexD(1 / Double(nc).squareRoot(), 0), count: nc)
        for i in 0..<n {
            let local = Array(r[(i * m)..<((i + 1) * m)])
            var v = SmallLinearAlgebra.dominantEigenvector(local, n: nc, start: start)
            start = v
            let p = v[ref]
            let pl = p.length
            if pl > 0 { let rot = ComplexD(p.real / pl, -p.imaginary / pl); v = v.map { $0 * rot } }
            for c in 0..<nc { out[i * nc + c] = v[c] }
        }
        return out
    }
}
