// The top of a BIDS derivatives dataset CordQ writes into: dataset_description.json
// (DatasetType derivative, GeneratedBy) and .bidsignore.
import CordCore
import Foundation

/// The derivatives folder (`derivatives/cordq`) every command that writes subjects into it
/// prepares: `process`, `batch`, `db build --bids`.
public enum DerivativeDataset {
    /// Creates `root` when needed, its `dataset_description.json` when absent (an existing one is
    /// left alone, whoever wrote it), and its `.bidsignore` (created, or given the patterns it
    /// lacks, each after a comment saying why). `rawRoot`, when given, becomes the `raw` entry
    /// of `DatasetLinks` (relative to `root`), so sidecars can name raw files as `bids:raw:…`.
    public static func prepare(root: String, name: String, version: String, rawRoot: String?,
                               ignore: [(pattern: String, why: String)]) throws {
        try TextFile.makeDirectory(root)
        let description = root + "/dataset_description.json"
        if !TextFile.exists(description) {
            var d: [String: JSONValue] = [
                "Name": .string(name), "BIDSVersion": .string("1.10.0"), "DatasetType": .string("derivative"),
                "GeneratedBy": .array([.object([
                    "Name": .string("cordq"), "Version": .string(version),
                    "Description": .string("CordQ: spinal-cord quantitative MRI (segmentation, vertebral levels, atlas registration, MP-PCA, DTI/μFA, MTR/MTsat, morphometry)"),
                    "Container": .object(["Type": .string("none")]),
                ])]),
            ]
            if let rawRoot { d["DatasetLinks"] = .object(["raw": .string(relative(from: root, to: rawRoot))]) }
            try JSONFile.write(d, to: description)
        }
        let ignorePath = root + "/.bidsignore"
        let existing = TextFile.exists(ignorePath) ? try TextFile.read(ignorePath) : ""
        let have = Set(existing.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) })
        let missing = ignore.filter { !have.contains($0.pattern) }
        guard !missing.isEmpty else { return }
        var text = existing
        if !text.isEmpty && !text.hasSuffix("\n") { text += "\n" }
        if text.isEmpty { text = "# Files BIDS 1.10 has no name for (written by cordq).\n" }
        for m in missing { text += "# \(m.why)\n\(m.pattern)\n" }
        try TextFile.write(text, to: ignorePath)
    }

    /// The `raw` link of an existing dataset_description.json (nil when there is none).
    public static func rawLink(root: String) -> String? {
        guard let d = try? JSONFile.read([String: JSONValue].self, from: root + "/dataset_description.json"),
              case let .object(links)? = d["DatasetLinks"], case let .string(raw)? = links["raw"] else { return nil }
        return raw
    }

    /// A link (relative to `root`, or `file://` absolute) as a canonical path.
    public static func resolve(_ link: String, from root: String) -> String {
        if link.hasPrefix("file://") { return TextFile.canonicalPath(String(link.dropFirst(7))) }
        if link.hasPrefix("/") { return TextFile.canonicalPath(link) }
        return TextFile.canonicalPath(root + "/" + link)
    }

    /// `to` relative to `from` (both made absolute), e.g. `../..`.
    static func relative(from: String, to: String) -> String {
        let a = URL(fileURLWithPath: TextFile.canonicalPath(from)).standardizedFileURL.pathComponents
        let b = URL(fileURLWithPath: TextFile.canonicalPath(to)).standardizedFileURL.pathComponents
        var common = 0
        while common < min(a.count, b.count) && a[common] == b[common] { common += 1 }
        let up = Array(repeating: "..", count: a.count - common)
        let parts = up + b[common...]
        return parts.isEmpty ? "." : parts.joined(separator: "/")
    }
}
