// `cordq metrics extract`: a metric map and an atlas folder on its grid → long-form TSV.
import CordAtlas
import CordCore
import CordIO
import CordMetrics

/// Inputs and options of one extraction.
public struct MetricsExtractRequest: Sendable {
    public var map: String, atlas: String, output: String
    public var regions: [String]
    /// Level selection text ("C2:C5", "3,4"); nil = all slices together.
    public var levels: String?
    /// wa, bin, median, ml or map (`ExtractionMethod`).
    public var method = "wa"
    public var perSlice = false
    /// Metric column value with its unit; nil = the map's file name without extension.
    public var metric: String?
    /// participant_id; nil = the file name's `sub-…` entity, else the file name.
    public var subject: String?
    public var session = ""
    /// Also write `sct_extract_metric`'s CSV here (`SCTTables.extractMetric`).
    public var sctCSV: String?
    public init(map: String, atlas: String, output: String, regions: [String]) {
        self.map = map; self.atlas = atlas; self.output = output; self.regions = regions
    }
}

public enum MetricsPipeline {
    /// Extracts the map over the atlas (which must be on the map's grid: the template grid
    /// for a map in template space, or an atlas folder warped onto the subject) and writes
    /// the long-form TSV atomically. Returns the table and warnings.
    public static func extract(_ r: MetricsExtractRequest) throws -> ExtractionResult {
        try PipelineInputs.refuseOverwrite(r.output, inputs: [r.map])
        if let c = r.sctCSV {
            try PipelineInputs.refuseOverwrite(c, inputs: [r.map])
            guard c.hasSuffix(".csv") else { throw CordIOError.writeFailed(path: c, reason: "the SCT-style table is comma-separated: name it .csv") }
        }
        guard r.output.hasSuffix(".tsv") else { throw CordIOError.writeFailed(path: r.output, reason: "the table is tab-separated: name it .tsv") }
        guard let method = ExtractionMethod(rawValue: r.method.lowercased()) else {
            throw CordError.invalidValue(what: "method", detail: "\"\(r.method)\" is not one of \(MetricsPipeline.methods.joined(separator: ", "))")
        }
        let levels = try r.levels.map(VertebralLevelName.selection)
        let (map, _) = try NIfTIFile.read(r.map)
        guard map.frames == 1 else {
            throw CordError.invalidValue(what: r.map, detail: "has \(map.frames) volumes; extract from one 3D map at a time")
        }
        var options = AtlasLoadOptions()
        options.levels = levels; options.contrasts = false
        let needsAll = method == .ml || method == .map
        let (atlas, box, _) = try AtlasPipeline.load(r.atlas, regions: needsAll ? nil : r.regions, options: options)
        try box.source.requireCompatible(with: map.grid, "atlas \(r.atlas)", r.map)
        var request = ExtractionRequest(metric: r.metric ?? stem(r.map).lowercased(), subject: r.subject ?? subject(r.map),
                                        regions: r.regions, levels: levels, method: method, perSlice: r.perSlice)
        request.session = r.session
        let result = try MetricExtractor.extract(map: box.apply(map), atlas: atlas, request: request)
        let files = OutputFiles()
        try TSVTable(columns: LongFormTable.columns, rows: result.table.stringRows).write(to: try files.stage(r.output))
        if let c = r.sctCSV {
            let text = SCTTables.extractMetric(result, method: method, filename: r.map,
                                               slice: { SCTTables.sliceNumber($0, offset: box.k.lowerBound, grid: map.grid) })
            try TextFile.write(text, to: try files.stage(c))
        }
        try files.commit()
        return result
    }

    /// The method names `--method` takes.
    public static let methods = ExtractionMethod.allCases.map(\.rawValue)

    static func stem(_ path: String) -> String {
        var name = String(path.split(separator: "/").last ?? Substring(path))
        for ext in [".nii.gz", ".nii"] where name.hasSuffix(ext) { name.removeLast(ext.count) }
        return name
    }
    static func subject(_ path: String) -> String {
        let name = stem(path)
        return name.split(separator: "_").first { $0.hasPrefix("sub-") }.map(String.init) ?? name
    }
}
