// `cordq denoise mppca`: read a series, denoise it, write the outputs together.
import CordCore
import CordDenoise
import CordIO

/// Inputs and options of MP-PCA denoising.
public struct MPPCARequest: Sendable {
    public var input: String, output: String
    public var mask: String?
    /// Where to write the noise σ map and the rank map (optional).
    public var noiseOutput: String?, rankOutput: String?
    public var options = MPPCAOptions()
    public init(input: String, output: String) { self.input = input; self.output = output }
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
        guard h.frames >= 2 else {
            throw CordIOError.invalidContent(path: r.input, reason: "is \(h.frames == 1 ? "a 3D image" : "empty"); MP-PCA needs a 4D series of at least 2 volumes")
        }
        let mask = try r.mask.map { try PipelineInputs.readMask($0, on: h.grid, reference: r.input) }
        let clock = ContinuousClock.now
        let files = OutputFiles()
        let sigma: Volume<Float>, rank: Volume<Float>
        if h.datatype.isComplex {
            let (v, _) = try NIfTIFile.read(r.input, as: ComplexF.self)
            let res = try MPPCA.denoise(complex: v, mask: mask, options: r.options)
            try NIfTIFile.write(res.denoised, to: files.stage(r.output), datatype: .complex64, like: h, description: "cordq MP-PCA")
            sigma = res.sigma; rank = res.rank
        } else {
            let (v, _) = try NIfTIFile.read(r.input)
            let res = try MPPCA.denoise(v, mask: mask, options: r.options)
            try NIfTIFile.write(res.denoised, to: files.stage(r.output), like: h, description: "cordq MP-PCA")
            sigma = res.sigma; rank = res.rank
        }
        var h3 = h; h3.dims = Array(h.dims.prefix(3)); h3.pixdim = Array(h.pixdim.prefix(3))
        if let p = r.noiseOutput { try NIfTIFile.write(sigma, to: files.stage(p), like: h3, description: "cordq MP-PCA noise sigma") }
        if let p = r.rankOutput { try NIfTIFile.write(rank, to: files.stage(p), like: h3, description: "cordq MP-PCA rank") }
        try files.commit()
        let inside = (0..<h.grid.voxelCount).filter { mask?.data[$0] ?? 1 != 0 }
        func med(_ v: Volume<Float>) -> Double {
            let s = inside.map { v.data[$0] }.sorted()
            return s.isEmpty ? .nan : Double(s[s.count / 2])
        }
        let elapsed = clock.duration(to: .now)
        return MPPCASummary(outputs: outputs, complexInput: h.datatype.isComplex, window: r.options.window(frames: h.frames),
                            volumes: h.frames, medianSigma: med(sigma), medianRank: med(rank),
                            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
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
