// Walking a BIDS dataset: subjects, sessions, datatype folders, entities and suffixes.
import CordCore
import Foundation

/// One image of a subject, with the paths of its companions when they exist.
public struct BIDSImage: Sendable {
    public var path: String
    public var name: BIDSName
    /// `anat`, `dwi`, `fmap`, …
    public var datatype: String
    public var session: String?
    public var sidecarPath: String?
    public var bvalPath: String?
    public var bvecPath: String?
    public func entity(_ key: String) -> String? { name.entity(key) }
    public var suffix: String { name.suffix }
}

/// A subject folder `sub-<label>` with its images (all sessions).
public struct BIDSSubject: Sendable {
    public var label: String
    public var path: String
    public var sessions: [String]
    public var images: [BIDSImage]
    public var id: String { "sub-" + label }

    /// Images with this suffix (and datatype / entity values when given).
    public func images(suffix: String, datatype: String? = nil, entities: [String: String] = [:]) -> [BIDSImage] {
        images.filter { im in
            im.suffix == suffix && (datatype == nil || im.datatype == datatype)
                && entities.allSatisfy { im.entity($0.key) == $0.value }
        }
    }

    /// Reads one subject folder (with or without `ses-*` levels).
    public static func load(_ path: String) throws -> BIDSSubject {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
            throw CordIOError.notFound(path: path)
        }
        let folder = URL(fileURLWithPath: path).standardizedFileURL
        guard folder.lastPathComponent.hasPrefix("sub-") else {
            throw CordIOError.invalidContent(path: path, reason: "is not a BIDS subject folder (its name should start with sub-)")
        }
        let label = String(folder.lastPathComponent.dropFirst(4))
        let entries = try listing(folder.path)
        let sessions = entries.filter { $0.hasPrefix("ses-") }.sorted()
        var images: [BIDSImage] = []
        let roots: [(String, String?)] = sessions.isEmpty ? [(folder.path, nil)] : sessions.map { (folder.path + "/" + $0, String($0.dropFirst(4))) }
        for (root, ses) in roots {
            for dt in try listing(root).sorted() where !dt.hasPrefix(".") {
                let dir = root + "/" + dt
                var d: ObjCBool = false
                guard fm.fileExists(atPath: dir, isDirectory: &d), d.boolValue else { continue }
                let files = try listing(dir)
                for f in files.sorted() {
                    guard let name = BIDSName(f), name.fileExtension.hasPrefix(".nii") else { continue }
                    func companion(_ ext: String) -> String? {
                        let p = dir + "/" + name.fileName(extension: ext)
                        return fm.fileExists(atPath: p) ? p : nil
                    }
                    images.append(BIDSImage(path: dir + "/" + f, name: name, datatype: dt, session: ses,
                                            sidecarPath: companion(".json"), bvalPath: companion(".bval"), bvecPath: companion(".bvec")))
                }
            }
        }
        return BIDSSubject(label: label, path: folder.path, sessions: sessions.map { String($0.dropFirst(4)) }, images: images)
    }

    static func listing(_ path: String) throws -> [String] {
        do { return try FileManager.default.contentsOfDirectory(atPath: path) } catch {
            throw CordIOError.unreadable(path: path, reason: "cannot list the folder")
        }
    }
}

/// A BIDS dataset: its subjects and `participants.tsv`.
public struct BIDSDataset: Sendable {
    public var root: String
    public var subjects: [BIDSSubject]
    /// Rows of `participants.tsv` keyed by `participant_id` (empty when the file is absent).
    public var participants: [String: [String: String]]

    public static func load(_ root: String) throws -> BIDSDataset {
        let entries = try BIDSSubject.listing(root)
        let subs = try entries.filter { $0.hasPrefix("sub-") }.sorted().map { try BIDSSubject.load(root + "/" + $0) }
        var participants: [String: [String: String]] = [:]
        let tsv = root + "/participants.tsv"
        if FileManager.default.fileExists(atPath: tsv) {
            let table = try TSVTable.read(tsv)
            guard table.columnIndex("participant_id") != nil else {
                throw CordIOError.missingField(path: tsv, key: "participant_id", expected: "a column naming each subject (sub-…)")
            }
            for r in table.records { if let id = r["participant_id"] { participants[id] = r } }
        }
        return BIDSDataset(root: root, subjects: subs, participants: participants)
    }
}
