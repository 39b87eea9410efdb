// `protocol show`: a card printed as exactly what will be checked and done.
import Foundation

extension ProtocolCard {
    /// The card for people: header, then each series with its file pattern, every checked
    /// parameter (value ± tolerance, unit), diffusion shells and processing; then the maps.
    public var summary: String {
        var out: [String] = []
        out.append("\(name) — \(title)")
        out.append("  file          \(path)")
        if let d = description { out.append(contentsOf: wrap(d.trimmingCharacters(in: .whitespacesAndNewlines), indent: "  ")) }
        out.append("  vendor        \(manufacturer ?? "any")")
        if let f = field { out.append("  field         \(f) T") }
        if let b = timeBudgetMinutes {
            let total = series.compactMap(\.duration).map(\.value).reduce(0, +)
            out.append("  time budget   \(formatCardNumber(b)) min (series durations add up to \(formatCardNumber(total)) s)")
        }
        out.append("  tolerances    found x matches value ± tolerance when |x − value| <= tolerance (+1e-6·max(1,|value|) round-off)")
        for s in series {
            out.append("")
            out.append("  series \(s.id) (\(s.required ? "required" : "optional"))\(s.title.map { ": \($0)" } ?? "")")
            out.append("    file            \(s.filePattern)")
            if let q = s.sequence { out.append("    sequence        \(q.map(\.rawValue).joined(separator: " or "))") }
            if let o = s.orientation { out.append("    orientation     \(o.rawValue)") }
            let rows: [(String, Spec?, String)] = [
                ("voxel in-plane", s.voxelInPlane, " mm"), ("slice thickness", s.voxelSlice, " mm"), ("slices", s.slices, ""),
                ("multiband", s.multiband, ""), ("TR  (tr_s)", s.tr, " s"), ("TE  (te_s)", s.te, " s"), ("TI  (ti_s)", s.ti, " s"),
                ("flip angle", s.flip, "°"), ("duration", s.duration, " s"),
            ]
            for (label, spec, unit) in rows { if let spec { out.append("    \(ProtocolReport.pad(label, 16))\(spec)\(unit)") } }
            if let mt = s.mtPulse { out.append("    MT pulse        \(mt ? "on" : "off")") }
            if let d = s.diffusion {
                out.append("    diffusion       \(d.encoding.rawValue) encoding")
                for sh in d.shells {
                    var parts = ["b \(sh.b) s/mm²"]
                    if let v = sh.volumes { parts.append("\(v) volumes") }
                    if let v = sh.directions { parts.append("\(v) directions") }
                    out.append("      shell         " + parts.joined(separator: ", "))
                }
            }
            let p = s.processing
            if p != ProcessingSpec() {
                out.append("    processing      denoise \(p.denoise.rawValue), unring \(p.unring ? "yes" : "no"), motion correction \(p.motionCorrection.rawValue), multiband correction \(p.multibandCorrection ? "yes (when the found factor is >= 2)" : "no"), distortion correction \(p.distortionCorrection?.rawValue ?? "reverse-pe pair when present")")
            }
        }
        if !maps.isEmpty {
            out.append("")
            out.append("  maps")
            for m in maps {
                let inputs = m.inputs.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
                var extra = m.method.map { ", method \($0.rawValue)" } ?? ""
                if m.kind == .mtsat || m.kind == .t1 { extra += ", B1 \(m.b1 == .map ? "corrected with b1map" : "nominal (uncorrected)")" }
                out.append("    \(ProtocolReport.pad(m.id, 14))\(m.kind.rawValue)\(extra) from \(inputs)")
            }
        }
        if !references.isEmpty {
            out.append("")
            out.append("  references")
            out += references.map { "    - \($0)" }
        }
        if !warnings.isEmpty {
            out.append("")
            out += warnings.map { "  WARNING \($0)" }
        }
        return out.joined(separator: "\n")
    }
}

/// Splits text into lines of at most 92 characters.
func wrap(_ text: String, indent: String) -> [String] {
    var lines: [String] = []
    var line = ""
    for word in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
        if !line.isEmpty && line.count + word.count + 1 > 92 - indent.count { lines.append(indent + line); line = "" }
        line += (line.isEmpty ? "" : " ") + word
    }
    if !line.isEmpty { lines.append(indent + line) }
    return lines
}
