// `cordq phantom cohort`: a BIDS dataset of phantom volunteers and patients with their truth.
import CordCore
import CordIO
import CordPhantom
import Foundation

/// What `PhantomCohortExport.write` wrote.
public struct PhantomCohortSummary: Sendable {
    public var root: String
    public var subjects: [CohortSubject]
    /// Truth per subject (same order as `subjects`).
    public var truth: [PhantomTruth]
    /// Wall time (s) of the whole write.
    public var seconds: Double
    /// With sessions: each subject's truth per session (same order as `subjects`), and the sessions.
    public var sessionTruth: [[PhantomTruth]] = []
    public var sessions: PhantomSessions?
}

/// Writes a `PhantomCohort` as one BIDS dataset, each subject with what `cordq process` needs
/// (an axial T2w and vertebral disc labels) and what a test needs to check it.
///
/// Layout (paths relative to the output folder):
/// - `participants.tsv`: `participant_id sex age height_cm group` (group healthy or patient)
/// - `sub-<label>/anat/sub-<label>_acq-ax_T2w.nii.gz` and `.json`: the axial 2D T2w TSE of
///   the demo (`PhantomAcquisition.axialT2w`: 0.5 × 0.5 mm in plane, 3 mm slices) over
///   C1–T1 plus 6 mm, on a `fieldOfView` mm square
/// - `derivatives/labels/sub-<label>/anat/sub-<label>_acq-ax_T2w_labels-disc.nii.gz`: disc
///   labels on the centerline (value n for the disc above vertebra n: 2 = C1/C2, 3 = C2/C3 …
///   8 = C7/T1), where `cordq process` finds them (spine-generic's layout for manual labels)
/// - `derivatives/truth/sub-<label>/anat/sub-<label>_acq-ax_desc-levels_dseg.nii.gz` (level of
///   each cord voxel, 1 = C1 … 8 = T1), `_label-cord_mask.nii.gz`, `_desc-truth_parameters.json`
/// - `derivatives/truth/compressions.tsv`: `participant_id compressed_level severity
///   length_mm healthy_csa_mm2 compressed_csa_mm2 mscc_percent` for every patient (severity =
///   fraction by which the AP diameter is reduced at the compression's centre)
/// - `derivatives/truth/levels.tsv`: `participant_id level csa_mm2 diameter_ap_mm
///   diameter_rl_mm length_mm`, the requested healthy size of every subject's levels.
/// Subjects are simulated in parallel; the dataset appears complete or not at all.
public enum PhantomCohortExport {
    public static let participantColumns = ["participant_id", "sex", "age", "height_cm", "group"]
    public static let compressionColumns = ["participant_id", "compressed_level", "severity", "length_mm",
                                            "healthy_csa_mm2", "compressed_csa_mm2", "mscc_percent"]
    public static let levelColumns = ["participant_id", "level", "csa_mm2", "diameter_ap_mm", "diameter_rl_mm", "length_mm"]

    /// The axial T2w grid of one subject: the demo's axial spacing over the subject's C1–T1
    /// (centred on z = 0 by `PhantomCohort`) with 6 mm above and below.
    public static func grid(for p: PhantomParameters, fieldOfView: Double, margin: Double = 0) -> Grid {
        let spacing = PhantomAcquisition.axialT2w.grid.spacing
        let half = p.levels.reduce(0) { $0 + $1.length } / 2 + 6 + margin
        return PhantomGrid.axial(inPlane: spacing.x, sliceThickness: spacing.z, fieldOfView: fieldOfView,
                                 inferior: -half, superior: half, centre: [p.centerlineX, p.centerlineY + 4])
    }

    public static func write(_ cohort: PhantomCohort, to outDir: String, fieldOfView: Double = 32,
                             sessions: PhantomSessions? = nil,
                             progress: (@Sendable (String) -> Void)? = nil) throws -> PhantomCohortSummary {
        let start = ContinuousClock.now
        guard fieldOfView >= 24, fieldOfView <= 96 else {
            throw CordError.invalidValue(what: "field of view \(fieldOfView) mm", detail: "use 24…96 mm (the dural sac is about 19 mm wide)")
        }
        if let sessions {
            try sessions.validate()
            return try writeSessions(cohort, sessions: sessions, to: outDir, fieldOfView: fieldOfView, start: start, progress: progress)
        }
        let subjects = try cohort.subjects()
        let out = try OutputFolder(outDir)
        try JSONFile.write(PhantomExport.datasetDescription(derivative: false), to: out.path("dataset_description.json"))
        for d in ["truth", "labels"] {
            try JSONFile.write(PhantomExport.datasetDescription(derivative: true), to: out.path("derivatives/\(d)/dataset_description.json"))
        }
        // Folders first (serially): the workers below only write files.
        for s in subjects {
            for d in ["\(s.id)/anat", "derivatives/truth/\(s.id)/anat", "derivatives/labels/\(s.id)/anat"] {
                _ = try out.path(d, isFolder: true)
            }
        }
        let truths = ResultSlots<PhantomTruth>(subjects.count), staging = out.staging
        parallelChunks(subjects.count) { range, _ in
            for n in range {
                truths.set(n, Result { try writeSubject(subjects[n], root: staging, fieldOfView: fieldOfView) })
                progress?(subjects[n].id)
            }
        }
        let truth = try truths.results("phantom cohort subject").map { try $0.get() }

        var participants = TSVTable(columns: participantColumns)
        var compressions = TSVTable(columns: compressionColumns), levels = TSVTable(columns: levelColumns)
        for (s, t) in zip(subjects, truth) {
            participants.append([s.id, s.sex, formatFixed(s.age, 0), formatFixed(s.height, 1), s.group.rawValue])
            for l in s.parameters.levels {
                levels.append([s.id, l.level.name, formatFixed(l.csa, 2), formatFixed(l.apDiameter, 3),
                               formatFixed(l.rlDiameter, 3), formatFixed(l.length, 2)])
            }
            if let c = t.compression {
                compressions.append([s.id, c.level.name, formatFixed(c.fraction, 3), formatFixed(c.length, 1),
                                     formatFixed(c.healthyCSA, 2), formatFixed(c.compressedCSA, 2), formatFixed(c.msccPercent, 1)])
            }
        }
        try participants.write(to: out.path("participants.tsv"))
        try compressions.write(to: out.path("derivatives/truth/compressions.tsv"))
        try levels.write(to: out.path("derivatives/truth/levels.tsv"))
        try out.commit()
        let elapsed = ContinuousClock.now - start
        return PhantomCohortSummary(root: out.destination, subjects: subjects, truth: truth,
                                    seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
    }

    // MARK: - Sessions

    public static let sessionTruthColumns = ["participant_id", "session_id", "days", "shift_x_mm", "shift_y_mm", "shift_z_mm",
                                             "rotation_x_deg", "rotation_y_deg", "rotation_z_deg"]
    public static let sessionLevelColumns = ["participant_id", "session_id", "level", "planted_factor", "requested_csa_mm2",
                                             "measured_csa_mm2"]

    /// The cohort with repeat visits (`PhantomSessions`): `sub-*/ses-NN/anat/…_ses-NN_acq-ax_T2w`,
    /// `sub-*/sub-*_sessions.tsv` (session_id, acq_time), disc labels for the first session
    /// only (one labelling per subject, as a reader would leave it), and under
    /// `derivatives/truth/` each session's level map, cord mask and parameters, `sessions.tsv`
    /// (days and the repositioning shift) and `session_levels.tsv` (planted CSA factor,
    /// requested and rasterised CSA per level).
    static func writeSessions(_ cohort: PhantomCohort, sessions: PhantomSessions, to outDir: String, fieldOfView: Double,
                              start: ContinuousClock.Instant, progress: (@Sendable (String) -> Void)?) throws -> PhantomCohortSummary {
        let subjects = try cohort.subjects()
        for s in subjects { for n in 0..<sessions.count { _ = try sessions.parameters(s.parameters, session: n) } }
        let out = try OutputFolder(outDir)
        try JSONFile.write(PhantomExport.datasetDescription(derivative: false), to: out.path("dataset_description.json"))
        for d in ["truth", "labels"] {
            try JSONFile.write(PhantomExport.datasetDescription(derivative: true), to: out.path("derivatives/\(d)/dataset_description.json"))
        }
        for s in subjects {
            for n in 0..<sessions.count {
                let ses = "ses-" + sessions.label(n)
                for d in ["\(s.id)/\(ses)/anat", "derivatives/truth/\(s.id)/\(ses)/anat"] { _ = try out.path(d, isFolder: true) }
                if sessions.diffusionAndMT {
                    for d in ["\(s.id)/\(ses)/dwi", "derivatives/truth/\(s.id)/\(ses)/dwi"] { _ = try out.path(d, isFolder: true) }
                }
            }
            _ = try out.path("derivatives/labels/\(s.id)/ses-\(sessions.label(0))/anat", isFolder: true)
        }
        let jobs = subjects.indices.flatMap { i in (0..<sessions.count).map { (i, $0) } }
        let truths = ResultSlots<PhantomTruth>(jobs.count), staging = out.staging
        parallelChunks(jobs.count) { range, _ in
            for j in range {
                let (i, n) = jobs[j]
                truths.set(j, Result { try writeSession(subjects[i], sessions: sessions, session: n, root: staging, fieldOfView: fieldOfView) })
                progress?(subjects[i].id + " ses-" + sessions.label(n))
            }
        }
        let flat = try truths.results("phantom cohort session").map { try $0.get() }
        let perSubject = subjects.indices.map { i in Array(flat[(i * sessions.count)..<((i + 1) * sessions.count)]) }

        var participants = TSVTable(columns: participantColumns)
        var sessionTable = TSVTable(columns: sessionTruthColumns), levelTable = TSVTable(columns: sessionLevelColumns)
        for (s, truth) in zip(subjects, perSubject) {
            participants.append([s.id, s.sex, formatFixed(s.age, 0), formatFixed(s.height, 1), s.group.rawValue])
            var own = TSVTable(columns: ["session_id", "acq_time"])
            for n in 0..<sessions.count {
                let ses = "ses-" + sessions.label(n)
                let day = sessions.firstDay + CheckedNumber.clamped(sessions.days[n], .toNearestOrAwayFromZero)
                own.append([ses, SessionDate.format(day: day) + "T10:00:00"])
                let shift = sessions.shift(session: n, seed: s.parameters.seed)
                let turn = sessions.rotation(session: n, seed: s.parameters.seed)
                sessionTable.append([s.id, ses, formatFixed(sessions.days[n], 0), formatFixed(shift.x, 2), formatFixed(shift.y, 2), formatFixed(shift.z, 2),
                                     formatFixed(turn.x, 2), formatFixed(turn.y, 2), formatFixed(turn.z, 2)])
                for l in truth[n].levels {
                    levelTable.append([s.id, ses, l.level.name, formatFixed(sessions.factor(l.level, session: n), 4),
                                       formatFixed(l.requestedCSA, 3), l.measuredCSA.map { formatFixed($0, 3) } ?? "n/a"])
                }
            }
            try own.write(to: out.path("\(s.id)/\(s.id)_sessions.tsv"))
        }
        try participants.write(to: out.path("participants.tsv"))
        try sessionTable.write(to: out.path("derivatives/truth/sessions.tsv"))
        try levelTable.write(to: out.path("derivatives/truth/session_levels.tsv"))
        try out.commit()
        let elapsed = ContinuousClock.now - start
        return PhantomCohortSummary(root: out.destination, subjects: subjects, truth: perSubject.map { $0[0] },
                                    seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18,
                                    sessionTruth: perSubject, sessions: sessions)
    }

    /// Simulates one session of one subject (anatomy with the planted change, repositioned,
    /// its own noise) on the subject's fixed grid and writes it with its truth.
    static func writeSession(_ s: CohortSubject, sessions: PhantomSessions, session n: Int, root: String,
                             fieldOfView: Double) throws -> PhantomTruth {
        func path(_ relative: String) -> String { root + "/" + relative }
        let p = try sessions.parameters(s.parameters, session: n)
        let grid = grid(for: s.parameters, fieldOfView: fieldOfView, margin: sessions.longitudinalShift)
        // A head rotation: the phantom is sampled on the turned grid and written with the scanner's.
        let turn = sessions.rotation(session: n, seed: s.parameters.seed)
        let phantom = try PhantomSubject(p, on: PhantomSessions.rotatedSamplingGrid(grid, degrees: turn))
        func scanner<T>(_ v: Volume<T>) -> Volume<T> { Volume(grid: grid, frames: v.frames, exactly: v.data) }
        let ses = "ses-" + sessions.label(n)
        let anat = "\(s.id)/\(ses)/anat/\(s.id)_\(ses)_acq-ax_T2w"
        try NIfTIFile.write(scanner(phantom.t2w), to: path(anat + ".nii.gz"), description: "cordq phantom cohort T2w")
        var sidecar = PhantomAcquisition.axialT2w.sidecar
        sidecar["ConversionSoftware"] = .string("cordq phantom cohort")
        try JSONFile.write(sidecar, to: path(anat + ".json"))
        if n == 0 {
            try NIfTIFile.write(scanner(PhantomExport.discLabels(phantom)),
                                to: path("derivatives/labels/\(s.id)/\(ses)/anat/\(s.id)_\(ses)_acq-ax_T2w_labels-disc.nii.gz"),
                                datatype: .uint8, description: "disc labels (phantom truth)")
        }
        if sessions.diffusionAndMT { try writeSessionDWIAndMT(s, parameters: p, sessions: sessions, session: n, root: root, fieldOfView: fieldOfView) }
        let t = "derivatives/truth/\(s.id)/\(ses)/anat/\(s.id)_\(ses)_acq-ax"
        try NIfTIFile.write(scanner(phantom.levels.volume), to: path(t + "_desc-levels_dseg.nii.gz"), datatype: .int16)
        try NIfTIFile.write(scanner(phantom.cordMask), to: path(t + "_label-cord_mask.nii.gz"), datatype: .uint8)
        try JSONFile.write(phantom.truth, to: path(t + "_desc-truth_parameters.json"))
        return phantom.truth
    }

    /// The DWI and MT grid of a session: 1 mm (MT 0.9 mm) in plane, 5 mm slices from 30 mm
    /// below to 20 mm above the subject's C1–T1 centre (the demo's voxel sizes).
    static func sessionGrid(for p: PhantomParameters, inPlane: Double, fieldOfView: Double) -> Grid {
        PhantomGrid.axial(inPlane: inPlane, sliceThickness: 5, fieldOfView: fieldOfView, inferior: -30, superior: 20,
                          centre: [p.centerlineX, p.centerlineY + 4])
    }

    /// A session's single-shell DWI (5 b = 0 + 30 × b = 800 s/mm²) and MT set, turned and moved
    /// like its T2w, with the planted dorsal-column demyelination; truth: FA and MTR maps and
    /// tissue labels on each grid. FA and MTR do not depend on the gradient frame, so the
    /// gradient table is written in the scanner's frame unchanged.
    static func writeSessionDWIAndMT(_ s: CohortSubject, parameters p: PhantomParameters, sessions: PhantomSessions, session n: Int,
                                     root: String, fieldOfView: Double) throws {
        func path(_ relative: String) -> String { root + "/" + relative }
        let ses = "ses-" + sessions.label(n), turn = sessions.rotation(session: n, seed: s.parameters.seed)
        let loss = sessions.demyelination(session: n)
        let dorsal = [TissueClass.dorsalColumnLeft, .dorsalColumnRight].map { Int($0.rawValue) }
        // DWI.
        let dwiGrid = sessionGrid(for: s.parameters, inPlane: 1, fieldOfView: fieldOfView)
        let dwiPhantom = try PhantomSubject(p, on: PhantomSessions.rotatedSamplingGrid(dwiGrid, degrees: turn))
        func onDWI<T>(_ v: Volume<T>) -> Volume<T> { Volume(grid: dwiGrid, frames: v.frames, exactly: v.data) }
        let table = try DiffusionSchemes.named("dti").orThrow("the dti scheme")
        var d = DiffusionPhantomParameters(); d.snr = p.snr; d.seed = p.seed
        for i in dorsal {
            d.tissues[i].populations = d.tissues[i].populations.map { var q = $0; q.radial *= 1 + loss; return q }
        }
        let sim = try DWISimulator.simulate(dwiPhantom, table: table, parameters: d)
        let base = "\(s.id)/\(ses)/dwi/\(s.id)_\(ses)_dwi"
        try NIfTIFile.write(onDWI(sim.image), to: path(base + ".nii.gz"), description: "cordq phantom cohort DWI")
        try GradientFiles.write(table, grid: dwiGrid, bval: path(base + ".bval"), bvec: path(base + ".bvec"))
        try JSONFile.write(PhantomAcquisition.dwi.sidecar, to: path(base + ".json"))
        let t = "derivatives/truth/\(s.id)/\(ses)/dwi/\(s.id)_\(ses)"
        try NIfTIFile.write(onDWI(sim.truth.fa), to: path(t + "_desc-truthFA_dwimap.nii.gz"))
        try NIfTIFile.write(onDWI(dwiPhantom.tissueLabels.volume), to: path(t + "_desc-tissues_dseg.nii.gz"), datatype: .int16)
        // MT.
        let mtGrid = sessionGrid(for: s.parameters, inPlane: 0.9, fieldOfView: fieldOfView)
        let mtPhantom = try PhantomSubject(p, on: PhantomSessions.rotatedSamplingGrid(mtGrid, degrees: turn))
        var tissues = FLASHSimulationParameters.defaultTissues
        for i in dorsal { tissues[i].mtsat *= 1 - loss }
        let mtTruth = "derivatives/truth/\(s.id)/\(ses)/anat/\(s.id)_\(ses)_mt"
        _ = try PhantomExport.writeMT(mtPhantom, imageBase: "\(s.id)/\(ses)/anat/\(s.id)_\(ses)", truthBase: mtTruth, snr: p.snr,
                                      seed: p.seed, tissues: tissues, scanner: mtGrid) { path($0) }
        try NIfTIFile.write(Volume(grid: mtGrid, frames: 1, exactly: mtPhantom.tissueLabels.volume.data), to: path(mtTruth + "_desc-tissues_dseg.nii.gz"), datatype: .int16)
    }

    /// Simulates one subject's axial T2w and writes it with its labels and truth.
    /// Its folders exist already under `root` (the staging folder).
    static func writeSubject(_ s: CohortSubject, root: String, fieldOfView: Double) throws -> PhantomTruth {
        func path(_ relative: String) -> String { root + "/" + relative }
        let phantom = try PhantomSubject(s.parameters, on: grid(for: s.parameters, fieldOfView: fieldOfView))
        let anat = "\(s.id)/anat/\(s.id)_acq-ax_T2w"
        try NIfTIFile.write(phantom.t2w, to: path(anat + ".nii.gz"), description: "cordq phantom cohort T2w")
        var sidecar = PhantomAcquisition.axialT2w.sidecar
        sidecar["ConversionSoftware"] = .string("cordq phantom cohort")
        try JSONFile.write(sidecar, to: path(anat + ".json"))
        try NIfTIFile.write(PhantomExport.discLabels(phantom), to: path("derivatives/labels/\(s.id)/anat/\(s.id)_acq-ax_T2w_labels-disc.nii.gz"),
                            datatype: .uint8, description: "disc labels (phantom truth)")
        let t = "derivatives/truth/\(s.id)/anat/\(s.id)_acq-ax"
        try NIfTIFile.write(phantom.levels.volume, to: path(t + "_desc-levels_dseg.nii.gz"), datatype: .int16)
        try NIfTIFile.write(phantom.cordMask, to: path(t + "_label-cord_mask.nii.gz"), datatype: .uint8)
        try JSONFile.write(phantom.truth, to: path(t + "_desc-truth_parameters.json"))
        return phantom.truth
    }
}
