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
            var bval = input.bval, bvec = input.bvec
            if bval == nil || bvec == nil {
                guard let found = GradientFiles.locate(besides: input.image) else {
                    throw CordIOError.notFound(path: input.image + " (no .bval/.bvec or bvals.txt/bvecs.txt beside it)")
                }
                bval = bval ?? found.bval; bvec = bvec ?? found.bvec
            }
            let source = input.encoding ?? EncodingTable.locate(besides: input.image).map { .table($0) } ?? .shape(.linear)
            let t = try EncodingTable.read(bval: bval!, bvec: bvec!, encoding: source, grid: v.grid, frames: v.frames, image: input.image)
            volumes.append(v); entries += t.entries
            header = header ?? h
        }
        let image = volumes.count == 1 ? volumes[0] : try Volume.stacking(volumes)
        return LoadedDiffusion(image: image, table: GradientTable(entries), header: header!)
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
            let p99 = values.withUnsafeMutableBufferPointer { select(rank: min($0.count - 1, Int(0.99 * Double($0.count))), in: $0) }
            let mask = Mask.threshold(mean, above: 0.05 * p99)
            try mask.requireNonEmpty("automatic mask (mean b = 0 above 5 % of its 99th percentile)")
            return mask
        }
    }

    /// `cordq dwi dti`: fits the tensor and writes FA, MD, AD, RD (µm²/ms), S0, V1 (world
    /// RAS+ components), the tensor (6 frames: xx yy zz xy xz yz, µm²/ms), the mask, the
    /// outlier count (robust fits) and `dti.json`, all or nothing.
    /// The maps `dti` can write (all by default).
    public static let dtiMaps = ["FA", "MD", "AD", "RD", "S0", "V1", "tensor", "mask"]

    public static func dti(inputs: [DWIInput], mask choice: MaskChoice, output: String, options: DTIOptions,
                           compress: Bool = true, maps: Set<String> = Set(dtiMaps)) throws -> DiffusionRunSummary {
        if let unknown = maps.subtracting(dtiMaps).sorted().first {
            throw CordError.invalidValue(what: "map \"\(unknown)\"", detail: "choose from \(dtiMaps.joined(separator: ", "))")
        }
        let d = try load(inputs)
        var options = options
        // FA and MD come from the tensor's invariants; the eigensystem only for AD, RD and V1.
        options.eigensystem = !maps.isDisjoint(with: ["AD", "RD", "V1"])
        let model = try DTIModel(d.table)
        let mask = try mask(choice, for: d, scheme: model.scheme)
        let out = try OutputFolder(output)
        let start = ContinuousClock.now
        let signals = try MaskedSignals(d.image, mask: mask)
        let fit = try model.fit(signals, options: options, progress: ProgressReporter("dti", total: signals.count))
        let seconds = (ContinuousClock.now - start).seconds
        let ext = compress ? ".nii.gz" : ".nii"
        var files: [String] = []
        func write(_ name: String, _ what: String, _ v: @autoclosure () throws -> Volume<Float>) throws {
            guard maps.contains(name) else { return }
            try NIfTIFile.write(try v(), to: out.path(name + ext), like: d.header, description: "cordq dwi dti: \(what)")
            files.append(name + ext)
        }
        try write("FA", "fractional anisotropy", fit.map(.fa))
        try write("MD", "mean diffusivity um2/ms", fit.map(.md))
        try write("AD", "axial diffusivity um2/ms", fit.map(.ad))
        try write("RD", "radial diffusivity um2/ms", fit.map(.rd))
        try write("S0", "b=0 signal", fit.map(.s0))
        try write("V1", "principal eigenvector (world RAS+)", fit.principalDirection)
        try write("tensor", "D xx yy zz xy xz yz um2/ms (world RAS+)",
                  try Volume.stacking([DTIOutput.dxx, .dyy, .dzz, .dxy, .dxz, .dyz].map { fit.map($0) }))
        if maps.contains("mask") {
            try NIfTIFile.write(mask, to: out.path("mask" + ext), datatype: .uint8, like: d.header); files.append("mask" + ext)
        }
        if options.robust {
            try NIfTIFile.write(fit.map(.outliers), to: out.path("outliers" + ext), like: d.header, description: "cordq dwi dti: excluded volumes per voxel")
            files.append("outliers" + ext)
        }
        let method = "WLS (\(options.wlsIterations) reweighting passes)" + (options.robust ? " + robust IRLS (Geman-McClure)" : "") + (options.nonlinear ? " + non-linear least squares" : "")
        let meta: [String: JSONValue] = [
            "Command": .string("cordq dwi dti"), "Version": .string(CordQVersion.string),
            "Inputs": .array(inputs.map { .string($0.image) }), "Encodings": .string(model.scheme.summary),
            "Method": .string(method), "VoxelsFitted": .number(Double(signals.count)), "FitSeconds": .number(seconds),
            "Units": .object(["FA": .string("1"), "MD": .string("um2/ms"), "AD": .string("um2/ms"), "RD": .string("um2/ms"),
                              "tensor": .string("um2/ms, frames xx yy zz xy xz yz, world RAS+"), "V1": .string("unit vector, world RAS+")]),
            "References": .array([.string("Basser PJ, Mattiello J, Le Bihan D 1994, Biophys J 66:259"),
                                  .string("Salvador R et al. 2005, Hum Brain Mapp 24:144 (WLS)"),
                                  .string("Chang LC, Jones DK, Pierpaoli C 2005, Magn Reson Med 53:1088 (RESTORE robust fitting)")]),
        ]
        try JSONFile.write(meta, to: out.path("dti.json")); files.append("dti.json")
        try out.commit()
        return DiffusionRunSummary(output: out.destination, files: files, voxels: signals.count, encodings: model.scheme.summary,
                                   fitSeconds: seconds, method: method, explanation: "")
    }

    /// `cordq dwi microfa`: fits the chosen μFA route and writes its maps and `microfa.json`
    /// (method, why, whether the value is model-dependent, assumptions, units, references).
    public static func microFA(inputs: [DWIInput], mask choice: MaskChoice, output: String, method: MicroFAMethod,
                               compress: Bool = true) throws -> DiffusionRunSummary {
        let d = try load(inputs)
        let scheme = try EncodingScheme(d.table)
        _ = try MicroFA.choose(method, for: scheme)  // refuse before creating the output folder
        let mask = try mask(choice, for: d, scheme: scheme)
        let out = try OutputFolder(output)
        let start = ContinuousClock.now
        let signals = try MaskedSignals(d.image, mask: mask)
        let result = try MicroFA.fit(signals, table: d.table, method: method, progress: ProgressReporter("microfa", total: signals.count))
        let seconds = (ContinuousClock.now - start).seconds
        let ext = compress ? ".nii.gz" : ".nii"
        var files: [String] = []
        for m in result.maps {
            try NIfTIFile.write(m.image, to: out.path(m.name + ext), like: d.header, description: "cordq microfa \(result.method.rawValue): \(m.name)")
            files.append(m.name + ext)
        }
        try NIfTIFile.write(mask, to: out.path("mask" + ext), datatype: .uint8, like: d.header); files.append("mask" + ext)
        let meta: [String: JSONValue] = [
            "Command": .string("cordq dwi microfa"), "Version": .string(CordQVersion.string),
            "Inputs": .array(inputs.map { .string($0.image) }), "Encodings": .string(scheme.summary),
            "Method": .string(result.method.rawValue), "MethodRequested": .string(method.rawValue),
            "Explanation": .string(result.explanation), "ModelDependent": .bool(result.modelDependent),
            "Assumptions": .array(result.assumptions.map { .string($0) }),
            "Maps": .object(Dictionary(uniqueKeysWithValues: result.maps.map { ($0.name, JSONValue.object(["unit": .string($0.unit.isEmpty ? "1" : $0.unit), "description": .string($0.description)])) })),
            "VoxelsFitted": .number(Double(signals.count)), "FitSeconds": .number(seconds),
            "References": .array([.string(result.method.citation)]),
        ]
        try JSONFile.write(meta, to: out.path("microfa.json")); files.append("microfa.json")
        try out.commit()
        return DiffusionRunSummary(output: out.destination, files: files, voxels: signals.count, encodings: scheme.summary,
                                   fitSeconds: seconds, method: result.method.rawValue, explanation: result.explanation)
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
