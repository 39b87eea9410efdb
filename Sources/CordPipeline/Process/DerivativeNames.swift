// The BIDS-derivatives names of what `cordq process` writes, and the sidecars they carry.
//
// BIDS 1.11 (the schema of bids-validator 3.x) names masks, segmentations, preprocessed
// series and the anatomical parametric maps (MTRmap, MTsat, T1map, R1map, M0map); those files
// get exactly its names. It has no names yet for diffusion-model maps, transforms, tables or
// CordQ's atlas folders: diffusion maps follow the BEP016 draft (`model-<m>_param-<p>_dwimap`,
// the form QSIRecon writes), transforms follow fMRIPrep (`from-<A>_to-<B>_mode-image_xfm`),
// and every such pattern is listed, with the reason, in the derivatives folder's `.bidsignore`.
import CordCore

/// Builds the relative output paths of one `cordq process` run.
struct DerivativeNames: Sendable {
    /// `sub-01` or `sub-01_ses-2`.
    let prefix: String
    /// The template space's label (`CordQ`, `PAM50`: the atlas folder's name, letters and digits).
    let template: String
    /// `ses-<label>/` when the output folder is a BIDS subject folder and the run is one session
    /// of it (BIDS puts a session's files under `sub-<label>/ses-<label>/<datatype>/`), else empty.
    var sessionFolder = ""

    /// A datatype folder of the output (inside the session folder when there is one).
    func dir(_ datatype: String) -> String { sessionFolder + datatype + "/" }

    /// BIDS entity order (the specification's entity table), for the entities CordQ writes.
    static let order = ["sub", "ses", "task", "acq", "ce", "rec", "dir", "run", "mod", "echo", "flip", "inv", "mt", "part",
                        "space", "from", "to", "mode", "model", "param", "label", "desc"]

    /// The raw series' entities (`sub`, `ses`, and those in `keep`, in their order) as a name
    /// prefix: `sub-01_acq-ax_T2w` with keep [acq] → `sub-01_acq-ax`.
    static func sourceEntities(_ stem: String, keep: Set<String>) -> String {
        let parts = stem.split(separator: "_").map(String.init)
        var kept: [String] = []
        for p in parts {
            let kv = p.split(separator: "-", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { continue }   // the suffix
            if kv[0] == "sub" || kv[0] == "ses" || keep.contains(kv[0]) { kept.append(p) }
        }
        return kept.joined(separator: "_")
    }

    /// A label value made of letters and digits only (BIDS labels): `mtr-pu` → `mtrpu`.
    static func label(_ s: String) -> String {
        let cleaned = String(s.unicodeScalars.filter { ($0.value < 128) && ($0.properties.isAlphabetic || ("0"..."9").contains(Character($0))) })
        return cleaned.isEmpty ? "x" : cleaned
    }

    /// `base` + the entities in BIDS order + `_suffix` + `ext`.
    static func compose(_ base: String, _ entities: [(String, String)], suffix: String, ext: String) -> String {
        let sorted = entities.sorted { (order.firstIndex(of: $0.0) ?? order.count) < (order.firstIndex(of: $1.0) ?? order.count) }
        return ([base] + sorted.map { "\($0.0)-\($0.1)" } + [suffix]).joined(separator: "_") + ext
    }

    // MARK: - Spaces

    /// The label of an image's own space: its suffix (`T2w`, `MTS`, `dwi`), as fMRIPrep's `space-T1w`.
    static func spaceLabel(of stem: String) -> String {
        label(String(stem.split(separator: "_").last ?? "orig"))
    }

    /// Entities a series keeps in its derivatives (the ones the BIDS rule of the datatype allows).
    static let anatKeep: Set<String> = ["task", "acq", "ce", "rec", "run", "echo", "part"]
    static let mtKeep: Set<String> = ["acq", "ce", "rec", "run"]
    static let dwiKeep: Set<String> = ["acq", "rec", "dir", "run", "part"]

    // MARK: - Anatomical image

    func anatMask(_ stem: String, label l: String) -> String {
        dir("anat") + Self.compose(Self.sourceEntities(stem, keep: Self.anatKeep), [("space", Self.spaceLabel(of: stem)), ("label", l)], suffix: "mask", ext: ".nii.gz")
    }
    func anatProbseg(_ stem: String, label l: String) -> String {
        dir("anat") + Self.compose(Self.sourceEntities(stem, keep: Self.anatKeep), [("space", Self.spaceLabel(of: stem)), ("label", l)], suffix: "probseg", ext: ".nii.gz")
    }
    func anatLevels(_ stem: String) -> String {
        dir("anat") + Self.compose(Self.sourceEntities(stem, keep: Self.anatKeep), [("space", Self.spaceLabel(of: stem)), ("desc", "levels")], suffix: "dseg", ext: ".nii.gz")
    }
    func anatMorphometry(_ stem: String) -> String {
        dir("anat") + Self.compose(Self.sourceEntities(stem, keep: Self.anatKeep), [("space", Self.spaceLabel(of: stem))], suffix: "morphometry", ext: ".tsv")
    }

    /// The transform taking images of space `from` to space `to` (ITK/ANTs displacement field,
    /// defined on `to`'s grid, as antsApplyTransforms uses it): the files SCT calls
    /// `warp_<from>2<to>`.
    func transform(folder: String, base: String, from: String, to: String) -> String {
        dir(folder) + Self.compose(base, [("from", from), ("to", to), ("mode", "image")], suffix: "xfm", ext: ".nii.gz")
    }

    // MARK: - Contrast spaces (DWI series, MT set)

    /// The name base of a contrast space: the DWI series' entities, or the MT set's.
    func contrastBase(stem: String, folder: String) -> String {
        Self.sourceEntities(stem, keep: folder == "dwi" ? Self.dwiKeep : Self.mtKeep)
    }
    func contrastMask(stem: String, folder: String) -> String {
        dir(folder) + Self.compose(contrastBase(stem: stem, folder: folder), [("space", Self.spaceLabel(of: stem)), ("label", "SC")], suffix: "mask", ext: ".nii.gz")
    }
    func contrastAtlasFolder(stem: String, folder: String) -> String {
        dir(folder) + contrastBase(stem: stem, folder: folder) + "_space-\(Self.spaceLabel(of: stem))_atlas"
    }
    func contrastPerSlice(stem: String, folder: String) -> String {
        dir(folder) + Self.compose(contrastBase(stem: stem, folder: folder), [("space", Self.spaceLabel(of: stem))], suffix: "perslice", ext: ".tsv")
    }

    /// SCT-layout CSV tables: `sct_process_segmentation` beside an anatomical image's
    /// morphometry, `sct_extract_metric` for a contrast space.
    func anatSCTMorphometry(_ stem: String) -> String {
        dir("anat") + Self.compose(Self.sourceEntities(stem, keep: Self.anatKeep), [("space", Self.spaceLabel(of: stem))], suffix: "sct-process-segmentation", ext: ".csv")
    }
    func contrastSCTMetrics(stem: String, folder: String) -> String {
        dir(folder) + Self.compose(contrastBase(stem: stem, folder: folder), [("space", Self.spaceLabel(of: stem))], suffix: "sct-extract-metric", ext: ".csv")
    }

    /// A map of a contrast space in template space: MT maps keep their BIDS suffix
    /// (`space-CordQ_MTRmap`), diffusion maps their BEP016 model/param.
    func templateMap(stem: String, folder: String, metric: String) -> String {
        let base = contrastBase(stem: stem, folder: folder)
        if let (suffix, desc) = Self.mtSuffix(metric: metric) {
            return dir(folder) + Self.compose(base, [("space", template)] + (desc.map { [("desc", $0)] } ?? []), suffix: suffix, ext: ".nii.gz")
        }
        let (model, param) = Self.diffusionModelParam(metric: metric)
        return dir(folder) + Self.compose(base, [("space", template), ("model", model), ("param", param)], suffix: "dwimap", ext: ".nii.gz")
    }

    /// A table metric's map in its own space (the file SCT's `Filename` column names).
    func spaceMap(stem: String, folder: String, metric: String) -> String {
        if let (suffix, _) = Self.mtSuffix(metric: metric) { return mtMap(stem, suffix: suffix) }
        let (model, param) = Self.diffusionModelParam(metric: metric)
        return dir(folder) + Self.compose(contrastBase(stem: stem, folder: folder), [("space", Self.spaceLabel(of: stem)), ("model", model), ("param", param)],
                                          suffix: "dwimap", ext: ".nii.gz")
    }

    /// The BIDS suffix of an MT-derived table metric.
    static func mtSuffix(metric: String) -> (String, String?)? {
        switch metric {
        case "mtr_pu": return ("MTRmap", nil)
        case "mtsat_pu": return ("MTsat", nil)
        case "t1_s": return ("T1map", nil)
        default: return nil
        }
    }
    /// Model and parameter of a diffusion table metric (`fa` → DTI, FA; `ufa` → microFA, uFA).
    static func diffusionModelParam(metric: String) -> (String, String) {
        switch metric {
        case "fa": return ("DTI", "FA")
        case "md_um2_per_ms": return ("DTI", "MD")
        case "ad_um2_per_ms": return ("DTI", "AD")
        case "rd_um2_per_ms": return ("DTI", "RD")
        case "ufa": return ("microFA", "uFA")
        default: return ("CordQ", label(metric))
        }
    }

    // MARK: - DWI series

    func dwiBase(_ stem: String) -> String { Self.sourceEntities(stem, keep: Self.dwiKeep) }
    func dwiSeries(_ stem: String, desc: String, ext: String = ".nii.gz") -> String {
        dir("dwi") + Self.compose(dwiBase(stem), [("space", "dwi"), ("desc", desc)], suffix: "dwi", ext: ext)
    }
    func dwiTable(_ stem: String, desc: String, suffix: String) -> String {
        dir("dwi") + Self.compose(dwiBase(stem), [("space", "dwi"), ("desc", desc)], suffix: suffix, ext: ".tsv")
    }
    /// A model's file (`FA.nii.gz`, `mask.nii.gz`, `dti.json`) as BEP016 names it:
    /// `…_space-dwi_model-DTI_param-FA_dwimap.nii.gz`; the fit mask is a BIDS mask
    /// without the model entity (`…_desc-fitDTI_mask`), the record the model-level sidecar `…_model-DTI_dwimap.json`.
    func dwiModelFile(_ stem: String, model: String, desc: String? = nil, file: String) -> String {
        let base = dwiBase(stem)
        let extra: [(String, String)] = desc.map { [("desc", $0)] } ?? []
        if file.hasSuffix(".json") {
            return dir("dwi") + Self.compose(base, [("space", "dwi"), ("model", model)] + extra, suffix: "dwimap", ext: ".json")
        }
        let ext = file.hasSuffix(".nii.gz") ? ".nii.gz" : ".nii"
        let name = String(file.dropLast(ext.count))
        if name == "mask" {
            return dir("dwi") + Self.compose(base, [("space", "dwi"), ("desc", "fit" + model + (desc ?? ""))], suffix: "mask", ext: ext)
        }
        return dir("dwi") + Self.compose(base, [("space", "dwi"), ("model", model), ("param", Self.label(name))] + extra, suffix: "dwimap", ext: ext)
    }
    /// MP-PCA's noise map (BEP016 form: model MPPCA, param sigma).
    func dwiNoise(_ stem: String) -> String {
        dir("dwi") + Self.compose(dwiBase(stem), [("space", "dwi"), ("model", "MPPCA"), ("param", "sigma")], suffix: "dwimap", ext: ".nii.gz")
    }
    /// The field (Hz) and the unwarped b = 0 of a reverse phase-encoding pair.
    func dwiField(_ stem: String, ext: String = ".nii.gz") -> String {
        dir("fmap") + Self.compose(Self.sourceEntities(stem, keep: ["acq", "run"]), [("space", "dwi"), ("desc", "cordq")], suffix: "fieldmap", ext: ext)
    }
    func dwiUnwarpedB0(_ stem: String) -> String {
        dir("dwi") + Self.compose(dwiBase(stem), [("space", "dwi"), ("desc", "unwarped")], suffix: "dwiref", ext: ".nii.gz")
    }

    // MARK: - MT set

    /// MTR, MTsat, T1, R1 and the apparent M0 (A) of an MT set, each with its BIDS suffix.
    func mtMap(_ stem: String, suffix: String) -> String {
        dir("anat") + Self.compose(Self.sourceEntities(stem, keep: Self.mtKeep), [("space", Self.spaceLabel(of: stem))], suffix: suffix, ext: ".nii.gz")
    }

    /// The `.bidsignore` of CordQ's derivatives folder: each pattern BIDS 1.11 has no name for,
    /// with why.
    static let ignored: [(pattern: String, why: String)] = [
        ("*_dwimap.*", "diffusion-model maps, named by the BEP016 draft (model-/param- entities) that BIDS 1.11 does not have yet"),
        ("*_xfm.*", "transforms (ITK/ANTs displacement fields), named as fMRIPrep names them; BIDS 1.11 has no transform files"),
        ("*.bval", "b-values beside each preprocessed series (BIDS 1.11's derivative DWI rule lists only .nii.gz and .json; raw BIDS keeps them beside the image)"),
        ("*.bvec", "gradient directions beside each preprocessed series (as for .bval)"),
        ("*_dwiref.*", "a b = 0 reference image (QSIPrep's name); BIDS 1.11 has no suffix for it"),
        ("*_atlas", "the atlas warped into a space, as an SCT label folder (info_label.txt), for `cordq metrics extract` and SCT's scripts"),
        ("*_metrics.tsv", "CordQ's long-form table (one row per level × region × metric)"),
        ("*_morphometry.tsv", "per-slice morphometry"),
        ("*_perslice.tsv", "per-slice values when a space has no levels"),
        ("*_motion.tsv", "slice-group motion estimates (BIDS's motion suffix is for the motion datatype)"),
        ("*_outliers.tsv", "slice-group outlier scores"),
        ("*_provenance.json", "the run's provenance record"),
        ("*_sct-extract-metric.csv", "per-level values in sct_extract_metric's CSV layout (process --sct-csv)"),
        ("*_sct-process-segmentation.csv", "morphometry in sct_process_segmentation's CSV layout (process --sct-csv)"),
        ("qc", "the QC report (HTML and PNG)"),
        ("*_encoding.tsv", "b-tensor shapes per volume (CordQ's encoding table) beside a series bval/bvec cannot describe"),
        ("batch", "cordq batch's logs and status"),
        ("batch.tsv", "cordq batch's status table"),
        ("logs", "cordq batch's per-subject logs"),
        ("longitudinal", "cordq longitudinal's tables and change maps"),
    ]
}
