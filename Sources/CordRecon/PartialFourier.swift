// Partial Fourier along phase encoding, per coil, on hybrid (x, ky) data: zero filling,
// homodyne detection (Noll 1991 IEEE TMI 10:154) and POCS (Haacke 1991 JMR 92:126). The phase
// estimate comes from the symmetrically sampled centre of k-space (Hamming-windowed).
import CordCore
import Foundation

enum PartialFourier {
    /// Returns the coil image (nx × ny) from hybrid k-space `k` (nx × ny); `acquired` marks
    /// measured ky rows.
    static func reconstruct(_ k: inout [ComplexD], nx: Int, ny: Int, acquired: [Bool], method: PartialFourierMethod,
                            iterations: Int) -> [ComplexD] {
        let rows = acquired.indices.filter { acquired[$0] }
        guard let lo = rows.first, let hi = rows.last else { return k }
        let c = ny / 2
        let half = min(c - lo, hi - c)
        let asymmetric = (lo > 0 || hi < ny - 1) && half > 0 && (c - lo != hi - c + (ny % 2 == 0 ? 1 : 0))
        var img = k
        CentredFFT.alongY(&img, nx: nx, ny: ny, inverse: true)
        guard asymmetric, method != .zero, half >= 2 else { return img }
        // Low-resolution phase from the symmetric centre.
        var low = [ComplexD](repeating: .zero, count: nx * ny)
        for r in (c - half)...(c + half) {
            let w = 0.54 + 0.46 * cos(Double.pi * Double(r - c) / Double(half + 1))
            for x in 0..<nx { let o = r * nx + x; low[o] = ComplexD(k[o].real * w, k[o].imaginary * w) }
        }
        CentredFFT.alongY(&low, nx: nx, ny: ny, inverse: true)
        let phase = low.map { v -> ComplexD in let l = v.length; return l > 0 ? ComplexD(v.real / l, v.imaginary / l) : ComplexD(1, 0) }
        let upper = hi - c > c - lo   // the extra lines lie above the centre
        switch method {
        case .homodyne:
            var kw = k
            for r in 0..<ny {
                let w: Double
                if !acquired[r] { w = 0 } else if r >= c - half && r <= c + half { w = 1 } else { w = 2 }
                _ = upper
                for x in 0..<nx { let o = r * nx + x; kw[o] = ComplexD(kw[o].real * w, kw[o].imaginary * w) }
            }
            CentredFFT.alongY(&kw, nx: nx, ny: ny, inverse: true)
            return (0..<(nx * ny)).map { i in
                let re = (kw[i] * phase[i].conjugate).real
                return ComplexD(re * phase[i].real, re * phase[i].imaginary)
            }
        case .pocs:
            var cur = img
            for _ in 0..<max(1, iterations) {
                var kk = (0..<(nx * ny)).map { i -> ComplexD in let m = cur[i].length; return ComplexD(m * phase[i].real, m * phase[i].imaginary) }
                CentredFFT.alongY(&kk, nx: nx, ny: ny, inverse: false)
                for r in 0..<ny where acquired[r] { for x in 0..<nx { kk[r * nx + x] = k[r * nx + x] } }
                CentredFFT.alongY(&kk, nx: nx, ny: ny, inverse: true)
                cur = kk
            }
            return cur
        case .zero:
            return img
        }
    }
}
