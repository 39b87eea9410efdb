// One subject (and session) as one typed description: its series with their sidecars,
// NIfTI headers, gradients and encodings, and the labels other tools left for it. Pure
// data: CordIO's `SubjectInventory.read` fills it from a folder, once; the protocol check,
// `cordq process` and the multiband and longitudinal steps all take it.

// MARK: - Series

/// One series of a subject: a BIDS file stem in a datatype folder, whichever of its files
/// exist, and what they hold.
///
/// The image may be absent: datasets shared without images (spine-generic's sidecar
/// releases) still describe every acquisition through its `.json`, `.bval` and `.bvec`.
/// A file that exists but cannot be read leaves its value nil and adds a line to
/// `problems`.
public struct SubjectSeries: Sendable {
    /// The BIDS name; its extension is the image's (`.nii.gz`, `.nii`), or `.json` when
    /// there is no image.
    public var name: BIDSName
    /// `anat`, `dwi`, `fmap`, …
    public var datatype: String
    /// The session label (`a` for `ses-a`); nil in a subject without session folders.
    public var session: String?
    /// The datatype folder.
    public var folder: String
    /// The `.nii.gz` (preferred) or `.nii` image; nil for a series known by its sidecar only.
    public var imagePath: String?
    /// The series' own `.json` (inherited sidecars are merged into `sidecar`).
    public var sidecarPath: String?
    /// `<stem>.bval` beside the image (b-values, s/mm²).
    public var bvalPath: String?
    /// `<stem>.bvec` beside the image (FSL b-vectors).
    public var bvecPath: String?
    /// `<stem>_encoding.tsv` beside the image: per-volume b-tensor shapes (CordIO's `EncodingTable`).
    public var encodingPath: String?
    /// The sidecar with BIDS inheritance applied; nil when no sidecar applies or it cannot be read.
    public var sidecar: BIDSSidecar?
    /// The image's NIfTI header; nil without an image or when it cannot be read.
    public var header: NIfTIHeader?
    /// bval/bvec as written; nil when absent or unreadable.
    public var gradients: RawGradients?
    /// Files that exist but cannot be read, in words (each blocks the series it belongs to).
    public var problems: [String]
    /// Why `header` is nil although the image exists (its words are also in `problems`).
    public var imageError: CordIOError?

    /// A series with the files found; the read values are filled in by the reader.
    public init(name: BIDSName, datatype: String, session: String?, folder: String, imagePath: String? = nil,
                sidecarPath: String? = nil, bvalPath: String? = nil, bvecPath: String? = nil, encodingPath: String? = nil,
                sidecar: BIDSSidecar? = nil, header: NIfTIHeader? = nil, gradients: RawGradients? = nil,
                problems: [String] = [], imageError: CordIOError? = nil) {
        self.name = name; self.datatype = datatype; self.session = session; self.folder = folder
        self.imagePath = imagePath; self.sidecarPath = sidecarPath; self.bvalPath = bvalPath; self.bvecPath = bvecPath
        self.encodingPath = encodingPath; self.sidecar = sidecar; self.header = header; self.gradients = gradients
        self.problems = problems; self.imageError = imageError
    }

    /// The BIDS suffix (`T2w`, `dwi`, `MTS`, …).
    public var suffix: String { name.suffix }
    /// The value of entity `key` (nil when the name does not have it).
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

// MARK: - Labels from other tools

/// A file another tool left for one of the subject's images under
/// `<root>/derivatives/labels/<sub>/[ses-X/]anat/`, e.g. spine-generic's manual labels
/// `sub-01_T2w_labels-disc-manual.nii.gz`.
public struct DerivativeLabel: Sendable, Equatable {
    /// What the file holds, told by its name after `<image stem>_`.
    public enum Kind: String, Sendable {
        /// `labels-disc*`, `label-disc*`: intervertebral disc labels.
        case disc
        /// `labels-body*`, `label-body*`, `labels.*`: vertebral-body labels.
        case vertebralBody
        /// `label-SC_seg*`, `seg-manual*`, `label-SC_mask*`: a cord segmentation.
        case cordSegmentation

        /// The kind of a file named `<image stem>_<tail>`; nil for other files.
        public init?(tail: String) {
            if tail.hasPrefix("labels-disc") || tail.hasPrefix("label-disc") { self = .disc }
            else if tail.hasPrefix("labels-body") || tail.hasPrefix("label-body") || tail.hasPrefix("labels.") { self = .vertebralBody }
            else if tail.hasPrefix("label-SC_seg") || tail.hasPrefix("seg-manual") || tail.hasPrefix("label-SC_mask") { self = .cordSegmentation }
            else { return nil }
        }
    }

    /// The label image.
    public var path: String
    /// What the file holds.
    public var kind: Kind
    /// The subject image it belongs to (its `SubjectSeries.imagePath`).
    public var imagePath: String

    /// A label file found for an image.
    public init(path: String, kind: Kind, imagePath: String) {
        self.path = path; self.kind = kind; self.imagePath = imagePath
    }
}

// MARK: - Inventory

/// Everything one subject folder holds, read once.
///
/// `series` lists each image and each sidecar without an image, ordered by session,
/// datatype and file name; `derivativeLabels` the label images and cord segmentations other
/// tools left for the anatomical images.
public struct SubjectInventory: Sendable {
    /// The participant label (`01` for `sub-01`).
    public var label: String
    /// The subject folder (absolute, standardised).
    public var path: String
    /// The dataset root: the subject folder's parent, which holds `derivatives/`.
    public var root: String
    /// Session labels (`a` for `ses-a`), sorted; empty without session folders.
    public var sessions: [String]
    /// Every series of every session.
    public var series: [SubjectSeries]
    /// Labels and cord segmentations under `derivatives/labels/`, by image, then by file name.
    public var derivativeLabels: [DerivativeLabel]

    /// An inventory of files already read.
    public init(label: String, path: String, root: String, sessions: [String], series: [SubjectSeries],
                derivativeLabels: [DerivativeLabel] = []) {
        self.label = label; self.path = path; self.root = root; self.sessions = sessions
        self.series = series; self.derivativeLabels = derivativeLabels
    }

    /// The participant id, `sub-<label>`.
    public var id: String { "sub-" + label }
    /// The series that have an image.
    public var images: [SubjectSeries] { series.filter { $0.imagePath != nil } }

    /// Series with this suffix (and datatype and entity values when given).
    public func series(suffix: String, datatype: String? = nil, entities: [String: String] = [:]) -> [SubjectSeries] {
        series.filter { s in
            s.suffix == suffix && (datatype == nil || s.datatype == datatype)
                && entities.allSatisfy { s.entity($0.key) == $0.value }
        }
    }

    /// The same subject restricted to one session: its series and their labels only.
    public func session(_ label: String) -> SubjectInventory {
        let kept = series.filter { $0.session == label }
        let images = Set(kept.compactMap(\.imagePath))
        return SubjectInventory(label: self.label, path: path, root: root, sessions: sessions.filter { $0 == label },
                                series: kept, derivativeLabels: derivativeLabels.filter { images.contains($0.imagePath) })
    }

    /// The labels found for the image at `imagePath`, in file-name order.
    public func derivativeLabels(for imagePath: String) -> [DerivativeLabel] {
        derivativeLabels.filter { $0.imagePath == imagePath }
    }
}

// MARK: - Reverse phase-encoding pairs

/// The images that give a series' susceptibility field: b = 0 data read out with the
/// series' phase-encoding polarity and with the opposite one.
public struct ReversePhaseEncodingPair: Sendable {
    /// The series to correct (a DWI).
    public var target: SubjectSeries
    /// The image read out like `target` (an `fmap/*_epi` with the same polarity, or the
    /// target itself, whose b = 0 volumes are then used).
    public var same: SubjectSeries
    /// The image read out with the opposite polarity.
    public var reverse: SubjectSeries
    /// How the pair was found, for the log.
    public var source: String
}

extension SubjectInventory {
    /// The reverse phase-encoding pair of `target`, found as BIDS describes it:
    ///
    /// 1. `fmap/*_epi` images whose sidecar's `IntendedFor` names the target (a BIDS URI
    ///    `bids::sub-01/dwi/…`, or a path relative to the subject folder): the one with the
    ///    target's `PhaseEncodingDirection` opposite polarity is the reverse; one with the
    ///    same polarity, if any, is `same` (else the target's own b = 0 volumes);
    /// 2. else a `dwi` series with the same entities but `dir` (e.g. `dir-AP` / `dir-PA`).
    ///
    /// Nil when there is no candidate. A candidate with the same polarity as the target, or
    /// without `PhaseEncodingDirection`, is still returned for rule 2 (the correction step
    /// then refuses it with a clear message); rule 1 needs known polarities.
    public func reversePhaseEncodingPair(for target: SubjectSeries) -> ReversePhaseEncodingPair? {
        guard let targetImage = target.imagePath else { return nil }
        let relative = (target.session.map { "ses-\($0)/" } ?? "") + target.datatype + "/" + (targetImage.split(separator: "/").last.map(String.init) ?? targetImage)
        let targetPE = target.sidecar?.phaseEncodingDirection
        let fmaps = series.filter { s in
            s.datatype == "fmap" && s.suffix == "epi" && s.imagePath != nil && s.session == target.session
                && s.intendedFor.contains { $0 == relative || $0.hasSuffix("/" + relative) || $0 == "bids::" + id + "/" + relative }
        }
        if let pe = targetPE, !fmaps.isEmpty {
            let reverse = fmaps.first { $0.sidecar?.phaseEncodingDirection.map { $0.axis == pe.axis && $0.reversed != pe.reversed } ?? false }
            let same = fmaps.first { $0.sidecar?.phaseEncodingDirection == pe }
            if let reverse {
                return ReversePhaseEncodingPair(target: target, same: same ?? target, reverse: reverse,
                                                source: "fmap/\(reverse.stem) (IntendedFor)" + (same.map { " with fmap/\($0.stem)" } ?? " with the series' b = 0 volumes"))
            }
        }
        guard let dir = target.entity("dir") else { return nil }
        var key = target.seriesEntities; key["dir"] = nil
        let partner = series.first { s in
            s.datatype == target.datatype && s.suffix == target.suffix && s.imagePath != nil && s.session == target.session
                && s.entity("dir").map { $0 != dir } == true
                && { var k = s.seriesEntities; k["dir"] = nil; return k == key }()
        }
        guard let partner else { return nil }
        return ReversePhaseEncodingPair(target: target, same: target, reverse: partner,
                                        source: "\(target.datatype)/\(partner.stem) (dir-\(partner.entity("dir") ?? "?") of dir-\(dir))")
    }
}

extension SubjectSeries {
    /// The sidecar's `IntendedFor` (a string or a list of strings), empty when absent.
    public var intendedFor: [String] {
        switch sidecar?.fields["IntendedFor"] {
        case let .string(s)?: return [s]
        case let .array(a)?: return a.compactMap { if case let .string(s) = $0 { return s } else { return nil } }
        default: return []
        }
    }
}
