// `cordq denoise mppca`: read a series, denoise it, write the outputs together.
import CordCore
import CordDenoise
import CordIO
import CordMultiband

/// Inputs and options of MP-PCA denoising.
public struct MPPCARequest: Sendable {
    public var input: String, output: String
    public var mask: String?
    /// Where to write the noise σ map and the rank map (optional).
    public var noiseOutput: String?, rankOutput: String?
    public var options = MPPCAOptions()
    /// Where the slice groups come from (multiband noise; see `MPPCAOptions.sliceGroups`).
    public var sliceGroups: SliceGroupSource = .auto
    public init(input: String, output: String) { self.input = input; self.output = output }
}

/// Where MP-PCA's slice groups come from.
public enum SliceGroupSource: Sendable, Equatable {
    /// `SliceTiming` (and `MultibandAccelerationFactor`) of the input's JSON sidecar, when present.
    case auto
    /// Single band: one noise level varying smoothly.
    case none
    /// A multiband factor: slice k in group k mod (slices/MB).
    case multiband(Int)

    /// Parses auto, none or a factor 1…16.
    public init?(_ text: String) {
        switch text {
        case "auto": self = .auto
        case "none": self = .none
        default:
            guard let f = Int(text), (1...16).contains(f) else { return nil }
            self = .multiband(f)
        }
    }

    /// The group of each of `slices` slices: from `sidecar` (auto), none, or the factor.
    /// Throws when the factor does not divide the slice count or the sidecar is inconsistent.
    public func groups(slices: Int, sidecar: BIDSSidecar?, image: String) throws -> (groups: [Int]?, source: String) {
        switch self {
        case .none: return (nil, "none")
        case let .multiband(f):
            let g = try SliceGroups.standard(factor: f, slices: slices, name: image)
            return (f == 1 ? nil : g.groupOfSlice, "multiband factor \(f)")
        case .auto:
            guard let s = sidecar, let t = s.sliceTiming, !t.isEmpty else { return (nil, "no SliceTiming") }
            let g = try SliceGroups.fromTiming(t, factor: s.multibandAccelerationFactor, slices: slices, name: s.path)
            return (g.factor > 1 ? g.groupOfSlice : nil, "SliceTiming of \(s.path)")
        }
    }
}

/// What a denoising run did.
public struct MPPCASummary: Sendable {
    public var outputs: [String]
    public var complexInput: Bool
    public var window: SIMD3<Int>
    public var volumes: Int
    /// Median σ and rank over the processed voxels.
    public var medianSigma: Double, medianRank: Double
    public var seconds: Double
    /// σ per slice group (nil when the series was treated as single-band) and where the groups came from.
    public var groupSigma: [Double]?
    public var groupSource: String
}

/// MP-PCA as a step on volumes in memory: the rule on the volume count, the fit, and the
/// medians of σ and rank. `cordq denoise mppca` and `cordq process` both call it.
public enum DenoiseStep {
    /// Denoises a real series; throws, naming `name`, when `options.refusal` rejects its volume count.
    public static func mppca(_ v: Volume<Float>, mask: Mask?, options: MPPCAOptions, name: String) throws -> (MPPCAResult, StepMetrics) {
        if let why = options.refusal(frames: v.frames) { throw CordError.invalidValue(what: name, detail: "is \(why)") }
        let r = try MPPCA.denoise(v, mask: mask, options: options)
        var m = metrics(r.sigma, r.rank, mask: mask, frames: v.frames)
        m.sliceGroupSigma = r.sliceGroupSigma
        return (r, m)
    }

    /// Denoises a complex series (σ per real/imaginary channel).
    public static func mppca(complex v: Volume<ComplexF>, mask: Mask?, options: MPPCAOptions, name: String) throws -> (ComplexMPPCAResult, StepMetrics) {
        if let why = options.refusal(frames: v.frames) { throw CordError.invalidValue(what: name, detail: "is \(why)") }
        let r = try MPPCA.denoise(complex: v, mask: mask, options: options)
        var m = metrics(r.sigma, r.rank, mask: mask, frames: v.frames)
        m.sliceGroupSigma = r.sliceGroupSigma
        return (r, m)
    }

    static func metrics(_ sigma: Volume<Float>, _ rank: Volume<Float>, mask: Mask?, frames: Int) -> StepMetrics {
        var m = StepMetrics()
        m.volumes = frames
        m.sigmaMedian = median(sigma, mask); m.rankMedian = median(rank, mask)
        return m
    }

    /// The median of `v` inside `mask` (every voxel without one); the upper middle value.
    static func median(_ v: Volume<Float>, _ mask: Mask?) -> Double {
        var values: [Float] = []
        values.reserveCapacity(v.grid.voxelCount)
        for i in 0..<v.grid.voxelCount where mask.map({ $0.data[i] != 0 }) ?? true { values.append(v.data[i]) }
        guard !values.isEmpty else { return .nan }
        return Double(values.withUnsafeMutableBufferPointer { select(rank: $0.count / 2, in: $0) })
    }
}

public enum DenoisePipeline {
    /// Runs MP-PCA on a 4D NIfTI (real or complex64), writing the denoised series like the
    /// input's header (float32, or complex64 for complex input), and optionally σ and rank maps.
    public static func mppca(_ r: MPPCARequest) throws -> MPPCASummary {
        let outputs = [r.output, r.noiseOutput, r.rankOutput].compactMap { $0 }
        for o in outputs { try PipelineInputs.refuseOverwrite(o, inputs: [r.input, r.mask].compactMap { $0 }) }
        guard Set(outputs.map(TextFile.canonicalPath)).count == outputs.count else {
            throw CordError.invalidValue(what: "outputs", detail: "the same path is given for two outputs")
        }
        let h = try NIfTIFile.readHeader(r.input)
        if let why = r.options.refusal(frames: h.frames) {
            throw CordIOError.invalidContent(path: r.input, reason: "is \(why)")
        }
        let mask = try r.mask.map { try PipelineInputs.readMask($0, on: h.grid, reference: r.input) }
        var sidecarPath = r.input
        for ext in [".nii.gz", ".nii"] where sidecarPath.hasSuffix(ext) { sidecarPath.removeLast(ext.count) }
        sidecarPath += ".json"
        let sidecar = r.sliceGroups == .auto && TextFile.exists(sidecarPath) ? try BIDSSidecar.read(sidecarPath) : nil
        var options = r.options
        let (groups, groupSource) = try r.sliceGroups.groups(slices: h.grid.nz, sidecar: sidecar, image: r.input)
        options.sliceGroups = groups
        var groupSigma: [Double]?
        let clock = ContinuousClock.now
        let files = OutputFiles()
        let sigma: Volume<Float>, rank: Volume<Float>, metrics: StepMetrics
        if h.datatype.isComplex {
            let (v, _) = try NIfTIFile.read(r.input, as: ComplexF.self)
            let (result, m) = try DenoiseStep.mppca(complex: v, mask: mask, options: options, name: r.input)
            groupSigma = result.sliceGroupSigma
            try NIfTIFile.write(result.denoised, to: files.stage(r.output), datatype: .complex64, like: h, description: "cordq MP-PCA")
            (sigma, rank, metrics) = (result.sigma, result.rank, m)
        } else {
            let (v, _) = try NIfTIFile.read(r.input)
            let (result, m) = try DenoiseStep.mppca(v, mask: mask, options: options, name: r.input)
            groupSigma = result.sliceGroupSigma
            try NIfTIFile.write(result.denoised, to: files.stage(r.output), like: h, description: "cordq MP-PCA")
            (sigma, rank, metrics) = (result.sigma, result.rank, m)
        }
        let h3 = h.singleVolume
        if let p = r.noiseOutput { try NIfTIFile.write(sigma, to: files.stage(p), like: h3, description: "cordq MP-PCA noise sigma") }
        if let p = r.rankOutput { try NIfTIFile.write(rank, to: files.stage(p), like: h3, description: "cordq MP-PCA rank") }
        try files.commit()
        return MPPCASummary(outputs: outputs, complexInput: h.datatype.isComplex, window: r.options.window(frames: h.frames),
                            volumes: h.frames, medianSigma: metrics.sigmaMedian ?? .nan, medianRank: metrics.rankMedian ?? .nan,
                            seconds: clock.duration(to: .now).seconds, groupSigma: groupSigma, groupSource: groupSource)
    }
}

extension DenoisePipeline {
    /// Gibbs unringing of every slice and frame (Kellner et al. 2016), written like the input.
    public static func degibbs(input: String, output: String, options: GibbsOptions) throws -> SIMD2<Int> {
        try PipelineInputs.refuseOverwrite(output, inputs: [input])
        let h = try NIfTIFile.readHeader(input)
        let axes = try GibbsUnringing.planeAxes(for: h.grid, options: options)
        let (v, _) = try NIfTIFile.read(input)
        let out = try GibbsUnringing.apply(v, options: options)
        try NIfTIFile.write(out, to: output, like: h, description: "cordq Gibbs unringing")
        return axes
    }

    /// Magnitude bias correction with a scalar σ or a σ map (e.g. MP-PCA's), written like the input.
    public static func debias(input: String, output: String, sigma: Double?, sigmaMap: String?,
                              coils: Int, method: MagnitudeBiasMethod) throws {
        try PipelineInputs.refuseOverwrite(output, inputs: [input, sigmaMap].compactMap { $0 })
        let (v, h) = try NIfTIFile.read(input)
        let out: Volume<Float>
        if let p = sigmaMap {
            let (s, _) = try NIfTIFile.read(p)
            try v.grid.requireCompatible(with: s.grid, input, p)
            out = try MagnitudeBias.correct(v, sigma: s, coils: coils, method: method)
        } else if let s = sigma {
            out = try MagnitudeBias.correct(v, sigma: s, coils: coils, method: method)
        } else {
            throw CordError.invalidValue(what: "bias correction", detail: "needs σ: give a number or a σ map")
        }
        try NIfTIFile.write(out, to: output, like: h, description: "cordq magnitude bias correction")
    }
}
