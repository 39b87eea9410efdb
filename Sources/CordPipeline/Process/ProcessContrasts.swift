// `cordq process`, per-contrast part: DWI (MP-PCA, unringing, DTI, μFA) and MT (alignment,
// MTR, MTsat), each with its own cord segmentation, the atlas registered into its space with
// the session's vertebral labels, and per-level, per-region values. Every input is decoded
// once (`SubjectData`); maps pass to the value extraction in memory.
import CordAtlas
import CordCore
import CordDenoise
import CordDiffusion
import CordIO
import CordMetrics
import CordMultiband
import CordMyelin
import CordRegistration
import CordSegmentation

/// A map made in one contrast's space: its metric name and values.
struct ComputedMap {
    var metric: String
    var volume: Volume<Float>
}

extension ProcessRun {
    // MARK: - Diffusion

    /// Every DWI series: read, preprocess and DTI each; μFA per series, or over the series a
    /// card's μFA map combines (e.g. `lte` + `ste`); then each series' cord, atlas and values.
    func diffusionSteps() throws {
        var states: [DiffusionState] = []
        for series in inventory.dwi { if let s = try prepareDiffusion(series) { states.append(s) } }
        let groups = card.microFAGroups(inventory.dwi)
        let grouped = Set(groups.flatMap { $0.series.map(\.path) })
        for i in states.indices where !grouped.contains(states[i].series.path) { try seriesMicroFA(&states[i]) }
        for g in groups { try groupMicroFA(map: g.map, series: g.series, &states) }
        for s in states {
            let weighted = meanVolumes(s.d, scheme: s.scheme, weighted: true), b0 = meanVolumes(s.d, scheme: s.scheme, weighted: false)
            try contrastSpace(name: states.count > 1 ? "dwi \(s.series.stem)" : "dwi", stem: s.series.stem, folder: "dwi",
                              header: s.d.header, maps: s.maps, candidates: { [(weighted, .dwi, "mean DWI"), (b0, .t2, "mean b = 0")] })
        }
    }

    /// A DWI series after preprocessing and DTI: its data, encodings, plan and maps so far.
    struct DiffusionState {
        var series: SubjectImage
        var d: LoadedDiffusion
        var scheme: EncodingScheme
        var plan: DiffusionPlan
        /// The automatic fitting mask, computed once for DTI and μFA.
        var mask: Mask
        var maps: [ComputedMap]
        /// The MP-PCA σ map (one frame), when the series was denoised: μFA removes the
        /// magnitude bias with it (`ProcessRequest.microFADebias`).
        var noise: Volume<Float>?
    }

    /// Reads one series (b-tensor shapes from its encoding TSV, else the card), applies the
    /// card's preprocessing and fits DTI. Nil when a step failed under `--keep-going`.
    func prepareDiffusion(_ series: SubjectImage) throws -> DiffusionState? {
        guard let bval = series.bval, let bvec = series.bvec else {
            try step("diffusion \(series.stem)") {
                throw CordIOError.notFound(path: series.path + ": its .bval and .bvec are missing beside it")
            }
            return nil
        }
        for p in [series.path, bval, bvec] + [series.sidecar].compactMap({ $0 }) { inputs[p] = "diffusion series" }
        let table = EncodingTable.locate(besides: series.path)
        if let e = table { inputs[e] = "encoding table" }
        let encoding = table.map { Decision(value: EncodingSource.table($0), source: "encoding table \($0)") } ?? card.encoding(for: series.path)
        var loaded: LoadedDiffusion?
        let read = try step("read \(series.stem)") {
            let (image, header) = try data.image(series.path)
            let input = DWIInput(image: series.path, bval: bval, bvec: bvec, encoding: encoding.value)
            let gradients = try DiffusionProcessing.gradientTable(for: input, grid: image.grid, frames: image.frames)
            loaded = LoadedDiffusion(image: image, table: gradients, header: header)
            var m = StepMetrics(); m.volumes = image.frames
            return ("\(image.frames) volumes on \(image.grid.shortDescription); b-tensor shapes: \(encoding.source)", [], m)
        }
        data.release(series.path)
        guard read, var d = loaded else { return nil }
        let plan = card.diffusionPlan(for: series.path, frames: d.image.frames, request: request)
        var planRecord = plan.json
        if case var .object(o) = planRecord {
            o["encoding"] = .object(["value": .string(table == nil ? "\(encoding.value)" : "table"), "source": .string(encoding.source)])
            planRecord = .object(o)
        }
        plans[series.stem] = planRecord

        // MP-PCA, then unringing (Kellner et al. 2016 recommend denoising first).
        var noise: Volume<Float>?
        if plan.denoise.value {
            if let why = request.denoiseOptions.refusal(frames: d.image.frames) {
                skip("denoise \(series.stem)", "\(plan.denoise.source) asks for MP-PCA, but the series is \(why); not denoised", warn: true)
            } else {
                try step("denoise \(series.stem)") {
                    let name = names.dwiSeries(series.stem, desc: "denoised"), sigma = names.dwiNoise(series.stem)
                    // Multiband: σ per slice group from the sidecar's SliceTiming (MPPCAOptions.sliceGroups).
                    var options = request.denoiseOptions
                    let (groups, groupSource) = try SliceGroupSource.auto.groups(slices: d.image.grid.nz, sidecar: sidecar(of: series.path), image: series.path)
                    options.sliceGroups = groups
                    let (r, m) = try DenoiseStep.mppca(d.image, mask: nil, options: options, name: series.path)
                    try NIfTIFile.write(r.denoised, to: out.path(name), like: d.header, description: "cordq MP-PCA")
                    try NIfTIFile.write(r.sigma, to: out.path(sigma), like: d.header.singleVolume, description: "cordq MP-PCA noise sigma")
                    let gradients = try writeGradients(series.stem, desc: "denoised", table: d.table, grid: d.image.grid)
                    describeImage(name, "DWI series denoised by MP-PCA (Veraart et al. 2016, NeuroImage 142:394; Cordero-Grande et al. 2019), magnitude noise model.",
                                  sources: [series.path], space: "dwi", on: series.path)
                    describeImage(sigma, "MP-PCA noise level σ per voxel (image units: the σ of each real/imaginary channel behind the magnitudes).",
                                  sources: [series.path], space: "dwi", on: series.path)
                    d.image = r.denoised
                    noise = r.sigma
                    let w = request.denoiseOptions.window(frames: d.image.frames)
                    let grouping = r.sliceGroupSigma.map { "σ per slice group from \(groupSource) (\($0.count) groups), " } ?? ""
                    return ("MP-PCA (\(d.image.frames) volumes, window \(w.x)×\(w.y)×\(w.z), \(grouping)\(plan.denoise.source)): median σ \(formatSignificant(m.sigmaMedian ?? .nan)), median rank \(formatFixed(m.rankMedian ?? .nan, 1))", [name, sigma] + gradients, m)
                }
            }
        } else {
            skip("denoise \(series.stem)", "off (\(plan.denoise.source))")
        }
        if plan.unring.value {
            try step("unring \(series.stem)") {
                let name = names.dwiSeries(series.stem, desc: "unringed")
                d.image = try GibbsUnringing.apply(d.image)
                try NIfTIFile.write(d.image, to: out.path(name), like: d.header, description: "cordq Gibbs unringing")
                let gradients = try writeGradients(series.stem, desc: "unringed", table: d.table, grid: d.image.grid)
                describeImage(name, "DWI series after Gibbs unringing (local subvoxel shifts, Kellner et al. 2016, MRM 76:1574).",
                              sources: [series.path], space: "dwi", on: series.path)
                var m = StepMetrics(); m.volumes = d.image.frames
                return ("Gibbs unringing, local subvoxel shifts (Kellner et al. 2016 MRM 76:1574); \(plan.unring.source)", [name] + gradients, m)
            }
        } else {
            skip("unring \(series.stem)", "off (\(plan.unring.source))")
        }
        // Susceptibility distortion (reverse phase-encoding pair): after MP-PCA and unringing,
        // which need the noise and the ringing as acquired (unwarping interpolates, correlating
        // neighbouring voxels' noise), before the slice-group motion correction.
        try distortionStep(series, plan: plan, &d)

        // Slice-group motion, outlier groups and banding (CordMultiband), before the tensor.
        try multibandStep(series, plan: plan, &d)

        var maps: [ComputedMap] = []
        var scheme: EncodingScheme?, fitMask: Mask?
        try step("encodings \(series.stem)") {
            let sc = try EncodingScheme(d.table)
            scheme = sc
            // The automatic fitting mask, computed once for DTI and μFA.
            fitMask = try DiffusionProcessing.mask(.automatic, for: d, scheme: sc)
            return (sc.summary, [], StepMetrics())
        }
        guard let scheme, let mask = fitMask else { return nil }
        do {
            _ = try DTIModel(d.table)
        } catch {
            // A series the tensor cannot be fitted to (spherical encoding only, say) still feeds μFA.
            skip("dti \(series.stem)", "\(error)", warn: card.hasMap(.dti, for: series.path))
            return DiffusionState(series: series, d: d, scheme: scheme, plan: plan, mask: mask, maps: maps, noise: noise)
        }
        let fitted = try step("dti \(series.stem)") {
            let run = try DiffusionSteps.dti(d, mask: mask, options: DTIOptions(), maps: ["FA", "MD", "AD", "RD", "S0", "V1", "mask"])
            let files = try run.write(header: d.header, inputs: [series.path], compress: true) { try out.path(names.dwiModelFile(series.stem, model: "DTI", file: $0)) }
                .map { names.dwiModelFile(series.stem, model: "DTI", file: $0) }
            describeModel(files, run: run, sources: [series.path], on: series.path)
            for (name, metric) in [("FA", "fa"), ("MD", "md_um2_per_ms"), ("AD", "ad_um2_per_ms"), ("RD", "rd_um2_per_ms")] {
                if let v = run.map(name) { maps.append(ComputedMap(metric: metric, volume: v)) }
            }
            return ("\(run.metrics.voxelsFitted ?? 0) voxels, \(run.encodings), \(run.method)", files, run.metrics)
        }
        guard fitted else { return nil }
        return DiffusionState(series: series, d: d, scheme: scheme, plan: plan, mask: mask, maps: maps, noise: noise)
    }

    /// The card's `motion_correction` (slicewise: per slice group; volume: one rigid in-plane
    /// transform per volume) and `multiband_correction` (outlier groups and banding, for series
    /// acquired with multiband ≥ 2), run as one `MultibandStep` between denoising and DTI.
    func multibandStep(_ series: SubjectImage, plan: DiffusionPlan, _ d: inout LoadedDiffusion) throws {
        let motion = plan.motionCorrection.value
        let sidecar = self.sidecar(of: series.path)
        let factor = sidecar?.inferredMultibandFactor
        let multiband = plan.multibandCorrection.value && (factor ?? 1) >= 2
        if plan.multibandCorrection.value && !multiband {
            skip("multiband correction \(series.stem)", "\(plan.multibandCorrection.source), but the sidecar gives multiband factor \(factor.map(String.init) ?? "none (single-band)"): no slice groups to correct")
        }
        guard motion != .none || multiband else { return }
        var options = MultibandCorrectionOptions()
        options.motion = motion != .none
        options.outliers = multiband; options.banding = multiband
        let choice: SliceGroupChoice = motion == .volume && !multiband ? .wholeVolume : .auto
        let sources = [motion != .none ? plan.motionCorrection.source : nil, multiband ? plan.multibandCorrection.source : nil].compactMap { $0 }
        let loaded = d
        var corrected: LoadedDiffusion?
        try step("multiband correction \(series.stem)") {
            let run = try MultibandStep.correct(loaded, sidecar: sidecar, mask: nil, groups: choice, options: options, name: series.path,
                                                quietSingleBand: !multiband)
            let image = names.dwiSeries(series.stem, desc: "mbcorrected"), record = names.dwiSeries(series.stem, desc: "mbcorrected", ext: ".json")
            let bval = names.dwiSeries(series.stem, desc: "mbcorrected", ext: ".bval"), bvec = names.dwiSeries(series.stem, desc: "mbcorrected", ext: ".bvec")
            let motionTSV = names.dwiTable(series.stem, desc: "mbcorrected", suffix: "motion"), outlierTSV = names.dwiTable(series.stem, desc: "mbcorrected", suffix: "outliers")
            try NIfTIFile.write(run.result.corrected, to: out.path(image), like: loaded.header, description: "cordq multiband correction")
            try GradientFiles.write(run.result.table, grid: loaded.image.grid, bval: out.path(bval), bvec: out.path(bvec))
            try MultibandStep.motionTable(run.result).write(to: out.path(motionTSV))
            try MultibandStep.outlierTable(run.result).write(to: out.path(outlierTSV))
            // The correction's record is the series' sidecar (written with the others at the end).
            describeImage(image, "DWI series after slice-group motion correction\(multiband ? ", outlier slice-group replacement and banding correction" : "") (cordq dwi correct).",
                          sources: [series.path], space: "dwi", on: series.path, extra: MultibandStep.record(run.result, options: options))
            corrected = LoadedDiffusion(image: run.result.corrected, table: run.result.table, header: loaded.header)
            qcKeepMultiband(series: series.stem, run.result, slices: loaded.image.grid.nz, volumes: loaded.image.frames,
                            threshold: options.outlierThreshold)
            return ("\(run.summary) (\(sources.joined(separator: "; ")))", [image, bval, bvec, motionTSV, outlierTSV, record], run.metrics)
        }
        if let c = corrected { d = c }
    }

    /// μFA of one series by its plan's method; a method the card or the user asked for that
    /// the encodings cannot support is a warning.
    func seriesMicroFA(_ s: inout DiffusionState) throws {
        let state = s
        do {
            _ = try MicroFA.choose(state.plan.microFA.value, for: state.scheme)
        } catch {
            skip("microfa \(state.series.stem)", "\(error)", warn: state.plan.microFA.value != .auto)
            return
        }
        var map: ComputedMap?
        try step("microfa \(state.series.stem)") {
            let noise = microFANoise([state])
            let run = try DiffusionSteps.microFA(state.d, mask: state.mask, method: state.plan.microFA.value, noise: noise)
            let model = DerivativeNames.label(run.method)
            let files = try run.write(header: state.d.header, inputs: [state.series.path], compress: true) { try out.path(names.dwiModelFile(state.series.stem, model: model, file: $0)) }
                .map { names.dwiModelFile(state.series.stem, model: model, file: $0) }
            describeModel(files, run: run, sources: [state.series.path], on: state.series.path)
            map = run.map("microFA").map { ComputedMap(metric: "ufa", volume: $0) }
            return ("\(run.method) (\(state.plan.microFA.source)): \(run.explanation)\(microFANoiseNote(noise))", files, run.metrics)
        }
        if let map { s.maps.append(map) }
    }

    /// μFA over the series a card's map combines, concatenated in the map's input order (the
    /// preprocessed volumes of each); its values are read in the first series' space.
    func groupMicroFA(map spec: MapSpec, series: [SubjectImage], _ states: inout [DiffusionState]) throws {
        let name = "microfa \(spec.id)"
        let found = series.compactMap { im in states.firstIndex { $0.series.path == im.path } }
        guard found.count == series.count, let first = found.first else {
            skip(name, "card map \(spec.id) combines \(series.map(\.stem).joined(separator: " + ")), but not every series could be read and fitted", warn: true)
            return
        }
        let method: Decision<MicroFAMethod> = request.microFAMethod.map { Decision(value: $0, source: "--microfa \($0.rawValue)") }
            ?? spec.method.flatMap { MicroFAMethod(rawValue: $0.rawValue) }.map { Decision(value: $0, source: "card \(card.report?.card.name ?? ""), map \(spec.id): method = \($0.rawValue)") }
            ?? Decision(value: .auto, source: "card map \(spec.id) gives no method: auto")
        var map: ComputedMap?
        try step(name) {
            let parts = found.map { states[$0] }
            for p in parts.dropFirst() { try parts[0].d.image.grid.requireCompatible(with: p.d.image.grid, parts[0].series.path, p.series.path) }
            let image = try Volume.stacking(parts.map(\.d.image))
            let d = LoadedDiffusion(image: image, table: GradientTable(parts.flatMap(\.d.table.entries)), header: parts[0].d.header)
            let scheme = try EncodingScheme(d.table)
            _ = try MicroFA.choose(method.value, for: scheme)
            let mask = try DiffusionProcessing.mask(.automatic, for: d, scheme: scheme)
            let noise = microFANoise(parts)
            let run = try DiffusionSteps.microFA(d, mask: mask, method: method.value, noise: noise)
            let model = DerivativeNames.label(run.method), desc = DerivativeNames.label(spec.id), stem = parts[0].series.stem
            let files = try run.write(header: d.header, inputs: parts.map(\.series.path), compress: true) { try out.path(names.dwiModelFile(stem, model: model, desc: desc, file: $0)) }
                .map { names.dwiModelFile(stem, model: model, desc: desc, file: $0) }
            describeModel(files, run: run, sources: parts.map(\.series.path), on: parts[0].series.path)
            map = run.map("microFA").map { ComputedMap(metric: "ufa", volume: $0) }
            return ("\(run.method) on \(parts.map(\.series.stem).joined(separator: " + ")) (\(method.source)): \(run.explanation)\(microFANoiseNote(noise))", files, run.metrics)
        }
        if let map { states[first].maps.append(map) }
    }

    /// The noise level μFA removes the magnitude bias with: the MP-PCA σ maps of `parts`, one
    /// frame per volume when several series are concatenated; nil when debiasing is off or a
    /// part was not denoised (then the fit takes the magnitudes as they are).
    func microFANoise(_ parts: [DiffusionState]) -> MagnitudeNoiseLevel? {
        // Only a σ map of the Gaussian σ behind the magnitudes (MP-PCA's default noise model).
        guard request.microFADebias, !parts.isEmpty, case let .magnitude(coils) = request.denoiseOptions.noiseModel else { return nil }
        let maps = parts.compactMap(\.noise)
        guard maps.count == parts.count else { return nil }
        if maps.count == 1 { return MagnitudeNoiseLevel(sigma: maps[0], coils: max(coils, 1), source: "MP-PCA σ map of \(parts[0].series.stem)") }
        guard let frames = try? Volume.stacking(zip(parts, maps).flatMap { p, m in Array(repeating: m, count: p.d.image.frames) }) else { return nil }
        return MagnitudeNoiseLevel(sigma: frames, coils: max(coils, 1),
                                   source: "MP-PCA σ maps of " + parts.map(\.series.stem).joined(separator: " + "))
    }

    func microFANoiseNote(_ noise: MagnitudeNoiseLevel?) -> String {
        noise.map { "; magnitude bias removed with the \($0.source) (Koay & Basser 2006)" } ?? ""
    }

    /// The mean of the diffusion-weighted volumes (b > 0; cord grey, CSF dark) or of the b = 0
    /// volumes (CSF bright); all volumes when there are none of the kind.
    func meanVolumes(_ d: LoadedDiffusion, scheme: EncodingScheme, weighted: Bool) -> Volume<Float> {
        let picked = scheme.volumes.indices.filter { (scheme.volumes[$0].b * 1000 > scheme.zeroThreshold) == weighted }
        let use = picked.isEmpty ? Array(0..<d.image.frames) : picked
        let n = d.image.grid.voxelCount
        var mean = Volume<Float>(grid: d.image.grid, frames: 1, repeating: 0)
        d.image.data.withUnsafeBufferPointer { src in
            mean.data.withUnsafeMutableBufferPointer { dst in
                for t in use { for i in 0..<n { dst[i] += src[t * n + i] } }
                for i in 0..<n { dst[i] /= Float(use.count) }
            }
        }
        return mean
    }

    // MARK: - MT

    func mtSteps(_ mt: MTSet) throws {
        for im in [mt.on, mt.off] + [mt.t1w].compactMap({ $0 }) {
            inputs[im.path] = "MT series"
            if let s = im.sidecar { inputs[s] = "sidecar" }
        }
        var maps: [ComputedMap] = []
        var images: (on: Volume<Float>, off: Volume<Float>, header: NIfTIHeader)?
        // MT-off → MT-on once: the aligned MT-off serves MTR and (as the PD-weighted image) MTsat.
        try step("mtr") {
            let (on, header) = try data.image(mt.on.path), (offRaw, _) = try data.image(mt.off.path)
            try on.grid.requireCompatible(with: offRaw.grid, mt.on.path, mt.off.path)
            let a = try SliceRegistration.align(moving: offRaw.frame(0), fixed: on.frame(0), options: request.alignment)
            images = (on.frame(0), a.aligned, header)
            let result = try MagnetizationTransfer.ratio(mtOn: on.frame(0), mtOff: a.aligned)
            let name = names.mtMap(mt.on.stem, suffix: "MTRmap")
            try NIfTIFile.write(result.map, to: out.path(name), like: header, description: "cordq MTR (p.u.)")
            describeImage(name, "Magnetization transfer ratio 100·(MToff − MTon)/MToff, percent units (p.u.); 0 where MT-off is not positive or MT-on exceeds it.",
                          sources: [mt.on.path, mt.off.path], space: DerivativeNames.spaceLabel(of: mt.on.stem), on: mt.on.path, extra: ["Units": .string("percent")])
            // The map on disk keeps the documented 0 at invalid voxels; the tables leave them out.
            let forTables = Volume(grid: result.map.grid, frames: 1, exactly: (0..<result.map.data.count).map { n in
                MagnetizationTransfer.mtrIsValid(mtOn: images?.on.data[n] ?? 0, mtOff: a.aligned.data[n]) ? result.map.data[n] : Float.nan
            })
            maps.append(ComputedMap(metric: "mtr_pu", volume: forTables))
            var m = StepMetrics()
            m.nccBefore = a.correlationBefore; m.nccAfter = a.correlationAfter; m.alignmentKept = a.kept; m.invalidVoxels = result.invalidVoxels
            if !a.kept {
                m.warnings.append("slice-wise alignment lowered the MT-on/MT-off correlation (\(formatFixed(a.correlationBefore, 3)) → \(formatFixed(a.correlationAfter, 3))); MTR computed without it")
            }
            let ncc = "slice-wise alignment NCC \(formatFixed(a.correlationBefore, 3)) → \(formatFixed(a.kept ? a.correlationAfter : a.correlationBefore, 3))\(a.kept ? "" : " (not kept)")"
            return ("MTR (p.u.) from \(mt.on.stem) and \(mt.off.stem); \(ncc); \(result.invalidVoxels) invalid voxel(s) set to 0", [name], m)
        }
        if let t1w = mt.t1w, let images {
            try step("mtsat") {
                let (t1Raw, _) = try data.image(t1w.path)
                try images.on.grid.requireCompatible(with: t1Raw.grid, mt.on.path, t1w.path)
                let a = try SliceRegistration.align(moving: t1Raw.frame(0), fixed: images.on, options: request.alignment)
                func timing(_ im: SubjectImage, _ flag: String) throws -> FLASHTiming {
                    try MTPipeline.timing(sidecar(of: im.path), file: im.sidecar ?? im.path, TimingOverride(), "--\(flag)-flip", "--\(flag)-tr")
                }
                var options = MTsatOptions(mt: try timing(mt.on, "mt"), pd: try timing(mt.off, "pd"), t1: try timing(t1w, "t1w"))
                let b1 = try b1Map(on: images.on.grid, correction: &options)
                let r = try MagnetizationTransfer.saturation(mt: images.on, pd: images.off, t1w: a.aligned, b1: b1.map, options: options)
                let files = [(names.mtMap(mt.on.stem, suffix: "MTsat"), r.mtsat, "cordq MTsat (p.u.)", "MT saturation (Helms et al. 2008, MRM 60:1396), percent units", "percent"),
                             (names.mtMap(mt.on.stem, suffix: "T1map"), r.t1, "cordq T1 (s)", "apparent T1 from the MT-off/T1w FLASH pair", "s"),
                             (names.mtMap(mt.on.stem, suffix: "R1map"), r.r1, "cordq R1 (1/s)", "apparent R1 = 1/T1", "1/s"),
                             (names.mtMap(mt.on.stem, suffix: "M0map"), r.a, "cordq A (signal units)", "apparent proton density A (the FLASH signal amplitude), scanner units", "arbitrary")]
                let mtSources = [mt.on.path, mt.off.path, t1w.path]
                for (name, v, what, long, unit) in files {
                    try NIfTIFile.write(v, to: out.path(name), like: images.header.singleVolume, description: what)
                    describeImage(name, long.prefix(1).uppercased() + long.dropFirst() + "; 0 where the fit is invalid (R1 outside 0.01–100 s⁻¹).",
                                  sources: mtSources, space: DerivativeNames.spaceLabel(of: mt.on.stem), on: mt.on.path, extra: ["Units": .string(unit)])
                }
                // Invalid voxels (R1 outside 0.01–100 s⁻¹ or unusable signals) are 0 in the maps,
                // as documented, and left out of the tables (R1 is 0 exactly there).
                func forTables(_ v: Volume<Float>) -> Volume<Float> {
                    Volume(grid: v.grid, frames: 1, exactly: (0..<v.data.count).map { r.r1.data[$0] > 0 ? v.data[$0] : Float.nan })
                }
                maps += [ComputedMap(metric: "mtsat_pu", volume: forTables(r.mtsat)),
                         ComputedMap(metric: "t1_s", volume: forTables(r.t1))]
                var m = StepMetrics()
                m.warnings += b1.warnings
                m.secondNCCBefore = a.correlationBefore; m.secondNCCAfter = a.correlationAfter; m.secondAlignmentKept = a.kept
                m.invalidVoxels = r.invalidVoxels; m.voxelsFitted = r.computedVoxels
                if !a.kept {
                    m.warnings.append("slice-wise alignment lowered the T1w/MT-on correlation (\(formatFixed(a.correlationBefore, 3)) → \(formatFixed(a.correlationAfter, 3))); MTsat computed without it")
                }
                return ("MTsat (p.u.) and T1 (s), \(options.form.rawValue) form, B1 \(options.b1Correction.rawValue) (\(b1.source)); T1w alignment NCC \(formatFixed(a.correlationBefore, 3)) → \(formatFixed(a.kept ? a.correlationAfter : a.correlationBefore, 3)); \(r.invalidVoxels) invalid voxel(s)",
                        files.map(\.0), m)
            }
        }
        guard let images else { return }
        // The MTR map as written (0 at invalid voxels) for segmentation; the tables' copy has NaN there.
        let mtr = maps.first { $0.metric == "mtr_pu" }?.volume.map { $0.isNaN ? 0 : $0 }
        try contrastSpace(name: "mt", stem: mt.on.stem, folder: "anat", header: images.header, maps: maps, candidates: {
            // The MTR map first: the cord's MTR is several times CSF's on every scanner, whereas
            // the cord/CSF contrast of the FLASH images depends on TE, flip angle and TR.
            (mtr.map { [($0, SegmentationContrast.t1, "MTR map")] } ?? []) + [(images.on, .mt, "MT-on"), (images.off, .mt, "MT-off")]
        })
    }

    /// The B1 map (relative flip angle, 1 = nominal) the card asks MTsat to use, on the MT grid,
    /// with `correction` set to `full` when one is used. A map in percent (median 50–150) is
    /// divided by 100; a map on another grid, or whose median is neither near 1 nor near 100,
    /// is not used and says why.
    func b1Map(on grid: Grid, correction o: inout MTsatOptions) throws -> (map: Volume<Float>?, source: String, warnings: [String]) {
        let plan = card.b1Map()
        plans["mtsat"] = .object(["b1": .object(["value": .string(plan.path ?? "none"), "source": .string(plan.source)])])
        if plan.missing { return (nil, plan.source, [plan.source + ": MTsat uses nominal flip angles"]) }
        guard let path = plan.path else { return (nil, plan.source, []) }
        let (raw, _) = try data.image(path)
        inputs[path] = "B1 map"
        guard raw.grid.isCompatible(with: grid) else {
            return (nil, plan.source, ["the B1 map \(path) is not on the MT grid (\(raw.grid.shortDescription) vs \(grid.shortDescription)); CordQ does not resample it yet, so MTsat uses nominal flip angles"])
        }
        var values = raw.frame(0).data.filter { $0.isFinite && $0 > 0 }
        let median = values.isEmpty ? 0 : Double(values.withUnsafeMutableBufferPointer { select(rank: $0.count / 2, in: $0) })
        let scale: Float
        switch median {
        case 0.5...1.5: scale = 1
        case 50...150: scale = 0.01
        default:
            return (nil, plan.source, ["the B1 map \(path) has median \(formatSignificant(median)), neither a relative flip angle (≈ 1) nor a percentage (≈ 100); MTsat uses nominal flip angles"])
        }
        o.b1Correction = .full
        return (raw.frame(0).map { $0 * scale }, plan.source + (scale == 1 ? "" : ", percent → fraction"), [])
    }

    // MARK: - Atlas in a contrast's space, and the values

    /// Segments the cord on the first of `candidates` (images on the contrast's grid, each
    /// with its polarity) where a cord is found; with the session's labels, registers the
    /// atlas there, writes the warped atlas and extracts each map per level and region;
    /// without labels, extracts each map over the whole cord (level `all`) and per slice
    /// (`<folder>/<stem>_perslice.tsv`).
    func contrastSpace(name: String, stem: String, folder: String, header: NIfTIHeader, maps: [ComputedMap],
                       candidates: () throws -> [(Volume<Float>, SegmentationContrast, String)]) throws {
        guard !maps.isEmpty else { skip("values (\(name))", "no map was computed"); return }
        qcKeepMaps(space: name, maps)
        var found: (seg: CordSegmentation, image: Volume<Float>, used: String)?
        let segmented = try step("segmentation (\(name))") {
            var failures: [String] = []
            for (image, contrast, label) in try candidates() {
                var options = CordSegmentationOptions(); options.contrast = contrast
                do { found = (try CordSegmenter.segment(image, options: options), image, label); break } catch {
                    failures.append("\(label): \(error)")
                }
            }
            guard let found else {
                throw CordError.invalidValue(what: "cord segmentation in the \(name) space", detail: failures.joined(separator: "; "))
            }
            let segName = names.contrastMask(stem: stem, folder: folder)
            try NIfTIFile.write(found.seg.binary, to: out.path(segName), datatype: .uint8, like: header.singleVolume, description: "cordq seg cord (\(name))")
            describeMask(segName, "Spinal cord mask in the \(name) space (cordq seg cord on the \(found.used)).", sources: [spacePath(stem: stem, folder: folder)],
                         on: spacePath(stem: stem, folder: folder), space: DerivativeNames.spaceLabel(of: stem))
            var m = StepMetrics(); m.slices = found.seg.slices.count
            m.cordVolumeMM3 = found.seg.soft.data.reduce(0) { $0 + Double($1) } * found.image.grid.voxelVolume
            let note = failures.isEmpty ? "" : " (after: " + failures.joined(separator: "; ") + ")"
            return ("cord on the \(found.used) in \(found.seg.slices.count) slices\(note)", [segName], m)
        }
        guard segmented, let found else { return }
        qcKeepSegmentation(space: name, image: found.image, used: found.used, mask: found.seg.binary)
        guard let labels else {
            try step("values (\(name))") { try cordOnlyValues(name: name, stem: stem, folder: folder, maps: maps, cord: found.seg) }
            return
        }
        var warped: Atlas?
        try step("registration (\(name))") {
            let (reg, m) = try registerAtlas(found.image, segmentation: found.seg.binary, labels: labels)
            let a = try reg.atlasInSubjectSpace()
            qcKeepAtlas(space: name, a)
            warped = a
            let atlasName = names.contrastAtlasFolder(stem: stem, folder: folder)
            try AtlasFolder.write(a.folderContents(title: "CordQ atlas in the space of \(stem)"), to: out.path(atlasName, isFolder: true))
            // The space's transforms (ITK/ANTs displacement fields, fMRIPrep's names), and its
            // maps resampled into template space for group analysis.
            let space = DerivativeNames.spaceLabel(of: stem), base = names.contrastBase(stem: stem, folder: folder)
            let warps = [names.transform(folder: folder, base: base, from: names.template, to: space),
                         names.transform(folder: folder, base: base, from: space, to: names.template)]
            try NIfTIFile.writeDisplacementField(reg.forwardWarp, to: out.path(warps[0]))
            try NIfTIFile.writeDisplacementField(reg.inverseWarp, to: out.path(warps[1]))
            describeTransforms(forward: warps[0], inverse: warps[1], space: space, image: spacePath(stem: stem, folder: folder), sct: fileSafe(name))
            var written = [atlasName] + warps
            if request.templateSpace {
                for map in maps {
                    let file = names.templateMap(stem: stem, folder: folder, metric: map.metric)
                    let inTemplate = try DisplacementField.apply(reg.inverseWarp, to: map.volume)
                    try NIfTIFile.write(inTemplate, to: out.path(file), description: "cordq \(map.metric) in template space (\(reg.atlas.source))")
                    describeImage(file, "\(map.metric) resampled (trilinear) into \(names.template) template space through \(warps[1]).",
                                  sources: [spacePath(stem: stem, folder: folder)], space: names.template, on: nil)
                    written.append(file)
                }
            }
            return ("atlas registered with the session's labels, Dice \(formatFixed(reg.dice, 3))\(request.templateSpace ? "; \(maps.count) map(s) in template space" : "")", written, m)
        }
        guard let atlas = warped else { return }
        try step("values (\(name))") {
            let present = Set(atlas.levels?.volume.data.filter { $0 > 0 }.map(Int.init) ?? []).sorted()
            var added = 0
            var m = StepMetrics()
            let repeated = Dictionary(grouping: maps, by: \.metric).filter { $0.value.count > 1 }
            var sctLines: [Substring] = []
            for map in maps {
                var r = ExtractionRequest(metric: repeated[map.metric] != nil ? map.metric + "_" + stem : map.metric, subject: participant,
                                          regions: atlas.regionNames, levels: present, method: request.extraction)
                r.session = inventory.session ?? ""
                let result = try MetricExtractor.extract(map: map.volume, atlas: atlas, request: r)
                if request.sctCSV {
                    let text = SCTTables.extractMetric(result, method: request.extraction, filename: names.spaceMap(stem: stem, folder: folder, metric: map.metric),
                                                       slice: { SCTTables.sliceNumber($0, offset: 0, grid: map.volume.grid) })
                    let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
                    sctLines += sctLines.isEmpty ? lines : Array(lines.dropFirst())   // one header
                }
                let kept = result.table.rows.filter { $0.count > 0 }
                rows += kept; added += kept.count
                m.warnings += result.warnings.prefix(3)
            }
            m.rows = added
            var written: [String] = []
            if request.sctCSV && !sctLines.isEmpty {
                let csv = names.contrastSCTMetrics(stem: stem, folder: folder)
                try TextFile.write(sctLines.joined(separator: "\n") + "\n", to: out.path(csv))
                written.append(csv)
            }
            return ("\(added) rows (\(maps.map(\.metric).joined(separator: ", ")); levels \(present.map { VertebralLevelName.name($0) }.joined(separator: ", ")); \(request.extraction.rawValue))", written, m)
        }
    }

    /// Values over the space's own cord segmentation when no levels are known: one row per
    /// map for the whole cord (level `all`, region `cord`) in the metrics table, and one per
    /// slice in `<folder>/<stem>_perslice.tsv`.
    func cordOnlyValues(name: String, stem: String, folder: String, maps: [ComputedMap], cord: CordSegmentation) throws
        -> (detail: String, outputs: [String], metrics: StepMetrics) {
        let atlas = try Atlas(source: "cord segmentation (\(name))", grid: cord.soft.grid, cord: cord.soft,
                              tracts: [AtlasTract(id: 1, name: "cord", kind: .whiteMatter)], tractMaps: [cord.soft])
        var whole: [MetricRow] = [], slices: [MetricRow] = []
        for map in maps {
            var r = ExtractionRequest(metric: map.metric, subject: participant, regions: ["cord"], method: request.extraction)
            r.session = inventory.session ?? ""
            whole += try MetricExtractor.extract(map: map.volume, atlas: atlas, request: r).table.rows.filter { $0.count > 0 }
            r.perSlice = true
            slices += try MetricExtractor.extract(map: map.volume, atlas: atlas, request: r).table.rows.filter { $0.count > 0 }
        }
        rows += whole
        let table = names.contrastPerSlice(stem: stem, folder: folder)
        perSliceTables[table] = slices
        var m = StepMetrics(); m.rows = whole.count
        m.warnings.append("no vertebral labels: \(maps.map(\.metric).joined(separator: ", ")) reported for the whole cord (level all) and per slice (\(table)), not per level or tract")
        return ("\(whole.count) whole-cord rows and \(slices.count) per-slice rows (\(maps.map(\.metric).joined(separator: ", ")); no levels)", [table], m)
    }
}
