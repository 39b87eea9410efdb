// `cordq process` writes its QC page at the end of the run, from the step records and the
// outputs it staged (one call in `ProcessRun.finish`; `--no-qc` skips it).
import CordCore
import CordIO
import CordNormative
import CordRegistration

extension ProcessRun {
    /// Renders `qc/index.html` and its pictures into the staged output and records a `qc`
    /// step. A failure here does not cost the results: it is recorded as a failed step and a
    /// warning, and the tables and maps are still written.
    func renderQC() {
        let t0 = ContinuousClock.now
        do {
            var norms: [ModelKey: NormativeModel] = [:]
            if let db = request.normativeDatabase {
                for m in try NormativePipeline.open(db).models() { norms[m.key] = m }
            }
            let discs = (labels?.points ?? []).filter { $0.kind == .disc }.map { (level: $0.level, world: $0.world) }
            let input = SubjectQCInput(participant: prefix, steps: steps, rows: rows, warnings: warnings, missing: missing,
                                       protocolRecord: protocolRecord, discs: discs, images: qcImages, norms: norms,
                                       path: { [out] in try out.path($0) })
            var builder = SubjectQCBuilder(input)
            let page = try builder.build()
            try TextFile.write(page, to: try out.path("qc/index.html"))
            try JSONFile.write(SubjectQCIndex(participant: prefix, pictures: builder.pictures.map {
                SubjectQCIndex.Picture(file: $0.file, caption: $0.caption, step: $0.step)
            }), to: try out.path("qc/qc.json"))
            let s = (ContinuousClock.now - t0).seconds
            steps.append(StepRecord(name: "qc", status: .done, detail: "qc/index.html with \(builder.pictures.count) pictures",
                                    seconds: s, outputs: ["qc/index.html", "qc/qc.json"] + builder.pictures.map { "qc/" + $0.file }))
            log("qc: qc/index.html with \(builder.pictures.count) pictures [\(formatFixed(s, 1)) s]")
        } catch {
            let s = (ContinuousClock.now - t0).seconds
            steps.append(StepRecord(name: "qc", status: .failed, detail: "\(error)", seconds: s, outputs: []))
            warnings.append("qc: the QC page could not be made (\(error)); the tables and maps are complete")
            log("qc: FAILED: \(error)")
        }
    }
}

/// `qc/qc.json`: the pictures of a subject's QC page and the step each documents (the
/// dataset page takes its thumbnails from here).
struct SubjectQCIndex: Codable {
    struct Picture: Codable { var file: String, caption: String, step: String }
    var participant: String
    var pictures: [Picture]
}
