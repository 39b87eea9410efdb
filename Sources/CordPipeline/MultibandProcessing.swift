// `cordq dwi correct` and the multiband step of `cordq process`: slice-group motion,
// outlier groups and banding on a DWI series in memory, and the files that record them.
import CordCore
import CordIO
import CordMultiband

/// How the slice groups are chosen.
public enum SliceGroupChoice: Sendable, Equatable {
    /// From the sidecar's `SliceTiming` / `MultibandAccelerationFactor` (single-band with a
    /// warning when neither is there).
    case auto
    /// This multiband factor (checked against the sidecar when it has timing).
    case factor(Int)
    /// One group of every slice: rigid in-plane motion per volume (the card's
    /// `motion_correction: volume`).
    case wholeVolume
}

/// A multiband correction step's outcome: the result and its typed metrics.
public struct MultibandStepRun: Sendable {
    public var result: MultibandCorrectionResult
    public var metrics: StepMetrics
    /// One line for the step log.
    public var summary: String
}

public enum MultibandStep {
    /// Corrects one series in memory (`MultibandCorrection.correct`) with groups from `choice`
    /// and `sidecar`; `name` (the file) goes into every message.
    /// `quietSingleBand` drops the "MB 1 assumed" warning (motion correction alone, where
    /// single-band slice-wise is what was asked for).
    public static func correct(_ d: LoadedDiffusion, sidecar: BIDSSidecar?, mask: Mask?, groups choice: SliceGroupChoice,
                               options: MultibandCorrectionOptions, name: String, quietSingleBand: Bool = false) throws -> MultibandStepRun {
        guard d.image.frames >= 2 else { throw MultibandError.notASeries(name: name, frames: d.image.frames) }
        let nz = d.image.grid.nz
        var groups: SliceGroups
        switch choice {
        case .auto:
            groups = try SliceGroups.resolve(sliceTiming: sidecar?.sliceTiming, multibandFactor: sidecar?.multibandAccelerationFactor,
                                             forced: nil, slices: nz, name: name)
        case let .factor(f):
            groups = try SliceGroups.resolve(sliceTiming: sidecar?.sliceTiming, multibandFactor: sidecar?.multibandAccelerationFactor,
                                             forced: f, slices: nz, name: name)
        case .wholeVolume:
            // Factor 1: not a multiband acquisition, one transform for the whole volume.
            groups = SliceGroups(factor: 1, groups: [Array(0..<nz)], source: "one group of all \(nz) slices (in-plane motion per volume)")
        }
        if quietSingleBand, groups.warning != nil { groups = SliceGroups(factor: groups.factor, groups: groups.groups, source: groups.source) }
        let r = try MultibandCorrection.correct(d.image, table: d.table, groups: groups, mask: mask, name: name, options: options)
        let q = r.quality
        var m = StepMetrics()
        m.volumes = d.image.frames
        m.multibandFactor = q.factor; m.sliceGroups = q.groups
        m.meanDisplacementMM = q.meanDisplacement; m.maxDisplacementMM = q.maxDisplacement
        m.outlierGroups = q.scoredGroups > 0 ? q.outliers : nil; m.outlierFraction = q.scoredGroups > 0 ? q.outlierFraction : nil
        m.bandingIndexPercent = q.bandingIndexPercent
        m.residualBefore = q.residualBefore; m.residualAfter = q.residualAfter
        m.warnings = q.warnings
        var parts = ["MB \(q.factor), \(q.groups) slice groups (\(q.groupSource))",
                     "mean displacement \(formatFixed(q.meanDisplacement, 2)) mm (max \(formatFixed(q.maxDisplacement, 2)))"]
        if q.scoredGroups > 0 { parts.append("\(q.outliers) of \(q.scoredGroups) DW slice groups outliers") }
        if let b = q.bandingIndexPercent { parts.append("banding index \(formatFixed(b, 1)) %") }
        if let a = q.residualBefore, let b = q.residualAfter { parts.append("tensor residual in the cord \(formatFixed(100 * a, 2)) % → \(formatFixed(100 * b, 2)) %") }
        return MultibandStepRun(result: r, metrics: m, summary: parts.joined(separator: "; "))
    }

    /// The motion table: one row per volume and slice group (mm, degrees; see `MotionRow`).
    public static func motionTable(_ r: MultibandCorrectionResult) -> TSVTable {
        var t = TSVTable(columns: ["volume", "group", "slices", "tx_mm", "ty_mm", "rz_deg", "ncc"])
        for m in r.motion {
            t.append([String(m.volume), String(m.group), m.slices.map(String.init).joined(separator: ","), formatFixed(m.tx, 4),
                      formatFixed(m.ty, 4), formatFixed(m.rz, 4), m.score.map { formatFixed($0, 4) } ?? "n/a"])
        }
        return t
    }

    /// The outlier table: one row per scored (diffusion-weighted volume, slice), its group's
    /// robust z-score and observed/predicted ratio, whether it is an outlier and was replaced.
    public static func outlierTable(_ r: MultibandCorrectionResult) -> TSVTable {
        var t = TSVTable(columns: ["volume", "slice", "group", "score", "ratio", "outlier", "replaced"])
        for o in r.outliers { for k in o.slices.sorted() {
            t.append([String(o.volume), String(k), String(o.group), formatFixed(o.score, 3), formatFixed(o.ratio, 4),
                      o.outlier ? "1" : "0", o.replaced ? "1" : "0"])
        } }
        return t
    }

    /// The quality record (JSON): groups, motion summary in `sct_dmri_moco`'s moco_params
    /// convention, outliers, banding, tSNR, residuals, warnings, steps.
    public static func record(_ r: MultibandCorrectionResult, options: MultibandCorrectionOptions) -> [String: JSONValue] {
        let q = r.quality
        func num(_ x: Double?) -> JSONValue { x.map { .number($0) } ?? .null }
        func nums(_ x: [Double]?) -> JSONValue { x.map { .array($0.map { .number($0) }) } ?? .null }
        return [
            "MultibandFactor": .number(Double(q.factor)), "SliceGroups": .array(r.groups.groups.map { .array($0.map { .number(Double($0)) }) }),
            "SliceGroupSource": .string(q.groupSource),
            "Steps": .array(r.steps.map { .string($0) }),
            "Motion": .object([
                "Model": .string(options.registration.rigid ? "rigid in-plane (tx, ty, rz) per volume and slice group" : "in-plane translation (tx, ty) per volume and slice group"),
                "MeanDisplacementPerVolume_mm": nums(q.meanDisplacementPerVolume),
                "MeanDisplacementConvention": .string("sct_dmri_moco moco_params: mean over slices of sqrt(Tx^2 + Ty^2), mm"),
                "MeanDisplacement_mm": .number(q.meanDisplacement), "MaxDisplacement_mm": .number(q.maxDisplacement),
                "MaxRotation_deg": .number(q.maxRotationDegrees),
            ]),
            "Outliers": .object([
                "Groups": .number(Double(q.outliers)), "ScoredGroups": .number(Double(q.scoredGroups)),
                "Fraction": .number(q.outlierFraction), "Threshold_z": .number(options.outlierThreshold),
                "Action": .string(options.replaceOutliers ? "replaced by the tensor prediction" : "reported only"),
            ]),
            "Banding": .object(["Index_percent": num(q.bandingIndexPercent), "ResidualStatic_percent": num(q.residualBandingPercent)]),
            "B0tSNRPerGroup": .object(["Before": nums(q.b0TSNRBefore), "After": nums(q.b0TSNRAfter)]),
            "TensorResidualInCord": .object(["Before": num(q.residualBefore), "After": num(q.residualAfter),
                                             "Definition": .string("RMS(signal - tensor prediction) / mean prediction over the cord region, diffusion-weighted volumes, outlier groups excluded")]),
            "CordRegionVoxels": .number(Double(q.regionVoxels)),
            "Warnings": .array(q.warnings.map { .string($0) }),
            "References": .array([
                "Andersson & Sotiropoulos 2016, NeuroImage 125:1063 (eddy)", "Andersson et al. 2016, NeuroImage 141:556 (outlier replacement)",
                "De Leener et al. 2017, NeuroImage 145:24 (SCT; sct_dmri_moco)", "Setsompop et al. 2012, MRM 67:1210 (slice-GRAPPA)",
            ].map { .string($0) }),
        ]
    }
}

/// What `cordq dwi correct` wrote.
public struct DWICorrectSummary: Sendable {
    public var files: [String]
    public var result: MultibandCorrectionResult
    public var summary: String
    public var seconds: Double
}

public enum DWICorrection {
    /// `cordq dwi correct DWI OUT.nii.gz`: reads the series (bval/bvec beside it, the BIDS
    /// sidecar `<stem>.json` when present), corrects it and writes OUT.nii.gz, OUT.bval,
    /// OUT.bvec (rotated), OUT_motion.tsv, OUT_outliers.tsv and OUT.json, all or nothing.
    public static func run(dwi: String, output: String, mask maskPath: String?, groups: SliceGroupChoice,
                           options: MultibandCorrectionOptions, overwrite: Bool = false,
                           bval: String? = nil, bvec: String? = nil) throws -> DWICorrectSummary {
        NumericLibraries.configure()
        guard output.hasSuffix(".nii.gz") || output.hasSuffix(".nii") else {
            throw CordIOError.writeFailed(path: output, reason: "the corrected series' name must end in .nii.gz or .nii")
        }
        let stem = String(output.dropLast(output.hasSuffix(".nii.gz") ? 7 : 4))
        let paths = [output, stem + ".bval", stem + ".bvec", stem + "_motion.tsv", stem + "_outliers.tsv", stem + ".json"]
        if !overwrite, let existing = paths.first(where: { TextFile.exists($0) }) {
            throw CordIOError.writeFailed(path: existing, reason: "already exists (give --overwrite to replace it)")
        }
        let start = ContinuousClock.now
        let (image, header) = try NIfTIFile.read(dwi, as: Float.self)
        guard image.frames >= 2 else { throw MultibandError.notASeries(name: dwi, frames: image.frames) }
        let table = try DiffusionProcessing.gradientTable(for: DWIInput(image: dwi, bval: bval, bvec: bvec), grid: image.grid, frames: image.frames)
        var sidecarPath = dwi
        for ext in [".nii.gz", ".nii"] where sidecarPath.hasSuffix(ext) { sidecarPath.removeLast(ext.count); break }
        sidecarPath += ".json"
        let sidecar = TextFile.exists(sidecarPath) ? try BIDSSidecar.read(sidecarPath) : nil
        var mask: Mask?
        if let p = maskPath {
            let (m, _) = try NIfTIFile.read(p, as: Float.self)
            try image.grid.requireCompatible(with: m.grid, dwi, p)
            let binary = Mask.threshold(m.frames == 1 ? m : m.frame(0), above: 0.5)
            try binary.requireNonEmpty(p)
            mask = binary
        }
        let run = try MultibandStep.correct(LoadedDiffusion(image: image, table: table, header: header), sidecar: sidecar, mask: mask,
                                            groups: groups, options: options, name: dwi)
        let files = OutputFiles()
        try NIfTIFile.write(run.result.corrected, to: try files.stage(output), like: header, description: "cordq dwi correct")
        try GradientFiles.write(run.result.table, grid: image.grid, bval: try files.stage(paths[1]), bvec: try files.stage(paths[2]))
        try MultibandStep.motionTable(run.result).write(to: try files.stage(paths[3]))
        try MultibandStep.outlierTable(run.result).write(to: try files.stage(paths[4]))
        var record = MultibandStep.record(run.result, options: options)
        record["Command"] = .string("cordq dwi correct"); record["Version"] = .string(CordQVersion.string)
        record["Inputs"] = .array(([dwi] + [maskPath, sidecar == nil ? nil : sidecarPath].compactMap { $0 }).map { .string($0) })
        try JSONFile.write(record, to: try files.stage(paths[5]))
        try files.commit()
        return DWICorrectSummary(files: paths, result: run.result, summary: run.summary, seconds: (ContinuousClock.now - start).seconds)
    }
}
