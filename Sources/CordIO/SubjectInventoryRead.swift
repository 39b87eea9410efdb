// The one BIDS walker: a subject folder read once into a `SubjectInventory` (series,
// sidecars with inheritance, NIfTI headers, bval/bvec, encodings, derivative labels).
import CordCore
import Foundation

extension SubjectInventory {
    /// Reads one subject folder (with or without `ses-*` levels) once.
    ///
    /// Every `.nii`/`.nii.gz` image and every `.json` sidecar without an image beside it in
    /// the datatype folders becomes a series; each series' sidecar is read with BIDS
    /// inheritance, its NIfTI header and its bval/bvec once. Label images and cord
    /// segmentations under `<root>/derivatives/labels/<sub>/[ses-X/]anat/` are found for
    /// the anatomical images. A file that exists but cannot be read is recorded in its
    /// series' `problems`; only a missing, unlistable or wrongly named folder throws.
    /// The labels of a BIDS subject folder's `ses-*` folders, sorted (`ses-01` → `01`); empty
    /// when it has no sessions.
    public static func sessionLabels(of subject: String) throws -> [String] {
        try BIDSListing.names(subject).filter { $0.hasPrefix("ses-") && TextFile.isDirectory(subject + "/" + $0) }
            .sorted().map { String($0.dropFirst(4)) }
    }

    public static func read(_ path: String) throws -> SubjectInventory {
        guard TextFile.isDirectory(path) else { throw CordIOError.notFound(path: path) }
        let folder = URL(fileURLWithPath: path).standardizedFileURL
        guard folder.lastPathComponent.hasPrefix("sub-") else {
            throw CordIOError.invalidContent(path: path, reason: "is not a BIDS subject folder (its name should start with sub-)")
        }
        let label = String(folder.lastPathComponent.dropFirst(4))
        let subject = folder.path
        let root = folder.deletingLastPathComponent().path
        let sessions = try sessionLabels(of: subject)
        let inheritance = SidecarInheritance(root: root, subject: subject)
        let levels: [(String, String?)] = sessions.isEmpty ? [(subject, nil)] : sessions.map { (subject + "/ses-" + $0, $0) }
        var series: [SubjectSeries] = []
        for (level, session) in levels {
            for datatype in try BIDSListing.names(level).sorted() where !datatype.hasPrefix(".") && !datatype.hasPrefix("ses-") {
                let dir = level + "/" + datatype
                guard TextFile.isDirectory(dir) else { continue }
                series += try seriesInFolder(dir, datatype: datatype, session: session, inheritance: inheritance)
            }
        }
        let labels = derivativeLabels(root: root, subject: "sub-" + label, series: series)
        var inventory = SubjectInventory(label: label, path: subject, root: root, sessions: sessions, series: series, derivativeLabels: labels)
        let table = subject + "/sub-" + label + "_sessions.tsv"
        if TextFile.exists(table) {
            inventory.sessionTablePath = table
            do { inventory.sessionTable = try sessionTable(table, known: sessions) } catch {
                inventory.sessionTableProblem = "\(error)"
            }
        }
        return inventory
    }

    /// The rows of a BIDS `sub-<label>_sessions.tsv`: `session_id` (`ses-<label>`) is
    /// required, `acq_time` optional, every other column kept as text (`n/a` left out).
    /// Throws naming the file and line for a missing `session_id` column, a row without a
    /// `ses-` id, a session listed twice, or an `acq_time` that is not an ISO 8601 date.
    static func sessionTable(_ path: String, known: [String]) throws -> [SessionEntry] {
        let t = try TSVTable.read(path)
        guard let id = t.columnIndex("session_id") else {
            throw CordIOError.invalidContent(path: path, reason: "has no session_id column (BIDS sessions.tsv: session_id, acq_time, …)")
        }
        let time = t.columnIndex("acq_time")
        var seen = Set<String>(), out: [SessionEntry] = []
        for (n, row) in t.rows.enumerated() {
            let raw = row[id].trimmingCharacters(in: .whitespaces)
            guard raw.hasPrefix("ses-"), raw.count > 4 else {
                throw CordIOError.invalidContent(path: path, reason: "line \(n + 2): session_id \"\(raw)\" should be ses-<label>")
            }
            let label = String(raw.dropFirst(4))
            guard seen.insert(label).inserted else {
                throw CordIOError.invalidContent(path: path, reason: "line \(n + 2): \(raw) is listed twice")
            }
            var when: String?
            if let time {
                let v = row[time].trimmingCharacters(in: .whitespaces)
                if !v.isEmpty && v != "n/a" {
                    guard SessionDate.parse(v) != nil else {
                        throw CordIOError.invalidContent(path: path, reason: "line \(n + 2): acq_time \"\(v)\" is not an ISO 8601 date (YYYY-MM-DD or YYYY-MM-DDThh:mm:ss)")
                    }
                    when = v
                }
            }
            var columns: [String: String] = [:]
            for (c, name) in t.columns.enumerated() where c != id && c != time {
                let v = row[c].trimmingCharacters(in: .whitespaces)
                if !v.isEmpty && v != "n/a" { columns[name] = v }
            }
            out.append(SessionEntry(session: label, acquisitionTime: when, columns: columns))
        }
        return out
    }

    /// The series of one datatype folder, each read: images, and sidecars without an image.
    static func seriesInFolder(_ dir: String, datatype: String, session: String?,
                               inheritance: SidecarInheritance) throws -> [SubjectSeries] {
        let files = try BIDSListing.names(dir)
        let present = Set(files)
        var stems = Set<String>()
        var out: [SubjectSeries] = []
        for f in files.sorted() {
            guard var name = BIDSName(f), name.fileExtension.hasPrefix(".nii") || name.fileExtension == ".json" else { continue }
            let stem = name.fileName(extension: "")
            guard stems.insert(stem).inserted else { continue }
            func companion(_ ext: String) -> String? { present.contains(stem + ext) ? dir + "/" + stem + ext : nil }
            let image = companion(".nii.gz") ?? companion(".nii")
            name.fileExtension = image == nil ? ".json" : (image?.hasSuffix(".gz") == true ? ".nii.gz" : ".nii")
            var s = SubjectSeries(name: name, datatype: datatype, session: session, folder: dir, imagePath: image,
                                  sidecarPath: companion(".json"), bvalPath: companion(".bval"), bvecPath: companion(".bvec"),
                                  encodingPath: companion("_encoding.tsv"))
            readContents(&s, inheritance)
            out.append(s)
        }
        return out
    }

    /// Reads what exists of a series: the sidecar (with inheritance), the NIfTI header,
    /// bval/bvec. Failures go to `problems`.
    static func readContents(_ s: inout SubjectSeries, _ inheritance: SidecarInheritance) {
        do { s.sidecar = try inheritance.sidecar(for: s) } catch { s.problems.append("sidecar unusable: \(error)") }
        if let image = s.imagePath {
            do { s.header = try NIfTIFile.readHeader(image) } catch {
                s.imageError = error as? CordIOError ?? .unreadable(path: image, reason: "\(error)")
                s.problems.append("image unusable: \(error)")
            }
        }
        if let bval = s.bvalPath, let bvec = s.bvecPath {
            do { s.gradients = try GradientFiles.readRaw(bval: bval, bvec: bvec) } catch { s.problems.append("gradients unusable: \(error)") }
        } else if (s.bvalPath == nil) != (s.bvecPath == nil) {
            s.problems.append("\(s.bvalPath == nil ? ".bval" : ".bvec") is missing beside \(s.bvalPath ?? s.bvecPath ?? "")")
        }
    }

    /// Label files for the anatomical images, each derivatives folder listed once.
    static func derivativeLabels(root: String, subject: String, series: [SubjectSeries]) -> [DerivativeLabel] {
        var listed: [String: [String]] = [:]
        var out: [DerivativeLabel] = []
        for s in series where s.datatype == "anat" {
            guard let image = s.imagePath else { continue }
            let dir = root + "/derivatives/labels/" + subject + (s.session.map { "/ses-" + $0 } ?? "") + "/anat"
            if listed[dir] == nil {
                listed[dir] = TextFile.isDirectory(dir) ? (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] : []
            }
            let prefix = s.stem + "_"
            let files = (listed[dir] ?? []).filter { $0.hasPrefix(prefix) && ($0.hasSuffix(".nii") || $0.hasSuffix(".nii.gz")) }.sorted()
            for f in files {
                guard let kind = DerivativeLabel.Kind(tail: String(f.dropFirst(prefix.count))) else { continue }
                out.append(DerivativeLabel(path: dir + "/" + f, kind: kind, imagePath: image))
            }
        }
        return out
    }
}

// MARK: - Sidecar inheritance

/// BIDS sidecar inheritance for the series of one subject, each folder listed and each
/// file read once.
///
/// Applicable `.json` files at the dataset root (when it has `dataset_description.json`),
/// the subject folder and the session folder are merged with the series' own sidecar, more
/// specific ones overriding general ones key by key. A file applies when it has the same
/// suffix and its entities are a subset of the series'. In the datatype folder only the
/// series' own sidecar applies (`sub-01_T2w.json` there belongs to `sub-01_T2w.nii`, not
/// to `sub-01_acq-ax_T2w`).
final class SidecarInheritance {
    let root: String
    let subject: String
    let rootApplies: Bool
    private var listings: [String: Result<[String], any Error>] = [:]
    private var files: [String: Result<BIDSSidecar, any Error>] = [:]

    init(root: String, subject: String) {
        self.root = root
        self.subject = subject
        rootApplies = TextFile.exists(root + "/dataset_description.json")
    }

    /// The merged sidecar of `s`; nil when no sidecar applies.
    func sidecar(for s: SubjectSeries) throws -> BIDSSidecar? {
        var levels = (rootApplies ? [root] : []) + [subject]
        if let session = s.session { levels.append(subject + "/ses-" + session) }
        let target = Dictionary(s.name.entities.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        var chain: [String] = []
        for level in levels {
            var applicable: [(Int, String)] = []
            for f in try jsonNames(level) {
                guard let (ents, suffix) = Self.inheritanceName(f), suffix == s.suffix,
                      ents.allSatisfy({ target[$0.key] == $0.value }) else { continue }
                applicable.append((ents.count, level + "/" + f))
            }
            chain += applicable.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }.map(\.1)
        }
        if let own = s.sidecarPath { chain.append(own) }
        guard let last = chain.last else { return nil }
        var fields: [String: JSONValue] = [:]
        for p in chain { fields.merge(try file(p).fields) { _, new in new } }
        return try BIDSSidecar(path: s.sidecarPath ?? last, fields: fields)
    }

    /// The `.json` names in a folder (listed once).
    private func jsonNames(_ dir: String) throws -> [String] {
        if let cached = listings[dir] { return try cached.get() }
        let result = Result { try BIDSListing.names(dir).filter { $0.hasSuffix(".json") } }
        listings[dir] = result
        return try result.get()
    }

    /// One sidecar file, read and checked once.
    private func file(_ path: String) throws -> BIDSSidecar {
        if let cached = files[path] { return try cached.get() }
        let result = Result { try BIDSSidecar.read(path) }
        files[path] = result
        return try result.get()
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

/// Folder listings for the BIDS walker.
enum BIDSListing {
    /// The entries of a folder, unsorted; an error naming the folder when it cannot be listed.
    static func names(_ path: String) throws -> [String] {
        do { return try FileManager.default.contentsOfDirectory(atPath: path) } catch {
            throw CordIOError.unreadable(path: path, reason: "cannot list the folder")
        }
    }
}
