// `cordq process`, distortion step: when a DWI series has a reverse phase-encoding pair
// (fmap/*_epi with IntendedFor, or dwi dir-AP/dir-PA), the susceptibility field is estimated
// from the b = 0 images and the series is unwarped after denoising and unringing (which need
// the noise and ringing as acquired) and before the slice-group motion correction.
import CordCore
import CordDistortion
import CordIO

extension ProcessRun {
    /// Estimates the field from the pair and unwarps `d.image` in place (the series' own
    /// b = 0 volumes stand for the `same` image when no separate one exists). Writes
    /// `fmap/<entities>_space-dwi_desc-cordq_fieldmap.nii.gz` (Hz, its record as the sidecar),
    /// `dwi/<entities>_space-dwi_desc-unwarped_dwi.nii.gz` (+ bval/bvec) and
    /// `…_desc-unwarped_dwiref.nii.gz` (the pair combined).
    func distortionStep(_ series: SubjectImage, plan: DiffusionPlan, _ d: inout LoadedDiffusion) throws {
        let asked = plan.distortion
        if asked.value == .none {
            skip("distortion correction \(series.stem)", "off (\(asked.source))")
            return
        }
        guard let pair = inventory.distortionPairs[series.path] else {
            if asked.value == .anat {
                try anatomicalDistortionStep(series, source: asked.source, &d)
            } else if plan.distortionAsked {
                skip("distortion correction \(series.stem)", "\(asked.source), but the subject has no reverse phase-encoding pair for this series (fmap/*_epi with IntendedFor, or dwi dir-AP/dir-PA); not corrected (distortion_correction: anat uses the T2w instead)", warn: true)
            }
            return
        }
        let loaded = d
        var corrected: Volume<Float>?
        for p in [pair.same.imagePath, pair.reverse.imagePath, pair.same.sidecarPath, pair.reverse.sidecarPath].compactMap({ $0 })
        where p != series.path { inputs[p] = "reverse phase-encoding pair" }
        try step("distortion correction \(series.stem)") {
            let target = try EPIReadout.checked(phaseEncoding: pair.target.sidecar?.phaseEncodingDirection,
                                                totalReadoutTime: pair.target.sidecar?.totalReadoutTime, name: series.path)
            /// The b = 0 volumes of an image of the pair (the DWI's own from its table).
            func lowB(_ s: SubjectSeries) throws -> EPIImage {
                let path = s.imagePath ?? s.folder + "/" + s.stem
                let readout = try EPIReadout.checked(phaseEncoding: s.sidecar?.phaseEncodingDirection,
                                                     totalReadoutTime: s.sidecar?.totalReadoutTime, name: path)
                if path == series.path {
                    let keep = loaded.table.entries.indices.filter { loaded.table.entries[$0].b <= 50 }
                    guard !keep.isEmpty else {
                        throw CordError.invalidValue(what: series.path, detail: "has no b = 0 volume to pair with \(pair.reverse.imagePath ?? "the reverse image")")
                    }
                    return EPIImage(image: try Volume.stacking(keep.map { loaded.image.frame($0) }), readout: readout, name: path)
                }
                let (image, _) = try data.image(path)
                defer { data.release(path) }
                return EPIImage(image: try EPIDistortion.lowB(image, path: path), readout: readout, name: path)
            }
            var options = FieldEstimationOptions(); options.progress = false
            let estimate = try FieldEstimation.estimate(try lowB(pair.same), try lowB(pair.reverse), options: options)
            let unwarped = try Unwarp.apply(EPIImage(image: loaded.image, readout: target, name: series.path),
                                            fieldHz: estimate.fieldHz, fieldName: "field from \(pair.source)")
            var rec = EPIDistortion.record(estimate, options: options, inputs: [pair.same.imagePath, pair.reverse.imagePath].compactMap { $0 })
            rec["PairSource"] = .string(pair.source)
            rec["UnwarpedSeriesMinimumJacobian"] = .number(unwarped.minimumJacobian)
            let pairSources = [pair.same.imagePath, pair.reverse.imagePath].compactMap { $0 }
            let written = try writeUnwarped(series, loaded, field: estimate.fieldHz, corrected: unwarped.corrected, b0: estimate.combined, record: rec,
                                            sources: pairSources, fieldWhat: "estimated from the reverse phase-encoding pair (\(pair.source)); HySCO-style objective",
                                            b0What: "b = 0 of the pair after correction (least-squares combination of both readouts)", b0Header: "pair")
            if request.qc { qcImages.distortion.append((series: series.stem, field: estimate.fieldHz, before: meanB0(loaded), after: estimate.combined)) }
            corrected = unwarped.corrected
            var m = StepMetrics(); m.volumes = loaded.image.frames
            m.minimumJacobian = estimate.minimumJacobian
            m.pairMismatchBefore = estimate.mismatchBefore; m.pairMismatchAfter = estimate.mismatchAfter
            m.maxDisplacementVoxels = unwarped.maximumDisplacement
            if estimate.mismatchAfter > 0.8 * estimate.mismatchBefore {
                m.warnings.append("the corrected pair agrees little better than the acquired one (mismatch \(formatFixed(estimate.mismatchBefore, 3)) → \(formatFixed(estimate.mismatchAfter, 3))); check the pair")
            }
            let why = asked.value == .anat ? "; \(asked.source): the pair is used (it is the stronger method)" : (plan.distortionAsked ? "; \(asked.source)" : "")
            return ("\(pair.source): \(EPIDistortion.summary(estimate))\(why)", written, m)
        }
        if let c = corrected { d.image = c }
    }

    /// The fallback without a pair: the mean b = 0 registered along phase encoding to the
    /// anatomical image (resampled onto the DWI grid, cost in its cord + 5 mm), the series
    /// unwarped with the field. Same outputs as the pair step; the record says which source.
    func anatomicalDistortionStep(_ series: SubjectImage, source: String, _ d: inout LoadedDiffusion) throws {
        guard let anatomy = distortionAnatomy else {
            skip("distortion correction \(series.stem)", "\(source), but there is no segmented anatomical image to register to; not corrected", warn: true)
            return
        }
        let loaded = d
        var corrected: Volume<Float>?
        try step("distortion correction \(series.stem)") {
            let target = try EPIReadout.checked(phaseEncoding: sidecar(of: series.path)?.phaseEncodingDirection,
                                                totalReadoutTime: sidecar(of: series.path)?.totalReadoutTime, name: series.path)
            let b0 = meanB0(loaded)
            let onGrid = EPIDistortion.anatomicalOnGrid(anatomy.image, mask: anatomy.cord, grid: b0.grid)
            guard let cord = onGrid.mask else {
                throw AnatomicalFallbackError.emptyMask(name: "the cord of \(anatomy.path) (resampled onto the grid of \(series.path))")
            }
            var options = AnatomicalFallbackOptions(); options.progress = false
            let estimate = try AnatomicalFallback.estimate(EPIImage(image: b0, readout: target, name: series.path), anatomical: onGrid.image,
                                                           anatomicalName: anatomy.path, cordMask: cord, maskName: "cord of \(anatomy.path)", options: options)
            let unwarped = try Unwarp.apply(EPIImage(image: loaded.image, readout: target, name: series.path),
                                            fieldHz: estimate.fieldHz, fieldName: "field from \(anatomy.path)")
            var rec = EPIDistortion.record(estimate, options: options, inputs: [series.path, anatomy.path])
            rec["Decision"] = .string(source)
            rec["UnwarpedSeriesMinimumJacobian"] = .number(unwarped.minimumJacobian)
            let written = try writeUnwarped(series, loaded, field: estimate.fieldHz, corrected: unwarped.corrected, b0: estimate.corrected, record: rec,
                                            sources: [anatomy.path], fieldWhat: "from registering the mean b = 0 to \(anatomy.path) along phase encoding (the weaker fallback without a reverse phase-encoding pair)",
                                            b0What: "mean b = 0 after correction with the field registered to the anatomical image", b0Header: "T2w fallback")
            if request.qc { qcImages.distortion.append((series: series.stem, field: estimate.fieldHz, before: b0, after: estimate.corrected)) }
            corrected = unwarped.corrected
            var m = StepMetrics(); m.volumes = loaded.image.frames
            m.minimumJacobian = estimate.minimumJacobian
            m.maxDisplacementVoxels = unwarped.maximumDisplacement
            m.warnings.append("no reverse phase-encoding pair; the field comes from registering the b = 0 to \(anatomy.path) (the weaker fallback: it assumes the T2w is undistorted and aligned with the DWI)")
            if estimate.similarityAfter < estimate.similarityBefore + 0.01 {
                m.warnings.append("the registration to the T2w improved the local correlation little (\(formatFixed(estimate.similarityBefore, 3)) → \(formatFixed(estimate.similarityAfter, 3))); check the corrected b = 0")
            }
            let summary = "T2w fallback (\(source); no reverse phase-encoding pair): field \(formatFixed(Double(estimate.fieldHz.minimum), 1)) to \(formatFixed(Double(estimate.fieldHz.maximum), 1)) Hz; local cc² with \(anatomy.path) \(formatFixed(estimate.similarityBefore, 3)) → \(formatFixed(estimate.similarityAfter, 3)); minimum Jacobian \(formatFixed(estimate.minimumJacobian, 3))"
            return (summary, written, m)
        }
        if let c = corrected { d.image = c }
    }

    /// Writes a distortion correction's outputs, with their sidecars: the field (Hz; the
    /// estimation record is its sidecar), the unwarped series with bval/bvec, the corrected
    /// b = 0. Returns the files written.
    func writeUnwarped(_ series: SubjectImage, _ loaded: LoadedDiffusion, field fieldHz: Volume<Float>, corrected: Volume<Float>, b0 b0Image: Volume<Float>,
                       record: [String: JSONValue], sources: [String], fieldWhat: String, b0What: String, b0Header: String) throws -> [String] {
        let field = names.dwiField(series.stem), image = names.dwiSeries(series.stem, desc: "unwarped")
        let b0 = names.dwiUnwarpedB0(series.stem), json = names.dwiField(series.stem, ext: ".json")
        let single = loaded.header.singleVolume
        try NIfTIFile.write(fieldHz, to: out.path(field), like: single, description: "cordq field (Hz)")
        try NIfTIFile.write(corrected, to: out.path(image), like: loaded.header, description: "cordq unwarped DWI")
        try NIfTIFile.write(b0Image, to: out.path(b0), like: single, description: "cordq unwarped b=0 (\(b0Header))")
        var rec = record
        rec["Units"] = .string("Hz")
        let gradients = try writeGradients(series.stem, desc: "unwarped", table: loaded.table, grid: loaded.image.grid)
        let sources = ([series.path] + sources).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        describeImage(field, "Susceptibility field (Hz) " + fieldWhat + ".", sources: sources, space: "dwi", on: series.path, extra: rec)
        describeImage(image, "DWI series unwarped with the field (Jacobian-modulated resampling along phase encoding).",
                      sources: sources, space: "dwi", on: series.path)
        describeImage(b0, b0What.prefix(1).uppercased() + b0What.dropFirst() + ".", sources: sources, space: "dwi", on: series.path)
        return [field, image, b0, json] + gradients
    }

    /// The mean of the series' b = 0 volumes (all volumes when it has none), for the QC.
    func meanB0(_ d: LoadedDiffusion) -> Volume<Float> {
        let keep = d.table.entries.indices.filter { d.table.entries[$0].b <= 50 }
        let use = keep.isEmpty ? Array(0..<d.image.frames) : keep
        let n = d.image.grid.voxelCount
        var out = [Float](repeating: 0, count: n)
        for t in use { for i in 0..<n { out[i] += d.image.data[t * n + i] } }
        let f = 1 / Float(use.count)
        for i in 0..<n { out[i] *= f }
        return Volume(grid: d.image.grid, frames: 1, exactly: out)
    }
}
