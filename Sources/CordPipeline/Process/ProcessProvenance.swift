// The provenance record of a `cordq process` run: what was read (with checksums), which
// version and options, what each step did, and what is missing.
import CordCore
import CordIO
import CordMetrics
import Foundation

extension ProcessRun {
    func provenanceRecord() throws -> [String: JSONValue] {
        var files: [JSONValue] = []
        for (path, role) in inputs.sorted(by: { $0.key < $1.key }) {
            files.append(.object(["path": .string(TextFile.canonicalPath(path)), "role": .string(role),
                                  "sha256": .string(try FileChecksum.sha256(path))]))
        }
        let r = request
        var options: [String: JSONValue] = [
            "protocol": r.protocolName.map { .string($0) } ?? .null,
            "atlas": .string(r.atlas ?? ProcessPipeline.standardAtlas),
            "labels": r.labels.map { .string($0) } ?? .null, "label_kind": .string(r.labelKind.rawValue),
            "hint_slice": r.hintSlice.map { .number(Double($0)) } ?? .null,
            "denoise": r.denoise.map { .bool($0) } ?? .string("card (processing.denoise; without a card, MP-PCA when a series has >= \(r.denoiseOptions.minimumVolumes) volumes)"),
            "denoise_minimum_volumes": .number(Double(r.denoiseOptions.minimumVolumes)),
            "unring": r.unring.map { .bool($0) } ?? .string("card (processing.unring; off without a card)"),
            "microfa_method": .string(r.microFAMethod?.rawValue ?? "card (the card's μFA map method, else auto)"),
            "extraction": .string(r.extraction.rawValue),
            "keep_going": .bool(r.keepGoing), "image_refinement": .bool(r.imageRefinement),
            "image_refinement_max_dice_loss": r.imageRefinementMaximumDiceLoss.map { .number($0) } ?? .null,
            "alignment_keep_only_if_better": .bool(r.alignment.keepOnlyIfBetter),
            "overwrite": .bool(r.overwrite),
            "qc": .bool(r.qc), "microfa_debias": .bool(r.microFADebias), "template_space": .bool(r.templateSpace), "normative_database": r.normativeDatabase.map { .string($0) } ?? .null,
        ]
        if let s = r.session { options["session"] = .string(s) }
        let iso = ISO8601DateFormatter()
        return [
            "Command": .string("cordq process"), "Version": .string(CordQVersion.string),
            "Participant": .string(participant), "Session": inventory.session.map { .string($0) } ?? .null,
            "Subject": .string(TextFile.canonicalPath(r.subject)),
            "Started": .string(iso.string(from: startDate)), "Seconds": .number((ContinuousClock.now - started).seconds),
            "Options": .object(options), "Protocol": .object(protocolRecord), "Levels": .object(labelsRecord),
            "Processing": .object(plans),
            "Inputs": .array(files),
            "Steps": .array(steps.map {
                .object(["step": .string($0.name), "status": .string($0.status.rawValue), "detail": .string($0.detail),
                         "seconds": .number(($0.seconds * 1000).rounded() / 1000), "outputs": .array($0.outputs.map { .string($0) }),
                         "metrics": $0.metrics.json])
            }),
            "Missing": .array(missing.map { .string($0) }), "Warnings": .array(warnings.map { .string($0) }),
            "Table": .object(["file": .string(prefix + "_metrics.tsv"), "rows": .number(Double(rows.count)),
                              "columns": .array(LongFormTable.columns.map { .string($0) }),
                              "units": .string("metric names carry the unit: csa_mm2 (mm²), diameter_*_mm (mm), md/ad/rd_um2_per_ms (µm²/ms), mtr_pu and mtsat_pu (p.u.), t1_s (s); fa, ufa, eccentricity, solidity unitless")]),
        ]
    }
}
