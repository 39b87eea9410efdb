// `cordq info`: a readable summary of an image file and its companions.
import CordCore
import CordIO

/// Describes image files the way `mrinfo`/`fslhd` do, in words and units a clinician reads.
public enum ImageInfo {
    /// A multi-line description of `path`: format, grid, orientation, datatype and scaling,
    /// transform, value range, and the gradient table / sidecar found beside it.
    public static func describe(_ path: String) throws -> String {
        let h = try NIfTIFile.readHeader(path)
        var lines: [(String, String)] = []
        let g = h.grid
        lines.append(("format", "NIfTI-\(h.version)\(path.hasSuffix(".gz") ? ", gzip-compressed" : "")\(h.byteSwapped ? ", byte-swapped" : "")"))
        let dimText = h.dims.map(String.init).joined(separator: " × ")
        lines.append(("dimensions", "\(dimText)  (\(h.frames > 1 ? "4D, \(h.frames) volumes" : "3D"))"))
        let s = g.spacing
        lines.append(("voxel size", "\(formatFixed(s.x, 3)) × \(formatFixed(s.y, 3)) × \(formatFixed(s.z, 3)) mm"))
        if let tr = h.repetitionTime, h.frames > 1 { lines.append(("volume spacing", "\(formatFixed(tr, 3)) s (pixdim[4])")) }
        let o = g.orientation
        lines.append(("orientation", "\(o) (SCT convention, axes run from \(o.letters.map { String($0.rawValue) }.joined(separator: ", "))); \(o.towardCode)+ in nibabel terms"))
        lines.append(("plane", planeName(g)))
        lines.append(("datatype", h.datatype.name + (h.hasScaling ? ", scaled on read: value = stored × \(h.sclSlope) + \(h.sclInter)" : "")))
        lines.append(("transform", "\(h.affineSource); qform code \(h.qformCode), sform code \(h.sformCode)"))
        let a = g.affine
        for r in 0..<3 {
            let row = (0..<4).map { padLeft(formatFixed(a[r, $0], 4), 10) }.joined(separator: " ")
            lines.append((r == 0 ? "voxel→world (mm)" : "", row))
        }
        if !h.descrip.isEmpty { lines.append(("description", h.descrip)) }
        if h.voxelCount <= 50_000_000 {
            let stats = try valueSummary(path, complex: h.datatype.isComplex)
            lines.append(("values", stats))
        }
        if h.frames > 1, let (bval, bvec) = GradientFiles.locate(besides: path) {
            do {
                let t = try GradientFiles.read(bval: bval, bvec: bvec, grid: g, frames: h.frames, image: path)
                lines.append(("gradients", "\(t.summary)  (\(fileName(bval)), \(fileName(bvec)))"))
            } catch {
                lines.append(("gradients", "unusable: \(error)"))
            }
        }
        if let json = sidecarPath(path) {
            do { lines.append(("sidecar", sidecarSummary(try BIDSSidecar.read(json)))) } catch {
                lines.append(("sidecar", "unusable: \(error)"))
            }
        }
        let width = lines.map(\.0.count).max() ?? 0
        return ([path] + lines.map { "  " + pad($0.0, width) + "  " + $0.1 }).joined(separator: "\n")
    }

    static func planeName(_ g: Grid) -> String {
        // The slice axis is the voxel axis with the largest spacing; its world axis names the plane.
        let s = g.spacing
        let k = s.z >= s.x && s.z >= s.y ? 2 : (s.y >= s.x ? 1 : 0)
        let letters = g.orientation.letters
        let plane = ["sagittal", "coronal", "axial"][letters[k].worldAxis]
        return s.x == s.y && s.y == s.z ? "isotropic voxels (slice axis not defined)" : "\(plane) slices (thickest along voxel axis \(["i", "j", "k"][k]))"
    }

    static func valueSummary(_ path: String, complex: Bool) throws -> String {
        var lo = Double.infinity, hi = -Double.infinity, sum = 0.0, nonFinite = 0, n = 0
        func add(_ v: Double) {
            guard v.isFinite else { nonFinite += 1; return }
            lo = min(lo, v); hi = max(hi, v); sum += v; n += 1
        }
        if complex {
            let (v, _) = try NIfTIFile.read(path, as: ComplexF.self)
            for c in v.data { add(Double(c.length)) }
        } else {
            let (v, _) = try NIfTIFile.read(path, as: Float.self)
            for x in v.data { add(Double(x)) }
        }
        let what = complex ? "magnitude " : ""
        var text = n > 0 ? "\(what)min \(formatSignificant(lo)), max \(formatSignificant(hi)), mean \(formatSignificant(sum / Double(n)))" : "no finite values"
        if nonFinite > 0 { text += "; \(nonFinite) NaN/infinite" }
        return text
    }

    static func sidecarSummary(_ s: BIDSSidecar) -> String {
        var parts: [String] = []
        if let v = s.repetitionTime { parts.append("TR \(formatSignificant(v * 1000)) ms") }
        if let v = s.echoTime { parts.append("TE \(formatSignificant(v * 1000)) ms") }
        if let v = s.flipAngle { parts.append("flip \(formatSignificant(v))°") }
        if let v = s.inferredMultibandFactor, v > 1 { parts.append("multiband \(v)") }
        if let v = s.phaseEncodingDirection { parts.append("PE \(v)") }
        if let v = s.mtState { parts.append("MT \(v ? "on" : "off")") }
        if let v = s.manufacturer { parts.append(v + (s.manufacturersModelName.map { " " + $0 } ?? "")) }
        return parts.isEmpty ? "present (no acquisition fields CordQ uses)" : parts.joined(separator: ", ")
    }

    static func sidecarPath(_ image: String) -> String? {
        var stem = image
        for ext in [".nii.gz", ".nii"] where stem.hasSuffix(ext) { stem.removeLast(ext.count); break }
        return TextFile.exists(stem + ".json") ? stem + ".json" : nil
    }
    static func fileName(_ p: String) -> String { String(p.split(separator: "/").last ?? Substring(p)) }
    static func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
    static func padLeft(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }
}

/// Four significant digits without exponent for ordinary magnitudes.
public func formatSignificant(_ x: Double) -> String {
    guard x.isFinite else { return formatFixed(x, 0) }
    let a = abs(x)
    let decimals = a >= 1000 ? 1 : a >= 100 ? 2 : a >= 1 ? 3 : a >= 0.01 ? 4 : 6
    var s = formatFixed(x, decimals)
    if s.contains(".") && !s.contains("e") { while s.hasSuffix("0") { s.removeLast() }; if s.hasSuffix(".") { s.removeLast() } }
    return s
}
