// The per-subject QC page `OUT/qc/index.html`: what a reader looks at before trusting the
// numbers — the protocol check, the cord outline on every contrast, the levels on a sagittal
// view, the registered atlas, the maps, each step's metrics and warnings, and per-level plots
// against the normative band. Pictures are PNG files beside the page; plots are inline SVG.
import CordAtlas
import CordCore
import CordIO
import CordMetrics
import CordNormative
import CordReport
import Foundation

/// What the subject page is made from: the run's records and where its outputs are.
struct SubjectQCInput {
    var participant: String
    var steps: [StepRecord]
    var rows: [MetricRow]
    var warnings: [String]
    var missing: [String]
    var protocolRecord: [String: JSONValue]
    /// The anatomical image the levels were found on (input path) and its cord segmentation (output, relative).
    var anatomy: String?
    /// Disc labels: level n = disc above vertebra n, at a world position (mm).
    var discs: [(level: Int, world: SIMD3<Double>)]
    /// DWI series (stem → image path) and the MT-on image (stem, path).
    var dwiSeries: [String: (path: String, bval: String?)]
    var mtOn: (stem: String, path: String)?
    /// Normative models by key, from `--db` (empty without one).
    var norms: [ModelKey: NormativeModel]
    /// Where a relative output lives now (the staging folder during a run, or the output folder).
    var path: (String) throws -> String
}

/// One picture of the page: file name under `qc/`, caption, the step it documents.
struct QCPicture {
    var file: String, caption: String, step: String
}

/// Builds the subject page.
struct SubjectQCBuilder {
    let input: SubjectQCInput
    var pictures: [QCPicture] = []
    var sections: [(id: String, title: String, html: String)] = []
    var notes: [String] = []

    init(_ input: SubjectQCInput) { self.input = input }

    /// The step record named `name`.
    func step(_ name: String) -> StepRecord? { input.steps.first { $0.name == name } }

    /// Writes a picture as `qc/<file>` and remembers it.
    mutating func save(_ image: RGBImage, _ file: String, caption: String, step: String) throws -> String {
        try BinaryFile.write(try PNGCodec.encode(image), to: try input.path("qc/" + file))
        pictures.append(QCPicture(file: file, caption: caption, step: step))
        return HTML.figure(file, caption: caption)
    }

    func readFloat(_ relativeOrInput: String, input isInput: Bool = false) throws -> Volume<Float> {
        let p = isInput ? relativeOrInput : try input.path(relativeOrInput)
        let (v, _) = try NIfTIFile.read(p)
        return v.frames == 1 ? v : v.frame(0)
    }
    func readMask(_ relative: String) throws -> Mask {
        Mask.threshold(try readFloat(relative), above: 0.5)
    }

    /// Every section, in reading order.
    mutating func build() throws -> String {
        overview()
        protocolSection()
        try segmentationSection()
        try levelsSection()
        try registrationSection()
        try mapsSection()
        metricsSection()
        plotsSection()
        let body = sections.map { HTML.section($0.id, $0.title, $0.html) }.joined()
        return HTML.page(title: "CordQ QC — \(input.participant)",
                         subtitle: "cordq \(CordQVersion.string) · look at each picture before trusting the numbers in \(input.participant)_metrics.tsv",
                         nav: sections.map { ($0.id, $0.title) }, body: body)
    }

    // MARK: - Sections

    mutating func overview() {
        var h = HTML.table(["step", "status", "s", "what it did"], input.steps.map {
            ["<b>\(HTML.escape($0.name))</b>", "<span class=\"status-\($0.status.rawValue)\">\($0.status.rawValue)</span>",
             formatFixed($0.seconds, 1), HTML.escape($0.detail)]
        }, raw: true)
        if !input.warnings.isEmpty {
            h += "<h3>Warnings</h3><ul>" + input.warnings.map { "<li class=\"warn\">\(HTML.escape($0))</li>" }.joined() + "</ul>"
        }
        if !input.missing.isEmpty {
            h += "<h3>Missing</h3><ul>" + input.missing.map { "<li>\(HTML.escape($0))</li>" }.joined() + "</ul>"
        }
        sections.append(("overview", "Steps", h))
    }

    mutating func protocolSection() {
        let p = input.protocolRecord
        var h = ""
        let card = p["Card"]?.qcString ?? "none"
        h += HTML.table(["card", "inferred", "can proceed"], [[card, p["Inferred"]?.qcBool.map { $0 ? "yes" : "no" } ?? "–",
                                                                p["CanProceed"]?.qcBool.map { $0 ? "yes" : "no" } ?? "–"]])
        for (key, title) in [("Blockers", "Blockers"), ("Warnings", "Protocol warnings")] {
            let list = p[key]?.qcArray?.compactMap(\.qcString) ?? []
            if !list.isEmpty { h += "<h3>\(title)</h3><ul>" + list.map { "<li class=\"warn\">\(HTML.escape($0))</li>" }.joined() + "</ul>" }
        }
        let deviations = p["Deviations"]?.qcArray ?? []
        h += "<h3>Deviations from the card (\(deviations.count))</h3>"
        if !deviations.isEmpty {
            h += HTML.table(["series", "key", "found", "expected"], deviations.map {
                [$0.qc("series")?.qcString ?? "", $0.qc("key")?.qcString ?? "", $0.qc("found")?.qcString ?? "", $0.qc("expected")?.qcString ?? ""]
            })
        }
        let maps = p["Maps"]?.qcArray ?? []
        if !maps.isEmpty {
            h += "<h3>Maps the card asks for</h3>" + HTML.table(["map", "computable", "reason"], maps.map {
                [$0.qc("id")?.qcString ?? "", ($0.qc("computable")?.qcBool ?? false) ? "yes" : "no", $0.qc("reason")?.qcString ?? ""]
            })
        }
        if let ranking = p["Ranking"]?.qcArray, !ranking.isEmpty {
            h += "<h3>Cards ranked</h3>" + HTML.table(["card", "can proceed", "matched series", "note"], ranking.map {
                [$0.qc("card")?.qcString ?? "", ($0.qc("can_proceed")?.qcBool ?? false) ? "yes" : "no",
                 $0.qc("matched_series")?.qcNumber.map { String(Int($0)) } ?? "", $0.qc("note")?.qcString ?? ""]
            })
        }
        sections.append(("protocol", "Protocol check", h))
    }

    /// The contrast spaces that were segmented: (space name, mask relative path, reference image, what it is).
    func spaces() throws -> [(space: String, step: String, mask: String, image: Volume<Float>, what: String)] {
        var out: [(String, String, String, Volume<Float>, String)] = []
        if let anat = input.anatomy, let s = step("segmentation"), s.status == .done, let mask = s.outputs.first(where: { $0.hasSuffix("_mask.nii.gz") }) {
            out.append(("anat", "segmentation", mask, try readFloat(anat, input: true), "anatomical image"))
        }
        for s in input.steps where s.name.hasPrefix("segmentation (") && s.status == .done {
            guard let mask = s.outputs.first(where: { $0.hasSuffix("_label-SC_mask.nii.gz") }) else { continue }
            let space = String(s.name.dropFirst("segmentation (".count).dropLast())
            let stem = String((mask.split(separator: "/").last ?? "").dropLast("_label-SC_mask.nii.gz".count))
            if let dwi = input.dwiSeries[stem] {
                out.append((space, s.name, mask, try meanDiffusionWeighted(dwi.path, bval: dwi.bval), "mean DWI (b > 0)"))
            } else if let mt = input.mtOn, mt.stem == stem {
                out.append((space, s.name, mask, try readFloat(mt.path, input: true), "MT-on image"))
            }
        }
        return out
    }

    /// Mean of the b > 0 volumes of a DWI series (all volumes without a .bval beside it).
    func meanDiffusionWeighted(_ path: String, bval: String?) throws -> Volume<Float> {
        let (v, _) = try NIfTIFile.read(path)
        var use = Array(0..<v.frames)
        if let files = GradientFiles.locate(besides: path) {
            let b = try GradientFiles.readRaw(bval: bval ?? files.bval, bvec: files.bvec).bValues
            let weighted = use.filter { $0 < b.count && b[$0] > 50 }
            if !weighted.isEmpty { use = weighted }
        }
        let n = v.grid.voxelCount
        var mean = Volume<Float>(grid: v.grid, frames: 1, repeating: 0)
        for t in use { for i in 0..<n { mean.data[i] += v.data[t * n + i] / Float(use.count) } }
        return mean
    }

    mutating func segmentationSection() throws {
        var h = "<p>Cord segmentation outline (orange, Okabe–Ito) on each contrast it was made on: axial slices through the cord (slice number in the corner; patient's right on the left, anterior up) and a sagittal reformat through the cord (anterior left, superior up). The outline should follow the cord–CSF edge on every slice.</p>"
        for s in try spaces() {
            let mask = try readMask(s.mask)
            let overlay = Overlay(mask: mask, style: .outline(width: 2), colour: Palette.orange)
            let metrics = step(s.step)?.metrics
            let dice = metrics?.cordVolumeMM3.map { ", cord volume \(formatFixed($0, 0)) mm³" } ?? ""
            h += "<h3>\(HTML.escape(s.space)): \(HTML.escape(s.what))\(HTML.escape(dice))</h3>"
            let axial = QCRenderer.axialMosaic(s.image, focus: mask, overlays: [overlay])
            h += try save(axial, "seg_\(fileSafe(s.space))_axial.png", caption: "\(s.space): cord outline on the \(s.what), axial", step: s.step)
            let sag = QCRenderer.sagittal(s.image, focus: mask, overlays: [overlay])
            h += try save(sag.image, "seg_\(fileSafe(s.space))_sagittal.png", caption: "\(s.space): cord outline, sagittal", step: s.step)
        }
        sections.append(("segmentation", "Cord segmentation", h))
    }

    mutating func levelsSection() throws {
        guard let anat = input.anatomy, let reg = step("registration (anat)"), reg.status == .done,
              let levelsFile = reg.outputs.first(where: { $0.hasSuffix("_desc-levels_dseg.nii.gz") }) else {
            let why = step("levels").map { "levels: \($0.detail)" } ?? "no levels step"
            sections.append(("levels", "Vertebral levels", "<p class=\"warn\">No level map: \(HTML.escape(why)).</p>"))
            return
        }
        let image = try readFloat(anat, input: true)
        let (lv, _) = try NIfTIFile.read(try input.path(levelsFile), as: Int32.self)
        let mask = lv.map { UInt8($0 > 0 ? 1 : 0) }
        var names: [Int32: String] = [:]
        for l in Set(lv.data) where l > 0 { names[l] = VertebralLevelName.name(Int(l)) }
        let marks = input.discs.map { (text: VertebralLevelName.name($0.level - 1) + "/" + VertebralLevelName.name($0.level), world: $0.world) }
        let panel = QCRenderer.sagittal(image, focus: mask, overlays: [Overlay(labels: lv, style: .fill(alpha: 0.35))],
                                        levelNames: names, levelOverlay: lv, marks: marks)
        var h = "<p>Vertebral levels inside the cord (translucent colours, names right of the cord) and the disc labels used (dots, names left) on a sagittal reformat of the anatomical image. Each level should lie between the discs above and below its vertebra. \(HTML.escape(step("levels")?.detail ?? ""))</p>"
        h += try save(panel.image, "levels_sagittal.png", caption: "levels and discs, sagittal", step: "levels")
        let axial = QCRenderer.axialMosaic(image, focus: mask, overlays: [Overlay(labels: lv, style: .fill(alpha: 0.35))])
        h += try save(axial, "levels_axial.png", caption: "levels, axial", step: "registration (anat)")
        sections.append(("levels", "Vertebral levels", h))
    }

    mutating func registrationSection() throws {
        var h = "<p>The atlas registered in each contrast's space: white matter outlined in blue, grey matter filled in orange (first picture), and the white-matter tracts, each in its colour (legend below) where its probability is the highest and ≥ 0.3 (second picture). The grey matter should sit on the butterfly, the white matter on the rim of the cord.</p>"
        var any = false
        for s in try spaces() where s.space != "anat" {
            guard let reg = step("registration (\(s.space))"), reg.status == .done, let folder = reg.outputs.first else { continue }
            var o = AtlasLoadOptions(); o.cropToCord = false; o.contrasts = false
            let contents = try AtlasFolder.load(try input.path(folder), options: o)
            guard contents.grid.isCompatible(with: s.image.grid) else {
                notes.append("registration (\(s.space)): the warped atlas is not on the image grid; not drawn"); continue
            }
            let mask = try readMask(s.mask)
            var overlays: [Overlay] = []
            if let wm = contents.templateMaps[.wm] { overlays.append(Overlay(mask: Mask.threshold(wm, above: 0.5), style: .outline(width: 1), colour: Palette.blue)) }
            if let gm = contents.templateMaps[.gm] { overlays.append(Overlay(mask: Mask.threshold(gm, above: 0.5), style: .fill(alpha: 0.45), colour: Palette.orange)) }
            let dice = reg.metrics.dice.map { "Dice \(formatFixed($0, 3))" } ?? ""
            h += "<h3>\(HTML.escape(s.space)) (\(HTML.escape(dice)))</h3>"
            h += try save(QCRenderer.axialMosaic(s.image, focus: mask, overlays: overlays, maxSlices: 6),
                          "reg_\(fileSafe(s.space))_wmgm.png", caption: "\(s.space): atlas WM (outline) and GM (fill) on the \(s.what)", step: reg.name)
            // White-matter tracts only: grey matter is drawn above, CSF is not a tract.
            let wmTracts = contents.tracts.filter {
                let n = $0.entry.name.lowercased()
                return !n.contains("csf") && !n.hasPrefix("gm ") && !n.contains("grey matter") && !n.contains("gray matter")
            }
            var tracts = Volume<Int32>(grid: s.image.grid, frames: 1, repeating: 0)
            var best = [Float](repeating: 0.3, count: s.image.grid.voxelCount)
            for (n, t) in wmTracts.enumerated() {
                for i in 0..<best.count where t.map.data[i] >= best[i] { best[i] = t.map.data[i]; tracts.data[i] = Int32(n + 1) }
            }
            h += try save(QCRenderer.axialMosaic(s.image, focus: mask, overlays: [Overlay(labels: tracts, style: .fill(alpha: 0.5))], maxSlices: 6),
                          "reg_\(fileSafe(s.space))_tracts.png", caption: "\(s.space): atlas white-matter tracts (\(wmTracts.count))", step: reg.name)
            h += "<p>" + wmTracts.enumerated().map { n, t in
                "<span style=\"display:inline-block;width:12px;height:12px;background:\(Palette.label(n + 1).hex);margin:0 4px 0 10px\"></span>\(HTML.escape(t.entry.name))"
            }.joined() + "</p>"
            any = true
        }
        if !any { h += "<p class=\"warn\">No atlas was registered in a DWI or MT space.</p>" }
        sections.append(("registration", "Atlas registration", h))
    }

    mutating func mapsSection() throws {
        var h = "<p>Quantitative maps in viridis with a fixed range per metric (colour bar below each), the cord outline in white.</p>"
        let masks = input.steps.filter { $0.status == .done && ($0.name.hasPrefix("segmentation")) }
            .flatMap(\.outputs).filter { $0.hasSuffix("_label-SC_mask.nii.gz") }
        var any = false
        for s in input.steps where s.status == .done {
            for file in s.outputs {
                let base = file.split(separator: "/").last.map(String.init) ?? file
                let map: ColourMap? = base == "FA.nii.gz" ? .fa : base.lowercased().hasPrefix("microfa") && base.hasSuffix(".nii.gz") ? .microFA
                    : base.hasSuffix("_MTRmap.nii.gz") ? .mtr : base == "mtsat.nii.gz" ? .mtsat : nil
                guard let map else { continue }
                let v = try readFloat(file)
                var focus: Mask?
                for m in masks { let mv = try readMask(m); if mv.grid.isCompatible(with: v.grid) { focus = mv; break } }
                let overlays = focus.map { [Overlay(mask: $0, style: .outline(width: 1), colour: .white)] } ?? []
                let pic = QCRenderer.axialMosaic(v, focus: focus, overlays: overlays, shading: .colour(map), maxSlices: 6)
                h += "<h3>\(HTML.escape(map.name)) — \(HTML.escape(file))</h3>"
                h += try save(pic, "map_\(fileSafe(map.name))_\(fileSafe(s.name)).png", caption: "\(map.name) (\(s.name))", step: s.name)
                h += "<div>" + SVGPlot.colourBar(map) + "</div>"
                any = true
            }
        }
        if !any { h += "<p class=\"warn\">No FA, μFA, MTR or MTsat map was made.</p>" }
        sections.append(("maps", "Maps", h))
    }

    mutating func metricsSection() {
        var rows: [[String]] = []
        for s in input.steps {
            guard case let .object(o) = s.metrics.json else { continue }
            let values = o.filter { $0.key != "warnings" }.sorted { $0.key < $1.key }.map { "\($0.key) = \(jsonText($0.value))" }
            rows.append(["<b>\(HTML.escape(s.name))</b>", HTML.escape(values.joined(separator: ", ")),
                         s.metrics.warnings.map { "<span class=\"warn\">\(HTML.escape($0))</span>" }.joined(separator: "<br>")])
        }
        var h = HTML.table(["step", "metrics", "warnings"], rows, raw: true)
        let mb = input.steps.filter { $0.name.lowercased().contains("multiband") || $0.name.lowercased().contains("motion") }
        h += mb.isEmpty ? "<p>No multiband or motion-correction step ran in this run.</p>"
            : "<p>Multiband/motion steps ran: their numbers are in the table above.</p>"
        for n in notes { h += "<p class=\"warn\">\(HTML.escape(n))</p>" }
        sections.append(("metrics", "Step metrics and warnings", h))
    }

    /// Per-level plots of CSA (cord), FA, MTR and μFA (white matter), with the normative band.
    mutating func plotsSection() {
        let wanted: [(metric: String, region: String, title: String, unit: String)] = [
            ("csa_mm2", "cord", "Cord area", "mm²"), ("fa", "white matter", "FA, white matter", ""),
            ("mtr_pu", "white matter", "MTR, white matter", "p.u."), ("ufa", "white matter", "μFA, white matter", ""),
        ]
        var h = input.norms.isEmpty ? "<p>No normative database given (<code>--db</code>): values only.</p>"
            : "<p>Subject (vermillion) against the normative mean (dashed) ± 1 SD (dark band) and ± 2 SD (light band) of the database given with <code>--db</code>.</p>"
        var any = false
        h += "<div class=\"plots\">"
        for w in wanted {
            let rows = input.rows.filter { $0.metric == w.metric && $0.region == w.region && $0.level != "all" }
            guard !rows.isEmpty else { continue }
            let levels = Set(rows.map(\.level)).sorted { LevelOrder.rank($0) < LevelOrder.rank($1) }
            let values = levels.map { l in rows.first { $0.level == l }?.value }
            let bands = levels.map { l -> NormBand? in
                let method = rows.first { $0.level == l }?.method ?? ""
                return input.norms[ModelKey(metric: w.metric, region: w.region, level: l, method: method)].map { NormBand(mean: $0.mean, sd: $0.sd) }
            }
            h += SVGPlot.perLevel(title: w.title, unit: w.unit, levels: levels, values: values, norms: bands)
            any = true
        }
        h += "</div>"
        if !any { h += "<p class=\"warn\">No per-level values (no vertebral levels, or no maps).</p>" }
        sections.append(("plots", "Per-level values", h))
    }
}

/// A name usable in a file name: letters, digits and `-`.
func fileSafe(_ s: String) -> String {
    String(s.map { $0.isLetter && $0.isASCII || $0.isNumber ? $0 : "-" })
}

/// A JSON value as short text for tables.
func jsonText(_ v: JSONValue) -> String {
    switch v {
    case let .number(d): return shortNumber(d)
    case let .bool(b): return b ? "yes" : "no"
    case let .string(s): return s
    default: return v.description
    }
}

extension JSONValue {
    /// The member `key` of an object (nil otherwise).
    func qc(_ key: String) -> JSONValue? { if case let .object(o) = self { return o[key] }; return nil }
    var qcString: String? { if case let .string(s) = self { return s }; return nil }
    var qcBool: Bool? { if case let .bool(b) = self { return b }; return nil }
    var qcNumber: Double? { if case let .number(d) = self { return d }; return nil }
    var qcArray: [JSONValue]? { if case let .array(a) = self { return a }; return nil }
}
