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

// MARK: - Sessions

/// One row of a subject's `sub-<label>_sessions.tsv`: the session, its acquisition time and
/// every other column as written (clinical scores such as ASIA motor, SCIM-III, mJOA).
public struct SessionEntry: Sendable, Equatable {
    /// The session label without `ses-`.
    public var session: String
    /// `acq_time` as written (ISO 8601 date or date-time); nil when the column is absent or `n/a`.
    public var acquisitionTime: String?
    /// The other columns (name → text), `n/a` cells left out.
    public var columns: [String: String]
    public init(session: String, acquisitionTime: String?, columns: [String: String]) {
        self.session = session; self.acquisitionTime = acquisitionTime; self.columns = columns
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
    /// The rows of the subject's `sub-<label>_sessions.tsv` (BIDS), in file order; empty
    /// when the file is absent.
    public var sessionTable: [SessionEntry]
    /// `sub-<label>_sessions.tsv` when it exists.
    public var sessionTablePath: String?
    /// Why `sessions.tsv` exists but could not be used (file and problem); nil otherwise.
    /// Reading the subject does not fail for it: `cordq longitudinal`, which needs the
    /// table, refuses with this message.
    public var sessionTableProblem: String?

    /// An inventory of files already read.
    public init(label: String, path: String, root: String, sessions: [String], series: [SubjectSeries],
                derivativeLabels: [DerivativeLabel] = [], sessionTable: [SessionEntry] = [], sessionTablePath: String? = nil) {
        self.label = label; self.path = path; self.root = root; self.sessions = sessions
        self.series = series; self.derivativeLabels = derivativeLabels
        self.sessionTable = sessionTable; self.sessionTablePath = sessionTablePath
    }

    /// The `sessions.tsv` row of a session (label without `ses-`).
    public func sessionEntry(_ label: String) -> SessionEntry? { sessionTable.first { $0.session == label } }

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
                                series: kept, derivativeLabels: derivativeLabels.filter { images.contains($0.imagePath) },
                                sessionTable: sessionTable.filter { $0.session == label }, sessionTablePath: sessionTablePath)
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

// MARK: - Session dates

/// Dates of BIDS `acq_time` and `AcquisitionDateTime` values, in days since 1970-01-01 (UTC,
/// the time zone written in the value ignored: days between visits are what counts).
public enum SessionDate {
    /// `YYYY-MM-DD`, optionally followed by `Thh:mm[:ss[.fff]]` (and anything after, such as
    /// a zone, ignored); nil for anything else or an impossible date.
    public static func parse(_ text: String) -> Double? {
        let s = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= s.count else { return nil }
            var v = 0
            for i in from..<(from + count) {
                guard s[i] >= 48, s[i] <= 57 else { return nil }
                v = v * 10 + Int(s[i] - 48)
            }
            return v
        }
        guard s.count >= 10, s[4] == 45, s[7] == 45, let y = number(0, 4), let m = number(5, 2), let d = number(8, 2),
              (1...12).contains(m), d >= 1, d <= daysInMonth(y, m) else { return nil }
        var day = Double(daysFromCivil(y, m, d))
        if s.count > 10 {
            guard s[10] == 84 || s[10] == 32, let hh = number(11, 2), let mm = number(14, 2), s.count >= 16, s[13] == 58,
                  hh < 24, mm < 60 else { return nil }
            var seconds = 0.0
            if s.count >= 19, s[16] == 58, let ss = number(17, 2), ss < 61 { seconds = Double(ss) }
            day += (Double(hh) * 3600 + Double(mm) * 60 + seconds) / 86400
        }
        return day
    }

    static func daysInMonth(_ y: Int, _ m: Int) -> Int {
        switch m {
        case 2: return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days from 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    /// `YYYY-MM-DD` of a day number (the inverse of `parse` for whole days).
    public static func format(day: Int) -> String {
        let z = day + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        func pad(_ v: Int, _ n: Int) -> String { let t = String(v); return String(repeating: "0", count: max(0, n - t.count)) + t }
        return pad(y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2)
    }
}
