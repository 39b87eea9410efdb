// DTI and μFA as steps on a series in memory: the fit, its maps and its metadata, written by
// the single commands and by `cordq process` through the same writer.
import CordCore
import CordDenoise
import CordDiffusion
import CordIO

/// The noise level a μFA fit removes the magnitude (Rician / non-central χ) bias with before
/// fitting: the signal A solving E[M | A, σ, N] = M per value (Koay & Basser 2006, JMR
/// 179:317). Exact where M estimates the mean magnitude — after MP-PCA, whose σ map is the
/// natural source — so the powder averages and the QTI log-signals are no longer lifted by the
/// noise floor at high b.
public struct MagnitudeNoiseLevel: Sendable {
    /// σ per real/imaginary channel, image units: one frame (every volume) or one per volume.
    public var sigma: Volume<Float>
    /// Receive channels combined by sum of squares (1: Rician, single-channel or adaptive combination).
    public var coils: Int
    /// Where σ came from, for the record ("MP-PCA σ map", "--noise-sigma 12.5", a file).
    public var source: String
    public init(sigma: Volume<Float>, coils: Int = 1, source: String) { self.sigma = sigma; self.coils = coils; self.source = source }
}

/// The maps and metadata of one diffusion fit, ready to be written.
public struct DiffusionRun: Sendable {
    /// Map name (file stem), what it holds (for the header's description), the map, and the
    /// datatype to store it in.
    public var maps: [(name: String, description: String, volume: Volume<Float>, datatype: NIfTIDatatype)]
    /// The JSON record written beside the maps (`dti.json`, `microfa.json`), without inputs.
    public var record: [String: JSONValue]
    public var recordName: String
    public var encodings: String
    public var method: String
    public var explanation: String
    /// Seconds spent fitting.
    public var seconds: Double
    public var metrics: StepMetrics

    /// The map called `name`, if the run made it.
    public func map(_ name: String) -> Volume<Float>? { maps.first { $0.name == name }?.volume }

    /// Writes every map like `header` and the JSON record (with `inputs`), each at
    /// `path(fileName)`; returns the file names written.
    public func write(header: NIfTIHeader, inputs: [String], compress: Bool, path: (String) throws -> String) throws -> [String] {
        let ext = compress ? ".nii.gz" : ".nii"
        var files: [String] = []
        for m in maps {
            try NIfTIFile.write(m.volume, to: path(m.name + ext), datatype: m.datatype, like: header, description: m.description)
            files.append(m.name + ext)
        }
        var meta = record
        meta["Inputs"] = .array(inputs.map { .string($0) })
        try JSONFile.write(meta, to: path(recordName)); files.append(recordName)
        return files
    }
}

/// Diffusion model fits on volumes in memory.
public enum DiffusionSteps {
    static func checkDTIMaps(_ maps: Set<String>) throws {
        if let unknown = maps.subtracting(DiffusionProcessing.dtiMaps).sorted().first {
            throw CordError.invalidValue(what: "map \"\(unknown)\"", detail: "choose from \(DiffusionProcessing.dtiMaps.joined(separator: ", "))")
        }
    }

    /// The number of voxels of `mask` where the fit gave a usable mean diffusivity (finite and
    /// > 0); an error when that is not most of them: a DWI whose diffusion-weighted volumes
    /// are all negative or zero used to report "25515 voxels fitted" with FA = MD = 0.
    static func requireMostFitted(_ md: Volume<Float>, mask: Mask, model: String) throws -> Int {
        var inMask = 0, good = 0
        for n in 0..<mask.data.count where mask.data[n] != 0 {
            inMask += 1
            let v = md.data[n]
            if v.isFinite && v > 0 { good += 1 }
        }
        guard inMask > 0 else { return 0 }
        if 2 * good < inMask {
            throw CordError.invalidValue(what: "\(model) fit", detail: "failed in \(inMask - good) of \(inMask) voxels (mean diffusivity ≤ 0 or not finite): the diffusion-weighted signal is not positive and below b = 0 in most voxels; check the image scaling, its sign and that the b-values match the volumes")
        }
        return good
    }

    /// Fits the diffusion tensor in `mask` and returns the `maps` asked for (see
    /// `DiffusionProcessing.dtiMaps`). FA and MD come from the tensor's invariants; the
    /// eigensystem is computed only for AD, RD and V1.
    public static func dti(_ d: LoadedDiffusion, mask: Mask, options: DTIOptions, maps: Set<String>) throws -> DiffusionRun {
        try checkDTIMaps(maps)
        var options = options
        options.eigensystem = !maps.isDisjoint(with: ["AD", "RD", "V1"])
        let model = try DTIModel(d.table)
        let start = ContinuousClock.now
        let signals = try MaskedSignals(d.image, mask: mask)
        let fit = try model.fit(signals, options: options, progress: ProgressReporter("dti", total: signals.count))
        let seconds = (ContinuousClock.now - start).seconds
        var out: [(String, String, Volume<Float>, NIfTIDatatype)] = []
        func add(_ name: String, _ what: String, _ v: @autoclosure () throws -> Volume<Float>) rethrows {
            guard maps.contains(name) else { return }
            out.append((name, "cordq dwi dti: \(what)", try v(), .float32))
        }
        let fitted = try requireMostFitted(fit.map(.md), mask: mask, model: "DTI")
        add("FA", "fractional anisotropy", fit.map(.fa))
        add("MD", "mean diffusivity um2/ms", fit.map(.md))
        add("AD", "axial diffusivity um2/ms", fit.map(.ad))
        add("RD", "radial diffusivity um2/ms", fit.map(.rd))
        add("S0", "b=0 signal", fit.map(.s0))
        add("V1", "principal eigenvector (world RAS+)", fit.principalDirection)
        try add("tensor", "D xx yy zz xy xz yz um2/ms (world RAS+)",
                try Volume.stacking([DTIOutput.dxx, .dyy, .dzz, .dxy, .dxz, .dyz].map { fit.map($0) }))
        if maps.contains("mask") { out.append(("mask", "cordq dwi dti: fitted voxels", mask.map { Float($0) }, .uint8)) }
        if options.robust { out.append(("outliers", "cordq dwi dti: excluded volumes per voxel", fit.map(.outliers), .float32)) }
        let method = "WLS (\(options.wlsIterations) reweighting passes)" + (options.robust ? " + robust IRLS (Geman-McClure)" : "") + (options.nonlinear ? " + non-linear least squares" : "")
        let record: [String: JSONValue] = [
            "Command": .string("cordq dwi dti"), "Version": .string(CordQVersion.string),
            "Encodings": .string(model.scheme.summary),
            "Method": .string(method), "VoxelsFitted": .number(Double(signals.count)), "FitSeconds": .number(seconds),
            "Units": .object(["FA": .string("1"), "MD": .string("um2/ms"), "AD": .string("um2/ms"), "RD": .string("um2/ms"),
                              "tensor": .string("um2/ms, frames xx yy zz xy xz yz, world RAS+"), "V1": .string("unit vector, world RAS+")]),
            "References": .array([.string("Basser PJ, Mattiello J, Le Bihan D 1994, Biophys J 66:259"),
                                  .string("Salvador R et al. 2005, Hum Brain Mapp 24:144 (WLS)"),
                                  .string("Chang LC, Jones DK, Pierpaoli C 2005, Magn Reson Med 53:1088 (RESTORE robust fitting)")]),
        ]
        var metrics = StepMetrics()
        metrics.voxelsFitted = fitted; metrics.volumes = d.image.frames
        if fitted < signals.count { metrics.warnings.append("the tensor fit failed in \(signals.count - fitted) of \(signals.count) voxels (MD ≤ 0 or not finite); their maps are 0") }
        return DiffusionRun(maps: out.map { (name: $0.0, description: $0.1, volume: $0.2, datatype: $0.3) }, record: record,
                            recordName: "dti.json", encodings: model.scheme.summary, method: method, explanation: "",
                            seconds: seconds, metrics: metrics)
    }

    /// The volumes a fit restricted to b ≤ `maximumB` (s/mm²) keeps: every b = 0 volume and
    /// those with b ≤ it; refuses a bound that is not a positive number or leaves no
    /// diffusion-weighted volume.
    public static func volumes(of table: GradientTable, upTo maximumB: Double) throws -> [Int] {
        guard maximumB.isFinite, maximumB > 0 else {
            throw CordError.invalidValue(what: "maximum b \(maximumB) s/mm²", detail: "must be a positive b-value in s/mm² (e.g. 1500)")
        }
        let keep = table.entries.indices.filter { table.entries[$0].b <= maximumB + 1e-6 }
        guard keep.contains(where: { table.entries[$0].b > 50 }) else {
            throw CordError.invalidValue(what: "maximum b \(formatSignificant(maximumB)) s/mm²",
                                         detail: "leaves no diffusion-weighted volume (the lowest b > 0 is \(formatSignificant(table.entries.map(\.b).filter { $0 > 50 }.min() ?? 0)) s/mm²)")
        }
        return keep
    }

    /// Fits the μFA route `method` chooses for the series' encodings in `mask`.
    /// With `noise`, the magnitude bias is removed from every value first (`MagnitudeNoiseLevel`).
    /// With `maximumB` (s/mm²), only the b = 0 volumes and those with b ≤ it are fitted: the
    /// cumulant expansion behind QTI (and the gamma distribution's shape) hold better at low
    /// b, at the cost of fewer measurements and a shorter lever arm.
    public static func microFA(_ d: LoadedDiffusion, mask: Mask, method: MicroFAMethod,
                               qtiPositivity: QTIPositivity = .isotropic, noise: MagnitudeNoiseLevel? = nil,
                               maximumB: Double? = nil) throws -> DiffusionRun {
        var d = d, noise = noise
        if let maximumB {
            let keep = try volumes(of: d.table, upTo: maximumB)
            if keep.count < d.table.count {
                d = LoadedDiffusion(image: try Volume.stacking(keep.map { d.image.frame($0) }),
                                    table: GradientTable(keep.map { d.table.entries[$0] }), header: d.header)
                if let n = noise, n.sigma.frames > 1 {
                    noise = MagnitudeNoiseLevel(sigma: try Volume.stacking(keep.map { n.sigma.frame($0) }), coils: n.coils, source: n.source)
                }
            }
        }
        let scheme = try EncodingScheme(d.table)
        let start = ContinuousClock.now
        var image = d.image
        if let noise {
            image = try MagnitudeBias.correct(d.image, sigma: noise.sigma, coils: noise.coils, method: .koayBasser)
        }
        let signals = try MaskedSignals(image, mask: mask)
        let result = try MicroFA.fit(signals, table: d.table, method: method, qtiPositivity: qtiPositivity,
                                     progress: ProgressReporter("microfa", total: signals.count))
        let seconds = (ContinuousClock.now - start).seconds
        let fitted = try result.map("MD").map { try requireMostFitted($0, mask: mask, model: "μFA (\(result.method.rawValue))") } ?? signals.count
        var maps = result.maps.map { (name: $0.name, description: "cordq microfa \(result.method.rawValue): \($0.name)\($0.unit.isEmpty ? "" : " " + $0.unit)", volume: $0.image, datatype: NIfTIDatatype.float32) }
        maps.append((name: "mask", description: "cordq microfa: fitted voxels", volume: mask.map { Float($0) }, datatype: .uint8))
        let record: [String: JSONValue] = [
            "Command": .string("cordq dwi microfa"), "Version": .string(CordQVersion.string),
            "Encodings": .string(scheme.summary),
            "Method": .string(result.method.rawValue), "MethodRequested": .string(method.rawValue),
            "Explanation": .string(result.explanation), "ModelDependent": .bool(result.modelDependent),
            "QTIPositivity": .string(result.method == .qti ? qtiPositivity.rawValue : "n/a"),
            "MaximumB_s_per_mm2": maximumB.map { .number($0) } ?? .string("none (every volume)"),
            "VolumesFitted": .number(Double(d.image.frames)),
            "MagnitudeBiasCorrection": noise.map { n in .object([
                "Method": .string("koay-basser: A solving E[M | A, sigma, N] = M (Koay & Basser 2006, JMR 179:317)"),
                "Sigma": .string(n.source), "Coils": .number(Double(n.coils)),
            ]) } ?? .string("none"),
            "Assumptions": .array(result.assumptions.map { .string($0) }),
            "Maps": .object(Dictionary(uniqueKeysWithValues: result.maps.map { ($0.name, JSONValue.object(["unit": .string($0.unit.isEmpty ? "1" : $0.unit), "description": .string($0.description)])) })),
            "VoxelsFitted": .number(Double(signals.count)), "FitSeconds": .number(seconds),
            "References": .array([.string(result.method.citation)]),
        ]
        var metrics = StepMetrics()
        metrics.voxelsFitted = fitted; metrics.volumes = d.image.frames
        return DiffusionRun(maps: maps, record: record, recordName: "microfa.json", encodings: scheme.summary,
                            method: result.method.rawValue, explanation: result.explanation, seconds: seconds, metrics: metrics)
    }
}
