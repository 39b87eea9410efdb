// `cordq qc dataset DERIVATIVES`: the dataset QC page.
import ArgumentParser
import CordPipeline

/// `cordq qc`
public struct QCGroupCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "qc", abstract: "Quality-control pages (the subject page is written by cordq process).",
        subcommands: [QCDatasetCommand.self])
    public init() {}
}

/// `cordq qc dataset DERIVATIVES_DIR`
public struct QCDatasetCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dataset",
        abstract: "One page for a dataset: a row per subject × step with thumbnail, numbers, status and the reviewer's verdict.",
        discussion: """
        Reads every sub-* folder of DERIVATIVES_DIR (the outputs of cordq process, e.g. \
        derivatives/cordq) and writes DERIVATIVES_DIR/qc/index.html (self-contained: no network; \
        open it from the file system). Status per step: fail when the step failed; flag when the \
        warped atlas's Dice < 0.8, invalid voxels > 1 % of the fitted ones, outlier slices > 5 %, \
        multiband factor ≥ 4, an alignment or refinement was dropped, or the step warned; else pass. \
        The page's Save verdicts button downloads verdicts.json (pass/fail/artefact and a note per \
        row); put it at DERIVATIVES_DIR/qc/verdicts.json: db build --bids reads it there and \
        biomarkers with --qc-verdicts, and both exclude and list the subjects marked fail or artefact. \
        Verdicts already there are shown on the page.
        """)
    @Argument(help: "Derivatives folder holding the sub-* outputs of cordq process.") public var derivatives: String
    public init() {}
    public func run() throws {
        try runReporting("qc dataset") {
            let s = try DatasetQC.write(derivatives: derivatives)
            let flagged = s.rows.filter { $0.status == "flag" }.count, failed = s.rows.filter { $0.status == "fail" }.count
            print("\(s.subjects.count) subject(s), \(s.rows.count) step(s): \(failed) failed, \(flagged) flagged")
            for u in s.unreadable { print("  \(u.folder): \(u.reason)") }
            print("qc: \(s.page)")
        }
    }
}
