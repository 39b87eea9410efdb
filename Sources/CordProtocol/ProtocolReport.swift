// The result of `protocol check`: structured (for `cordq process`) and as readable text.
import CordCore

/// How one checked value compares with the card.
public enum Outcome: String, Sendable {
    case match, deviation, unknown
}

/// One card key checked on one file: what was found, what the card expects, and where the
/// value came from.
public struct Finding: Sendable {
    /// The card key (`tr_s`, `voxel_mm.slice`, `b=800 volumes`, `manufacturer`, …).
    public var key: String
    /// The value found, with its unit ("—" when unknown).
    public var found: String
    /// `value ± tolerance unit` from the card.
    public var expected: String
    public var outcome: Outcome
    /// The JSON key, header field or rule that gave the value, or why it is unknown.
    public var source: String
}

/// One file matched to a series, and its findings.
public struct FileCheck: Sendable {
    /// The subject's series (its files and what they hold).
    public var file: SubjectSeries
    public var findings: [Finding]
    /// Remarks that do not block (b-vector lengths, SliceTiming disagreeing with the image).
    public var notes: [String]
    public var deviations: [Finding] { findings.filter { $0.outcome == .deviation } }
    public var unknowns: [Finding] { findings.filter { $0.outcome == .unknown } }
}

public enum SeriesStatus: String, Sendable { case matched, deviating, missing }

/// One series of the card and the files that matched it.
public struct SeriesCheck: Sendable {
    public var spec: SeriesSpec
    /// Every matching file, ordered by session and run.
    public var files: [FileCheck]
    /// The file the pipeline uses: the highest run (of the last session).
    public var chosen: FileCheck? { files.last }
    public var status: SeriesStatus {
        guard let c = chosen else { return .missing }
        return c.deviations.isEmpty ? .matched : .deviating
    }
}

/// Whether a map of the card can be computed from what was found.
public struct MapPlan: Sendable {
    public var map: MapSpec
    public var computed: Bool
    /// Why not, when skipped.
    public var reason: String
}

/// The outcome of checking one subject against one card.
public struct ProtocolReport: Sendable {
    public var card: ProtocolCard
    public var subjectPath: String
    /// `manufacturer` and `field_t` over all matched sidecars.
    public var scanner: [Finding]
    public var series: [SeriesCheck]
    /// Files that match no series (information only).
    public var notInCard: [SubjectSeries]
    /// Subject-level warnings (multiband ≥ 4 in diffusion).
    public var warnings: [String]
    public var maps: [MapPlan]
    /// Why processing cannot go ahead (empty when it can).
    public var blockers: [String]

    /// All required series present and matched, and the scanner matches; warnings allowed.
    public var canProceed: Bool { blockers.isEmpty }
    /// Every deviation, as (series id, file, finding); scanner deviations have series "scanner".
    public var deviations: [(series: String, file: String, finding: Finding)] {
        scanner.filter { $0.outcome == .deviation }.map { ("scanner", "", $0) }
            + series.flatMap { s in s.files.flatMap { f in f.deviations.map { (s.spec.id, f.file.displayName, $0) } } }
    }
    /// The series check for a card series id.
    public func series(_ id: String) -> SeriesCheck? { series.first { $0.spec.id == id } }

    // MARK: - Text

    /// The report for people: series by series, then files not in the card, warnings, maps
    /// and the verdict.
    public var text: String {
        var out: [String] = []
        let subject = subjectPath.split(separator: "/").last.map(String.init) ?? subjectPath
        out.append("Protocol check: \(subject) against '\(card.name)' — \(card.title)")
        out.append("  subject  \(subjectPath)")
        out.append("  card     \(card.path)")
        out.append("  Values are compared as |found − value| <= tolerance (units in the key names: _s seconds, _mm mm, _deg degrees, b in s/mm²).")
        if !scanner.isEmpty {
            out.append("")
            out.append("scanner")
            out += scanner.map(Self.line)
        }
        for s in series {
            out.append("")
            let tag = s.spec.required ? "required" : "optional"
            let head: String
            switch s.status {
            case .matched: head = "MATCHED"
            case .deviating: head = "DEVIATES"
            case .missing: head = s.spec.required ? "MISSING" : "missing (optional)"
            }
            out.append("[\(head)] \(s.spec.id) (\(tag))\(s.spec.title.map { ": \($0)" } ?? "")")
            if s.files.isEmpty {
                out.append("    no file matches \(s.spec.filePattern)" + (s.spec.required ? "" : "; maps that need it are skipped"))
            }
            for (n, f) in s.files.enumerated() {
                let a = f.file
                let have = [a.imagePath.map { _ in "image" }, a.sidecarPath.map { _ in "json" }, a.bvalPath.map { _ in "bval/bvec" }].compactMap { $0 }
                let used = s.files.count > 1 ? (n == s.files.count - 1 ? " (used: highest run)" : " (not used)") : ""
                out.append("    file \(a.displayName) [\(have.joined(separator: ", "))]\(a.imagePath == nil ? " — no image: header values unknown" : "")\(used)")
                out += f.findings.map(Self.line)
                out += f.notes.map { "      note: \($0)" }
            }
        }
        out.append("")
        out.append("Files not in the card:" + (notInCard.isEmpty ? " none" : ""))
        out += notInCard.map { a in "    \(a.displayName)\(a.imagePath == nil ? " (sidecar only)" : "")" }
        let unknown = series.flatMap { $0.files.flatMap(\.unknowns) }.count + scanner.filter { $0.outcome == .unknown }.count
        let cardWarnings = card.warnings.map { "card: \($0)" }
        out.append("Warnings:" + (warnings.isEmpty && cardWarnings.isEmpty ? " none" : ""))
        out += (warnings + cardWarnings).map { "    WARNING \($0)" }
        if !card.maps.isEmpty {
            let done = maps.filter(\.computed).map(\.map.id)
            out.append("Maps: \(done.isEmpty ? "none can be computed" : "computed: " + done.joined(separator: ", "))")
            out += maps.filter { !$0.computed }.map { "    skipped \($0.map.id): \($0.reason)" }
        }
        let matched = series.filter { $0.status == .matched }.count
        let deviating = series.filter { $0.status == .deviating }.count
        let missing = series.filter { $0.status == .missing }
        out.append("")
        out.append("Summary: \(series.count) series in the card: \(matched) matched, \(deviating) deviating, \(missing.count) missing "
            + "(\(missing.filter { $0.spec.required }.count) required); \(deviations.count) deviation\(deviations.count == 1 ? "" : "s"), "
            + "\(unknown) unknown value\(unknown == 1 ? "" : "s"), \(warnings.count) warning\(warnings.count == 1 ? "" : "s").")
        if canProceed {
            let req = series.filter { $0.spec.required }.count
            out.append("Verdict: OK — processing can go ahead: all \(req) required series are present and match '\(card.name)'"
                + (warnings.isEmpty ? "." : " (see the warnings)."))
        } else {
            out.append("Verdict: BLOCKED — processing cannot go ahead:")
            out += blockers.map { "    - \($0)" }
        }
        return out.joined(separator: "\n")
    }

    static func line(_ f: Finding) -> String {
        let mark: String
        switch f.outcome {
        case .match: mark = "ok"
        case .deviation: mark = "DEVIATES"
        case .unknown: mark = "unknown"
        }
        return "      " + pad(mark, 9) + pad(f.key, 20) + " found " + pad(f.found, 12) + " expected " + pad(f.expected, 20) + "  [\(f.source)]"
    }

    /// `s` padded with spaces to `w` characters (longer strings unchanged).
    package static func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
}
