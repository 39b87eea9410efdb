// The per-subject QC page `OUT/qc/index.html`: what a reader looks at before trusting the
// numbers — the protocol check, the cord outline on every contrast, the levels on a sagittal
// view, the registered atlas, the maps, each step's metrics and warnings, and per-level plots
// against the normative band. Pictures are PNG files beside the page; plots are inline SVG.
import CordAtlas
import CordCore
import CordIO
import CordMetrics
import CordMultiband
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
    /// Disc labels: level n = disc above vertebra n, at a world position (mm).
    var discs: [(level: Int, world: SIMD3<Double>)]
    /// The images, masks, atlases and maps kept while the run made them.
    var images: QCImages
    /// Normative models by key, from `--db` (empty without one).
    var norms: [ModelKey: NormativeModel]
    /// Where a relative output is written (the staging folder during a run).
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

    /// Every section, in reading order.
    mutating func build() throws -> String {
        overview()
        protocolSection()
        try segmentationSection()
        try levelsSection()
        try registrationSection()
        try distortionSection()
        try mapsSection()
        multibandSection()
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

    /// The step that made a space's cord segmentation.
    static func segmentationStep(_ space: String) -> String { space == "anat" ? "segmentation" : "segmentation (\(space))" }

    mutating func segmentationSection() throws {
        var h = "<p>Cord segmentation outline (orange, Okabe–Ito) on the image each space's cord was segmented on: axial slices through the cord (slice number in the corner; patient's right on the left, anterior up) and a sagittal reformat through the cord (anterior left, superior up). The outline should follow the cord–CSF edge on every slice.</p>"
        for s in input.images.spaces {
            let overlay = Overlay(mask: s.mask, style: .outline(width: 2), colour: Palette.orange)
            let stepName = Self.segmentationStep(s.name)
            let volume = step(stepName)?.metrics.cordVolumeMM3.map { ", cord volume \(formatFixed($0, 0)) mm³" } ?? ""
            h += "<h3>\(HTML.escape(s.name)): \(HTML.escape(s.what))\(HTML.escape(volume))</h3>"
            h += try save(QCRenderer.axialMosaic(s.image, focus: s.mask, overlays: [overlay]),
                          "seg_\(fileSafe(s.name))_axial.png", caption: "\(s.name): cord outline on the \(s.what), axial", step: stepName)
            h += try save(QCRenderer.sagittal(s.image, focus: s.mask, overlays: [overlay]).image,
                          "seg_\(fileSafe(s.name))_sagittal.png", caption: "\(s.name): cord outline, sagittal", step: stepName)
        }
        if input.images.spaces.isEmpty { h += "<p class=\"warn\">No cord segmentation was made.</p>" }
        sections.append(("segmentation", "Cord segmentation", h))
    }

    mutating func levelsSection() throws {
        guard let anat = input.images.spaces.first(where: { $0.name == "anat" }), let lv = input.images.levels else {
            let why = step("levels").map { "levels: \($0.detail)" } ?? "no levels step"
            sections.append(("levels", "Vertebral levels", "<p class=\"warn\">No level map: \(HTML.escape(why)).</p>"))
            return
        }
        let mask = lv.map { UInt8($0 > 0 ? 1 : 0) }
        var names: [Int32: String] = [:]
        for l in Set(lv.data) where l > 0 { names[l] = VertebralLevelName.name(Int(l)) }
        let marks = input.discs.map { (text: VertebralLevelName.name($0.level - 1) + "/" + VertebralLevelName.name($0.level), world: $0.world) }
        let panel = QCRenderer.sagittal(anat.image, focus: mask, overlays: [Overlay(labels: lv, style: .fill(alpha: 0.35))],
                                        levelNames: names, levelOverlay: lv, marks: marks)
        var h = "<p>Vertebral levels inside the cord (translucent colours, names right of the cord) and the disc labels used (dots, names left) on a sagittal reformat of the anatomical image. Each level should lie between the discs above and below its vertebra. \(HTML.escape(step("levels")?.detail ?? ""))</p>"
        h += try save(panel.image, "levels_sagittal.png", caption: "levels and discs, sagittal", step: "levels")
        h += try save(QCRenderer.axialMosaic(anat.image, focus: mask, overlays: [Overlay(labels: lv, style: .fill(alpha: 0.35))]),
                      "levels_axial.png", caption: "levels, axial", step: "registration (anat)")
        sections.append(("levels", "Vertebral levels", h))
    }

    mutating func registrationSection() throws {
        var h = "<p>The atlas registered in each contrast's space: white matter outlined in blue, grey matter filled in orange (first picture), and the white-matter tracts, each in its colour (legend below) where its probability is the highest and ≥ 0.3 (second picture). The grey matter should sit on the butterfly, the white matter on the rim of the cord.</p>"
        var any = false
        for s in input.images.spaces where s.wm != nil || s.gm != nil || s.tracts != nil {
            let regStep = "registration (\(s.name))"
            var overlays: [Overlay] = []
            if let wm = s.wm { overlays.append(Overlay(mask: wm, style: .outline(width: 1), colour: Palette.blue)) }
            if let gm = s.gm { overlays.append(Overlay(mask: gm, style: .fill(alpha: 0.45), colour: Palette.orange)) }
            let dice = step(regStep)?.metrics.dice.map { " (Dice \(formatFixed($0, 3)))" } ?? ""
            h += "<h3>\(HTML.escape(s.name))\(HTML.escape(dice))</h3>"
            h += try save(QCRenderer.axialMosaic(s.image, focus: s.mask, overlays: overlays, maxSlices: 6),
                          "reg_\(fileSafe(s.name))_wmgm.png", caption: "\(s.name): atlas WM (outline) and GM (fill) on the \(s.what)", step: regStep)
            if let tracts = s.tracts {
                h += try save(QCRenderer.axialMosaic(s.image, focus: s.mask, overlays: [Overlay(labels: tracts, style: .fill(alpha: 0.5))], maxSlices: 6),
                              "reg_\(fileSafe(s.name))_tracts.png", caption: "\(s.name): atlas white-matter tracts (\(s.tractNames.count))", step: regStep)
                h += "<p>" + s.tractNames.enumerated().map { n, name in
                    "<span style=\"display:inline-block;width:12px;height:12px;background:\(Palette.label(n + 1).hex);margin:0 4px 0 10px\"></span>\(HTML.escape(name))"
                }.joined() + "</p>"
            }
            any = true
        }
        if !any { h += "<p class=\"warn\">No atlas was registered in a DWI or MT space.</p>" }
        sections.append(("registration", "Atlas registration", h))
    }

    /// The susceptibility field and the b = 0 image before and after unwarping, per DWI series
    /// that had a reverse phase-encoding pair.
    mutating func distortionSection() throws {
        guard !input.images.distortion.isEmpty else { return }
        var h = "<p>Susceptibility distortion correction from the reverse phase-encoding pair: the mean b = 0 image as acquired, the pair unwarped and combined (same grey window; the cord and CSF should keep their shape and sit where the anatomy is, without stretching or pile-up along phase encoding), and the field in Hz (viridis, symmetric range; bumps at the discs are expected).</p>"
        for e in input.images.distortion {
            let window = Window.percentiles(e.before.data)
            var peak = 1.0
            for v in e.field.data where v.isFinite { peak = max(peak, Double(abs(v))) }
            let map = ColourMap(name: "field", low: -peak, high: peak, unit: "Hz")
            let step = "distortion correction \(e.series)"
            h += "<h3>\(HTML.escape(e.series))</h3>"
            h += try save(QCRenderer.axialMosaic(e.before, focus: nil, overlays: [], shading: .grey(window), maxSlices: 6),
                          "distortion_\(fileSafe(e.series))_before.png", caption: "mean b = 0 as acquired (\(e.series))", step: step)
            h += try save(QCRenderer.axialMosaic(e.after, focus: nil, overlays: [], shading: .grey(window), maxSlices: 6),
                          "distortion_\(fileSafe(e.series))_after.png", caption: "b = 0 pair unwarped and combined (\(e.series))", step: step)
            h += try save(QCRenderer.axialMosaic(e.field, focus: nil, overlays: [], shading: .colour(map), maxSlices: 6),
                          "distortion_\(fileSafe(e.series))_field.png", caption: "field (Hz), \(formatFixed(-peak, 0)) to \(formatFixed(peak, 0)) Hz", step: step)
            h += "<div>" + SVGPlot.colourBar(map) + "</div>"
            if let d = self.step(step)?.detail { h += "<p>\(HTML.escape(d))</p>" }
        }
        sections.append(("distortion", "Distortion", h))
    }

    mutating func mapsSection() throws {
        var h = "<p>Quantitative maps in viridis with a fixed range per metric (colour bar below each), the cord outline in white.</p>"
        for m in input.images.maps {
            let map: ColourMap
            switch m.metric {
            case "fa": map = .fa
            case "ufa": map = .microFA
            case "mtr_pu": map = .mtr
            case "mtsat_pu": map = .mtsat
            default: continue
            }
            let focus = input.images.spaces.last { $0.name == m.space && $0.mask.grid.isCompatible(with: m.volume.grid) }?.mask
            let overlays = focus.map { [Overlay(mask: $0, style: .outline(width: 1), colour: .white)] } ?? []
            h += "<h3>\(HTML.escape(map.name)) (\(HTML.escape(m.space)))</h3>"
            h += try save(QCRenderer.axialMosaic(m.volume, focus: focus, overlays: overlays, shading: .colour(map), maxSlices: 6),
                          "map_\(fileSafe(m.metric))_\(fileSafe(m.space)).png", caption: "\(map.name) in the \(m.space) space", step: "values (\(m.space))")
            h += "<div>" + SVGPlot.colourBar(map) + "</div>"
        }
        if input.images.maps.isEmpty { h += "<p class=\"warn\">No FA, μFA, MTR or MTsat map was made.</p>" }
        sections.append(("maps", "Maps", h))
    }

    /// Motion per volume and slice group, outlier scores per slice and volume, banding gains
    /// and b=0 tSNR per slice group, for every DWI series a multiband/motion step corrected.
    mutating func multibandSection() {
        guard !input.images.multiband.isEmpty else {
            sections.append(("multiband", "Motion and multiband", "<p>No multiband or motion-correction step ran in this run.</p>"))
            return
        }
        var h = "<p>What the slice-group motion and multiband correction estimated (metrics in the step table below). Motion: in-plane displacement √(tx² + ty²) per volume, the mean over slice groups (as <code>sct_dmri_moco</code> reports it) and the largest group; spikes are volumes that moved. Outliers: each slice's robust z-score of signal loss against the tensor prediction, per volume (grey: b = 0 volumes, not scored); crossed cells are outlier slice groups, replaced by the prediction when the card asks for it. A whole row lit is a bad slice; a whole column, a bad volume.</p>"
        for mb in input.images.multiband {
            let q = mb.result.quality
            h += "<h3>\(HTML.escape(mb.series)): MB \(q.factor), \(q.groups) slice groups</h3><p>\(HTML.escape(q.groupSource)); mean displacement \(formatFixed(q.meanDisplacement, 2)) mm (max \(formatFixed(q.maxDisplacement, 2)) mm, rotation ≤ \(formatFixed(q.maxRotationDegrees, 2))°)\(q.scoredGroups > 0 ? "; \(q.outliers) of \(q.scoredGroups) diffusion-weighted slice groups outliers (\(formatFixed(100 * q.outlierFraction, 1)) %)" : "").</p>"
            h += "<div class=\"plots\">"
            let motion = mb.motionPerVolume
            h += SVGPlot.lines(title: "In-plane displacement per volume", xLabel: "volume", unit: "mm",
                               series: [("mean over groups", motion.mean), ("largest group", motion.max)])
            if motion.rotation.contains(where: { $0 > 0 }) {
                h += SVGPlot.lines(title: "Largest in-plane rotation per volume", xLabel: "volume", unit: "°", series: [("largest group", motion.rotation)])
            }
            if let before = q.b0TSNRBefore, let after = q.b0TSNRAfter, before.count > 1 {
                h += SVGPlot.lines(title: "b = 0 tSNR per slice group", xLabel: "slice group (tSNR = mean / SD over the b = 0 volumes)", unit: "ratio",
                                   series: [("before", before), ("after", after)])
            }
            h += "</div>"
            if q.scoredGroups > 0 {
                let grid = mb.scoreGrid
                let map = ColourMap(name: "outlier score (robust z)", low: 0, high: 2 * mb.threshold, unit: "")
                h += SVGPlot.heatmap(title: "Outlier score per slice and volume (threshold z = \(shortNumber(mb.threshold, 3)))", rowLabel: "slice",
                                     columnLabel: "volume", values: grid.values, marked: grid.marked, map: map)
                h += "<div>" + SVGPlot.colourBar(map) + "</div>"
            }
            let gains = mb.result.gains
            if gains.contains(where: { $0.contains { abs($0 - 1) > 1e-9 } }), let groups = gains.first?.count, groups > 0 {
                let spread = max(0.02, gains.flatMap { $0 }.filter(\.isFinite).map { abs($0 - 1) }.max() ?? 0.02)
                let map = ColourMap(name: "banding gain removed", low: 1 - spread, high: 1 + spread, unit: "")
                // gains are per volume (outer) and group (inner): draw groups as rows.
                let rows: [[Double?]] = (0..<groups).map { g in gains.map { g < $0.count ? $0[g] : nil } }
                h += SVGPlot.heatmap(title: "Slice-group intensity gain removed per volume (banding)", rowLabel: "slice group", columnLabel: "volume",
                                     values: rows, map: map)
                h += "<div>" + SVGPlot.colourBar(map) + "</div>"
            }
        }
        sections.append(("multiband", "Motion and multiband", h))
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
