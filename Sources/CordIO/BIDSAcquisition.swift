// Acquisitions of a subject found by their image OR their sidecar, and BIDS sidecar inheritance.
import Foundation

/// One acquisition of a subject: a BIDS file stem in a datatype folder with whichever of
/// its files exist. Unlike `BIDSImage` the image may be absent: datasets shared without
/// images (spine-generic's sidecar releases) still describe every acquisition through its
/// `.json`, `.bval` and `.bvec`.
public struct BIDSAcquisition: Sendable {
    /// The name parsed from whichever file was found (its extension is that file's).
    public var name: BIDSName
    /// `anat`, `dwi`, `fmap`, …
    public var datatype: String
    public var session: String?
    /// The datatype folder.
    public var folder: String
    public var imagePath: String?
    public var sidecarPath: String?
    public var bvalPath: String?
    public var bvecPath: String?

    public var suffix: String { name.suffix }
    public func entity(_ key: String) -> String? { name.entity(key) }
    /// The file stem, e.g. `sub-amu01_flip-1_mt-on_MTS`.
    public var stem: String { name.fileName(extension: "") }
    /// `anat/sub-01_T2w` (with `ses-X/` in front for sessions), for reports.
    public var displayName: String { (session.map { "ses-\($0)/" } ?? "") + datatype + "/" + stem }
    /// Entities other than `sub`, `ses` and `run`: what identifies the series.
    public var seriesEntities: [String: String] {
        var e: [String: String] = [:]
        for (k, v) in name.entities where !["sub", "ses", "run"].contains(k) { e[k] = v }
        return e
    }
    /// The `run` entity as a number (0 when absent or not a number).
    public var run: Int { name.entity("run").flatMap { Int($0) } ?? 0 }
}

extension BIDSSubject {
    /// Every acquisition in the subject's datatype folders: each `.nii`/`.nii.gz` image, and
    /// each `.json` sidecar that has no image beside it. Ordered by session, datatype, name.
    public static func acquisitions(_ path: String) throws -> [BIDSAcquisition] {
        let subject = try load(path)
        let roots: [(String, String?)] = subject.sessions.isEmpty
            ? [(subject.path, nil)] : subject.sessions.map { (subject.path + "/ses-" + $0, $0) }
        var out: [BIDSAcquisition] = []
        for (root, ses) in roots {
            for dt in try listing(root).sorted() where !dt.hasPrefix(".") && !dt.hasPrefix("ses-") {
                let dir = root + "/" + dt
                guard TextFile.isDirectory(dir) else { continue }
                let files = Set(try listing(dir))
                var stems = Set<String>()
                for f in files.sorted() {
                    guard let name = BIDSName(f), name.fileExtension.hasPrefix(".nii") || name.fileExtension == ".json" else { continue }
                    let stem = name.fileName(extension: "")
                    guard !stems.contains(stem) else { continue }
                    stems.insert(stem)
                    func companion(_ ext: String) -> String? { files.contains(stem + ext) ? dir + "/" + stem + ext : nil }
                    let image = companion(".nii.gz") ?? companion(".nii")
                    out.append(BIDSAcquisition(name: name, datatype: dt, session: ses, folder: dir, imagePath: image,
                                               sidecarPath: companion(".json"), bvalPath: companion(".bval"), bvecPath: companion(".bvec")))
                }
            }
        }
        return out
    }
}

extension BIDSSidecar {
    /// The sidecar of `acquisition` read with BIDS inheritance: applicable `.json` files at
    /// the dataset root (when it has `dataset_description.json`), the subject folder, the
    /// session folder and the datatype folder are merged, more specific ones overriding
    /// general ones key by key. A file applies when it has the same suffix and its entities
    /// are a subset of the acquisition's. Nil when no sidecar applies.
    public static func readInherited(for acquisition: BIDSAcquisition) throws -> BIDSSidecar? {
        let folder = URL(fileURLWithPath: acquisition.folder)
        var levels: [String] = []
        var dir = folder
        // datatype folder, then up through ses-*/sub-* to the dataset root.
        for _ in 0..<4 {
            levels.insert(dir.path, at: 0)
            let name = dir.lastPathComponent
            dir.deleteLastPathComponent()
            if name.hasPrefix("sub-") {
                if TextFile.exists(dir.path + "/dataset_description.json") { levels.insert(dir.path, at: 0) }
                break
            }
        }
        let target = Dictionary(acquisition.name.entities.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        var chain: [String] = []
        // Above the datatype folder: every applicable file. In it: only the acquisition's own
        // sidecar (`sub-01_T2w.json` there belongs to `sub-01_T2w.nii`, not to `sub-01_acq-ax_T2w`).
        for level in levels.dropLast() {
            var applicable: [(Int, String)] = []
            for f in try BIDSSubject.listing(level) where f.hasSuffix(".json") {
                guard let (ents, suffix) = inheritanceName(f), suffix == acquisition.suffix,
                      ents.allSatisfy({ target[$0.key] == $0.value }) else { continue }
                applicable.append((ents.count, level + "/" + f))
            }
            chain += applicable.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }.map(\.1)
        }
        if let own = acquisition.sidecarPath { chain.append(own) }
        guard let last = chain.last else { return nil }
        var fields: [String: JSONValue] = [:]
        for p in chain {
            let s = try BIDSSidecar.read(p)
            fields.merge(s.fields) { _, new in new }
        }
        return try BIDSSidecar(path: acquisition.sidecarPath ?? last, fields: fields)
    }

    /// `acq-ax_T2w.json` → ([acq: ax], T2w); nil for names that are not entity lists + suffix.
    static func inheritanceName(_ file: String) -> ([String: String], String)? {
        let parts = file.dropLast(5).split(separator: "_").map(String.init)
        guard let suffix = parts.last, !suffix.contains("-"), !suffix.isEmpty else { return nil }
        var ents: [String: String] = [:]
        for p in parts.dropLast() {
            let kv = p.split(separator: "-", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { return nil }
            ents[kv[0]] = kv[1]
        }
        return (ents, suffix)
    }
}
