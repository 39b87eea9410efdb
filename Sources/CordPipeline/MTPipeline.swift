// `cordq mt mtr` and `cordq mt mtsat`: read the images and sidecars, align, compute, write.
import CordCore
import CordIO
import CordMyelin
import CordRegistration

/// Inputs and options of an MTR computation.
public struct MTRRequest: Sendable {
    public var mtOn: String, mtOff: String, output: String
    public var mask: String?
    /// Align MT-off to MT-on slice by slice before computing.
    public var register = false
    public var registration = SliceRegistrationOptions()
    public var convention: MyelinConvention = .cordq
    /// Where to write the aligned MT-off image (optional).
    public var alignedOutput: String?
    public init(mtOn: String, mtOff: String, output: String) { self.mtOn = mtOn; self.mtOff = mtOff; self.output = output }
}

/// FLASH timing of one image: from the command line when given, else its BIDS sidecar.
public struct TimingOverride: Sendable {
    public var flipAngleDegrees: Double?
    public var repetitionTime: Double?
    public init(flipAngleDegrees: Double? = nil, repetitionTime: Double? = nil) {
        self.flipAngleDegrees = flipAngleDegrees; self.repetitionTime = repetitionTime
    }
}

/// Inputs and options of an MTsat computation.
public struct MTsatRequest: Sendable {
    public var mt: String, pd: String, t1w: String, outputFolder: String
    public var b1: String?
    public var mask: String?
    public var mtTiming = TimingOverride(), pdTiming = TimingOverride(), t1Timing = TimingOverride()
    public var form: FLASHForm = .smallAngle
    public var b1Correction: B1Correction = .none
    public var convention: MyelinConvention = .cordq
    /// Align PD- and T1-weighted images to the MT-weighted one slice by slice first.
    public var register = false
    public var registration = SliceRegistrationOptions()
    /// Replace an existing output folder (atomically).
    public var overwrite = false
    public init(mt: String, pd: String, t1w: String, outputFolder: String) {
        self.mt = mt; self.pd = pd; self.t1w = t1w; self.outputFolder = outputFolder
    }
}

/// What a run did, for the command's report and the provenance file.
public struct MTReport: Sendable, Codable {
    public var outputs: [String]
    public var invalidVoxels: Int
    /// Mean normalised cross-correlation with the MT-weighted image before/after alignment,
    /// per aligned input (empty without `register`).
    public var alignment: [String: [Double]] = [:]
    /// Whether each alignment was kept (`SliceRegistrationOptions.keepOnlyIfBetter` drops one
    /// that lowers the NCC).
    public var alignmentKept: [String: Bool] = [:]
    /// Median of each map inside the mask (when a mask was given).
    public var maskMedians: [String: Double] = [:]
    public var timings: [String: [Double]] = [:]
    public var settings: [String: String] = [:]
}

public enum MTPipeline {
    /// MTR (p.u.) = 100·(M₀ − M_sat)/M₀ written to `request.output` on the MT-on grid.
    public static func mtr(_ r: MTRRequest) throws -> MTReport {
        try PipelineInputs.refuseOverwrite(r.output, inputs: [r.mtOn, r.mtOff, r.mask].compactMap { $0 })
        let (on, hOn) = try NIfTIFile.read(r.mtOn)
        var (off, _) = try NIfTIFile.read(r.mtOff)
        try on.requireFinite(r.mtOn); try off.requireFinite(r.mtOff)
        try on.grid.requireCompatible(with: off.grid, r.mtOn, r.mtOff)
        let mask = try r.mask.map { try PipelineInputs.readMask($0, on: on.grid, reference: r.mtOn) }
        var report = MTReport(outputs: [], invalidVoxels: 0)
        if r.register {
            try checkRegistration(r.registration)
            let a = try SliceRegistration.align(moving: off, fixed: on, mask: mask, options: r.registration)
            off = a.aligned
            report.alignment[r.mtOff] = [a.correlationBefore, a.correlationAfter]
            report.alignmentKept[r.mtOff] = a.kept
        }
        let result = try MagnetizationTransfer.ratio(mtOn: on, mtOff: off, convention: r.convention)
        try NIfTIFile.write(result.map, to: r.output, like: hOn, description: "cordq MTR (p.u.)")
        report.outputs.append(r.output)
        if let p = r.alignedOutput {
            try NIfTIFile.write(off, to: p, like: hOn, description: "cordq MT-off aligned to MT-on")
            report.outputs.append(p)
        }
        report.invalidVoxels = result.invalidVoxels
        if let m = mask { report.maskMedians["mtr_pu"] = median(result.map, m) }
        report.settings = ["convention": r.convention == .sct ? "sct" : "cordq", "register": "\(r.register)"]
        return report
    }

    /// MTsat (p.u.), T1 (s), R1 (s⁻¹) and A written to a new folder, with `mtsat.json`
    /// recording timings, form, B1 handling and alignment.
    public static func mtsat(_ r: MTsatRequest) throws -> MTReport {
        let inputs = [r.mt, r.pd, r.t1w, r.b1, r.mask].compactMap { $0 }
        try PipelineInputs.refuseOverwrite(r.outputFolder, inputs: inputs)
        let (mt, hMT) = try NIfTIFile.read(r.mt)
        var (pd, _) = try NIfTIFile.read(r.pd)
        var (t1w, _) = try NIfTIFile.read(r.t1w)
        for (v, p) in [(mt, r.mt), (pd, r.pd), (t1w, r.t1w)] { try v.requireFinite(p) }
        try mt.grid.requireCompatible(with: pd.grid, r.mt, r.pd)
        try mt.grid.requireCompatible(with: t1w.grid, r.mt, r.t1w)
        let b1 = try r.b1.map { p -> Volume<Float> in
            let (b, _) = try NIfTIFile.read(p)
            try mt.grid.requireCompatible(with: b.grid, r.mt, p)
            try b.requireFinite(p)
            return b
        }
        let mask = try r.mask.map { try PipelineInputs.readMask($0, on: mt.grid, reference: r.mt) }
        var options = MTsatOptions(mt: try timing(r.mt, r.mtTiming, "--mt-flip", "--mt-tr"),
                                   pd: try timing(r.pd, r.pdTiming, "--pd-flip", "--pd-tr"),
                                   t1: try timing(r.t1w, r.t1Timing, "--t1w-flip", "--t1w-tr"))
        options.form = r.form; options.b1Correction = r.b1Correction; options.convention = r.convention
        var report = MTReport(outputs: [], invalidVoxels: 0)
        if r.register {
            try checkRegistration(r.registration)
            let ap = try SliceRegistration.align(moving: pd, fixed: mt, mask: mask, options: r.registration)
            let at = try SliceRegistration.align(moving: t1w, fixed: mt, mask: mask, options: r.registration)
            pd = ap.aligned; t1w = at.aligned
            report.alignment = [r.pd: [ap.correlationBefore, ap.correlationAfter], r.t1w: [at.correlationBefore, at.correlationAfter]]
            report.alignmentKept = [r.pd: ap.kept, r.t1w: at.kept]
        }
        let maps = try MagnetizationTransfer.saturation(mt: mt, pd: pd, t1w: t1w, b1: b1, mask: mask, options: options)
        report.invalidVoxels = maps.invalidVoxels
        report.timings = ["mt_flip_deg_tr_s": [options.mt.flipAngleDegrees, options.mt.repetitionTime],
                          "pd_flip_deg_tr_s": [options.pd.flipAngleDegrees, options.pd.repetitionTime],
                          "t1w_flip_deg_tr_s": [options.t1.flipAngleDegrees, options.t1.repetitionTime]]
        report.settings = ["form": r.convention == .sct ? "small-angle (SCT)" : r.form.rawValue,
                           "b1_correction": r.convention == .sct ? (b1 == nil ? "none" : "weiskopf factor only (SCT)") : r.b1Correction.rawValue,
                           "convention": r.convention == .sct ? "sct" : "cordq", "register": "\(r.register)",
                           "invalid_voxel_rule": r.convention == .sct ? "SCT clipping" : "0 in every map",
                           "version": CordQVersion.string]
        if let m = mask {
            report.maskMedians = ["mtsat_pu": median(maps.mtsat, m), "t1_s": median(maps.t1, m)]
        }
        let out = try OutputFolder(r.outputFolder, overwrite: r.overwrite)
        let files = [("mtsat.nii.gz", maps.mtsat, "cordq MTsat (p.u.)"), ("t1map.nii.gz", maps.t1, "cordq T1 (s)"),
                     ("r1map.nii.gz", maps.r1, "cordq R1 (1/s)"), ("a.nii.gz", maps.a, "cordq A (signal units)")]
        for (name, v, d) in files {
            try NIfTIFile.write(v, to: out.path(name), like: hMT, description: d)
            report.outputs.append(out.destination + "/" + name)
        }
        report.outputs.append(out.destination + "/mtsat.json")
        try JSONFile.write(report, to: out.path("mtsat.json"))
        try out.commit()
        return report
    }

    // MARK: - Helpers

    /// The largest shift searched must be a plausible distance: 1e30 mm used to search for
    /// ever and NaN to crash.
    static func checkRegistration(_ o: SliceRegistrationOptions) throws {
        try CheckedNumber.plausible(o.maximumShift, field: "--max-shift", in: "", unit: "mm", range: 0...50)
    }

    static func timing(_ image: String, _ o: TimingOverride, _ flipFlag: String, _ trFlag: String) throws -> FLASHTiming {
        let side = ImageInfo.sidecarPath(image)
        return try timing(try side.map { try BIDSSidecar.read($0) }, file: side ?? image, o, flipFlag, trFlag)
    }

    /// Flip angle (degrees) and TR (s) of a FLASH image: the overrides, else its sidecar
    /// (`file` names it in errors).
    static func timing(_ sidecar: BIDSSidecar?, file: String, _ o: TimingOverride, _ flipFlag: String, _ trFlag: String) throws -> FLASHTiming {
        guard let flip = o.flipAngleDegrees ?? sidecar?.flipAngle else {
            throw CordIOError.missingField(path: file, key: "FlipAngle", expected: "the flip angle in degrees, or give \(flipFlag)")
        }
        guard let tr = o.repetitionTime ?? sidecar?.repetitionTime else {
            throw CordIOError.missingField(path: file, key: "RepetitionTime", expected: "TR in seconds (RepetitionTime, or RepetitionTimeExcitation as BIDS names it for MTS), or give \(trFlag)")
        }
        let flipSource = o.flipAngleDegrees != nil ? flipFlag : "\(file): FlipAngle"
        let trSource = o.repetitionTime != nil ? trFlag : "\(file): RepetitionTime"
        try CheckedNumber.plausible(flip, field: flipSource, in: "", unit: "degrees", range: 0.5...90,
                                    hint: flip > 0 && flip < Double.pi / 2 ? "this looks like radians (\(formatFixed(flip * 180 / Double.pi, 1))°); give degrees" : "FLASH flip angles are degrees")
        try CheckedNumber.plausible(tr, field: trSource, in: "", unit: "s", range: 0.001...1,
                                    hint: tr >= 1 ? "FLASH TRs are seconds (milliseconds given?)" : "")
        return FLASHTiming(flipAngleDegrees: flip, repetitionTime: tr)
    }

    static func median(_ v: Volume<Float>, _ m: Mask) -> Double {
        var vals: [Float] = []
        for i in 0..<v.data.count where m.data[i] != 0 && v.data[i].isFinite { vals.append(v.data[i]) }
        guard !vals.isEmpty else { return .nan }
        vals.sort()
        let n = vals.count
        return n % 2 == 1 ? Double(vals[n / 2]) : Double(vals[n / 2 - 1] + vals[n / 2]) / 2
    }
}

extension MTReport {
    /// The report as lines for the terminal.
    public var text: String {
        var lines = outputs.map { "wrote \($0)" }
        for (k, v) in timings.sorted(by: { $0.key < $1.key }) where v.count == 2 {
            lines.append("  \(k.replacingOccurrences(of: "_flip_deg_tr_s", with: "")): flip \(formatSignificant(v[0]))°, TR \(formatSignificant(v[1] * 1000)) ms")
        }
        for (k, v) in alignment.sorted(by: { $0.key < $1.key }) where v.count == 2 {
            let kept = alignmentKept[k] ?? true
            lines.append("  aligned \(k): mean slice NCC with the MT-weighted image \(formatFixed(v[0], 4)) → \(formatFixed(v[1], 4))"
                         + (kept ? "" : " (lower: alignment not kept, image used as acquired)"))
        }
        for (k, v) in settings.sorted(by: { $0.key < $1.key }) where k != "version" { lines.append("  \(k.replacingOccurrences(of: "_", with: " ")): \(v)") }
        for (k, v) in maskMedians.sorted(by: { $0.key < $1.key }) { lines.append("  median \(k) in mask: \(formatSignificant(v))") }
        lines.append("  invalid voxels: \(invalidVoxels)")
        return lines.joined(separator: "\n")
    }
}
