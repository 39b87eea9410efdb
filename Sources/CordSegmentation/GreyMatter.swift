// Grey matter inside a cord segmentation, on contrasts where grey matter is brighter than
// white matter (T2*w, MT-on gradient echo).
import CordCore

/// Grey-matter segmentation by two-class intensity thresholding inside the cord, slice by
/// slice: Otsu's threshold (Otsu 1979, IEEE Trans SMC 9:62) over the cord's interior (cord
/// fraction ≥ 0.9) splits white from grey matter; the class means μ_WM, μ_GM give each
/// cord voxel a grey-matter fraction (I − μ_WM)/(μ_GM − μ_WM) clamped to 0…1 and multiplied
/// by its cord fraction, so partial volume carries through and the binary mask (≥ ½) sits
/// at the midpoint between the classes. A classical stand-in for atlas-based methods
/// (Dupont et al. 2017, NeuroImage 152:312), adequate where grey matter is clearly visible.
public enum GreyMatterSegmenter {
    /// Soft grey matter (0…1) on the image's grid. `cord` is a cord segmentation on the same
    /// grid (soft or binary). Throws for contrasts where grey matter is not visible.
    public static func segment(_ image: Volume<Float>, cord: Volume<Float>, contrast: SegmentationContrast) throws -> Volume<Float> {
        guard contrast.showsGreyMatter else {
            throw SegmentationError.invalidInput("grey matter is not visible enough on \(contrast.rawValue) images; use a T2*w (t2s) or MT (mt) image")
        }
        try image.grid.requireCompatible(with: cord.grid, "image", "cord segmentation")
        let img = AxialStack(image), seg = AxialStack(cord.maximum > 1 ? cord.map { $0 != 0 ? 1 : 0 } : cord)
        let per = img.nx * img.ny
        var out = [Float](repeating: 0, count: per * img.nz)
        var slicesWithGM = 0
        for k in 0..<img.nz {
            var values: [Float] = []
            for n in (per * k)..<(per * (k + 1)) where seg.data[n] >= 0.9 { values.append(img.data[n]) }
            guard values.count >= 16, let (wm, gm) = otsuMeans(values), gm > wm else { continue }
            slicesWithGM += 1
            for n in (per * k)..<(per * (k + 1)) where seg.data[n] > 0 {
                let f = min(max((img.data[n] - wm) / (gm - wm), 0), 1)
                out[n] = f * min(seg.data[n], 1)
            }
        }
        guard slicesWithGM > 0 else {
            throw SegmentationError.noCordFound(detail: "the cord segmentation has no slice with enough interior voxels for grey matter")
        }
        return img.restore(out)
    }

    /// Class means below and above Otsu's threshold (maximal between-class variance).
    static func otsuMeans(_ values: [Float]) -> (low: Float, high: Float)? {
        let v = values.sorted()
        let n = v.count
        var prefix = [Double](repeating: 0, count: n + 1)
        for i in 0..<n { prefix[i + 1] = prefix[i] + Double(v[i]) }
        var best = -1.0, split = 0
        for i in 1..<n where v[i] > v[i - 1] {
            let w0 = Double(i), w1 = Double(n - i)
            let m0 = prefix[i] / w0, m1 = (prefix[n] - prefix[i]) / w1
            let between = w0 * w1 * (m0 - m1) * (m0 - m1)
            if between > best { best = between; split = i }
        }
        guard split > 0 else { return nil }
        return (Float(prefix[split] / Double(split)), Float((prefix[n] - prefix[split]) / Double(n - split)))
    }
}
