// `cordq process`: one BIDS subject → cord segmentation, vertebral levels, atlas registration
// in every contrast's space, DTI/μFA, MTR/MTsat, morphometry, and one long-form table with a
// provenance record.
import CordAtlas
import CordCore
import CordIO
import CordMetrics
import CordRegistration
import CordSegmentation
import Foundation

/// The single-subject pipeline.
public enum ProcessPipeline {
    /// The project's atlas: `$CORDQ_ATLAS`, else `atlas/CordQ` in the first folder walking up
    /// from the executable that has one, else `./atlas/CordQ`.
    public static var standardAtlas: String {
        if let env = ProcessInfo.processInfo.environment["CORDQ_ATLAS"], !env.isEmpty { return env }
        if let exe = TextFile.executablePath {
            var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
            while dir.path != "/" && !dir.path.isEmpty {
                if TextFile.isDirectory(dir.path + "/atlas/CordQ/atlas") { return dir.path + "/atlas/CordQ" }
                dir.deleteLastPathComponent()
            }
        }
        return FileManager.default.currentDirectoryPath + "/atlas/CordQ"
    }

    /// Processes the subject in `r.subject` into the new folder `r.output` (written in a
    /// staging folder and moved into place at the end: all or nothing). Missing contrasts are
    /// named and skipped; a failing step stops the run (nothing written) unless
    /// `r.keepGoing`, when it is recorded and the others go on. `log` receives one line per step.
    public static func run(_ r: ProcessRequest, log: @escaping @Sendable (String) -> Void = { _ in }) throws -> ProcessSummary {
        NumericLibraries.configure()
        if let db = r.normativeDatabase, !TextFile.exists(db) { throw CordIOError.notFound(path: db + " (--db, the normative database)") }
        let run = try ProcessRun(r, log: log)
        try run.execute()
        return try run.finish()
    }
}

/// Images of the subject decoded once per run: every step asks here, so no input file is
/// decoded twice (`IOCounters` shows it).
final class SubjectData {
    private var images: [String: (Volume<Float>, NIfTIHeader)] = [:]
    private var labelImages: [String: Volume<Int32>] = [:]

    /// The image at `path` (all frames, Float), decoded on first use.
    func image(_ path: String) throws -> (Volume<Float>, NIfTIHeader) {
        if let hit = images[path] { return hit }
        let read = try NIfTIFile.read(path)
        try read.0.requireFinite(path)
        images[path] = read
        return read
    }

    /// A label image (integer values), decoded on first use.
    func labels(_ path: String) throws -> Volume<Int32> {
        if let hit = labelImages[path] { return hit }
        let (v, _) = try NIfTIFile.readLabels(path)
        labelImages[path] = v
        return v
    }

    /// Drops a decoded image once no step needs it (the DWI series after its fits).
    func release(_ path: String) { images[path] = nil }

    /// Drops every decoded image (the anatomical images and labels once levels, registration
    /// and morphometry are done: the contrasts that follow do not read them).
    func releaseAll() { images = [:]; labelImages = [:] }
}

/// The state of one `cordq process` run.
final class ProcessRun {
    let request: ProcessRequest
    let inventory: ProcessInventory
    let out: OutputFolder
    let log: @Sendable (String) -> Void
    let started = ContinuousClock.now
    let startDate = Date()
    let data = SubjectData()
    var steps: [StepRecord] = []
    var rows: [MetricRow] = []
    var warnings: [String] = []
    var missing: [String]
    /// Files read (path → role), for the checksums.
    var inputs: [String: String] = [:]
    var protocolRecord: [String: JSONValue] = [:]
    var labelsRecord: [String: JSONValue] = [:]
    /// Per-series processing decisions (series stem → plan), for the provenance.
    var plans: [String: JSONValue] = [:]
    var card = CardGuidance(report: nil)
    var labels: VertebralLabels?
    var atlasCache: Atlas?
    /// Cord segmentations of anatomical images, by path (each image is segmented once).
    var segmentations: [String: AnatomyResult] = [:]
    /// The anatomical image and its cord, kept for the DWI distortion fallback when a card
    /// series or `--distortion-correction anat` asks for it.
    var distortionAnatomy: (image: Volume<Float>, cord: Mask, path: String)?
    /// The level map on the anatomical image, once registration has run.
    var pendingLevels: Volume<Int32>?
    /// Per-slice long-form tables (relative path → rows) written beside the metrics table.
    var perSliceTables: [String: [MetricRow]] = [:]
    /// Display copies for the QC page (filled only when `request.qc`).
    let qcImages = QCImages()
    /// BIDS-derivatives names of the outputs, and where they sit.
    let names: DerivativeNames
    let layout: DerivativeLayout
    /// Sidecars recorded for the images written (relative path → fields), written at the end.
    var sidecarFields: [(String, [String: JSONValue])] = []
    /// Lookup tables of the dseg images (relative path → table).
    var lookupTables: [(String, TSVTable)] = []

    init(_ r: ProcessRequest, log: @escaping @Sendable (String) -> Void) throws {
        request = r; self.log = log
        inventory = try ProcessInventoryReader.read(r.subject, session: r.session)
        if let a = r.atlas, !TextFile.isDirectory(a) { throw CordIOError.notFound(path: a + " (atlas folder)") }
        try PipelineInputs.refuseOverwrite(r.output, inputs: [r.subject])
        let subjectPath = TextFile.canonicalPath(r.subject), outPath = TextFile.canonicalPath(r.output)
        if outPath.hasPrefix(subjectPath + "/") || outPath == subjectPath {
            throw CordIOError.writeFailed(path: r.output, reason: "is inside the subject folder; CordQ never writes into the input data (use derivatives/cordq/\(inventory.participant))")
        }
        if subjectPath.hasPrefix(outPath + "/") {
            throw CordIOError.writeFailed(path: r.output, reason: "holds the subject folder; replacing it would delete the input data")
        }
        let session = inventory.session.map { "_ses-" + $0 } ?? ""
        let atlasDir = r.atlas ?? ProcessPipeline.standardAtlas
        var names = DerivativeNames(prefix: inventory.participant + session,
                                    template: DerivativeNames.label(URL(fileURLWithPath: atlasDir).standardizedFileURL.lastPathComponent))
        layout = DerivativeLayout(subject: r.subject, output: r.output)
        if let s = inventory.session, layout.root != nil, URL(fileURLWithPath: r.output).standardizedFileURL.lastPathComponent.hasPrefix("sub-") {
            names.sessionFolder = "ses-\(s)/"
        }
        self.names = names
        out = try OutputFolder(r.output, overwrite: r.overwrite)
        missing = inventory.missing
    }

    var participant: String { inventory.participant }
    /// `sub-01` or `sub-01_ses-1`: the prefix of the subject-level outputs.
    var prefix: String { participant + (inventory.session.map { "_ses-" + $0 } ?? "") }

    // MARK: - Steps

    /// Runs `body` as a named step: timed, logged, recorded; a throw stops the run unless
    /// `keepGoing`. `body` returns the detail line, the outputs written and the metrics.
    @discardableResult
    func step(_ name: String, _ body: () throws -> (detail: String, outputs: [String], metrics: StepMetrics)) throws -> Bool {
        let t0 = ContinuousClock.now
        do {
            let (detail, outputs, metrics) = try body()
            let s = (ContinuousClock.now - t0).seconds
            steps.append(StepRecord(name: name, status: .done, detail: detail, seconds: s, outputs: outputs, metrics: metrics))
            warnings += metrics.warnings.map { "\(name): \($0)" }
            log("\(name): \(detail) [\(formatFixed(s, 1)) s]")
            return true
        } catch {
            let s = (ContinuousClock.now - t0).seconds
            steps.append(StepRecord(name: name, status: .failed, detail: "\(error)", seconds: s, outputs: []))
            log("\(name): FAILED: \(error)")
            if !request.keepGoing { throw ProcessError.stepFailed(step: name, reason: "\(error)") }
            return false
        }
    }

    /// Records a step that did not run and why; `warn` also puts the reason among the run's
    /// warnings (a step the card asked for that the data cannot support).
    func skip(_ name: String, _ reason: String, warn: Bool = false) {
        var m = StepMetrics()
        if warn { m.warnings = [reason]; warnings.append("\(name): \(reason)") }
        steps.append(StepRecord(name: name, status: .skipped, detail: reason, seconds: 0, outputs: [], metrics: m))
        log("\(name): skipped: \(reason)")
    }

    func execute() throws {
        for m in missing { log("missing: \(m)") }
        try step("protocol") { try checkProtocol() }
        try anatomySteps()
        // The contrasts that follow need only the labels: free the anatomical images.
        qcKeepAnatomy()
        data.releaseAll(); segmentations = [:]; pendingLevels = nil
        try diffusionSteps()
        if let mt = inventory.mt { try mtSteps(mt) }
    }

    /// Cord segmentation, levels, atlas registration and morphometry on the anatomical image.
    func anatomySteps() throws {
        guard let anatomy = try anatomyStep() else { skip("levels", "no anatomical image"); return }
        let fallbackAsked = request.distortionCorrection == .anat
            || (request.distortionCorrection == nil && card.report?.card.series.contains { $0.processing.distortionCorrection == .anat } == true)
        if fallbackAsked { distortionAnatomy = (anatomy.volume, anatomy.binary, anatomy.image.path) }
        try levelsStep(anatomy)
        if labels != nil { try registerAnatomy(anatomy) }
        try step("morphometry") { try morphometry(anatomy) }
    }

    // MARK: - Protocol

    func checkProtocol() throws -> (detail: String, outputs: [String], metrics: StepMetrics) {
        let library = ProtocolLibrary.standard
        if let name = request.protocolName {
            let report = try library.check(inventory: inventory.subject, protocol: name)
            record(report, inferred: false)
            card = CardGuidance(report: report)
            if !report.canProceed {
                warnings.append("protocol \(report.card.name): " + report.blockers.joined(separator: "; ") + " — processed for what the subject has")
            }
            return ("card \(report.card.name): " + (report.canProceed ? "can proceed" : "blocked (" + report.blockers.joined(separator: "; ") + ")")
                    + ", \(report.deviations.count) deviation(s); its processing block drives the steps", [], StepMetrics())
        }
        let inference = try library.infer(inventory: inventory.subject)
        protocolRecord["Ranking"] = .array(inference.ranking.map {
            .object(["card": .string($0.name), "can_proceed": .bool($0.canProceed), "matched_series": .number(Double($0.matched)), "note": .string($0.note)])
        })
        if let chosen = inference.chosen {
            record(chosen, inferred: true)
            card = CardGuidance(report: chosen)
            return ("inferred card \(chosen.card.name) (\(chosen.deviations.count) deviation(s)); series taken by their BIDS names, processing as the card says", [], StepMetrics())
        }
        protocolRecord["Card"] = .null
        return ("no card matches without a blocking problem; series taken by their BIDS names, default processing", [], StepMetrics())
    }

    func record(_ report: ProtocolReport, inferred: Bool) {
        protocolRecord["Card"] = .string(report.card.name)
        protocolRecord["Inferred"] = .bool(inferred)
        protocolRecord["CanProceed"] = .bool(report.canProceed)
        protocolRecord["Blockers"] = .array(report.blockers.map { .string($0) })
        protocolRecord["Warnings"] = .array(report.warnings.map { .string($0) })
        protocolRecord["Deviations"] = .array(report.deviations.map {
            .object(["series": .string($0.series), "file": .string($0.file), "key": .string($0.finding.key),
                     "found": .string($0.finding.found), "expected": .string($0.finding.expected)])
        })
        protocolRecord["Maps"] = .array(report.maps.map {
            .object(["id": .string($0.map.id), "computable": .bool($0.computed), "reason": .string($0.reason)])
        })
    }

    // MARK: - Atlas

    func atlas() throws -> Atlas {
        if let a = atlasCache { return a }
        let dir = request.atlas ?? ProcessPipeline.standardAtlas
        guard TextFile.isDirectory(dir + "/atlas") else {
            throw CordIOError.notFound(path: dir + "/atlas (the CordQ atlas; run `make atlas`, set CORDQ_ATLAS, or give --atlas)")
        }
        var options = AtlasLoadOptions(); options.contrasts = request.imageRefinement; options.levels = Array(1...9)
        let a = try AtlasPipeline.load(dir, options: options).atlas
        atlasCache = a
        labelsRecord["Atlas"] = .string(TextFile.canonicalPath(dir))
        return a
    }

    /// Template registration options of this run.
    var registrationOptions: TemplateRegistrationOptions {
        var o = TemplateRegistrationOptions(); o.imageRefinement = request.imageRefinement
        o.imageRefinementMaximumDiceLoss = request.imageRefinementMaximumDiceLoss
        return o
    }

    /// The sidecar (read with BIDS inheritance by the inventory) of the image at `path`.
    func sidecar(of path: String) -> BIDSSidecar? {
        inventory.subject.series.first { $0.imagePath == path }?.sidecar
    }

    /// Registers the atlas in one space with this run's options; the image-refinement guard
    /// lives in `TemplateRegistration.register`. The metrics carry its Dice and the guard's
    /// comparison, and a dropped refinement is a warning.
    func registerAtlas(_ subject: Volume<Float>, segmentation: Mask, labels: VertebralLabels) throws -> (TemplateRegistration, StepMetrics) {
        let reg = try TemplateRegistration.register(subject: subject, segmentation: segmentation, labels: labels, atlas: try atlas(),
                                                    options: registrationOptions)
        var m = StepMetrics()
        m.dice = reg.dice; m.labels = labels.points.count
        if let c = reg.refinementCheck {
            m.diceWithoutRefinement = c.diceWithout; m.refinementKept = c.kept
            if !c.kept {
                m.warnings.append("image refinement lowered the warped atlas cord's Dice (\(formatFixed(c.diceWithout, 3)) → \(formatFixed(c.diceWith, 3))); the registration without it was kept")
            }
        }
        return (reg, m)
    }

    func finish() throws -> ProcessSummary {
        let table = prefix + "_metrics.tsv", provenance = prefix + "_provenance.json"
        if request.qc { renderQC() }
        let sorted = LongFormTable(rows)
        try TSVTable(columns: LongFormTable.columns, rows: sorted.stringRows).write(to: out.path(table))
        for (name, extra) in perSliceTables.sorted(by: { $0.key < $1.key }) {
            try TSVTable(columns: LongFormTable.columns, rows: LongFormTable(extra).stringRows).write(to: out.path(name))
        }
        try JSONFile.write(try provenanceRecord(), to: out.path(provenance))
        try writeSidecars()
        try prepareDerivativesRoot()
        try out.commit()
        let summary = ProcessSummary(output: out.destination, participant: participant, tablePath: out.destination + "/" + table,
                                     provenancePath: out.destination + "/" + provenance, steps: steps, rows: rows.count,
                                     missing: missing, warnings: warnings, seconds: (ContinuousClock.now - started).seconds,
                                     qcPath: steps.contains { $0.name == "qc" && $0.status == .done } ? out.destination + "/qc/index.html" : nil)
        log("table: \(rows.count) rows in \(summary.tablePath) [\(formatFixed(summary.seconds, 1)) s in all]")
        return summary
    }
}

/// Errors of `cordq process`.
public enum ProcessError: Error, Sendable, CustomStringConvertible {
    case stepFailed(step: String, reason: String)
    public var description: String {
        switch self {
        case let .stepFailed(step, reason):
            return "step \(step) failed: \(reason). Nothing was written; fix the input, or give --keep-going to process the rest"
        }
    }
}
