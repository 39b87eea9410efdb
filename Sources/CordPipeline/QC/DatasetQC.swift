// `cordq qc dataset DERIVATIVES`: one page for a whole dataset — one row per subject × step
// with a thumbnail, the step's key numbers and a pass/flag/fail status, and the reviewer's
// verdict, saved from the page as JSON.
import CordCore
import CordIO
import CordReport

/// Where a step's numbers call for a look.
public struct QCThresholds: Sendable, Equatable {
    /// Dice of the warped atlas cord with the segmentation below this: flag (0.8, the value
    /// under which the phantom tests call a registration failed in the DWI/MT spaces).
    public var minimumDice = 0.8
    /// Invalid voxels over fitted voxels above this: flag (1 %).
    public var maximumInvalidFraction = 0.01
    /// Outlier slices over all slices (multiband step, metric `outlier_fraction`) above this: flag (5 %).
    public var maximumOutlierFraction = 0.05
    /// Multiband factor (metric `multiband_factor`) at or above this: flag (4; slice-leakage and
    /// banding artefacts become common; SCT users report them at MB ≥ 4).
    public var multibandFactorToCheck = 4.0
    public init() {}
}

/// The dataset QC page.
public enum DatasetQC {
    /// One row of the page.
    public struct Row: Sendable, Equatable {
        public var subject: String, folder: String, step: String
        /// `pass`, `flag`, `fail` or `skipped`.
        public var status: String
        public var reasons: [String]
        public var numbers: String
        public var thumbnail: String?
    }

    public struct Summary: Sendable {
        public var page: String
        public var rows: [Row]
        public var subjects: [String]
        /// Subjects under the folder without a provenance record (not processed, or failed), with the reason.
        public var unreadable: [(folder: String, reason: String)]
    }

    /// Status of one step from its record: failed → fail; skipped → skipped; a number beyond
    /// `thresholds` or a warning → flag; else pass.
    public static func status(_ step: JSONValue, thresholds t: QCThresholds) -> (String, [String]) {
        let state = step.qc("status")?.qcString ?? ""
        if state == "failed" { return ("fail", [step.qc("detail")?.qcString ?? "failed"]) }
        if state == "skipped" { return ("skipped", [step.qc("detail")?.qcString ?? ""]) }
        let m = step.qc("metrics") ?? .object([:])
        var reasons: [String] = []
        if let d = m.qc("dice")?.qcNumber, d < t.minimumDice { reasons.append("Dice \(formatFixed(d, 3)) < \(formatFixed(t.minimumDice, 2))") }
        if let bad = m.qc("invalid_voxels")?.qcNumber, let all = m.qc("voxels_fitted")?.qcNumber, all > 0, bad / all > t.maximumInvalidFraction {
            reasons.append("invalid voxels \(formatFixed(100 * bad / all, 1)) % > \(formatFixed(100 * t.maximumInvalidFraction, 0)) %")
        }
        if let f = m.qc("outlier_fraction")?.qcNumber, f > t.maximumOutlierFraction {
            reasons.append("outlier fraction \(formatFixed(100 * f, 1)) % > \(formatFixed(100 * t.maximumOutlierFraction, 0)) %")
        }
        if let mb = m.qc("multiband_factor")?.qcNumber, mb >= t.multibandFactorToCheck {
            reasons.append("MB \(Int(mb)) ≥ \(Int(t.multibandFactorToCheck)): check slice leakage and banding")
        }
        if m.qc("alignment_kept")?.qcBool == false || m.qc("second_alignment_kept")?.qcBool == false { reasons.append("alignment not kept") }
        if m.qc("refinement_kept")?.qcBool == false { reasons.append("image refinement dropped") }
        for w in m.qc("warnings")?.qcArray?.compactMap(\.qcString) ?? [] { reasons.append(w) }
        return (reasons.isEmpty ? "pass" : "flag", reasons)
    }

    /// Reads every `sub-*` folder (or its `ses-*` folders) of `derivatives` (the `cordq process` outputs, each with its
    /// `*_provenance.json` and `qc/`) and writes `derivatives/qc/index.html`. Verdicts already
    /// in `derivatives/qc/verdicts.json` are shown on the page. Throws when the folder holds no
    /// processed subject.
    public static func write(derivatives: String, thresholds: QCThresholds = QCThresholds()) throws -> Summary {
        guard TextFile.isDirectory(derivatives) else { throw CordIOError.notFound(path: derivatives) }
        var folders: [String] = []
        // A subject processed session by session (`cordq batch`) has its outputs in `sub-*/ses-*/`.
        for subject in try TextFile.listDirectory(derivatives).sorted() where subject.hasPrefix("sub-") && TextFile.isDirectory(derivatives + "/" + subject) {
            let entries = try TextFile.listDirectory(derivatives + "/" + subject)
            let sessions = entries.filter { $0.hasPrefix("ses-") && TextFile.isDirectory(derivatives + "/" + subject + "/" + $0) }.sorted()
            if !entries.contains(where: { $0.hasSuffix("_provenance.json") }) && !sessions.isEmpty {
                folders += sessions.map { subject + "/" + $0 }
            } else {
                folders.append(subject)
            }
        }
        var rows: [Row] = [], subjects: [String] = [], unreadable: [(String, String)] = []
        for folder in folders {
            let dir = derivatives + "/" + folder
            guard let prov = try TextFile.listDirectory(dir).first(where: { $0.hasSuffix("_provenance.json") }) else {
                unreadable.append((folder, "no *_provenance.json (not processed, or the run failed)")); continue
            }
            let record: JSONValue
            do { record = try JSONFile.read(JSONValue.self, from: dir + "/" + prov) } catch {
                unreadable.append((folder, "\(error)")); continue
            }
            let participant = record.qc("Participant")?.qcString ?? folder
            let subject = participant + (record.qc("Session")?.qcString.map { "_ses-" + $0 } ?? "")
            subjects.append(subject)
            var thumbs: [String: String] = [:]
            if TextFile.exists(dir + "/qc/qc.json"), let index = try? JSONFile.read(SubjectQCIndex.self, from: dir + "/qc/qc.json") {
                for p in index.pictures where thumbs[p.step] == nil { thumbs[p.step] = "../\(folder)/qc/\(p.file)" }
            }
            for step in record.qc("Steps")?.qcArray ?? [] {
                let name = step.qc("step")?.qcString ?? "?"
                if name == "qc" { continue }
                let (status, reasons) = status(step, thresholds: thresholds)
                var numbers: [String] = []
                if case let .object(m)? = step.qc("metrics") {
                    for (k, v) in m.sorted(by: { $0.key < $1.key }) where k != "warnings" { numbers.append("\(k) = \(jsonText(v))") }
                }
                rows.append(Row(subject: subject, folder: folder, step: name, status: status, reasons: reasons,
                                numbers: numbers.joined(separator: ", "), thumbnail: thumbs[name]))
            }
        }
        guard !subjects.isEmpty else {
            throw CordIOError.invalidContent(path: derivatives, reason: "holds no processed subject (sub-*/…_provenance.json); run cordq process first")
        }
        let verdictsPath = QCVerdicts.standardPath(derivatives: derivatives)
        let existing = TextFile.exists(verdictsPath) ? try QCVerdicts.read(verdictsPath) : QCVerdicts(verdicts: [])
        let page = render(rows: rows, subjects: subjects, unreadable: unreadable, verdicts: existing, derivatives: derivatives)
        let out = derivatives + "/qc/index.html"
        try TextFile.write(page, to: out)
        return Summary(page: out, rows: rows, subjects: subjects, unreadable: unreadable)
    }

    static func render(rows: [Row], subjects: [String], unreadable: [(String, String)], verdicts: QCVerdicts, derivatives: String) -> String {
        let counts = Dictionary(grouping: rows, by: \.status).mapValues(\.count)
        var h = "<p>\(subjects.count) subject(s), \(rows.count) step(s): "
            + ["pass", "flag", "fail", "skipped"].map { "<span class=\"status-\($0)\">\(counts[$0] ?? 0) \($0)</span>" }.joined(separator: " · ") + ". "
        h += "Click a thumbnail for the subject's page. Give a verdict where you looked, then <b>Save verdicts</b>: the browser downloads <code>verdicts.json</code>; put it at <code>\(HTML.escape(QCVerdicts.standardPath(derivatives: derivatives)))</code>, where <code>cordq db build --bids</code> and <code>cordq biomarkers</code> read it (fail and artefact exclude the subject, and both list who was excluded).</p>"
        h += "<p><button id=\"save\" type=\"button\">Save verdicts</button> <span id=\"saved\"></span></p>"
        var known: [String: QCVerdicts.Verdict] = [:]
        for v in verdicts.verdicts { known[v.subject + "\u{1}" + v.step] = v }
        var table = "<table id=\"qc\"><thead><tr><th>subject</th><th>step</th><th>picture</th><th>status</th><th>numbers</th><th>verdict</th><th>note</th></tr></thead><tbody>"
        for r in rows {
            let v = known[r.subject + "\u{1}" + r.step]
            let thumb = r.thumbnail.map { "<a href=\"../\(HTML.escape(r.folder))/qc/index.html\"><img src=\"\(HTML.escape($0))\" alt=\"\(HTML.escape(r.subject + " " + r.step))\"></a>" }
                ?? "<a href=\"../\(HTML.escape(r.folder))/qc/index.html\">page</a>"
            let options = ["", "pass", "fail", "artefact"].map {
                "<option value=\"\($0)\"\(v?.verdict == $0 ? " selected" : "")>\($0.isEmpty ? "—" : $0)</option>"
            }.joined()
            table += "<tr data-subject=\"\(HTML.escape(r.subject))\" data-step=\"\(HTML.escape(r.step))\"><td>\(HTML.escape(r.subject))</td><td>\(HTML.escape(r.step))</td>"
            table += "<td class=\"thumb\">\(thumb)</td><td><span class=\"status-\(r.status)\">\(r.status)</span>"
            table += r.reasons.isEmpty ? "" : "<br><small>" + r.reasons.map(HTML.escape).joined(separator: "<br>") + "</small>"
            table += "</td><td><small>\(HTML.escape(r.numbers))</small></td><td><select class=\"verdict\">\(options)</select></td>"
            table += "<td><textarea class=\"note\">\(HTML.escape(v?.note ?? ""))</textarea></td></tr>"
        }
        table += "</tbody></table>"
        var body = HTML.section("steps", "Subjects × steps", h + table)
        if !unreadable.isEmpty {
            body += HTML.section("unreadable", "Folders without results", HTML.table(["folder", "reason"], unreadable.map { [$0.0, $0.1] }))
        }
        let script = """
        function cordqVerdicts(){var out=[];var rows=document.querySelectorAll('#qc tbody tr');
        for(var i=0;i<rows.length;i++){var r=rows[i],v=r.querySelector('select.verdict').value,n=r.querySelector('textarea.note').value;
        if(v!==''||n!==''){out.push({subject:r.getAttribute('data-subject'),step:r.getAttribute('data-step'),verdict:v,note:n});}}
        return {count:out.length,text:JSON.stringify({format:'\(QCVerdicts.format)',verdicts:out},null,1)};}
        document.getElementById('save').addEventListener('click',function(){var v=cordqVerdicts();var a=document.createElement('a');
        a.href='data:application/json;charset=utf-8,'+encodeURIComponent(v.text);a.download='verdicts.json';document.body.appendChild(a);a.click();a.remove();
        var s=document.getElementById('saved');s.textContent=v.count+' verdict(s) saved as verdicts.json';s.setAttribute('data-json',v.text);});
        """
        return HTML.page(title: "CordQ QC — dataset", subtitle: "\(derivatives) · cordq \(CordQVersion.string)",
                         nav: [("steps", "Subjects × steps")] + (unreadable.isEmpty ? [] : [("unreadable", "Folders without results")]),
                         body: body, script: script)
    }
}
