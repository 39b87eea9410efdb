// `cordq epi field`, `cordq epi unwarp` and the distortion step of `cordq process`: reverse
// phase-encoding field estimation and Jacobian-modulated unwarping (CordDistortion) with the
// files that record them.
import CordCore
import CordDistortion
import CordIO
import Foundation

/// What `cordq epi field` wrote.
public struct EPIFieldSummary: Sendable {
    public var files: [String]
    /// The pair estimate (nil for the anatomical fallback).
    public var estimate: FieldEstimate?
    public var summary: String
    public var seconds: Double
    /// Wall time (s) of reading the pair, the estimation (compute only) and writing the outputs.
    public var readSeconds: Double, computeSeconds: Double, writeSeconds: Double
}

/// What `cordq epi unwarp` wrote.
public struct EPIUnwarpSummary: Sendable {
    public var files: [String]
    public var result: UnwarpResult
    public var seconds: Double
}

public enum EPIDistortion {
    /// `j`, `j-`, `i`, `i-`, `k`, `k-` (BIDS `PhaseEncodingDirection`); nil otherwise.
    public static func parsePhaseEncoding(_ s: String) -> PhaseEncoding? {
        let t = s.trimmingCharacters(in: .whitespaces)
        guard let first = t.first, let axis = ["i", "j", "k"].firstIndex(of: String(first)),
              t.count == 1 || (t.count == 2 && t.hasSuffix("-")) else { return nil }
        return PhaseEncoding(axis: axis, reversed: t.hasSuffix("-"))
    }

    /// The readout of the image at `path`: the options when given, else its BIDS sidecar
    /// (`<stem>.json`: `PhaseEncodingDirection`, `TotalReadoutTime`), checked.
    public static func readout(of path: String, phaseEncoding: PhaseEncoding?, totalReadoutTime: Double?) throws -> EPIReadout {
        let sidecar = try ImageInfo.sidecarPath(path).map { try BIDSSidecar.read($0) }
        return try EPIReadout.checked(phaseEncoding: phaseEncoding ?? sidecar?.phaseEncodingDirection,
                                      totalReadoutTime: totalReadoutTime ?? sidecar?.totalReadoutTime, name: path)
    }

    /// The b = 0 frames of a series (b ≤ 50 s/mm² from the `.bval` beside it), or every frame
    /// when there is no `.bval` or no b = 0 volume.
    static func lowB(_ image: Volume<Float>, path: String) throws -> Volume<Float> {
        guard image.frames > 1, let files = GradientFiles.locate(besides: path) else { return image }
        let raw = try GradientFiles.readRaw(bval: files.bval, bvec: files.bvec)
        guard raw.bValues.count == image.frames else {
            throw CordError.countMismatch(what: "\(files.bval): b-values", expected: image.frames, found: raw.bValues.count, detail: path)
        }
        let keep = raw.bValues.indices.filter { raw.bValues[$0] <= 50 }
        guard !keep.isEmpty else { return image }
        return try Volume.stacking(keep.map { image.frame($0) })
    }

    /// The field record (JSON): readout, sign convention, quality numbers, method, references.
    public static func record(_ e: FieldEstimate, options: FieldEstimationOptions, inputs: [String]) -> [String: JSONValue] {
        [
            "Units": .string("Hz"),
            "PhaseEncodingDirection": .string(e.readout.phaseEncoding.description),
            "TotalReadoutTime": .number(e.readout.totalReadoutTime),
            "SignConvention": .string("a field of f Hz moves signal by f x TotalReadoutTime voxels towards the positive end of each series' PhaseEncodingDirection (BIDS/FSL topup convention)"),
            "MinimumJacobian": .number(e.minimumJacobian),
            "PairMismatchBefore": .number(e.mismatchBefore), "PairMismatchAfter": .number(e.mismatchAfter),
            "PairMismatchDefinition": .string("RMS(corrected PE - corrected reverse PE) / RMS(their mean), intensities normalised"),
            "GaussNewtonIterations": .number(Double(e.iterations)),
            "Smoothness": .number(options.smoothness), "Barrier": .number(options.barrierWeight),
            "Levels_mm": .array(options.levels.map { .number($0) }),
            "Coarsenings": .number(Double(options.coarsenings)), "FineIterationsMax": .number(Double(options.fineIterations)),
            "Method": .string("per-line 1D optimal transport start, Gauss-Newton on the HySCO objective (Jacobian-modulated intensity difference + first-order smoothness + barrier keeping 1 +/- dd/dy > 0)"),
            "References": .array(["Ruthotto et al. 2012, Phys Med Biol 57:5715 (HySCO)", "Julian & Ruthotto 2024, Front Neurosci 18:1406821 (PyHySCO, optimal-transport start)",
                                  "Chang & Fitzpatrick 1992, IEEE TMI 11:319 (reversed gradients, Jacobian modulation)"].map { .string($0) }),
            "Inputs": .array(inputs.map { .string($0) }),
        ]
    }

    /// One line for the log.
    public static func summary(_ e: FieldEstimate) -> String {
        let f = e.fieldHz.data
        var lo = Float.infinity, hi = -Float.infinity
        for v in f { lo = min(lo, v); hi = max(hi, v) }
        return "field \(formatFixed(Double(lo), 1)) to \(formatFixed(Double(hi), 1)) Hz (PE \(e.readout.phaseEncoding), TotalReadoutTime \(formatSignificant(e.readout.totalReadoutTime)) s); pair mismatch \(formatFixed(e.mismatchBefore, 3)) → \(formatFixed(e.mismatchAfter, 3)); minimum Jacobian \(formatFixed(e.minimumJacobian, 3)); \(e.iterations) Gauss–Newton iterations"
    }

    /// `cordq epi field --pe A --pe-reverse B OUTDIR`: reads the pair (b = 0 frames when a
    /// `.bval` is beside, else all frames, averaged), estimates the field and writes OUTDIR/
    /// `field_hz.nii.gz`, `pe_corrected.nii.gz`, `pe-reverse_corrected.nii.gz`,
    /// `b0_corrected.nii.gz` (the pair combined), `jacobian.nii.gz` (of the PE image's
    /// unwarp) and `field.json`, all or nothing.
    public static func field(pe: String, peReverse: String, outdir: String, options: FieldEstimationOptions,
                             phaseEncoding: PhaseEncoding? = nil, totalReadoutTime: Double? = nil,
                             overwrite: Bool = false) throws -> EPIFieldSummary {
        let start = ContinuousClock.now
        let ra = try readout(of: pe, phaseEncoding: phaseEncoding, totalReadoutTime: totalReadoutTime)
        let rb = try readout(of: peReverse, phaseEncoding: phaseEncoding.map { PhaseEncoding(axis: $0.axis, reversed: !$0.reversed) },
                             totalReadoutTime: totalReadoutTime)
        let (a, ha) = try NIfTIFile.read(pe, as: Float.self)
        let (b, _) = try NIfTIFile.read(peReverse, as: Float.self)
        try a.grid.requireCompatible(with: b.grid, pe, peReverse)
        let folder = try OutputFolder(outdir, overwrite: overwrite)
        let (first, second) = (EPIImage(image: try lowB(a, path: pe), readout: ra, name: pe),
                               EPIImage(image: try lowB(b, path: peReverse), readout: rb, name: peReverse))
        let read = ContinuousClock.now
        let e = try FieldEstimation.estimate(first, second, options: options)
        let computed = ContinuousClock.now
        let h = ha.singleVolume
        let names = ["field_hz.nii.gz", "pe_corrected.nii.gz", "pe-reverse_corrected.nii.gz", "b0_corrected.nii.gz", "jacobian.nii.gz", "field.json"]
        // The five images are compressed and written two at a time (one per core).
        let images: [(Volume<Float>, String)] = [
            (e.fieldHz, "cordq epi field (Hz)"), (e.correctedFirst, "cordq epi field: PE unwarped"),
            (e.correctedSecond, "cordq epi field: reverse PE unwarped"), (e.combined, "cordq epi field: pair combined"),
            (e.jacobianFirst, "cordq epi field: Jacobian of PE unwarp")]
        let paths = try (0..<images.count).map { try folder.path(names[$0]) }
        let failures = WriteFailures()
        DispatchQueue.concurrentPerform(iterations: images.count) { k in
            do { try NIfTIFile.write(images[k].0, to: paths[k], like: h, description: images[k].1) } catch { failures.record(k, error) }
        }
        if let first = failures.first { throw first }
        var rec = record(e, options: options, inputs: [pe, peReverse])
        rec["Command"] = .string("cordq epi field"); rec["Version"] = .string(CordQVersion.string)
        rec["ComputeSeconds"] = .number((computed - read).seconds)
        rec["ComputeSecondsByPart"] = .object(e.seconds.mapValues { .number($0) })
        rec["ReadSeconds"] = .number((read - start).seconds)
        try JSONFile.write(rec, to: try folder.path(names[5]))
        try folder.commit()
        let end = ContinuousClock.now
        return EPIFieldSummary(files: names.map { folder.destination + "/" + $0 }, estimate: e, summary: summary(e),
                               seconds: (end - start).seconds, readSeconds: (read - start).seconds,
                               computeSeconds: (computed - read).seconds, writeSeconds: (end - computed).seconds)
    }

    /// The anatomical image (and its cord mask) on an EPI grid: trilinear (nearest neighbour
    /// for the mask) through both files' world coordinates; the anatomical image is first
    /// smoothed to the EPI voxel size (Gaussian, σ = ½ the EPI spacing where it is coarser)
    /// so that thin structures are not point-sampled. Nil mask when none is given or when it
    /// does not reach the EPI grid.
    public static func anatomicalOnGrid(_ anat: Volume<Float>, mask: Mask?, grid: Grid) -> (image: Volume<Float>, mask: Mask?) {
        let a = anat.grid.spacing, e = grid.spacing
        let sigma = SIMD3<Double>((0..<3).map { e[$0] > 1.2 * a[$0] ? 0.5 * e[$0] : 0 })
        let smooth = sigma == .zero ? anat : AnatomicalFallback.smoothed(anat, sigmaMM: sigma)
        let m = mask.map { $0.resampledNearest(onto: grid, outside: 0) }
        return (smooth.resampledTrilinear(onto: grid), m.flatMap { $0.count > 0 ? $0 : nil })
    }

    /// The fallback's record (JSON).
    public static func record(_ e: AnatomicalFieldEstimate, options: AnatomicalFallbackOptions, inputs: [String]) -> [String: JSONValue] {
        [
            "Units": .string("Hz"),
            "PhaseEncodingDirection": .string(e.readout.phaseEncoding.description),
            "TotalReadoutTime": .number(e.readout.totalReadoutTime),
            "SignConvention": .string("a field of f Hz moves signal by f x TotalReadoutTime voxels towards the positive end of each series' PhaseEncodingDirection (BIDS/FSL topup convention)"),
            "Source": .string("anatomical fallback: no reverse phase-encoding pair; the b=0 registered to the anatomical image along phase encoding (weaker than a pair: needs an undistorted, well-aligned anatomical image)"),
            "MinimumJacobian": .number(e.minimumJacobian),
            "LocalCorrelationSquaredBefore": .number(e.similarityBefore), "LocalCorrelationSquaredAfter": .number(e.similarityAfter),
            "RegionVoxels": .number(Double(e.regionVoxels)),
            "Iterations": .number(Double(e.iterations)),
            "Smoothness": .number(options.smoothness), "Barrier": .number(options.barrierWeight),
            "WindowRadiusVoxels": .number(Double(options.windowRadius)), "Levels_mm": .array(options.levels.map { .number($0) }),
            "Method": .string("displacement along phase encoding, d = G_sigma p, maximising the mean squared local correlation between the Jacobian-modulated unwarped b=0 and the anatomical image over windows in the cord + 5 mm, with smoothness and a barrier keeping 1 + dd/dy > 0; L-BFGS, coarse to fine"),
            "References": .array(["Avants et al. 2008, Med Image Anal 12:26 (squared local correlation)", "Chang & Fitzpatrick 1992, IEEE TMI 11:319 (Jacobian modulation)",
                                  "Ruthotto et al. 2012, Phys Med Biol 57:5715 (HySCO barrier)"].map { .string($0) }),
            "Inputs": .array(inputs.map { .string($0) }),
        ]
    }

    /// `cordq epi field --pe B0 --anat T2W [--anat-mask M] OUTDIR`: the fallback without a
    /// reverse phase-encoding pair. Reads the b = 0 (b ≤ 50 frames when a `.bval` is beside),
    /// the anatomical image and its cord mask (any grid; resampled onto the EPI grid), estimates
    /// the field and writes OUTDIR/`field_hz.nii.gz`, `pe_corrected.nii.gz`, `jacobian.nii.gz`,
    /// `anat_on_epi.nii.gz` (the anatomical image as the registration saw it) and `field.json`,
    /// all or nothing.
    public static func fieldFromAnatomical(pe: String, anat: String, anatMask: String?, outdir: String,
                                           options: AnatomicalFallbackOptions, phaseEncoding: PhaseEncoding? = nil,
                                           totalReadoutTime: Double? = nil, overwrite: Bool = false) throws -> EPIFieldSummary {
        let start = ContinuousClock.now
        let ra = try readout(of: pe, phaseEncoding: phaseEncoding, totalReadoutTime: totalReadoutTime)
        let (a, ha) = try NIfTIFile.read(pe, as: Float.self)
        let (t, _) = try NIfTIFile.read(anat, as: Float.self)
        let mask = try anatMask.map { path -> Mask in
            let (m, _) = try NIfTIFile.read(path, as: Float.self)
            try t.grid.requireCompatible(with: m.grid, anat, path)
            let binary = Mask.threshold(m, above: 0.5)
            try binary.requireNonEmpty(path)
            return binary
        }
        let folder = try OutputFolder(outdir, overwrite: overwrite)
        let epi = EPIImage(image: try lowB(a, path: pe), readout: ra, name: pe)
        let onGrid = anatomicalOnGrid(t.frames > 1 ? t.frame(0) : t, mask: mask, grid: a.grid)
        if let path = anatMask, onGrid.mask == nil {
            throw AnatomicalFallbackError.emptyMask(name: path + " (resampled onto the grid of " + pe + ")")
        }
        let read = ContinuousClock.now
        let e = try AnatomicalFallback.estimate(epi, anatomical: onGrid.image, anatomicalName: anat, cordMask: onGrid.mask,
                                                maskName: anatMask ?? "cord mask", options: options)
        let computed = ContinuousClock.now
        let h = ha.singleVolume
        let names = ["field_hz.nii.gz", "pe_corrected.nii.gz", "jacobian.nii.gz", "anat_on_epi.nii.gz", "field.json"]
        try NIfTIFile.write(e.fieldHz, to: try folder.path(names[0]), like: h, description: "cordq epi field --anat (Hz)")
        try NIfTIFile.write(e.corrected, to: try folder.path(names[1]), like: h, description: "cordq epi field --anat: unwarped")
        try NIfTIFile.write(e.jacobian, to: try folder.path(names[2]), like: h, description: "cordq epi field --anat: Jacobian")
        try NIfTIFile.write(onGrid.image, to: try folder.path(names[3]), like: h, description: "anatomical on the EPI grid")
        var rec = record(e, options: options, inputs: [pe, anat] + (anatMask.map { [$0] } ?? []))
        rec["Command"] = .string("cordq epi field --anat"); rec["Version"] = .string(CordQVersion.string)
        rec["ComputeSeconds"] = .number((computed - read).seconds)
        try JSONFile.write(rec, to: try folder.path(names[4]))
        try folder.commit()
        let end = ContinuousClock.now
        let summary = "fallback (no reverse-PE pair): field \(formatFixed(Double(e.fieldHz.minimum), 1)) to \(formatFixed(Double(e.fieldHz.maximum), 1)) Hz (PE \(ra.phaseEncoding), TotalReadoutTime \(formatSignificant(ra.totalReadoutTime)) s); local cc² with the anatomical image \(formatFixed(e.similarityBefore, 3)) → \(formatFixed(e.similarityAfter, 3)); minimum Jacobian \(formatFixed(e.minimumJacobian, 3)); \(e.iterations) L-BFGS iterations"
        return EPIFieldSummary(files: names.map { folder.destination + "/" + $0 }, estimate: nil, summary: summary,
                               seconds: (end - start).seconds, readSeconds: (read - start).seconds,
                               computeSeconds: (computed - read).seconds, writeSeconds: (end - computed).seconds)
    }

    /// `cordq epi unwarp IMAGE --field F OUT.nii.gz`: every frame of IMAGE unwarped with the
    /// field (Hz) using IMAGE's own phase encoding and readout time; its `.bval`/`.bvec` and
    /// sidecar are copied beside OUT when present. All files or none.
    public static func unwarp(image: String, field: String, output: String, phaseEncoding: PhaseEncoding? = nil,
                              totalReadoutTime: Double? = nil, modulate: Bool = true, overwrite: Bool = false) throws -> EPIUnwarpSummary {
        let start = ContinuousClock.now
        guard output.hasSuffix(".nii.gz") || output.hasSuffix(".nii") else {
            throw CordIOError.writeFailed(path: output, reason: "the unwarped image's name must end in .nii.gz or .nii")
        }
        try PipelineInputs.refuseOverwrite(output, inputs: [image, field])
        if !overwrite, TextFile.exists(output) {
            throw CordIOError.writeFailed(path: output, reason: "already exists (give --overwrite to replace it)")
        }
        let r = try readout(of: image, phaseEncoding: phaseEncoding, totalReadoutTime: totalReadoutTime)
        let (im, h) = try NIfTIFile.read(image, as: Float.self)
        let (f, _) = try NIfTIFile.read(field, as: Float.self)
        guard f.frames == 1 else {
            throw CordError.invalidValue(what: field, detail: "has \(f.frames) volumes; a field map (Hz) has one")
        }
        let result = try Unwarp.apply(EPIImage(image: im, readout: r, name: image), fieldHz: f, fieldName: field, modulate: modulate)
        let files = OutputFiles()
        var written = [output]
        try NIfTIFile.write(result.corrected, to: try files.stage(output), like: h, description: "cordq epi unwarp")
        let stem = String(output.dropLast(output.hasSuffix(".nii.gz") ? 7 : 4))
        if let g = GradientFiles.locate(besides: image) {
            for (src, ext) in [(g.bval, ".bval"), (g.bvec, ".bvec")] {
                let text: String = try TextFile.read(src)
                try TextFile.write(text, to: try files.stage(stem + ext)); written.append(stem + ext)
            }
        }
        try files.commit()
        return EPIUnwarpSummary(files: written, result: result, seconds: (ContinuousClock.now - start).seconds)
    }
}

/// Errors of concurrent writes, the first by index rethrown.
final class WriteFailures: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [Int: any Error] = [:]
    func record(_ k: Int, _ e: any Error) { lock.lock(); errors[k] = e; lock.unlock() }
    var first: (any Error)? { lock.lock(); defer { lock.unlock() }; return errors.keys.min().flatMap { errors[$0] } }
}
