// Image-quality numbers of a reconstructed EPI slice.
import CordCore
import Foundation

public enum EPIQuality {
    /// Nyquist ghost-to-signal ratio of a magnitude slice (nx × ny, y = phase encoding):
    /// object = pixels above `threshold` × the 99th percentile; ghost region = the object
    /// shifted by ny/2 along y, outside the object; background = the rest.
    /// GSR = (mean ghost − mean background) / mean object.
    public static func ghostToSignalRatio(_ magnitude: [Float], nx: Int, ny: Int, threshold: Double = 0.2) -> (gsr: Double, objectPixels: Int, ghostPixels: Int) {
        guard magnitude.count == nx * ny, nx > 0, ny > 1 else { return (.nan, 0, 0) }
        let sorted = magnitude.sorted()
        let p99 = Double(sorted[min(sorted.count - 1, sorted.count * 99 / 100)])
        let object = magnitude.map { Double($0) > threshold * p99 }
        var ghost = [Bool](repeating: false, count: nx * ny)
        for y in 0..<ny {
            for x in 0..<nx where object[y * nx + x] {
                let gy = (y + ny / 2) % ny
                if !object[gy * nx + x] { ghost[gy * nx + x] = true }
            }
        }
        var so = 0.0, sg = 0.0, sb = 0.0, no = 0, ng = 0, nb = 0
        for i in 0..<(nx * ny) {
            let v = Double(magnitude[i])
            if object[i] { so += v; no += 1 } else if ghost[i] { sg += v; ng += 1 } else { sb += v; nb += 1 }
        }
        guard no > 0, ng > 0, so > 0 else { return (.nan, no, ng) }
        let bg = nb > 0 ? sb / Double(nb) : 0
        return ((sg / Double(ng) - bg) / (so / Double(no)), no, ng)
    }

    /// Normalised root-mean-square error of `estimate` against `truth` inside `mask`:
    /// ‖e − t‖ / ‖t‖ over the masked pixels.
    public static func nrmse(_ estimate: [Double], _ truth: [Double], mask: [Bool]) -> Double {
        var num = 0.0, den = 0.0
        for i in truth.indices where mask[i] { let d = estimate[i] - truth[i]; num += d * d; den += truth[i] * truth[i] }
        return den > 0 ? (num / den).squareRoot() : .nan
    }
}
