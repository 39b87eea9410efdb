// `cordq process`, anatomical part: cord segmentation, vertebral labels, registration of the
// atlas to the anatomical image, and morphometry per slice and per level.
import CordAtlas
import CordCore
import CordIO
import CordMetrics
import CordRegistration
import CordSegmentation

/// The segmented anatomical image.
struct AnatomyResult {
    var image: SubjectImage
    var volume: Volume<Float>
    var header: NIfTIHeader
    var binary: Mask
    var soft: Volume<Float>
    /// The level map (1 = C1 …) inside the cord, once labels are known.
    var levels: Volume<Int32>?
}

extension ProcessRun {
    /// Segments the first anatomical image (or takes the external segmentation found under
    /// `derivatives/labels/`). Nil when the subject has no anatomical image.
    func anatomyStep() throws -> AnatomyResult? {
        guard let image = inventory.anatomy.first else { skip("segmentation", "no anatomical image"); return nil }
        var result: AnatomyResult?
        try step("segmentation") {
            let (r, detail, outputs, metrics) = try segmentWithRecord(image)
            result = r
            return (detail, outputs, metrics)
        }
        return result
    }

    /// The cord segmentation of an anatomical image, computed (and written) once per image.
    func segment(_ image: SubjectImage) throws -> AnatomyResult {
        if let done = segmentations[image.path] { return done }
        return try segmentWithRecord(image).0
    }

    /// Cord segmentation of an anatomical image: external (derivatives) or CordQ's, with the
    /// step's detail, outputs and metrics.
    func segmentWithRecord(_ image: SubjectImage) throws -> (AnatomyResult, String, [String], StepMetrics) {
        let (volume, header) = try data.image(image.path)
        inputs[image.path] = "anatomical image"
        if let sidecar = image.sidecar { inputs[sidecar] = "sidecar" }
        let name = names.anatMask(image.stem, label: "SC"), softName = names.anatProbseg(image.stem, label: "SC")
        var metrics = StepMetrics()
        if let external = inventory.derivativeSegmentations[image.path] {
            let (seg, _) = try data.image(external)
            try volume.grid.requireCompatible(with: seg.grid, image.path, external)
            inputs[external] = "external cord segmentation"
            let binary = Mask.threshold(seg.frames == 1 ? seg : seg.frame(0), above: 0.5)
            try binary.requireNonEmpty(external)
            let soft = seg.map { min(1, max(0, $0)) }
            try NIfTIFile.write(binary, to: out.path(name), datatype: .uint8, like: header, description: "cord segmentation (external)")
            describeMask(name, "Spinal cord mask: the external segmentation \(external) thresholded at 0.5.", sources: [image.path, external], on: image.path)
            let result = AnatomyResult(image: image, volume: volume.frame(0), header: header, binary: binary, soft: soft)
            segmentations[image.path] = result
            metrics.cordVolumeMM3 = Double(binary.count) * volume.grid.voxelVolume
            return (result, "external segmentation \(external) (\(binary.count) voxels)", [name], metrics)
        }
        var options = CordSegmentationOptions()
        options.contrast = SegmentationContrast(rawValue: inventory.anatomyContrast.contrast)
        if image.path == inventory.anatomy.first?.path { options.hintSlice = request.hintSlice }
        let seg: CordSegmentation
        do {
            if let done = request.segmentations[image.path] {
                try volume.grid.requireCompatible(with: done.binary.grid, image.path, "its given cord segmentation")
                seg = done
            } else {
                seg = try CordSegmenter.segment(volume.frame(0), options: options)
            }
        } catch let e as SegmentationError where options.hintSlice != nil {
            throw CordError.invalidValue(what: "\(image.path) with --hint-slice \(options.hintSlice ?? 0)", detail: e.description)
        }
        try NIfTIFile.write(seg.binary, to: out.path(name), datatype: .uint8, like: header, description: "cordq seg cord")
        try NIfTIFile.write(seg.soft, to: out.path(softName), datatype: .float32, like: header, description: "cordq seg cord (partial volume)")
        describeMask(name, "Spinal cord mask (cordq seg cord, \(seg.polarity)): the partial-volume fraction thresholded at 0.5.", sources: [image.path], on: image.path)
        describeMask(softName, "Spinal cord partial-volume fraction (0–1) per voxel (cordq seg cord).", sources: [image.path], on: image.path)
        let volumeMM3 = seg.soft.data.reduce(0) { $0 + Double($1) } * volume.grid.voxelVolume
        let result = AnatomyResult(image: image, volume: volume.frame(0), header: header, binary: seg.binary, soft: seg.soft)
        segmentations[image.path] = result
        metrics.slices = seg.slices.count; metrics.cordVolumeMM3 = volumeMM3
        return (result, "\(image.stem): cord in \(seg.slices.count) slices, \(formatFixed(volumeMM3, 0)) mm³ (\(seg.polarity))", [name, softName], metrics)
    }

    // MARK: - Levels

    /// Vertebral labels: the user's file, else labels under `derivatives/labels/`, else the
    /// automatic attempt on the T2w image. They are world positions, so they serve every
    /// contrast of the session.
    func levelsStep(_ anatomy: AnatomyResult) throws {
        try step("levels") {
            if let given = request.vertebralLabels, !given.points.isEmpty {
                labels = given
                labelsRecord["Labels"] = .object([
                    "origin": .string(request.vertebralLabelsOrigin),
                    "points": .array(given.points.map { .object(["level": .number(Double($0.level)), "kind": .string($0.kind.rawValue), "z_mm": .number($0.world.z)]) }),
                ])
                var m = StepMetrics(); m.labels = given.points.count
                return ("\(given.points.count) labels (\(given.points.map { "\($0.level)" }.joined(separator: ", "))) \(request.vertebralLabelsOrigin)", [], m)
            }
            var source: (image: SubjectImage, labels: String, kind: LabelKind, origin: String)?
            if let file = request.labels {
                let grid = try data.labels(file).grid
                guard let image = try inventory.anatomy.first(where: { try data.image($0.path).1.grid.isCompatible(with: grid) }) else {
                    throw CordError.invalidValue(what: "--labels \(file)", detail: "its grid matches none of the subject's anatomical images (\(inventory.anatomy.map(\.stem).joined(separator: ", ")))")
                }
                source = (image, file, request.labelKind, "given with --labels")
            } else if let found = inventory.derivativeLabels.first(where: { $0.image.path == anatomy.image.path }) ?? inventory.derivativeLabels.first {
                source = (found.image, found.labels, found.kind, "found under derivatives/labels")
            }
            guard let source else { return try automaticLevels(anatomy, hint: nil) }
            let segmentation = try segment(source.image).binary
            let labelImage = try data.labels(source.labels)
            inputs[source.labels] = "vertebral labels"
            let found = try VertebralLabelling.fromLabels(labelImage, kind: source.kind, segmentation: segmentation)
            if found.points.count == 1 {
                // One label: the hint that numbers the automatically found discs.
                return try automaticLevels(anatomy, hint: found.points[0])
            }
            labels = found
            labelsRecord["Labels"] = .object([
                "file": .string(source.labels), "kind": .string(source.kind.rawValue), "origin": .string(source.origin),
                "points": .array(found.points.map { .object(["level": .number(Double($0.level)), "z_mm": .number($0.world.z)]) }),
            ])
            let list = found.points.map { "\($0.level)" }.joined(separator: ", ")
            var m = StepMetrics(); m.labels = found.points.count
            return ("\(found.points.count) \(source.kind == .disc ? "disc" : "vertebral-body") labels (\(list)) \(source.origin)", [], m)
        }
    }

    /// Discs found automatically on the T2w images (sagittal first: discs show best there),
    /// numbered from `hint` or from the C2/C3 disc. When none succeeds the levels are named
    /// as missing with each image's reason, and the run goes on without per-level tables.
    func automaticLevels(_ anatomy: AnatomyResult, hint: VertebralLabels.Point?) throws -> (detail: String, outputs: [String], metrics: StepMetrics) {
        guard inventory.anatomyContrast.suffix == "T2w" else {
            missing.append("levels: no vertebral labels, and automatic labelling needs a T2w image (give --labels FILE)")
            return ("no labels; per-level tables and atlas registration skipped", [], StepMetrics())
        }
        var reasons: [String] = []
        for image in inventory.anatomy.sorted(by: { !$0.axial && $1.axial }) {
            do {
                let seg = image.path == anatomy.image.path ? anatomy : try segment(image)
                let found = try AutomaticLabelling.label(image: seg.volume, segmentation: seg.binary, hint: hint)
                labels = found.labels
                labelsRecord["Labels"] = .object([
                    "origin": .string("automatic (discs on \(image.stem))"), "kind": .string("disc"), "anchor": .string(found.anchor),
                    "spacing_scale": .number(found.spacingScale), "median_contrast": .number(found.medianContrast),
                    "points": .array(found.discs.map { .object(["level": .number(Double($0.level)), "z_mm": .number($0.world.z)]) }),
                ])
                var m = StepMetrics(); m.labels = found.discs.count
                return ("\(found.discs.count) discs found automatically on \(image.stem) (\(found.discs.map(\.name).joined(separator: ", ")); numbered from \(found.anchor))", [], m)
            } catch {
                reasons.append("\(image.stem): \(error)")
            }
        }
        missing.append("levels: no vertebral labels given or found under derivatives/labels/\(participant)/anat/, and automatic labelling failed (" + reasons.joined(separator: "; ") + "); give --labels FILE (one label is enough as a hint), so no per-level tables and no atlas registration")
        return ("automatic labelling failed; per-level tables and atlas registration skipped", [], StepMetrics())
    }

    /// Registers the atlas to the anatomical image, writes the warps and the level map.
    func registerAnatomy(_ anatomy: AnatomyResult) throws {
        guard let labels else { return }
        var levels: Volume<Int32>?
        try step("registration (anat)") {
            let (reg, metrics) = try registerAtlas(anatomy.volume, segmentation: anatomy.binary, labels: labels)
            let map = try labels.levelMap(on: anatomy.volume.grid, segmentation: anatomy.binary, reference: reg.reference)
            levels = map.volume
            let stem = anatomy.image.stem
            let base = DerivativeNames.sourceEntities(stem, keep: DerivativeNames.anatKeep), space = DerivativeNames.spaceLabel(of: stem)
            let files = [self.names.anatLevels(stem), self.names.transform(folder: "anat", base: base, from: self.names.template, to: space),
                         self.names.transform(folder: "anat", base: base, from: space, to: self.names.template)]
            try NIfTIFile.write(map.volume, to: out.path(files[0]), datatype: .int16, like: anatomy.header, description: "cordq vertebral levels")
            try NIfTIFile.writeDisplacementField(reg.forwardWarp, to: out.path(files[1]))
            try NIfTIFile.writeDisplacementField(reg.inverseWarp, to: out.path(files[2]))
            describeLevels(files[0], sources: [anatomy.image.path], on: anatomy.image.path, present: Set(map.volume.data.filter { $0 > 0 }.map(Int.init)))
            describeTransforms(forward: files[1], inverse: files[2], space: space, image: anatomy.image.path, sct: "anat")
            let present = Set(map.volume.data.filter { $0 > 0 }).sorted().map { VertebralLevelName.name(Int($0)) }
            return ("levels \(present.joined(separator: ", ")); warped atlas cord vs segmentation: Dice \(formatFixed(reg.dice, 3))", files, metrics)
        }
        pendingLevels = levels
    }

    // MARK: - Morphometry

    /// Per-slice table (`anat/<stem>_morphometry.tsv`) and per-level rows (region `cord`,
    /// method `morphometry`): csa_mm2 (mean), csa_min_mm2 (smallest slice), diameters (mean,
    /// and `_min` at the smallest slice), eccentricity, solidity; and gm_csa_mm2, wm_csa_mm2
    /// with method `morphometry (GM from segmentation)` on a T2*w anatomy (`cordq seg gm`'s
    /// method, written as `anat/<stem>_label-GM_probseg.nii.gz`) or `morphometry (GM from atlas)`
    /// otherwise (the atlas GM placed in the cord by moments, `GreyMatterPrior`); the per-slice
    /// table's `gm_source` says which.
    func morphometry(_ anatomy: AnatomyResult) throws -> (detail: String, outputs: [String], metrics: StepMetrics) {
        let slices = try Morphometry.perSlice(anatomy.soft, levels: pendingLevels)
        let name = names.anatMorphometry(anatomy.image.stem)
        var outputs = [name]
        var tissue: [Int: (gm: Double, wm: Double)]?, gmSource = "", gmNote = ""
        do {
            let prior = try GreyMatterPrior.place(atlas: atlas(), cord: anatomy.soft, levels: pendingLevels.map { LabelMap(volume: $0) })
            var fraction = prior.fraction
            gmSource = "atlas"
            if inventory.anatomyContrast.contrast == SegmentationContrast.t2s.rawValue {
                let gm = try GreyMatterSegmenter.segment(anatomy.volume, cord: anatomy.soft, prior: prior.fraction, contrast: .t2s)
                fraction = gm.soft; gmSource = "segmentation"
                let gmName = names.anatProbseg(anatomy.image.stem, label: "GM")
                try NIfTIFile.write(gm.soft, to: out.path(gmName), datatype: .float32, like: anatomy.header, description: "cordq seg gm (partial volume)")
                describeMask(gmName, "Grey-matter fraction (0–1) per voxel (cordq seg gm: atlas-prior EM).", sources: [anatomy.image.path], on: anatomy.image.path)
                outputs.append(gmName)
            }
            tissue = try Morphometry.greyWhiteAreas(slices, greyMatter: fraction)
        } catch {
            gmNote = "; no GM/WM areas (\(error))"
        }
        let t = MorphometryTables.perSliceTable(slices, tissue: tissue, source: gmSource)
        try t.write(to: out.path(name))
        if request.sctCSV {
            let csv = names.anatSCTMorphometry(anatomy.image.stem)
            try TextFile.write(SCTTables.processSegmentation(slices, perLevel: pendingLevels != nil,
                                                             filename: names.anatProbseg(anatomy.image.stem, label: "SC")), to: out.path(csv))
            outputs.append(csv)
        }
        var m = StepMetrics(); m.slices = slices.count
        // Without levels the whole cord is one group, reported as level `all`.
        let grouped = pendingLevels == nil ? slices.map { var s = $0; s.level = 1; return s } : slices
        let groups = Morphometry.perLevel(grouped).filter { $0.level > 0 }
        var added = 0
        for l in groups {
            let level = pendingLevels == nil ? "all" : VertebralLevelName.name(Int(l.level))
            // The slice of smallest area stands for the site of a focal compression: its area, and
            // its AP and RL diameters (MSCC's d_i, Fehlings et al. 1999 Spine 24:605).
            let narrowest = grouped.filter { $0.level == l.level && $0.csa.isFinite }.min { $0.csa < $1.csa }
            for (metric, value) in [("csa_mm2", l.csa), ("csa_min_mm2", narrowest?.csa ?? .nan), ("diameter_ap_mm", l.diameterAP),
                                    ("diameter_rl_mm", l.diameterRL), ("diameter_ap_min_mm", narrowest?.diameterAP ?? .nan),
                                    ("diameter_rl_min_mm", narrowest?.diameterRL ?? .nan),
                                    ("eccentricity", l.eccentricity), ("solidity", l.solidity)]
            where value.isFinite {
                rows.append(MetricRow(subject: participant, session: inventory.session ?? "", level: level, region: "cord",
                                      metric: metric, value: value, method: "morphometry", count: l.sliceCount))
                added += 1
            }
        }
        if let tissue {
            let perLevelTissue = Morphometry.greyWhiteAreasPerLevel(grouped, tissue)
            for l in groups {
                guard let a = perLevelTissue[l.level] else { continue }
                let level = pendingLevels == nil ? "all" : VertebralLevelName.name(Int(l.level))
                for (metric, value) in [("gm_csa_mm2", a.gm), ("wm_csa_mm2", a.wm)] where value.isFinite {
                    rows.append(MetricRow(subject: participant, session: inventory.session ?? "", level: level, region: "cord",
                                          metric: metric, value: value, method: "morphometry (GM from \(gmSource))", count: l.sliceCount))
                    added += 1
                }
            }
        }
        m.rows = added
        let what = pendingLevels == nil ? "whole-cord rows (no levels)" : "per-level rows"
        return ("\(slices.count) slices, \(added) \(what) from \(anatomy.image.stem), GM from \(gmSource.isEmpty ? "nowhere" : gmSource)\(gmNote)", outputs, m)
    }
}
