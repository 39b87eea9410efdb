import ArgumentParser
import Foundation
import Testing
import CordTestSupport
@testable import CordCLI
@testable import CordCore
@testable import CordIO
@testable import CordMetrics
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
        for id in ["overview", "protocol", "segmentation", "levels", "registration", "maps", "metrics", "plots"] {
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
}
