// BIDS file names: entities, suffix and extension.

/// A file name split the BIDS way: `sub-01_ses-2_acq-ax_T2w.nii.gz` → entities
/// [sub: 01, ses: 2, acq: ax], suffix `T2w`, extension `.nii.gz`.
public struct BIDSName: Sendable, Equatable {
    public var entities: [(key: String, value: String)]
    public var suffix: String
    public var fileExtension: String

    /// Same entities in the same order, same suffix and extension.
    public static func == (a: BIDSName, b: BIDSName) -> Bool {
        a.suffix == b.suffix && a.fileExtension == b.fileExtension
            && a.entities.map(\.key) == b.entities.map(\.key) && a.entities.map(\.value) == b.entities.map(\.value)
    }
    /// Parses a file name; nil when it does not follow `key-value_…_suffix.ext`.
    public init?(_ fileName: String) {
        var stem = fileName
        var ext = ""
        for e in [".nii.gz", ".nii", ".json", ".bval", ".bvec", ".tsv", ".tsv.gz"] where stem.hasSuffix(e) {
            ext = e; stem.removeLast(e.count); break
        }
        if ext.isEmpty { return nil }
        let parts = stem.split(separator: "_").map(String.init)
        guard parts.count >= 2, let suffix = parts.last, !suffix.contains("-") else { return nil }
        var ents: [(String, String)] = []
        for p in parts.dropLast() {
            let kv = p.split(separator: "-", maxSplits: 1).map(String.init)
            guard kv.count == 2, !kv[0].isEmpty, !kv[1].isEmpty else { return nil }
            ents.append((kv[0], kv[1]))
        }
        guard ents.first?.0 == "sub" else { return nil }
        entities = ents.map { (key: $0.0, value: $0.1) }
        self.suffix = suffix
        fileExtension = ext
    }
    /// The value of entity `key` (nil when the name does not have it).
    public func entity(_ key: String) -> String? { entities.first { $0.key == key }?.value }
    /// The name with another extension (e.g. the `.json` sidecar of an image).
    public func fileName(extension ext: String) -> String {
        entities.map { "\($0.key)-\($0.value)" }.joined(separator: "_") + "_" + suffix + ext
    }
}
