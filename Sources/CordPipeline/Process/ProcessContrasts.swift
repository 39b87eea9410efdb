// `cordq process`, per-contrast part: DWI (MP-PCA, DTI, μFA) and MT (MTR, MTsat), each with
// its own cord segmentation, the atlas registered into its space with the session's
// vertebral labels, and per-level, per-region values.
import CordAtlas
import CordCore
import CordDiffusion
import CordIO
import CordMetrics
import CordRegistration
import CordSegmentation

extension ProcessRun {
    // MARK: - Diffusion

    func diffusionSteps(_ series: SubjectImage) throws {
        guard let bval = series.bval, let bvec = series.bvec else {
            try step("diffusion \(series.stem)") {
                throw CordIOError.notFound(path: series.path + ": its .bval and .bvec are missing beside it")
            }
            return
        }
        for p in [series.path, bval, bvec] + [series.sidecar].compactMap({ $0 }) { inputs[p] = "diffusion series" }
        let encoding = EncodingTable.locate(besides: series.path)
        if let e = encoding { inputs[e] = "encoding table" }
        var input = DWIInput(image: series.path, bval: bval, bvec: bvec, encoding: encoding.map { .table($0) })
        let frames = try NIfTIFile.readHeader(series.path).frames
        let wanted = request.denoise ?? (frames >= 15)
        if wanted && frames >= 2 {
            try step("denoise \(series.stem)") {
                let name = "dwi/\(series.stem)_desc-denoised_dwi.nii.gz", sigma = "dwi/\(series.stem)_desc-sigma_dwi.nii.gz"
                var r = MPPCARequest(input: series.path, output: try out.path(name))
                r.noiseOutput = try out.path(sigma)
                let s = try DenoisePipeline.mppca(r)
                input.image = try out.path(name)
                return ("MP-PCA (\(s.volumes) volumes, window \(s.window.x)×\(s.window.y)×\(s.window.z)): median σ \(formatSignificant(s.medianSigma)), median rank \(formatFixed(s.medianRank, 1))", [name, sigma])
            }
        } else {
            skip("denoise \(series.stem)", request.denoise == false ? "turned off" : "\(frames) volumes: MP-PCA needs about 15 or more to separate signal from noise")
        }
        var maps: [(file: String, metric: String)] = []
        var loaded: LoadedDiffusion?
        let fitted = try step("dti \(series.stem)") {
            let folder = "dwi/\(series.stem)_dti"
            let s = try DiffusionProcessing.dti(inputs: [input], mask: .automatic, output: try out.path(folder), options: DTIOptions(),
                                               maps: ["FA", "MD", "AD", "RD", "S0", "V1", "mask"])
            maps += [("\(folder)/FA.nii.gz", "fa"), ("\(folder)/MD.nii.gz", "md_um2_per_ms"),
                     ("\(folder)/AD.nii.gz", "ad_um2_per_ms"), ("\(folder)/RD.nii.gz", "rd_um2_per_ms")]
            loaded = try DiffusionProcessing.load([input])
            return ("\(s.voxels) voxels, \(s.encodings), \(s.method)", s.files.map { folder + "/" + $0 })
        }
        guard fitted, let loaded else { return }
        let scheme = try EncodingScheme(loaded.table)
        do {
            _ = try MicroFA.choose(request.microFAMethod, for: scheme)
            try step("microfa \(series.stem)") {
                let folder = "dwi/\(series.stem)_microfa"
                let s = try DiffusionProcessing.microFA(inputs: [input], mask: .automatic, output: try out.path(folder), method: request.microFAMethod)
                maps.append(("\(folder)/microFA.nii.gz", "ufa"))
                return ("\(s.method): \(s.explanation)", s.files.map { folder + "/" + $0 })
            }
        } catch {
            skip("microfa \(series.stem)", "\(error)")
        }
        let weighted = meanVolumes(loaded, scheme: scheme, weighted: true), b0 = meanVolumes(loaded, scheme: scheme, weighted: false)
        try contrastSpace(name: "dwi", stem: series.stem, folder: "dwi", header: loaded.header, maps: maps,
                          candidates: { [(weighted, .dwi, "mean DWI"), (b0, .t2, "mean b = 0")] })
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
        var maps: [(file: String, metric: String)] = []
        var align = true
        try step("mtr") {
            let name = "anat/\(prefix)_MTRmap.nii.gz"
            var r = MTRRequest(mtOn: mt.on.path, mtOff: mt.off.path, output: try out.path(name))
            r.register = true
            var report = try MTPipeline.mtr(r)
            if let ncc = report.alignment.values.first, ncc[1] < ncc[0] {
                // Alignment that lowers the images' agreement is not kept (noisy or already aligned series).
                r.register = false; align = false
                report = try MTPipeline.mtr(r)
                report.alignment[mt.off.path] = [ncc[0], ncc[0]]
                warnings.append("mtr: slice-wise alignment lowered the MT-on/MT-off correlation (\(formatFixed(ncc[0], 3)) → \(formatFixed(ncc[1], 3))); MTR computed without it")
            }
            maps.append((name, "mtr_pu"))
            let ncc = report.alignment.values.first.map { "slice-wise alignment NCC \(formatFixed($0[0], 3)) → \(formatFixed($0[1], 3))" } ?? ""
            return ("MTR (p.u.) from \(mt.on.stem) and \(mt.off.stem); \(ncc); \(report.invalidVoxels) invalid voxel(s) set to 0", [name])
        }
        if let t1w = mt.t1w {
            try step("mtsat") {
                let folder = "anat/\(prefix)_mtsat"
                var r = MTsatRequest(mt: mt.on.path, pd: mt.off.path, t1w: t1w.path, outputFolder: try out.path(folder))
                r.register = align
                let report = try MTPipeline.mtsat(r)
                maps += [("\(folder)/mtsat.nii.gz", "mtsat_pu"), ("\(folder)/t1map.nii.gz", "t1_s")]
                return ("MTsat (p.u.) and T1 (s), \(report.settings["form"] ?? "") form, B1 \(report.settings["b1_correction"] ?? "none"); \(report.invalidVoxels) invalid voxel(s)",
                        ["mtsat.nii.gz", "t1map.nii.gz", "r1map.nii.gz", "a.nii.gz", "mtsat.json"].map { folder + "/" + $0 })
            }
        }
        let mtrFile = maps.first { $0.metric == "mtr_pu" }?.file
        let header = try NIfTIFile.readHeader(mt.on.path)
        try contrastSpace(name: "mt", stem: mt.on.stem, folder: "anat", header: header, maps: maps, candidates: {
            // The MTR map first: the cord's MTR is several times CSF's on every scanner, whereas
            // the cord/CSF contrast of the FLASH images depends on TE, flip angle and TR.
            var list: [(Volume<Float>, SegmentationContrast, String)] = []
            if let f = mtrFile { list.append((try NIfTIFile.read(try self.out.path(f)).0, .t1, "MTR map")) }
            list.append((try NIfTIFile.read(mt.on.path).0.frame(0), .mt, "MT-on"))
            list.append((try NIfTIFile.read(mt.off.path).0.frame(0), .mt, "MT-off"))
            return list
        })
    }

    // MARK: - Atlas in a contrast's space, and the values

    /// Segments the cord on the first of `candidates` (images on the contrast's grid, each
    /// with its polarity) where a cord is found, registers the atlas there with the
    /// session's labels, writes the warped atlas, and extracts each map per level and region.
    func contrastSpace(name: String, stem: String, folder: String, header: NIfTIHeader, maps: [(file: String, metric: String)],
                       candidates: () throws -> [(Volume<Float>, SegmentationContrast, String)]) throws {
        guard !maps.isEmpty else { skip("values (\(name))", "no map was computed"); return }
        guard let labels else {
            skip("registration (\(name))", "no vertebral labels: maps are written, per-level values are not")
            return
        }
        var warped: Atlas?
        try step("registration (\(name))") {
            var found: (CordSegmentation, Volume<Float>, String)?
            var failures: [String] = []
            for (image, contrast, label) in try candidates() {
                var options = CordSegmentationOptions(); options.contrast = contrast
                do { found = (try CordSegmenter.segment(image, options: options), image, label); break } catch {
                    failures.append("\(label): \(error)")
                }
            }
            guard let (seg, image, used) = found else {
                throw CordError.invalidValue(what: "cord segmentation in the \(name) space", detail: failures.joined(separator: "; "))
            }
            let segName = "\(folder)/\(stem)_label-SC_mask.nii.gz"
            try NIfTIFile.write(seg.binary, to: out.path(segName), datatype: .uint8, like: header, description: "cordq seg cord (\(name))")
            let reg = try registerAtlas(image, segmentation: seg.binary, labels: labels, space: name)
            let a = try reg.atlasInSubjectSpace()
            warped = a
            let atlasName = "\(folder)/\(stem)_atlas"
            try AtlasFolder.write(AtlasPipeline.contents(of: a, title: "CordQ atlas in the space of \(stem)"), to: out.path(atlasName, isFolder: true))
            let dice = RegistrationPipeline.diceOverSegmentedSlices(a.cord ?? Volume(grid: image.grid), seg.binary)
            let note = failures.isEmpty ? "" : " (after: " + failures.joined(separator: "; ") + ")"
            return ("cord on the \(used) in \(seg.slices.count) slices\(note); atlas registered with the session's labels, Dice \(formatFixed(dice, 3))", [segName, atlasName])
        }
        guard let atlas = warped else { return }
        try step("values (\(name))") {
            let present = Set(atlas.levels?.volume.data.filter { $0 > 0 }.map(Int.init) ?? []).sorted()
            var added = 0, notes: [String] = []
            let unique = Dictionary(grouping: maps, by: \.metric)
            for m in maps {
                let (v, _) = try NIfTIFile.read(try out.path(m.file))
                var r = ExtractionRequest(metric: unique[m.metric]!.count > 1 ? m.metric + "_" + stem : m.metric, subject: participant,
                                          regions: atlas.regionNames, levels: present, method: request.extraction)
                r.session = inventory.session ?? ""
                let result = try MetricExtractor.extract(map: v, atlas: atlas, request: r)
                let kept = result.table.rows.filter { $0.count > 0 }
                rows += kept; added += kept.count
                notes += result.warnings.prefix(3)
            }
            warnings += notes.map { "\(name): \($0)" }
            return ("\(added) rows (\(maps.map(\.metric).joined(separator: ", ")); levels \(present.map { VertebralLevelName.name($0) }.joined(separator: ", ")); \(request.extraction.rawValue))", [])
        }
    }
}
