// Coil combination of pre-whitened coil images: root sum of squares (Roemer 1990 MRM 16:192)
// or adaptive (Walsh, Gmitro & Marcellin 2000 MRM 43:682): per pixel, the dominant eigenvector
// v of the coil correlation matrix summed over a kernel×kernel window; image = vᴴ·I, with v's
// phase referred to the strongest coil so the combined phase is smooth.
import CordCore
import Foundation

enum CoilCombiner {
    static func combine(_ coils: [ComplexD], nx: Int, ny: Int, channels nc: Int, method: CoilCombination, kernel: Int) -> [ComplexD] {
        let n = nx * ny
        if nc == 1 { return Array(coils[0..<n]) }
        if method == .sos {
            return (0..<n).map { i in ComplexD((0..<nc).reduce(0.0) { $0 + coils[$1 * n + i].lengthSquared }.squareRoot(), 0) }
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
        var out = [ComplexD](repeating: .zero, count: n)
        var start = [ComplexD](repeating: ComplexD(1 / Double(nc).squareRoot(), 0), count: nc)
        for i in 0..<n {
            let local = Array(r[(i * m)..<((i + 1) * m)])
            var v = SmallLinearAlgebra.dominantEigenvector(local, n: nc, start: start)
            start = v
            let p = v[ref]
            let pl = p.length
            if pl > 0 { let rot = ComplexD(p.real / pl, -p.imaginary / pl); v = v.map { $0 * rot } }
            var s = ComplexD.zero
            for c in 0..<nc { s = s + v[c].conjugate * coils[c * n + i] }
            out[i] = s
        }
        return out
    }
}
