// `cordq longitudinal SUBJECT_DIR OUT`: every session of one subject processed with one
// labelling shared through a halfway space, and the change table per level × region ×
// metric × session with annualised rates and the reliable-change index.
import CordCore
import CordIO
import CordLongitudinal
import CordMetrics
import CordNormative
import CordRegistration
import CordSegmentation
import Foundation

/// What `cordq longitudinal` is asked to do.
public struct LongitudinalRequest: Sendable {
    /// The subject folder with two or more `ses-*` folders.
    public var subject: String
    /// The output folder (new or empty; all or nothing).
    public var output: String
    /// Protocol card for every session (nil: inferred per session, as `process` does).
    public var protocolName: String?
    public var atlas: String?
    /// Within-subject SDs given by the user, before the literature's.
    public var withinSD = WithinSubjectSDTable()
    /// Write each session's QC page (off by default: the sessions' tables are what counts here).
    public var qc = false
    public var overwrite = false
    public var alignment = HalfwayOptions()
    /// A previous `cordq longitudinal` output of this subject: a session's process folder in it
    /// is reused (copied, not recomputed) when its inputs' SHA-256, its atlas and protocol
    /// options and its vertebral labels (within 0.05 mm) are what this run would use.
    public var reuse: String?
    /// A normative database (`cordq db build`) whose subjects with repeat sessions give the
    /// within-subject SDs (per metric and region, ≥ 5 subject×level groups), before the literature.
    public var normativeDatabase: String?
    public init(subject: String, output: String) { self.subject = subject; self.output = output }
}

/// One session as the run saw it.
public struct LongitudinalSession: Sendable {
    public var label: String
    /// Days since 1970-01-01, and where the date came from (`sessions.tsv acq_time`, a sidecar's
    /// `AcquisitionDateTime`), nil when unknown.
    public var day: Double?, dateSource: String?
    /// Contrasts found (`T2w`, `DWI`, `MT`).
    public var contrasts: [String]
    /// The session's displacement from the halfway space at the subject's cord centre (mm,
    /// world) and its rotation (rotation vector, degrees).
    public var offset: SIMD3<Double>
    public var rotationDegrees: SIMD3<Double> = .zero
    /// RMS (mm) of the session's slice-wise in-plane shifts in the halfway space.
    public var inPlaneRMS = 0.0
    /// The session's `process` output folder and its long-form table.
    public var processOutput: String, table: String
    public var rows: Int
}

/// What `LongitudinalPipeline.plan` found before processing.
public struct LongitudinalPlan: Sendable {
    public var inventory: SubjectInventory
    var sessions: [(label: String, inventory: ProcessInventory)]
    /// Session → (days since 1970-01-01, where the date came from).
    public var days: [String: (Double, String)]
    /// Missing dates, sessions.tsv rows without folders, differing contrasts or voxel sizes.
    public var warnings: [String]
    /// Session labels in folder order.
    public var labels: [String] { sessions.map(\.label) }

    static func contrasts(_ p: ProcessInventory) -> [String] {
        (p.anatomy.isEmpty ? [] : [p.anatomyContrast.suffix]) + (p.dwi.isEmpty ? [] : ["DWI"]) + (p.mt == nil ? [] : ["MT"])
    }
}

/// What `LongitudinalPipeline.run` wrote.
public struct LongitudinalSummary: Sendable {
    public var participant: String
    public var output: String
    /// `<sub>_longitudinal.tsv` (change table) and `<sub>_longitudinal.json` (halfway space, labels, SD sources, warnings).
    public var tablePath: String, recordPath: String
    public var sessions: [LongitudinalSession]
    public var halfway: HalfwaySpace
    public var rows: [ChangeRow]
    /// Which session's labels made the subject's labelling (or `automatic`).
    public var labelSource: String
    public var warnings: [String]
    public var seconds: Double
}

/// The longitudinal pipeline of one subject.
public enum LongitudinalPipeline {
    /// Reads the subject, checks its sessions (at least two; dates; protocols), segments each
    /// session's anatomical image, aligns all sessions pairwise into a halfway space, makes
    /// one vertebral labelling (the labels found under `derivatives/labels/` in any session,
    /// else discs found automatically in every session, averaged in the halfway space) and
    /// propagates it to every session, runs `process` per session with those labels, and
    /// writes the change table. Nothing is written when a step fails.
    public static func run(_ r: LongitudinalRequest, log: @escaping @Sendable (String) -> Void = { _ in }) throws -> LongitudinalSummary {
        NumericLibraries.configure()
        let started = ContinuousClock.now
        let plan = try self.plan(r)
        for w in plan.warnings { log("warning: " + w) }
        var warnings = plan.warnings
        func warn(_ w: String) { warnings.append(w); log("warning: " + w) }
        let inventory = plan.inventory, participant = inventory.id, perSession = plan.sessions, days = plan.days
        var withinSD = r.withinSD
        if let dbPath = r.normativeDatabase {
            guard TextFile.exists(dbPath) else { throw CordIOError.notFound(path: dbPath + " (--db, the normative database)") }
            let database = try NormativeDatabase(path: dbPath, readOnly: true)
            let pairs = try database.retestPairs()
            // Declared test–retest pairs (db build --retest) when the database has them, else every repeat session.
            let estimates = pairs.isEmpty ? TestRetest.estimate(try database.rows()) : TestRetest.estimate(try database.rows(), pairs: pairs)
            withinSD.addDatabase(estimates, fromPairs: !pairs.isEmpty)
            log(estimates.isEmpty ? "the normative database has no subjects with repeat sessions (≥ 5 per metric and region): literature within-subject SDs used"
                : "within-subject SDs from the database's \(pairs.isEmpty ? "repeat sessions" : "\(pairs.count) test–retest pairs"): " + estimates.map { "\($0.metric) \($0.region) \(formatFixed($0.cov * 100, 2)) %" }.joined(separator: ", "))
        }
        func contrasts(_ p: ProcessInventory) -> [String] { LongitudinalPlan.contrasts(p) }

        // Anatomy: each session's image and cord, and the labels found for it.
        let progress = ProgressReporter("cordq longitudinal", total: 2 * perSession.count + 1)
        var anatomies: [SessionAnatomy] = [], given: [VertebralLabels?] = [], hints: [VertebralLabels.Point?] = []
        var computed: [String: CordSegmentation] = [:]
        for s in perSession {
            let image = s.inventory.anatomy[0]
            let (volume, _) = try NIfTIFile.read(image.path)
            try volume.requireFinite(image.path)
            let frame = volume.frames == 1 ? volume : volume.frame(0)
            let cord: Mask
            if let external = s.inventory.derivativeSegmentations[image.path] {
                let (seg, _) = try NIfTIFile.read(external)
                try frame.grid.requireCompatible(with: seg.grid, image.path, external)
                cord = Mask.threshold(seg.frames == 1 ? seg : seg.frame(0), above: 0.5)
            } else {
                var o = CordSegmentationOptions(); o.contrast = SegmentationContrast(rawValue: s.inventory.anatomyContrast.contrast)
                let seg = try CordSegmenter.segment(frame, options: o)
                computed[image.path] = seg
                cord = seg.binary
            }
            var found: VertebralLabels?, hint: VertebralLabels.Point?
            if let l = s.inventory.derivativeLabels.first(where: { $0.image.path == image.path }) ?? s.inventory.derivativeLabels.first {
                let (labelImage, _) = try NIfTIFile.readLabels(l.labels)
                let seg = l.image.path == image.path ? cord : try CordSegmenter.segment(try NIfTIFile.read(l.image.path).0.frame(0)).binary
                let v = try VertebralLabelling.fromLabels(labelImage, kind: l.kind, segmentation: seg)
                if v.points.count == 1 { hint = v.points[0] } else { found = v }
            }
            anatomies.append(SessionAnatomy(label: s.label, image: frame, cord: cord))
            given.append(found); hints.append(hint)
            log("ses-\(s.label): \(image.stem), cord \(cord.count) voxels" + (found.map { ", \($0.points.count) labels" } ?? "") + " [\(formatFixed((ContinuousClock.now - started).seconds, 1)) s since start]")
            progress.advance()
        }

        // Halfway space and the subject's one labelling.
        let t0 = ContinuousClock.now
        let halfway = try HalfwaySpace.estimate(anatomies, options: r.alignment)
        progress.advance()
        log("halfway space: \(halfway.pairs.count) pairwise rigid alignments + slice-wise in-plane shifts, inconsistency \(formatFixed(halfway.inconsistency, 2)) mm [\(formatFixed((ContinuousClock.now - t0).seconds, 1)) s]")
        for (k, o) in halfway.offsets.enumerated() {
            let r = halfway.rotationsDegrees[k]
            log("ses-\(halfway.labels[k]): offset from the halfway space \(formatFixed(o.x, 2)), \(formatFixed(o.y, 2)), \(formatFixed(o.z, 2)) mm, rotation \(formatFixed(r.x, 2)), \(formatFixed(r.y, 2)), \(formatFixed(r.z, 2))° (about R–L, A–P, S–I), in-plane shifts RMS \(formatFixed(halfway.mappings[k].inPlane?.rms ?? 0, 2)) mm")
        }
        for p in halfway.pairs where p.ncc < 0.5 {
            warn("ses-\(halfway.labels[p.i]) and ses-\(halfway.labels[p.j]) align poorly (NCC \(formatFixed(p.ncc, 2))): check that both show the same stretch of cord")
        }
        var labelSource: String
        if given.contains(where: { $0 != nil }) {
            labelSource = "labels under derivatives/labels of " + zip(halfway.labels, given).filter { $0.1 != nil }.map { "ses-" + $0.0 }.joined(separator: ", ")
        } else {
            var auto: [VertebralLabels?] = []
            for (k, a) in anatomies.enumerated() {
                do { auto.append(try AutomaticLabelling.label(image: a.image, segmentation: a.cord, hint: hints[k]).labels) } catch {
                    warn("ses-\(a.label): automatic disc labelling failed (\(error))"); auto.append(nil)
                }
            }
            guard auto.contains(where: { $0 != nil }) else {
                throw CordError.invalidValue(what: r.subject, detail: "no session has vertebral labels (derivatives/labels/\(participant)/ses-*/anat/*_labels-disc.nii.gz) and automatic labelling failed in every session; label one session")
            }
            given = auto
            labelSource = "discs found automatically in " + zip(halfway.labels, auto).filter { $0.1 != nil }.map { "ses-" + $0.0 }.joined(separator: ", ")
        }
        let shared = try halfway.sharedLabels(given)
        log("labels: one labelling for \(participant) from \(labelSource), through the halfway space")

        // Every session processed with the shared labels, into the staging folder.
        let out = try OutputFolder(r.output, overwrite: r.overwrite)
        var sessions: [LongitudinalSession] = [], measurements: [SessionMeasurements] = []
        for (k, s) in perSession.enumerated() {
            var pr = ProcessRequest(subject: r.subject, output: out.staging + "/ses-" + s.label)
            pr.session = s.label; pr.protocolName = r.protocolName; pr.atlas = r.atlas; pr.qc = r.qc
            pr.vertebralLabels = shared.perSession[k]
            pr.segmentations = computed.filter { $0.key == s.inventory.anatomy[0].path }
            pr.vertebralLabelsOrigin = "shared by cordq longitudinal (\(labelSource), propagated through the halfway space)"
            let tablePath: String
            if let previous = r.reuse, let why = try reusable(previous + "/ses-" + s.label, prefix: participant + "_ses-" + s.label,
                                                                request: pr, labels: shared.perSession[k]) {
                try TextFile.copyFolder(previous + "/ses-" + s.label, to: pr.output)
                tablePath = pr.output + "/" + participant + "_ses-" + s.label + "_metrics.tsv"
                log("ses-\(s.label): reused from \(previous) (\(why))")
            } else {
                if let previous = r.reuse { log("ses-\(s.label): not reused from \(previous): processed again") }
                let summary = try ProcessPipeline.run(pr) { log("ses-\(s.label): " + $0) }
                for w in summary.warnings { warn("ses-\(s.label): " + w) }
                tablePath = summary.tablePath
            }
            let t = try TSVTable.read(tablePath)
            let table = try LongFormTable.parse(columns: t.columns, rows: t.rows, source: tablePath)
            let day = days[s.label]
            measurements.append(SessionMeasurements(label: s.label, day: day?.0, scores: inventory.sessionEntry(s.label)?.columns ?? [:],
                                                    rows: table.rows))
            sessions.append(LongitudinalSession(label: s.label, day: day?.0, dateSource: day?.1, contrasts: contrasts(s.inventory),
                                                offset: halfway.offsets[k], rotationDegrees: halfway.rotationsDegrees[k],
                                                inPlaneRMS: halfway.mappings[k].inPlane?.rms ?? 0, processOutput: out.destination + "/ses-" + s.label,
                                                table: out.destination + "/ses-" + s.label + "/" + URL(fileURLWithPath: tablePath).lastPathComponent,
                                                rows: table.rows.count))
            progress.advance()
        }

        // Change maps in the halfway space, baseline against each later session.
        let order = ChangeTable.ordered(measurements).map(\.label)
        let index = Dictionary(uniqueKeysWithValues: perSession.enumerated().map { ($1.label, $0) })
        var mapTable = TSVTable(columns: ["participant_id", "session", "map", "unit", "noise_floor", "voxels", "percent_above_floor", "file"])
        if let b = order.first.flatMap({ index[$0] }) {
            for label in order.dropFirst() {
                guard let k = index[label] else { continue }
                for (name, unit, mapPath, maskPath) in changeMapInputs(perSession[b], perSession[k], participant: participant, staging: out.staging) {
                    guard TextFile.exists(mapPath.0), TextFile.exists(mapPath.1), TextFile.exists(maskPath.0), TextFile.exists(maskPath.1) else { continue }
                    let (mb, hb) = try NIfTIFile.read(mapPath.0), (mf, _) = try NIfTIFile.read(mapPath.1)
                    let (cb, _) = try NIfTIFile.read(maskPath.0), (cf, _) = try NIfTIFile.read(maskPath.1)
                    let change = try ChangeMap.compute(grid: mb.grid, baseline: mb, baselineMapping: halfway.mappings[b],
                                                       baselineCord: Mask.threshold(cb, above: 0.5), follow: mf, followMapping: halfway.mappings[k],
                                                       followCord: Mask.threshold(cf, above: 0.5))
                    let file = "changemaps/\(participant)_ses-\(label)_desc-\(name)change_map.nii.gz"
                    try NIfTIFile.write(change.difference, to: out.path(file), like: hb.singleVolume,
                                        description: "cordq \(name) ses-\(label) - ses-\(perSession[b].label) (halfway space)")
                    try NIfTIFile.write(change.aboveFloor, to: out.path("changemaps/\(participant)_ses-\(label)_desc-\(name)abovefloor_mask.nii.gz"),
                                        datatype: .uint8, like: hb.singleVolume, description: "|change| > 1.96 x noise floor")
                    mapTable.append([participant, "ses-" + label, name, unit, LongFormTable.format(change.noiseFloor), String(change.voxels),
                                     formatFixed(100 * change.fractionAbove, 1), file])
                    log("change map \(name) ses-\(label): noise floor \(LongFormTable.format(change.noiseFloor)) \(unit), \(formatFixed(100 * change.fractionAbove, 1)) % of \(change.voxels) cord voxels above 1.96 × floor")
                }
            }
        }
        if !mapTable.rows.isEmpty { try mapTable.write(to: out.path(participant + "_changemaps.tsv")) }

        // The change table.
        let rows = ChangeTable.compute(subject: participant, sessions: measurements, withinSD: withinSD)
        let scores = ChangeTable.scoreColumns(rows)
        let tableName = participant + "_longitudinal.tsv", recordName = participant + "_longitudinal.json"
        try TSVTable(columns: ChangeTable.baseColumns + scores, rows: ChangeTable.stringRows(rows, scoreColumns: scores)).write(to: out.path(tableName))
        let noSD = Set(rows.filter { $0.withinSD == nil }.map(\.metric)).sorted()
        if !noSD.isEmpty {
            log("no within-subject SD for \(noSD.joined(separator: ", ")): their reliable-change index is n/a (give --within-sd METRIC=VALUE[%])")
        }
        try JSONFile.write(record(participant: participant, sessions: sessions, halfway: halfway, shared: shared.halfway,
                                  labelSource: labelSource, rows: rows, warnings: warnings), to: out.path(recordName))
        try out.commit()
        let summary = LongitudinalSummary(participant: participant, output: out.destination, tablePath: out.destination + "/" + tableName,
                                          recordPath: out.destination + "/" + recordName, sessions: sessions, halfway: halfway, rows: rows,
                                          labelSource: labelSource, warnings: warnings, seconds: (ContinuousClock.now - started).seconds)
        log("change table: \(rows.count) rows in \(summary.tablePath) [\(formatFixed(summary.seconds, 1)) s]")
        return summary
    }

    /// Why the process output in `folder` can stand for this run's (nil when it cannot): its
    /// provenance lists inputs whose SHA-256 is unchanged, the same atlas and protocol options,
    /// and the same vertebral labels (level, kind, z within 0.05 mm).
    static func reusable(_ folder: String, prefix: String, request: ProcessRequest, labels: VertebralLabels) throws -> String? {
        let provenancePath = folder + "/" + prefix + "_provenance.json"
        guard TextFile.exists(provenancePath), TextFile.exists(folder + "/" + prefix + "_metrics.tsv") else { return nil }
        guard let p = try? JSONFile.read([String: JSONValue].self, from: provenancePath) else { return nil }
        guard case let .array(inputs)? = p["Inputs"], !inputs.isEmpty else { return nil }
        for case let .object(f) in inputs {
            guard case let .string(path)? = f["path"], case let .string(sha)? = f["sha256"], TextFile.exists(path),
                  (try? FileChecksum.sha256(path)) == sha else { return nil }
        }
        guard case let .object(options)? = p["Options"],
              options["atlas"] == .string(request.atlas ?? ProcessPipeline.standardAtlas),
              options["protocol"] == (request.protocolName.map { JSONValue.string($0) } ?? .null) else { return nil }
        guard case let .object(levels)? = p["Levels"], case let .object(record)? = levels["Labels"],
              case let .array(points)? = record["points"], points.count == labels.points.count else { return nil }
        var stored: [(Int, String, Double)] = []
        for case let .object(q) in points {
            guard case let .number(l)? = q["level"], case let .string(kind)? = q["kind"], case let .number(z)? = q["z_mm"],
                  let level = CheckedNumber.intOrNil(l, rounding: .toNearestOrAwayFromZero) else { return nil }
            stored.append((level, kind, z))
        }
        let wanted = labels.points.map { ($0.level, $0.kind.rawValue, $0.world.z) }
        for (a, b) in zip(stored.sorted { $0.2 < $1.2 }, wanted.sorted { $0.2 < $1.2 }) where a.0 != b.0 || a.1 != b.1 || abs(a.2 - b.2) > 0.05 {
            return nil
        }
        return "inputs, options and labels unchanged"
    }

    /// The maps `process` wrote in both sessions that get a change map: (name, unit,
    /// (baseline map, follow-up map), (baseline cord mask, follow-up cord mask)) — FA and MD of
    /// the first DWI series, MTR.
    static func changeMapInputs(_ a: (label: String, inventory: ProcessInventory), _ b: (label: String, inventory: ProcessInventory),
                                participant: String, staging: String) -> [(String, String, (String, String), (String, String))] {
        func dir(_ s: (label: String, inventory: ProcessInventory)) -> String { staging + "/ses-" + s.label + "/" }
        var out: [(String, String, (String, String), (String, String))] = []
        let names = DerivativeNames(prefix: participant, template: "")   // the names `process` writes
        if let da = a.inventory.dwi.first?.stem, let db = b.inventory.dwi.first?.stem {
            for (name, unit) in [("FA", "1"), ("MD", "um2/ms")] {
                out.append((name, unit, (dir(a) + names.dwiModelFile(da, model: "DTI", file: name + ".nii.gz"), dir(b) + names.dwiModelFile(db, model: "DTI", file: name + ".nii.gz")),
                            (dir(a) + names.contrastMask(stem: da, folder: "dwi"), dir(b) + names.contrastMask(stem: db, folder: "dwi"))))
            }
        }
        if let ma = a.inventory.mt?.on.stem, let mb = b.inventory.mt?.on.stem {
            out.append(("MTR", "p.u.", (dir(a) + names.mtMap(ma, suffix: "MTRmap"), dir(b) + names.mtMap(mb, suffix: "MTRmap")),
                        (dir(a) + names.contrastMask(stem: ma, folder: "anat"), dir(b) + names.contrastMask(stem: mb, folder: "anat"))))
        }
        return out
    }

    /// Checks the subject before any processing: two or more sessions, a usable
    /// `sessions.tsv`, an anatomical image in every session, the output not overlapping the
    /// input; dates (from `acq_time`, else `AcquisitionDateTime`) and warnings for missing
    /// dates and for sessions whose contrasts, anatomical contrast or voxel sizes differ.
    public static func plan(_ r: LongitudinalRequest) throws -> LongitudinalPlan {
        let inventory = try SubjectInventory.read(r.subject)
        let participant = inventory.id
        var warnings: [String] = []
        guard inventory.sessions.count >= 2 else {
            let found = inventory.sessions.isEmpty ? "no ses-* folders" : "one session only (ses-\(inventory.sessions[0]))"
            throw CordError.invalidValue(what: r.subject, detail: "has \(found); longitudinal analysis needs two or more sessions (sub-XX/ses-YY/anat/…). For one visit use cordq process")
        }
        if let problem = inventory.sessionTableProblem {
            throw CordError.invalidValue(what: inventory.sessionTablePath ?? r.subject, detail: problem)
        }
        if let path = inventory.sessionTablePath {
            let listed = Set(inventory.sessionTable.map(\.session)), folders = Set(inventory.sessions)
            for s in listed.subtracting(folders).sorted() { warnings.append("\(path) lists ses-\(s), which has no folder; ignored") }
        }
        try PipelineInputs.refuseOverwrite(r.output, inputs: [r.subject])
        let subjectPath = TextFile.canonicalPath(r.subject), outPath = TextFile.canonicalPath(r.output)
        if outPath.hasPrefix(subjectPath + "/") || outPath == subjectPath || subjectPath.hasPrefix(outPath + "/") {
            throw CordIOError.writeFailed(path: r.output, reason: "overlaps the subject folder; CordQ never writes into the input data")
        }

        // Dates: sessions.tsv acq_time, else the earliest AcquisitionDateTime of the session's sidecars.
        var days: [String: (Double, String)] = [:]
        for s in inventory.sessions {
            if let t = inventory.sessionEntry(s)?.acquisitionTime, let d = SessionDate.parse(t) {
                days[s] = (d, "acq_time in \(URL(fileURLWithPath: inventory.sessionTablePath ?? "sessions.tsv").lastPathComponent)")
                continue
            }
            let stamps = inventory.session(s).series.compactMap { series -> Double? in
                if case let .string(v)? = series.sidecar?.fields["AcquisitionDateTime"] { return SessionDate.parse(v) }
                return nil
            }
            if let d = stamps.min() { days[s] = (d, "AcquisitionDateTime of the session's sidecars") }
        }
        let undated = inventory.sessions.filter { days[$0] == nil }
        if !undated.isEmpty {
            warnings.append("no date for \(undated.map { "ses-" + $0 }.joined(separator: ", ")) (no acq_time in \(participant)_sessions.tsv and no AcquisitionDateTime in the sidecars): sessions are ordered by label, baseline = ses-\(inventory.sessions.sorted()[0]), and annualised rates are left empty (n/a)")
        }
        let dated = inventory.sessions.compactMap { s in days[s].map { (s, $0.0) } }
        for (a, b) in zip(dated, dated.dropFirst()) where abs(a.1 - b.1) < 1e-9 {
            warnings.append("ses-\(a.0) and ses-\(b.0) have the same date: their annualised rate is undefined (n/a)")
        }

        // Contrasts per session and protocol differences.
        var perSession: [(label: String, inventory: ProcessInventory)] = []
        for s in inventory.sessions { perSession.append((s, try ProcessInventoryReader.read(r.subject, session: s))) }
        for s in perSession where s.inventory.anatomy.isEmpty {
            throw CordError.invalidValue(what: r.subject + "/ses-" + s.label, detail: "has no anatomical image (anat/*_T2w, T1w or T2starw); every session needs one to place the sessions in a common space")
        }
        let sets = perSession.map { Set(LongitudinalPlan.contrasts($0.inventory)) }
        let common = sets.dropFirst().reduce(sets[0]) { $0.intersection($1) }
        for (k, s) in perSession.enumerated() where sets[k] != common {
            let extra = sets[k].subtracting(common).sorted()
            warnings.append("ses-\(s.label) has \(extra.joined(separator: ", ")), which not every session has: such metrics are compared only in the sessions that have them and the baseline (common to all: \(common.sorted().joined(separator: ", ")))")
        }
        let anatomySuffixes = Set(perSession.map { $0.inventory.anatomyContrast.suffix })
        if anatomySuffixes.count > 1 {
            warnings.append("the sessions' anatomical contrasts differ (\(perSession.map { "ses-\($0.label): \($0.inventory.anatomyContrast.suffix)" }.joined(separator: ", "))): cord areas from different contrasts are not interchangeable")
        }
        let spacings = perSession.map { s in s.inventory.subject.series.first { $0.imagePath == s.inventory.anatomy[0].path }?.header?.grid.spacing }
        if let first = spacings.first ?? nil {
            for (k, sp) in spacings.enumerated() {
                guard let sp else { continue }
                if abs(sp.x - first.x) > 0.01 || abs(sp.y - first.y) > 0.01 || abs(sp.z - first.z) > 0.05 {
                    warnings.append("ses-\(perSession[k].label)'s anatomical image has voxels \(formatFixed(sp.x, 2))×\(formatFixed(sp.y, 2))×\(formatFixed(sp.z, 2)) mm, ses-\(perSession[0].label)'s \(formatFixed(first.x, 2))×\(formatFixed(first.y, 2))×\(formatFixed(first.z, 2)) mm: a protocol change; part of any change may be the protocol's")
                }
            }
        }
        return LongitudinalPlan(inventory: inventory, sessions: perSession, days: days, warnings: warnings)
    }

    /// The run's record: sessions (dates and their source, contrasts, offsets), pairwise
    /// alignments, the shared labels in the halfway space, within-SD sources, warnings.
    static func record(participant: String, sessions: [LongitudinalSession], halfway: HalfwaySpace, shared: VertebralLabels,
                       labelSource: String, rows: [ChangeRow], warnings: [String]) -> [String: JSONValue] {
        func vec(_ v: SIMD3<Double>) -> JSONValue { .array([.number(v.x), .number(v.y), .number(v.z)]) }
        var sources: [String: JSONValue] = [:]
        for r in rows { sources[r.metric + " | " + r.region] = r.withinSDSource.map { .string($0) } ?? .null }
        return [
            "Participant": .string(participant),
            "Version": .string(CordQVersion.string),
            "Method": .string("Sessions aligned pairwise (cord-neighbourhood intensity-fitted SSD, rigid: 3 rotations + 3 translations, Levenberg–Marquardt coarse to fine) and combined into a halfway space (SE(3) mean of the pairwise transforms: no session privileged), then slice-wise in-plane shifts regularised along z, averaged likewise; one vertebral labelling averaged there and propagated to every session; change from the earliest session; RCI = change / (√2 · within-subject SD), Jacobson & Truax 1991"),
            "Sessions": .array(sessions.map { s in
                .object(["session": .string("ses-" + s.label), "date": s.day.map { .string(SessionDate.format(day: CheckedNumber.clamped($0, .down))) } ?? .null,
                         "date_source": s.dateSource.map { .string($0) } ?? .null,
                         "contrasts": .array(s.contrasts.map { .string($0) }), "offset_mm": vec(s.offset),
                         "rotation_deg": vec(s.rotationDegrees), "in_plane_shift_rms_mm": .number(s.inPlaneRMS),
                         "table": .string(s.table), "rows": .number(Double(s.rows))])
            }),
            "Alignments": .array(halfway.pairs.map { p in
                .object(["from": .string("ses-" + halfway.labels[p.i]), "to": .string("ses-" + halfway.labels[p.j]),
                         "translation_at_centroid_mm": vec(p.t), "rotation_deg": vec(p.transform.rotationVector * (180 / .pi)),
                         "ncc": .number(p.ncc), "ncc_slice_wise": p.nccSliceWise.map { .number($0) } ?? .null])
            }),
            "AlignmentInconsistency_mm": .number(halfway.inconsistency),
            "Labels": .object(["source": .string(labelSource),
                               "halfway_points": .array(shared.points.map { .object(["level": .number(Double($0.level)), "kind": .string($0.kind.rawValue), "world_mm": vec($0.world)]) })]),
            "WithinSubjectSD": .object(sources),
            "Warnings": .array(warnings.map { .string($0) }),
        ]
    }
}
