import ArgumentParser
import Foundation
import Testing
import CordTestSupport
@testable import CordCLI
@testable import CordCore
@testable import CordIO
@testable import CordMetrics
@testable import CordMultiband
@testable import CordNormative
@testable import CordPhantom
@testable import CordPipeline
@testable import CordReport

/// Headless Chromium (Debian `chromium`, installed by scripts/install-deps.sh), or nil.
let chromiumPath: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
    .first { FileManager.default.isExecutableFile(atPath: $0) }

/// Runs headless Chromium on a local page; returns (stdout, stderr). Killed after 90 s.
func chromium(_ arguments: [String], page: String, profile: String) throws -> (String, String) {
    let exe = try #require(chromiumPath)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exe)
    p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=" + profile,
                   "--enable-logging=stderr", "--v=0"] + arguments + [URL(fileURLWithPath: page).absoluteString]
    let out = Pipe(), err = Pipe()
    p.standardOutput = out; p.standardError = err
    try p.run()
    let deadline = DispatchTime.now() + .seconds(90)
    let done = DispatchSemaphore(value: 0)
    DispatchQueue.global().async { p.waitUntilExit(); done.signal() }
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    if done.wait(timeout: deadline) == .timedOut { p.terminate() }
    return (String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// What the browser saw on a page: images counted by the page's own check, broken ones,
/// console messages, the DOM after scripts ran, and a screenshot.
struct BrowserCheck {
    var images: Int, broken: Int, console: [String], dom: String, screenshot: RGBImage

    init(_ page: String, scratch: String) throws {
        let shot = scratch + "/" + UUID().uuidString + ".png"
        let (dom, log) = try chromium(["--virtual-time-budget=5000", "--dump-dom"], page: page, profile: scratch + "/profile-dom")
        _ = try chromium(["--window-size=1280,2400", "--screenshot=" + shot, "--hide-scrollbars"], page: page, profile: scratch + "/profile-shot")
        self.dom = dom
        func attribute(_ name: String) -> Int? {
            guard let r = dom.range(of: name + "=\"") else { return nil }
            return Int(dom[r.upperBound...].prefix { $0.isNumber })
        }
        images = attribute("data-images") ?? -1
        broken = attribute("data-broken-images") ?? -1
        console = log.split(separator: "\n").map(String.init).filter { $0.contains(":CONSOLE") || $0.contains("Uncaught") }
        screenshot = try PNGCodec.decode(try BinaryFile.read(shot))
    }

    /// Distinct colours in the screenshot (a blank or failed render has one or two).
    var colours: Int { Set(stride(from: 0, to: screenshot.pixels.count, by: 3 * 97).map { screenshot[($0 / 3) % screenshot.width, ($0 / 3) / screenshot.width] }).count }
}

/// The QC pages in a real browser, `--no-qc`, and the reviewer's verdicts.
@Suite(.serialized) struct QCCommandTests {
    /// `process` writes the subject page by default and `qc dataset` the dataset page; both
    /// load in headless Chromium with every image, no console message, the expected sections,
    /// and a screenshot that shows something. A page with a missing image and a script error
    /// is caught by the same check (so the check can fail).
    @Test(.enabled(if: chromiumPath != nil, "chromium is not installed (scripts/install-deps.sh installs it): the browser check of the QC pages is skipped"))
    func subjectAndDatasetPagesLoadInHeadlessChromium() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var o = PhantomExportOptions(); o.acquisitions = [.axialT2w, .dwi, .mt]; o.parameters.seed = 3
        _ = try PhantomExport.write(to: dir + "/bids", options: o)
        let derivatives = dir + "/bids/derivatives/cordq", out = derivatives + "/sub-phantom01"
        var process = try CordQCommand.parseAsRoot(["process", dir + "/bids/sub-phantom01", out])
        try process.run()
        let page = out + "/qc/index.html"
        #expect(TextFile.exists(page))
        var dataset = try CordQCommand.parseAsRoot(["qc", "dataset", derivatives])
        try dataset.run()
        #expect(TextFile.exists(derivatives + "/qc/index.html"))

        let subject = try BrowserCheck(page, scratch: dir)
        let html = try TextFile.read(page)
        let tags = html.components(separatedBy: "<img ").count - 1
        #expect(tags >= 12, "pictures on the subject page: \(tags)")
        #expect(subject.images == tags && subject.broken == 0, "subject page: \(subject.broken) of \(subject.images) images broken")
        #expect(subject.console.isEmpty, "console: \(subject.console)")
        for id in ["overview", "protocol", "segmentation", "levels", "registration", "maps", "multiband", "metrics", "plots"] {
            #expect(subject.dom.contains("<section id=\"\(id)\""), "section \(id)")
        }
        #expect(subject.dom.contains("registration (dwi)") && subject.dom.contains("class=\"plot\""))
        #expect(subject.screenshot.width == 1280 && subject.colours > 50, "screenshot colours: \(subject.colours)")
        // No external reference: every src is a file beside the page.
        #expect(!html.contains("src=\"http") && !html.contains("href=\"http"))

        let data = try BrowserCheck(derivatives + "/qc/index.html", scratch: dir)
        #expect(data.images >= 8 && data.broken == 0, "dataset page: \(data.broken) of \(data.images) images broken")
        #expect(data.console.isEmpty, "console: \(data.console)")
        #expect(data.dom.contains("data-subject=\"sub-phantom01\" data-step=\"registration (mt)\""))
        #expect(data.dom.contains("<button id=\"save\""))
        #expect(data.screenshot.width == 1280 && data.colours > 50)

        // The reviewer's path in the browser: choose "fail" with a note on one row, press
        // Save verdicts; the JSON the page hands to the download is what CordQ reads back.
        let datasetHTML = try TextFile.read(derivatives + "/qc/index.html")
        let click = "<script>var r=document.querySelector('#qc tbody tr[data-step=\"registration (mt)\"]');"
            + "r.querySelector('select.verdict').value='fail';r.querySelector('textarea.note').value='atlas \"shifted\" <C3>';"
            + "document.getElementById('save').click();var p=document.createElement('pre');p.id='verdict-output';"
            + "p.textContent=document.getElementById('saved').getAttribute('data-json');document.body.appendChild(p);</script></body>"
        try TextFile.write(datasetHTML.replacingOccurrences(of: "</body>", with: click), to: derivatives + "/qc/review.html")
        let (reviewedDOM, _) = try chromium(["--virtual-time-budget=5000", "--dump-dom"], page: derivatives + "/qc/review.html", profile: dir + "/profile-review")
        #expect(reviewedDOM.contains("1 verdict(s) saved as verdicts.json"))
        let start = try #require(reviewedDOM.range(of: "<pre id=\"verdict-output\">")), end = try #require(reviewedDOM.range(of: "</pre>", range: start.upperBound..<reviewedDOM.endIndex))
        let saved = String(reviewedDOM[start.upperBound..<end.lowerBound])
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
        try TextFile.write(saved, to: dir + "/verdicts.json")
        let verdicts = try QCVerdicts.read(dir + "/verdicts.json")
        #expect(verdicts == QCVerdicts(verdicts: [.init(subject: "sub-phantom01", step: "registration (mt)", verdict: "fail", note: "atlas \"shifted\" <C3>")]))

        // The same check catches a broken page.
        try TextFile.write(HTML.page(title: "bad", subtitle: "", nav: [], body: "<img src=\"missing.png\" alt=\"x\">",
                                     script: "console.error('boom');"), to: dir + "/bad.html")
        let bad = try BrowserCheck(dir + "/bad.html", scratch: dir)
        #expect(bad.images == 1 && bad.broken == 1 && !bad.console.isEmpty)
    }

    /// `--no-qc` writes no QC page and records no qc step; the default run records one.
    @Test func noQCSkipsThePage() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var o = PhantomExportOptions(); o.acquisitions = [.axialT2w]; o.parameters.seed = 3
        _ = try PhantomExport.write(to: dir + "/bids", options: o)
        var cli = try CordQCommand.parseAsRoot(["process", dir + "/bids/sub-phantom01", dir + "/out", "--no-qc"])
        try cli.run()
        #expect(TextFile.exists(dir + "/out/sub-phantom01_metrics.tsv") && !TextFile.exists(dir + "/out/qc"))
        let prov = try JSONFile.read(JSONValue.self, from: dir + "/out/sub-phantom01_provenance.json")
        #expect(prov.qc("Steps")?.qcArray?.contains { $0.qc("step")?.qcString == "qc" } == false)
        #expect(prov.qc("Options")?.qc("qc")?.qcBool == false)
    }

    /// A verdict file with `fail` for one healthy subject and `artefact` for another changes
    /// what `db build --bids` ingests: both are left out and listed with the step and note;
    /// without the file all three are ingested. `biomarkers --qc-verdicts` lists an excluded
    /// patient with its verdict and computes the others.
    @Test func reviewerVerdictsChangeWhatDbBuildIngests() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let root = dir + "/bids"
        for (n, id) in ["sub-a", "sub-b", "sub-c"].enumerated() {
            try TextFile.makeDirectory("\(root)/\(id)/anat")
            try TextFile.makeDirectory("\(root)/derivatives/cordq/\(id)")
            try TSVTable(columns: LongFormTable.columns, rows: [[id, "", "C3", "cord", "csa_mm2", String(70 + n), "morphometry", "6"]])
                .write(to: NormativePipeline.derivativeTable(root: root, subject: id))
        }
        let all = try NormativePipeline.buildFromBIDS(database: dir + "/all.sqlite", root: root, process: nil)
        #expect(all.ingested == ["sub-a", "sub-b", "sub-c"] && all.skipped.isEmpty)

        let verdicts = QCVerdicts(verdicts: [
            .init(subject: "sub-a", step: "segmentation", verdict: "pass", note: ""),
            .init(subject: "sub-b", step: "registration (dwi)", verdict: "fail", note: "atlas shifted by one level"),
            .init(subject: "sub-c", step: "dti sub-c_dwi", verdict: "artefact", note: "motion"),
        ])
        try JSONFile.write(verdicts.json, to: QCVerdicts.standardPath(derivatives: root + "/derivatives/cordq"))
        #expect(try QCVerdicts.read(QCVerdicts.standardPath(derivatives: root + "/derivatives/cordq")) == verdicts)
        let reviewed = try NormativePipeline.buildFromBIDS(database: dir + "/reviewed.sqlite", root: root, process: nil)
        #expect(reviewed.ingested == ["sub-a"])
        #expect(reviewed.skipped.map(\.subject) == ["sub-b", "sub-c"])
        #expect(reviewed.skipped.first?.reason == "QC verdict fail at registration (dwi) (atlas shifted by one level)")
        #expect(reviewed.skipped.last?.reason.contains("artefact") == true)
        let db = try NormativeDatabase(path: dir + "/reviewed.sqlite", readOnly: true)
        #expect(try db.subjects().map(\.participant.id) == ["sub-a"])

        // biomarkers: sub-b listed as excluded with its verdict, sub-a computed.
        try TextFile.write("participant_id\tcompressed_level\nsub-a\tC3\nsub-b\tC3\n", to: dir + "/list.tsv")
        let outcome = try BiomarkersPipeline.run(database: dir + "/all.sqlite", patients: dir + "/list.tsv",
                                                 tables: ["sub-a", "sub-b"].map { NormativePipeline.derivativeTable(root: root, subject: $0) }, output: dir + "/bio.tsv",
                                                 qcVerdicts: QCVerdicts.standardPath(derivatives: root + "/derivatives/cordq"))
        #expect(outcome.excluded.map(\.subject) == ["sub-b"])
        let rows = try TSVTable.read(dir + "/bio.tsv").records
        #expect(rows.first { $0["participant_id"] == "sub-b" }?["status"] == "excluded")
        #expect(rows.first { $0["participant_id"] == "sub-a" }?["status"] != "excluded")

        // A malformed verdict names the file and the entry.
        try TextFile.write("{\"verdicts\": [{\"subject\": \"sub-a\", \"verdict\": \"maybe\"}]}", to: dir + "/bad.json")
        #expect(throws: CordIOError.self) { try QCVerdicts.read(dir + "/bad.json") }
        do { _ = try QCVerdicts.read(dir + "/bad.json") } catch { #expect("\(error)".contains("bad.json") && "\(error)".contains("maybe")) }
    }

    /// The per-level plots take the normative band of the model with the row's own metric,
    /// region, level and method (what `--db` supplies): CSA with a model at C2 and C3 gets
    /// both bands, FA without models gets none, and the values are drawn either way.
    @Test func perLevelPlotsDrawTheNormalBandOfTheMatchingModels() throws {
        let rows = [MetricRow(subject: "sub-x", level: "C3", region: "cord", metric: "csa_mm2", value: 60, method: "morphometry", count: 5),
                    MetricRow(subject: "sub-x", level: "C2", region: "cord", metric: "csa_mm2", value: 70, method: "morphometry", count: 5),
                    MetricRow(subject: "sub-x", level: "C2", region: "white matter", metric: "fa", value: 0.7, method: "wa", count: 9),
                    MetricRow(subject: "sub-x", level: "C3", region: "white matter", metric: "fa", value: 0.72, method: "wa", count: 9)]
        var norms: [ModelKey: NormativeModel] = [:]
        for (level, mean) in [("C2", 72.0), ("C3", 71.0)] {
            let key = ModelKey(metric: "csa_mm2", region: "cord", level: level, method: "morphometry")
            norms[key] = NormativeModel(key: key, n: 20, mean: mean, sd: 6, fit: nil)
        }
        // A model with another method must not be taken for the wa FA rows.
        let other = ModelKey(metric: "fa", region: "white matter", level: "C2", method: "median")
        norms[other] = NormativeModel(key: other, n: 20, mean: 0.7, sd: 0.05, fit: nil)
        let input = SubjectQCInput(participant: "sub-x", steps: [], rows: rows, warnings: [], missing: [], protocolRecord: [:],
                                   discs: [], images: QCImages(), norms: norms, path: { $0 })
        var builder = SubjectQCBuilder(input)
        builder.plotsSection()
        let html = try #require(builder.sections.last?.html)
        let plots = html.components(separatedBy: "<svg ").dropFirst()
        #expect(plots.count == 2)
        let csa = try #require(plots.first { $0.contains("Cord area") }), fa = try #require(plots.first { $0.contains("FA, white matter") })
        #expect(csa.components(separatedBy: "class=\"band\"").count - 1 == 2 && csa.contains("normative mean"))
        #expect(fa.components(separatedBy: "class=\"band\"").count - 1 == 0)
        #expect(csa.components(separatedBy: "class=\"value\"").count - 1 == 2 && fa.components(separatedBy: "class=\"value\"").count - 1 == 2)
        // Levels in anatomical order: C2 before C3 on the axis.
        let c2 = try #require(csa.range(of: ">C2<")), c3 = try #require(csa.range(of: ">C3<"))
        #expect(c2.lowerBound < c3.lowerBound)
    }

    /// The multiband section draws what the correction estimated where it belongs: one heat-map
    /// cell per (slice, volume), the b = 0 volumes grey, a crossed cell on every slice of every
    /// outlier group (at that slice's row and that volume's column), and the planted dropouts
    /// among them; the motion plot has one point per volume.
    @Test func multibandSectionMarksThePlantedDropoutsAtTheirSliceAndVolume() throws {
        var p = PhantomParameters(); p.snr = nil
        // 32 × 32 × 8 voxels of 1 × 1 × 4 mm, MB 2 → 4 slice groups; 2 b = 0 + 16 b = 800.
        let subject = try PhantomSubject(p, on: PhantomGrid.axial(inPlane: 1, sliceThickness: 4, fieldOfView: 32, inferior: -20, superior: 12))
        var d = DiffusionPhantomParameters(); d.snr = 30; d.orientationSamples = 100; d.seed = 5
        let table = GradientTable(DiffusionSchemes.referenceVolumes(2) + DiffusionSchemes.shell(800, 16))
        var c = MultibandCorruption(); c.factor = 2; c.dropouts = 3; c.seed = 11
        let sim = try MultibandSimulator.simulate(subject, table: table, parameters: d, corruption: c)
        let nz = subject.grid.nz, volumes = table.count
        let groups = try SliceGroups.resolve(sliceTiming: sim.truth.sliceTiming, multibandFactor: 2, forced: nil, slices: nz, name: "phantom")
        var o = MultibandCorrectionOptions(); o.progress = false
        let r = try MultibandCorrection.correct(sim.image, table: table, groups: groups, name: "phantom", options: o)
        let images = QCImages()
        images.multiband = [QCMultiband(series: "sub-x_dwi", result: r, slices: nz, volumes: volumes, threshold: o.outlierThreshold)]
        let input = SubjectQCInput(participant: "sub-x", steps: [], rows: [], warnings: [], missing: [], protocolRecord: [:],
                                   discs: [], images: images, norms: [:], path: { $0 })
        var builder = SubjectQCBuilder(input)
        builder.multibandSection()
        let html = try #require(builder.sections.last?.html)
        let heat = try #require(html.components(separatedBy: "<svg ").first { $0.contains("Outlier score per slice") })
        #expect(heat.components(separatedBy: "class=\"cell\"").count - 1 == nz * volumes)
        // b = 0 volumes are not scored: 2 columns of grey cells.
        #expect(heat.components(separatedBy: "fill=\"#dddddd\"").count - 1 == 2 * nz)
        let flagged = r.outliers.filter(\.outlier)
        #expect(heat.components(separatedBy: "class=\"mark\"").count - 1 == flagged.reduce(0) { $0 + $1.slices.count })
        // Geometry of the heat map (as SVGPlot.heatmap lays it out): left 56, top 26, cell
        // width (640 − 68) / volumes, cell height min(18, (320 − 60) / slices); slice 0 at the bottom.
        let cw = max(2.0, 572.0 / Double(volumes)), ch = max(3.0, min(18.0, 260.0 / Double(nz)))
        func markAt(volume: Int, slice: Int) -> Bool {
            let x = formatFixed(56 + Double(volume) * cw, 1), y = formatFixed(26 + Double(nz - 1 - slice) * ch, 1)
            return heat.contains("fill=\"none\"><rect x=\"\(x)\" y=\"\(y)\"")
        }
        var found = 0
        for drop in sim.truth.dropouts {
            let slices = groups.groups[drop.group]
            if flagged.contains(where: { $0.volume == drop.volume && Set($0.slices) == Set(slices) }) {
                #expect(slices.allSatisfy { markAt(volume: drop.volume, slice: $0) }, "dropout volume \(drop.volume) group \(drop.group)")
                found += 1
            }
        }
        #expect(found >= 2, "planted dropouts marked: \(found) of \(sim.truth.dropouts.count)")
        // No mark on a slice of a group that is not flagged (e.g. the first b>0 volume's other groups).
        for f in flagged { for k in 0..<nz where !f.slices.contains(k) && !flagged.contains(where: { $0.volume == f.volume && $0.slices.contains(k) }) {
            #expect(!markAt(volume: f.volume, slice: k), "mark on slice \(k) of volume \(f.volume)")
        } }
        let motion = try #require(html.components(separatedBy: "<svg ").first { $0.contains("In-plane displacement per volume") })
        #expect(motion.contains("mean over groups") && motion.contains("largest group"))
        let line = try #require(motion.components(separatedBy: "<polyline points=\"").dropFirst().first?.components(separatedBy: "\"").first)
        #expect(line.split(separator: " ").count == volumes)
    }
}
