// `cordq process` as a BIDS derivative: a JSON sidecar for every image it writes (Description,
// Sources, SpatialReference, units), the level lookup table of each dseg, gradient files beside
// every preprocessed series, and the derivatives folder's dataset_description.json and
// .bidsignore.
import CordAtlas
import CordCore
import CordIO
import Foundation

/// Where a run's outputs sit in a BIDS derivatives layout.
struct DerivativeLayout: Sendable {
    /// The derivatives dataset's root (the folder holding `sub-*`), or nil when the output
    /// folder is not named `sub-*` (or `sub-*/ses-*`): then it is not a derivatives layout.
    let root: String?
    /// The raw dataset's root (the folder holding the subject folder).
    let rawRoot: String
    /// How the sidecars' `Sources` name raw files: `bids:raw:` + the path inside the raw
    /// dataset when the derivatives' dataset_description links `raw` to it; else `file://`.
    let rawLinked: Bool

    init(subject: String, output: String) {
        let sub = TextFile.canonicalPath(subject)
        let raw = (sub as NSString).deletingLastPathComponent
        rawRoot = raw
        let out = URL(fileURLWithPath: output).standardizedFileURL
        let last = out.lastPathComponent, parent = out.deletingLastPathComponent()
        if last.hasPrefix("sub-") {
            root = parent.path
        } else if last.hasPrefix("ses-") && parent.lastPathComponent.hasPrefix("sub-") {
            root = parent.deletingLastPathComponent().path
        } else {
            root = nil
        }
        if let root {
            if let existing = DerivativeDataset.rawLink(root: root) {
                rawLinked = DerivativeDataset.resolve(existing, from: root) == TextFile.canonicalPath(raw)
            } else {
                rawLinked = !TextFile.exists(root + "/dataset_description.json")
            }
        } else {
            rawLinked = false
        }
    }

    /// The URI of an input file in a sidecar's `Sources`/`SpatialReference`.
    func uri(_ path: String) -> String {
        let p = TextFile.canonicalPath(path)
        if rawLinked && p.hasPrefix(rawRoot + "/") { return "bids:raw:" + String(p.dropFirst(rawRoot.count + 1)) }
        return "file://" + p
    }
}

extension ProcessRun {
    /// Records the sidecar of an image written at `rel` (written at the end of the run).
    /// `space` is its `space-` label (a native space or the template); `on` the image whose grid
    /// it shares (its SpatialReference), nil for the template.
    func describeImage(_ rel: String, _ description: String, sources: [String], space: String, on: String?,
                       extra: [String: JSONValue] = [:]) {
        var f = extra
        f["Description"] = .string(description)
        f["Sources"] = .array(sources.map { .string(layout.uri($0)) })
        f["SkullStripped"] = .bool(false)
        f["SpatialReference"] = .string(on.map { layout.uri($0) } ?? templateReference)
        sidecarFields.append((rel, f))
    }

    /// A mask or segmentation (no SkullStripped: BIDS asks it of images, not of masks).
    func describeMask(_ rel: String, _ description: String, sources: [String], on: String, space: String? = nil) {
        sidecarFields.append((rel, [
            "Description": .string(description), "Sources": .array(sources.map { .string(layout.uri($0)) }),
            "SpatialReference": .string(layout.uri(on)), "Type": .string("ROI"), "Manual": .bool(false),
        ]))
    }

    /// The vertebral level map: its sidecar and its lookup table (index → level name).
    func describeLevels(_ rel: String, sources: [String], on: String, present: Set<Int>) {
        describeMask(rel, "Vertebral level of each cord voxel (1 = C1 … 7 = C7, 8 = T1 …), from the labels propagated through the atlas registration; 0 outside the cord.", sources: sources, on: on)
        var t = TSVTable(columns: ["index", "name"])
        for i in present.sorted() { t.append(["\(i)", VertebralLevelName.name(i)]) }
        lookupTables.append((String(rel.dropLast(".nii.gz".count)) + ".tsv", t))
    }

    /// A space's transforms, both ways.
    func describeTransforms(forward: String, inverse: String, space: String, image: String, sct: String) {
        let common = "ITK/ANTs displacement field (5D NIfTI, vector intent, LPS millimetres; antsApplyTransforms and SimpleITK read it)"
        sidecarFields.append((forward, [
            "Description": .string("Transform from \(names.template) template space to the \(space) image's space: \(common), defined on the subject image's grid. SCT calls it warp_template2\(sct)."),
            "Sources": .array([.string(layout.uri(image))]), "SpatialReference": .string(layout.uri(image)),
        ]))
        sidecarFields.append((inverse, [
            "Description": .string("Transform from the \(space) image's space to \(names.template) template space: \(common), defined on the template grid. SCT calls it warp_\(sct)2template."),
            "Sources": .array([.string(layout.uri(image))]), "SpatialReference": .string(templateReference),
        ]))
    }

    /// The maps of a model fit (its record is the model-level sidecar every map inherits).
    func describeModel(_ files: [String], run: DiffusionRun, sources: [String], on: String) {
        for f in files where f.hasSuffix(".nii.gz") || f.hasSuffix(".nii") {
            let name = run.maps.first { f.contains("_param-\(DerivativeNames.label($0.name))_") }
            if f.hasSuffix("_mask.nii.gz") || f.hasSuffix("_mask.nii") {
                describeMask(f, "Voxels the \(run.method) fit used.", sources: sources, on: on)
            } else {
                let unit = name.map { Self.diffusionUnit($0.name, description: $0.description) } ?? ""
                describeImage(f, name?.description ?? "cordq \(run.method) map", sources: sources, space: "dwi", on: on,
                              extra: unit.isEmpty ? [:] : ["Units": .string(unit)])
            }
        }
    }

    /// The unit of a diffusion map: diffusivities as the fit writes them (µm²/ms, which is
    /// 10⁻³ mm²/s), anisotropies and directions without unit.
    static func diffusionUnit(_ map: String, description: String) -> String {
        if description.contains("um2/ms") || description.contains("µm²/ms") { return "um^2/ms" }
        switch map {
        case "FA", "microFA", "uFA", "V1", "OP": return "arbitrary"
        default: return ""
        }
    }

    /// bval/bvec beside a preprocessed series (what BIDS asks of every DWI), or CordQ's encoding
    /// table when the series has b-tensor shapes bval/bvec cannot carry.
    func writeGradients(_ stem: String, desc: String, table: GradientTable, grid: Grid) throws -> [String] {
        let linear = table.entries.allSatisfy { if case .linear = $0.shape { return true }; return $0.b < 50 }
        let bval = names.dwiSeries(stem, desc: desc, ext: ".bval"), bvec = names.dwiSeries(stem, desc: desc, ext: ".bvec")
        try GradientFiles.write(table, grid: grid, bval: out.path(bval), bvec: out.path(bvec))
        guard !linear else { return [bval, bvec] }
        let encoding = names.dwiSeries(stem, desc: desc, ext: ".tsv").replacingOccurrences(of: "_dwi.tsv", with: "_dwi_encoding.tsv")
        try EncodingTable.write(table, grid: grid, to: out.path(encoding))
        return [bval, bvec, encoding]
    }

    /// The raw image a contrast space's stem names (its SpatialReference).
    func spacePath(stem: String, folder: String) -> String {
        inventory.subject.series.first { $0.stem == stem }?.imagePath ?? stem
    }

    /// The template, for a SpatialReference: the atlas's cord template file.
    var templateReference: String {
        let dir = request.atlas ?? ProcessPipeline.standardAtlas
        return "file://" + TextFile.canonicalPath(dir) + "/template (the \(names.template) atlas's template grid)"
    }

    /// Writes the recorded sidecars (fields recorded twice for one image merged, the first
    /// kept) and lookup tables into the staging folder.
    func writeSidecars() throws {
        var order: [String] = [], merged: [String: [String: JSONValue]] = [:]
        for (rel, fields) in sidecarFields {
            var json = rel
            for ext in [".nii.gz", ".nii"] where json.hasSuffix(ext) { json.removeLast(ext.count); json += ".json"; break }
            if merged[json] == nil { order.append(json); merged[json] = fields } else { merged[json]!.merge(fields) { mine, _ in mine } }
        }
        for json in order { try JSONFile.write(merged[json]!, to: out.path(json)) }
        for (rel, table) in lookupTables { try table.write(to: out.path(rel)) }
    }

    /// The derivatives folder's dataset_description.json and .bidsignore (each created when
    /// absent; an existing .bidsignore gets the patterns it lacks).
    func prepareDerivativesRoot() throws {
        guard let root = layout.root else {
            log("derivatives: \(request.output) is not named sub-<label>, so no dataset_description.json is written beside it")
            return
        }
        try DerivativeDataset.prepare(root: root, name: "CordQ derivatives", version: CordQVersion.string,
                                      rawRoot: layout.rawLinked ? layout.rawRoot : nil,
                                      ignore: DerivativeNames.ignored)
    }
}
