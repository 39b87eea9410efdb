// `cordq dwi dti` and `cordq dwi microfa`: read series, fit, write maps atomically.
import CordCore
import CordDiffusion
import CordIO

/// One diffusion series: the image, its bval/bvec (found beside it when nil), and how its
/// b-tensor shapes are given (an encoding TSV beside it, `<stem>_encoding.tsv`, or linear).
public struct DWIInput: Sendable, Equatable {
    public var image: String
    public var bval: String?, bvec: String?
    public var encoding: EncodingSource?
    public init(image: String, bval: String? = nil, bvec: String? = nil, encoding: EncodingSource? = nil) {
        self.image = image; self.bval = bval; self.bvec = bvec; self.encoding = encoding
    }
}

/// Which voxels to fit.
public enum MaskChoice: Sendable, Equatable {
    /// Mean b = 0 signal above 5 % of its 99th percentile (drops air only).
    case automatic
    case all
    case file(String)
}

/// What a diffusion command wrote.
public struct DiffusionRunSummary: Sendable {
    public var output: String
    public var files: [String]
    public var voxels: Int
    public var encodings: String
    /// Seconds spent fitting (reading and writing excluded).
    public var fitSeconds: Double
    public var method: String
    public var explanation: String
}

/// Diffusion series loaded and combined (several series are concatenated along volumes).
public struct LoadedDiffusion: Sendable {
    public var image: Volume<Float>
    public var table: GradientTable
    public var header: NIfTIHeader
}

public enum DiffusionProcessing {
    /// Reads and concatenates the series; each must be on the first one's grid.
    public static func load(_ inputs: [DWIInput]) throws -> LoadedDiffusion {
        NumericLibraries.configure()  // OpenBLAS to one thread: its idle workers would spin on our cores
        guard !inputs.isEmpty else { throw CordError.invalidValue(what: "diffusion input", detail: "give at least one series") }
        var volumes: [Volume<Float>] = [], entries: [GradientEntry] = []
        var header: NIfTIHeader?
        for input in inputs {
            let (v, h) = try NIfTIFile.read(input.image, as: Float.self)
            if let first = volumes.first { try first.grid.requireCompatible(with: v.grid, inputs[0].image, input.image) }
            entries += try gradientTable(for: input, grid: v.grid, frames: v.frames).entries
            volumes.append(v)
            header = header ?? h
        }
        let image = volumes.count == 1 ? volumes[0] : try Volume.stacking(volumes)
        guard let header else { throw CordError.invalidValue(what: "diffusion input", detail: "give at least one series") }
        return LoadedDiffusion(image: image, table: GradientTable(entries), header: header)
    }

    /// The gradient table of one series on `grid` with `frames` volumes: its bval/bvec (given,
    /// or found beside the image) and b-tensor shapes (given, `<stem>_encoding.tsv`, or linear).
    public static func gradientTable(for input: DWIInput, grid: Grid, frames: Int) throws -> GradientTable {
        var bval = input.bval, bvec = input.bvec
        if bval == nil || bvec == nil {
            guard let found = GradientFiles.locate(besides: input.image) else {
                throw CordIOError.notFound(path: input.image + " (no .bval/.bvec or bvals.txt/bvecs.txt beside it)")
            }
            bval = bval ?? found.bval; bvec = bvec ?? found.bvec
        }
        guard let bval, let bvec else { throw CordIOError.notFound(path: input.image + " (no .bval/.bvec beside it)") }
        let source = input.encoding ?? EncodingTable.locate(besides: input.image).map { .table($0) } ?? .shape(.linear)
        return try EncodingTable.read(bval: bval, bvec: bvec, encoding: source, grid: grid, frames: frames, image: input.image)
    }

    /// The mask to fit in: a file (on the series' grid), every voxel, or the automatic rule.
    public static func mask(_ choice: MaskChoice, for d: LoadedDiffusion, scheme: EncodingScheme) throws -> Mask {
        switch choice {
        case .all: return Mask(grid: d.image.grid, frames: 1, repeating: 1)
        case let .file(path):
            let (m, _) = try NIfTIFile.read(path, as: Float.self)
            try d.image.grid.requireCompatible(with: m.grid, "diffusion series", path)
            let mask = Mask.threshold(m.frames == 1 ? m : m.frame(0), above: 0.5)
            try mask.requireNonEmpty(path)
            return mask
        case .automatic:
            let refs = scheme.referenceVolumes.isEmpty ? Array(0..<d.image.frames) : scheme.referenceVolumes
            let n = d.image.grid.voxelCount
            var mean = Volume<Float>(grid: d.image.grid, frames: 1, repeating: 0)
            mean.data.withUnsafeMutableBufferPointer { m in
                d.image.data.withUnsafeBufferPointer { src in
                    for t in refs { for i in 0..<n { m[i] += src[t * n + i] / Float(refs.count) } }
                }
            }
            // The 99th percentile by selection (the value a full sort would put at that rank).
            var values = mean.data
            let p99 = values.withUnsafeMutableBufferPointer { select(rank: min($0.count - 1, CheckedNumber.clamped(0.99 * Double($0.count))), in: $0) }
            let mask = Mask.threshold(mean, above: 0.05 * p99)
            try mask.requireNonEmpty("automatic mask (mean b = 0 above 5 % of its 99th percentile)")
            return mask
        }
    }

    /// The maps `dti` can write (all by default).
    public static let dtiMaps = ["FA", "MD", "AD", "RD", "S0", "V1", "tensor", "mask"]

    /// `cordq dwi dti`: reads the series, fits the tensor (`DiffusionSteps.dti`) and writes
    /// FA, MD, AD, RD (µm²/ms), S0, V1 (world RAS+ components), the tensor (6 frames: xx yy zz
    /// xy xz yz, µm²/ms), the mask, the outlier count (robust fits) and `dti.json`, all or nothing.
    public static func dti(inputs: [DWIInput], mask choice: MaskChoice, output: String, options: DTIOptions,
                           compress: Bool = true, maps: Set<String> = Set(dtiMaps), overwrite: Bool = false) throws -> DiffusionRunSummary {
        try DiffusionSteps.checkDTIMaps(maps)
        let d = try load(inputs)
        let mask = try mask(choice, for: d, scheme: try EncodingScheme(d.table))
        let out = try OutputFolder(output, overwrite: overwrite)
        let run = try DiffusionSteps.dti(d, mask: mask, options: options, maps: maps)
        let files = try run.write(header: d.header, inputs: inputs.map(\.image), compress: compress) { try out.path($0) }
        try out.commit()
        return DiffusionRunSummary(output: out.destination, files: files, voxels: run.metrics.voxelsFitted ?? 0, encodings: run.encodings,
                                   fitSeconds: run.seconds, method: run.method, explanation: run.explanation)
    }

    /// `cordq dwi microfa`: fits the chosen μFA route (`DiffusionSteps.microFA`) and writes its
    /// maps and `microfa.json` (method, why, whether the value is model-dependent, assumptions,
    /// units, references).
    public static func microFA(inputs: [DWIInput], mask choice: MaskChoice, output: String, method: MicroFAMethod,
                               qtiPositivity: QTIPositivity = .isotropic, noise: NoiseSigmaChoice? = nil, coils: Int = 1,
                               maximumB: Double? = nil, compress: Bool = true, overwrite: Bool = false) throws -> DiffusionRunSummary {
        let d = try load(inputs)
        let scheme = try EncodingScheme(d.table)
        _ = try MicroFA.choose(method, for: scheme)  // refuse before creating the output folder
        if let maximumB {
            let keep = try DiffusionSteps.volumes(of: d.table, upTo: maximumB)
            _ = try MicroFA.choose(method, for: try EncodingScheme(GradientTable(keep.map { d.table.entries[$0] })))
        }
        let mask = try mask(choice, for: d, scheme: scheme)
        let level = try noise.map { try $0.level(for: d.image, coils: coils) }
        let out = try OutputFolder(output, overwrite: overwrite)
        let run = try DiffusionSteps.microFA(d, mask: mask, method: method, qtiPositivity: qtiPositivity, noise: level, maximumB: maximumB)
        let files = try run.write(header: d.header, inputs: inputs.map(\.image), compress: compress) { try out.path($0) }
        try out.commit()
        return DiffusionRunSummary(output: out.destination, files: files, voxels: run.metrics.voxelsFitted ?? 0, encodings: run.encodings,
                                   fitSeconds: run.seconds, method: run.method, explanation: run.explanation)
    }
}

/// The value of rank `k` (0-based, ascending) of `v`, which it reorders: Hoare's selection
/// with median-of-three pivots, expected O(n).
func select(rank k: Int, in v: UnsafeMutableBufferPointer<Float>) -> Float {
    var lo = 0, hi = v.count - 1
    while lo < hi {
        let mid = lo + (hi - lo) / 2
        if v[mid] < v[lo] { v.swapAt(mid, lo) }
        if v[hi] < v[lo] { v.swapAt(hi, lo) }
        if v[hi] < v[mid] { v.swapAt(hi, mid) }
        let pivot = v[mid]
        var i = lo, j = hi
        while i <= j {
            while v[i] < pivot { i += 1 }
            while pivot < v[j] { j -= 1 }
            if i <= j { v.swapAt(i, j); i += 1; j -= 1 }
        }
        if k <= j { hi = j } else if k >= i { lo = i } else { return v[k] }
    }
    return v[k]
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

/// The noise σ a command is given: one number or a σ map file (e.g. `denoise mppca --noise`).
public enum NoiseSigmaChoice: Sendable, Equatable {
    case value(Double)
    case map(String)

    /// A number when the text parses as one, else a path.
    public init(_ text: String) { self = Double(text).map { .value($0) } ?? .map(text) }

    /// σ as a volume on `image`'s grid, checked: positive number; a map on the same grid with
    /// one frame or one per volume, finite and ≥ 0 (the file named in every error).
    func level(for image: Volume<Float>, coils: Int) throws -> MagnitudeNoiseLevel {
        guard coils >= 1 else { throw CordError.invalidValue(what: "--coils \(coils)", detail: "must be at least 1 (1 for single-channel or adaptively combined data)") }
        switch self {
        case let .value(v):
            guard v.isFinite, v > 0 else {
                throw CordError.invalidValue(what: "noise σ \(v)", detail: "must be a positive number in the image's units (e.g. the median of denoise mppca's --noise map)")
            }
            return MagnitudeNoiseLevel(sigma: Volume(grid: image.grid, frames: 1, repeating: Float(v)), coils: coils, source: "σ = \(formatSignificant(v)) (given)")
        case let .map(path):
            let (map, _) = try NIfTIFile.read(path)
            try map.grid.requireCompatible(with: image.grid, "noise σ map \(path)", "the diffusion series")
            guard map.frames == 1 || map.frames == image.frames else {
                throw CordError.invalidValue(what: "noise σ map \(path)", detail: "has \(map.frames) volumes; give one σ volume or one per diffusion volume (\(image.frames))")
            }
            return MagnitudeNoiseLevel(sigma: map, coils: coils, source: "σ map \(path)")
        }
    }
}
