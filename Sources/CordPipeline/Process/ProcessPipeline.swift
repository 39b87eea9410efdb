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
        let run = try ProcessRun(r, log: log)
        try run.execute()
        return try run.finish()
    }
}

/// The state of one `cordq process` run.
final class ProcessRun {
    let request: ProcessRequest
    let inventory: ProcessInventory
    let out: OutputFolder
    let log: @Sendable (String) -> Void
    let started = ContinuousClock.now
    let startDate = Date()
    var steps: [StepRecord] = []
    var rows: [MetricRow] = []
    var warnings: [String] = []
    var missing: [String]
    /// Files read (path → role), for the checksums.
    var inputs: [String: String] = [:]
    var protocolRecord: [String: JSONValue] = [:]
    var labelsRecord: [String: JSONValue] = [:]
    var labels: VertebralLabels?
    var atlasCache: Atlas?
    /// The level map on the anatomical image, once registration has run.
    var pendingLevels: Volume<Int32>?

    init(_ r: ProcessRequest, log: @escaping @Sendable (String) -> Void) throws {
        request = r; self.log = log
        inventory = try ProcessInventoryReader.read(r.subject, session: r.session)
        if let a = r.atlas, !TextFile.isDirectory(a) { throw CordIOError.notFound(path: a + " (atlas folder)") }
        try PipelineInputs.refuseOverwrite(r.output, inputs: [r.subject])
        let subjectPath = TextFile.canonicalPath(r.subject), outPath = TextFile.canonicalPath(r.output)
        if outPath.hasPrefix(subjectPath + "/") {
            throw CordIOError.writeFailed(path: r.output, reason: "is inside the subject folder; CordQ never writes into the input data (use derivatives/cordq/\(inventory.participant))")
        }
        out = try OutputFolder(r.output)
        missing = inventory.missing
    }

    var participant: String { inventory.participant }
    /// `sub-01` or `sub-01_ses-1`: the prefix of the subject-level outputs.
    var prefix: String { participant + (inventory.session.map { "_ses-" + $0 } ?? "") }

    // MARK: - Steps

    /// Runs `body` as a named step: timed, logged, recorded; a throw stops the run unless
    /// `keepGoing`. `body` returns the detail line and the outputs written.
    @discardableResult
    func step(_ name: String, _ body: () throws -> (detail: String, outputs: [String])) throws -> Bool {
        let t0 = ContinuousClock.now
        do {
            let (detail, outputs) = try body()
            let s = (ContinuousClock.now - t0).seconds
            steps.append(StepRecord(name: name, status: .done, detail: detail, seconds: s, outputs: outputs))
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

    func skip(_ name: String, _ reason: String) {
        steps.append(StepRecord(name: name, status: .skipped, detail: reason, seconds: 0, outputs: []))
        log("\(name): skipped: \(reason)")
    }

    func execute() throws {
        for m in missing { log("missing: \(m)") }
        try step("protocol") { try checkProtocol() }
        let anatomy = try anatomyStep()
        if let anatomy { try levelsStep(anatomy) } else { skip("levels", "no anatomical image") }
        if let anatomy, labels != nil { try registerAnatomy(anatomy) }
        if let anatomy { try step("morphometry") { try morphometry(anatomy) } }
        for series in inventory.dwi { try diffusionSteps(series) }
        if let mt = inventory.mt { try mtSteps(mt) }
    }

    // MARK: - Protocol

    func checkProtocol() throws -> (detail: String, outputs: [String]) {
        let library = ProtocolLibrary.standard
        if let name = request.protocolName {
            let report = try library.check(subject: request.subject, protocol: name)
            record(report, inferred: false)
            if !report.canProceed {
                warnings.append("protocol \(report.card.name): " + report.blockers.joined(separator: "; ") + " — processed for what the subject has")
            }
            return ("card \(report.card.name): " + (report.canProceed ? "can proceed" : "blocked (" + report.blockers.joined(separator: "; ") + ")")
                    + ", \(report.deviations.count) deviation(s)", [])
        }
        let inference = try library.infer(subject: request.subject)
        protocolRecord["Ranking"] = .array(inference.ranking.map {
            .object(["card": .string($0.name), "can_proceed": .bool($0.canProceed), "matched_series": .number(Double($0.matched)), "note": .string($0.note)])
        })
        if let chosen = inference.chosen {
            record(chosen, inferred: true)
            return ("inferred card \(chosen.card.name) (\(chosen.deviations.count) deviation(s)); series taken by their BIDS names", [])
        }
        protocolRecord["Card"] = .null
        return ("no card matches without a blocking problem; series taken by their BIDS names", [])
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
        return o
    }

    /// Registers the atlas in one space. With `--image-refinement` the registration is also
    /// run without it, and the refined one is kept only when the warped atlas cord's Dice
    /// with the segmentation does not fall by more than 0.01: the demons step follows the
    /// template contrast, and a contrast that does not resemble it (the mean DWI, say) can
    /// pull the cord off its outline (demo phantom: DWI Dice 0.970 → 0.922). A warning says so.
    func registerAtlas(_ subject: Volume<Float>, segmentation: Mask, labels: VertebralLabels, space: String) throws -> TemplateRegistration {
        let atlas = try atlas()
        let options = registrationOptions
        let chosen = try TemplateRegistration.register(subject: subject, segmentation: segmentation, labels: labels, atlas: atlas, options: options)
        guard options.imageRefinement else { return chosen }
        var plainOptions = options; plainOptions.imageRefinement = false
        let plain = try TemplateRegistration.register(subject: subject, segmentation: segmentation, labels: labels, atlas: atlas, options: plainOptions)
        func dice(_ r: TemplateRegistration) throws -> Double {
            RegistrationPipeline.diceOverSegmentedSlices(try DisplacementField.apply(r.forwardWarp, to: atlas.cord ?? Volume(grid: atlas.grid)), segmentation)
        }
        let (on, off) = (try dice(chosen), try dice(plain))
        if on >= off - 0.01 { return chosen }
        warnings.append("registration (\(space)): image refinement lowered the warped atlas cord's Dice (\(formatFixed(off, 3)) → \(formatFixed(on, 3))); the registration without it was kept")
        return plain
    }

    func finish() throws -> ProcessSummary {
        let table = prefix + "_metrics.tsv", provenance = prefix + "_provenance.json"
        let sorted = LongFormTable(rows)
        try TSVTable(columns: LongFormTable.columns, rows: sorted.stringRows).write(to: out.path(table))
        try JSONFile.write(try provenanceRecord(), to: out.path(provenance))
        try out.commit()
        let summary = ProcessSummary(output: out.destination, participant: participant, tablePath: out.destination + "/" + table,
                                     provenancePath: out.destination + "/" + provenance, steps: steps, rows: rows.count,
                                     missing: missing, warnings: warnings, seconds: (ContinuousClock.now - started).seconds)
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
