// The reviewer's verdicts from the dataset QC page: which subjects `db build` and
// `biomarkers` must leave out, and why.
import CordCore
import CordIO

/// Verdicts saved from `DERIVATIVES/qc/index.html` (button "Save verdicts"), kept as
/// `DERIVATIVES/qc/verdicts.json`:
/// `{"format": "cordq-qc-verdicts-1", "verdicts": [{"subject": "sub-01", "step": "registration (dwi)", "verdict": "fail", "note": "…"}]}`.
/// Verdicts are `pass`, `fail` or `artefact`; a subject with any `fail` or `artefact` is
/// excluded from the normative database and from biomarker lists (whole subject: a bad step
/// makes its values doubtful), and each exclusion is reported with the step and the note.
public struct QCVerdicts: Sendable, Equatable {
    public struct Verdict: Sendable, Equatable {
        public var subject: String, step: String, verdict: String, note: String
        public init(subject: String, step: String, verdict: String, note: String) {
            self.subject = subject; self.step = step; self.verdict = verdict; self.note = note
        }
    }
    public static let format = "cordq-qc-verdicts-1"
    public static let kinds: Set<String> = ["pass", "fail", "artefact"]
    public var verdicts: [Verdict]
    public init(verdicts: [Verdict]) { self.verdicts = verdicts }

    /// The file `cordq qc dataset` and the page use: `DERIVATIVES/qc/verdicts.json`.
    public static func standardPath(derivatives: String) -> String { derivatives + "/qc/verdicts.json" }

    /// Reads a verdict file; an error naming the file and the entry when one is malformed.
    public static func read(_ path: String) throws -> QCVerdicts {
        let root = try JSONFile.read(JSONValue.self, from: path)
        guard case let .object(o) = root, let list = o["verdicts"]?.qcArray else {
            throw CordIOError.invalidContent(path: path, reason: "is not a QC verdict file (an object with a \"verdicts\" list, as the dataset QC page saves)")
        }
        var out: [Verdict] = []
        for (n, v) in list.enumerated() {
            guard let subject = v.qc("subject")?.qcString, !subject.isEmpty, let verdict = v.qc("verdict")?.qcString else {
                throw CordIOError.invalidContent(path: path, reason: "verdict \(n + 1) has no subject or no verdict")
            }
            guard kinds.contains(verdict) || verdict.isEmpty else {
                throw CordIOError.invalidContent(path: path, reason: "verdict \(n + 1) (\(subject)) is \"\(verdict)\"; expected pass, fail or artefact")
            }
            if verdict.isEmpty { continue }
            out.append(Verdict(subject: subject, step: v.qc("step")?.qcString ?? "", verdict: verdict, note: v.qc("note")?.qcString ?? ""))
        }
        return QCVerdicts(verdicts: out)
    }

    /// The verdicts as the JSON the page writes.
    public var json: JSONValue {
        .object(["format": .string(Self.format), "verdicts": .array(verdicts.map {
            .object(["subject": .string($0.subject), "step": .string($0.step), "verdict": .string($0.verdict), "note": .string($0.note)])
        })])
    }

    /// Excluded subjects (subject id or `sub-…_ses-…`) with the reason: every fail/artefact verdict, step and note.
    public var exclusions: [String: String] {
        var out: [String: String] = [:]
        for v in verdicts where v.verdict != "pass" {
            let what = "QC verdict \(v.verdict)" + (v.step.isEmpty ? "" : " at \(v.step)") + (v.note.isEmpty ? "" : " (\(v.note))")
            out[v.subject] = out[v.subject].map { $0 + "; " + what } ?? what
        }
        return out
    }

    /// The exclusion reason of `subject`, matching `sub-01` with verdicts on `sub-01` or `sub-01_ses-*`.
    public func exclusion(of subject: String) -> String? {
        let e = exclusions
        let hits = e.filter { $0.key == subject || $0.key.hasPrefix(subject + "_ses-") }.sorted { $0.key < $1.key }
        return hits.isEmpty ? nil : hits.map(\.value).joined(separator: "; ")
    }

    /// The verdict file for a BIDS dataset root (`ROOT/derivatives/cordq/qc/verdicts.json`) when it exists.
    public static func forDataset(root: String) throws -> QCVerdicts? {
        let p = standardPath(derivatives: root + "/derivatives/cordq")
        return TextFile.exists(p) ? try read(p) : nil
    }
}
