// `cordq atlas build` and `cordq metrics extract`.
import ArgumentParser
import CordCore
import CordPipeline

/// `cordq atlas`: the project's cord atlas.
public struct AtlasCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "atlas", abstract: "The project's cervical/upper-thoracic cord atlas (C1–T2).",
        subcommands: [AtlasBuildCommand.self])
    public init() {}
}

/// `cordq atlas build OUTDIR`
public struct AtlasBuildCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build the CordQ atlas (template, tract probability maps, levels, discs) into a new folder.",
        discussion: """
        The atlas is the phantom's healthy cord made straight (per-level CSA and diameters from \
        spine-generic, level lengths from PAM50, T2 extrapolated with the T1 cross-section), sampled \
        with partial volume and smoothed in-plane; see atlas/README.md. The folder has PAM50's layout \
        (template/ and atlas/ with info_label.txt), so --atlas and --template accept either. \
        Deterministic: the same definition gives the same bytes.
        """)
    @Argument(help: "New output folder.") public var output: String
    @Option(help: "Atlas definition (JSON); default: the built-in definition, identical to atlas/definition.json.")
    public var definition: String?
    public init() {}
    public func run() throws { print(try AtlasPipeline.build(output: output, definitionPath: definition)) }
}

/// `cordq metrics`: per-level, per-region tables.
public struct MetricsCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "metrics", abstract: "Per-slice, per-level and per-tract values of metric maps.",
        subcommands: [MetricsExtractCommand.self])
    public init() {}
}

/// `cordq metrics extract MAP --atlas DIR …`
public struct MetricsExtractCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "extract",
        abstract: "Extract a metric map over atlas regions per level (or per slice) into a long-form TSV.",
        discussion: """
        The atlas folder (PAM50 or `cordq atlas build` output) must be on the map's grid: a map in \
        template space, or an atlas warped onto the subject. Methods (Lévy et al. 2015 NeuroImage \
        119:262): wa weighted average; bin mean where the region's probability ≥ 0.5; median \
        weighted median; ml maximum likelihood over all tracts jointly (partial-volume least \
        squares); map maximum a posteriori with a Gaussian prior per WM/GM/CSF cluster. Regions by \
        name, case-insensitive: a tract ("WM left lateral corticospinal tract"), a combined region \
        ("white matter", "grey matter", "dorsal columns", "lateral funiculi", "ventral funiculi"). \
        Columns: participant_id session level region metric value method count. A region without \
        voxels gives count 0 and a warning.
        """)
    @Argument(help: "Metric map (.nii/.nii.gz, 3D).") public var map: String
    @Option(help: "Atlas folder on the map's grid.") public var atlas: String
    @Option(name: .customLong("region"), help: "Region name (repeat for several).") public var regions: [String] = []
    @Option(help: "Vertebral levels, e.g. C2:C5, 3,4 or C7:T2; one row per level. Default: all slices together (level 'all').")
    public var levels: String?
    @Option(help: "wa, bin, median, ml or map.") public var method: String = "wa"
    @Flag(help: "One row per slice instead of per level.") public var perSlice = false
    @Option(help: "Metric name with its unit for the table (fa, md_um2_per_ms, mtr_pu, …); default: the map's file name.")
    public var metric: String?
    @Option(help: "participant_id; default: the sub-… part of the file name.") public var subject: String?
    @Option(name: .shortAndLong, help: "Output TSV.") public var output: String
    @Option(help: ArgumentHelp("Also write sct_extract_metric's CSV here (Slice (I->S), VertLevel, Label, Size [vox], WA()/BIN()/…, STD()) for scripts written for SCT.", valueName: "file.csv"))
    public var sctCsv: String?
    public init() {}

    public func validate() throws {
        guard MetricsPipeline.methods.contains(method) else { throw ValidationError("--method takes \(MetricsPipeline.methods.joined(separator: ", "))") }
        guard !regions.isEmpty else { throw ValidationError("name at least one --region (e.g. --region \"white matter\")") }
    }
    public func run() throws {
        var r = MetricsExtractRequest(map: map, atlas: atlas, output: output, regions: regions)
        r.levels = levels; r.perSlice = perSlice; r.metric = metric; r.subject = subject
        r.method = method; r.sctCSV = sctCsv
        let result = try MetricsPipeline.extract(r)
        for w in result.warnings { writeStandardError("cordq metrics extract: warning: \(w)\n") }
        print("\(result.table.rows.count) rows → \(output)")
    }
}
