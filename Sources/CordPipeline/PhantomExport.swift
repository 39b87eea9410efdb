// `cordq phantom`: the digital cord phantom written as a BIDS subject with its ground truth.
import CordCore
import CordIO
import CordPhantom

/// What to write for a phantom subject.
public struct PhantomExportOptions: Sendable {
    /// BIDS subject label (without `sub-`).
    public var subject = "phantom01"
    public var parameters = PhantomParameters()
    /// Which acquisitions to simulate: sagittal T2w (`acq-sag`), axial T2w (`acq-ax`), the
    /// DWI series and the MT set (MT-on, MT-off and T1-weighted FLASH, `_MTS`).
    public var acquisitions: [PhantomAcquisition] = [.sagittalT2w, .axialT2w, .dwi]
    /// Also write disc labels in the cord (`derivatives/labels/`, spine-generic's layout for
    /// manual labels) for every T2w series.
    public var discLabels = true
    /// Distort the DWI with a susceptibility field and write a reverse phase-encoding b = 0
    /// pair (`fmap/*_dir-PA_epi`, `fmap/*_dir-AP_epi`, `IntendedFor` the DWI) and the true
    /// field (`derivatives/truth/…_desc-truth_fieldmap.nii.gz`, Hz). Nil: no distortion.
    public var distortion: DistortionPhantomParameters?
    /// The DWI grid's in-plane voxel size and field of view (mm); nil: 1 mm over 40 mm.
    public var dwiInPlane: Double?, dwiFieldOfView: Double?
    public init() {}
}

/// A simulated series: its BIDS name, grid and sidecar values. Together they match the
/// `clinical-minimal` protocol card (2D sagittal and axial T2w TSE, single-shell DWI).
public enum PhantomAcquisition: String, Sendable, CaseIterable {
    case sagittalT2w = "sag", axialT2w = "ax", dwi = "dwi", mt = "mt"

    var grid: Grid {
        switch self {
        case .sagittalT2w: PhantomGrid.sagittal(inPlane: 0.7, sliceThickness: 3)
        case .axialT2w: PhantomGrid.axial(inPlane: 0.5, sliceThickness: 3)
        case .dwi: PhantomGrid.axial(inPlane: 1, sliceThickness: 5, fieldOfView: 40, inferior: -50, superior: 30)
        case .mt: PhantomGrid.axial(inPlane: 0.9, sliceThickness: 5, fieldOfView: 40, inferior: -50, superior: 30)
        }
    }
    /// Sidecar of a 3D T2w turbo spin echo (sagittal) or 2D TSE (axial) at 3 T.
    var sidecar: [String: JSONValue] {
        var s: [String: JSONValue] = [
            "Manufacturer": .string("CordQ"), "ManufacturersModelName": .string("digital phantom"),
            "MagneticFieldStrength": .number(3), "EchoTime": .number(0.12),
            "ConversionSoftware": .string("cordq phantom"), "ConversionSoftwareVersion": .string(CordQVersion.string),
        ]
        switch self {
        case .sagittalT2w:
            s["MRAcquisitionType"] = .string("2D"); s["RepetitionTime"] = .number(3.0); s["FlipAngle"] = .number(90)
            s["ScanningSequence"] = .string("SE"); s["SeriesDescription"] = .string("T2w sagittal (phantom)")
            s["SliceThickness"] = .number(3)
        case .axialT2w:
            s["MRAcquisitionType"] = .string("2D"); s["RepetitionTime"] = .number(4.0); s["FlipAngle"] = .number(90)
            s["ScanningSequence"] = .string("SE"); s["SeriesDescription"] = .string("T2w axial (phantom)")
            s["SliceThickness"] = .number(3)
        case .dwi:
            s["MRAcquisitionType"] = .string("2D"); s["RepetitionTime"] = .number(5.0); s["EchoTime"] = .number(0.08)
            s["FlipAngle"] = .number(90); s["ScanningSequence"] = .string("EP"); s["SequenceVariant"] = .string("SK_SP")
            s["SeriesDescription"] = .string("DWI axial single shell (phantom)"); s["SliceThickness"] = .number(5)
            s["MultibandAccelerationFactor"] = .number(2); s["PhaseEncodingDirection"] = .string("j-")
        case .mt:
            s["MRAcquisitionType"] = .string("3D"); s["ScanningSequence"] = .string("GR"); s["SequenceVariant"] = .string("SP")
            s["EchoTime"] = .number(0.004); s["SliceThickness"] = .number(5)
        }
        return s
    }
}

/// What was written, for the command's report.
public struct PhantomExportSummary: Sendable {
    public var root: String
    public var images: [String]
    public var truthFiles: [String]
    public var truth: [PhantomTruth]
}

/// Writes phantom subjects as BIDS datasets.
public enum PhantomExport {
    /// Simulates the requested acquisitions and writes `outDir` (which must be new or empty):
    /// `sub-<label>/anat/*_T2w.nii.gz` with sidecars, `participants.tsv`,
    /// `dataset_description.json`, and `derivatives/truth/` with masks, label maps (with
    /// their BIDS `dseg.tsv` look-up tables), the cord partial-volume map, the noise-free
    /// image, the centerline and the ground-truth parameters. All or nothing: the dataset
    /// is staged and moved into place at the end.
    public static func write(to outDir: String, options: PhantomExportOptions) throws -> PhantomExportSummary {
        try options.parameters.validate()
        guard options.subject.allSatisfy({ $0.isLetter || $0.isNumber }), !options.subject.isEmpty else {
            throw CordError.invalidValue(what: "subject label \"\(options.subject)\"", detail: "BIDS labels are letters and digits only")
        }
        let out = try OutputFolder(outDir)
        let sub = "sub-" + options.subject
        var images: [String] = [], truthFiles: [String] = [], truths: [PhantomTruth] = []
        try JSONFile.write(datasetDescription(derivative: false), to: out.path("dataset_description.json"))
        try JSONFile.write(datasetDescription(derivative: true), to: out.path("derivatives/truth/dataset_description.json"))
        try TSVTable(columns: ["participant_id", "species", "description"],
                     rows: [[sub, "digital phantom", "CordQ cervical cord phantom C1-T1"]]).write(to: out.path("participants.tsv"))
        for acq in options.acquisitions {
            var grid = acq.grid
            if acq == .dwi, options.dwiInPlane != nil || options.dwiFieldOfView != nil {
                grid = PhantomGrid.axial(inPlane: options.dwiInPlane ?? 1, sliceThickness: 5, fieldOfView: options.dwiFieldOfView ?? 40,
                                         inferior: -50, superior: 30)
            }
            let phantom = try PhantomSubject(options.parameters, on: grid)
            if acq == .mt {
                let w = try writeMT(phantom, sub: sub, snr: options.parameters.snr, seed: options.parameters.seed, into: out)
                images += w.images; truthFiles += w.truth
                continue
            }
            let stem = acq == .dwi ? "\(sub)" : "\(sub)_acq-\(acq.rawValue)"
            if acq == .dwi {
                // Single-shell DWI (5 b=0 + 30 × b=800 s/mm²) from the diffusion simulator, at the T2w SNR.
                let table = try DiffusionSchemes.named("dti").orThrow("the dti scheme")
                var p = DiffusionPhantomParameters(); p.snr = options.parameters.snr; p.seed = options.parameters.seed
                let sim = try DWISimulator.simulate(phantom, table: table, parameters: p)
                let base = "\(sub)/dwi/\(stem)_dwi"
                let t = "derivatives/truth/\(sub)/dwi/\(stem)"
                var dwiImage = sim.image, dwiSidecar = acq.sidecar
                if let dp = options.distortion {
                    let w = try writeDistortion(phantom, table: table, diffusion: p, parameters: dp, sub: sub, stem: stem, into: out)
                    dwiImage = w.dwi; images += w.images; truthFiles += w.truth
                    dwiSidecar["PhaseEncodingDirection"] = .string("j"); dwiSidecar["TotalReadoutTime"] = .number(dp.totalReadoutTime)
                }
                try NIfTIFile.write(dwiImage, to: out.path(base + ".nii.gz"), description: "cordq phantom DWI")
                try GradientFiles.write(table, grid: grid, bval: out.path(base + ".bval"), bvec: out.path(base + ".bvec"))
                try JSONFile.write(dwiSidecar, to: out.path(base + ".json"))
                images.append(base + ".nii.gz")
                for (v, name) in [(sim.truth.fa, "FA"), (sim.truth.md, "MD")] {
                    try NIfTIFile.write(v, to: out.path("\(t)_desc-truth\(name)_dwimap.nii.gz"))
                    truthFiles.append("\(t)_desc-truth\(name)_dwimap.nii.gz")
                }
                try NIfTIFile.write(phantom.cordMask, to: out.path("\(t)_label-cord_mask.nii.gz"), datatype: .uint8)
                truthFiles.append("\(t)_label-cord_mask.nii.gz")
                continue
            }
            let anat = "\(sub)/anat/\(stem)_T2w"
            try NIfTIFile.write(phantom.t2w, to: out.path(anat + ".nii.gz"), description: "cordq phantom T2w")
            try JSONFile.write(acq.sidecar, to: out.path(anat + ".json"))
            images.append(anat + ".nii.gz")
            let t = "derivatives/truth/\(sub)/anat/\(stem)"
            var written: [String] = []
            func mask(_ m: Mask, _ label: String) throws {
                try NIfTIFile.write(m, to: out.path("\(t)_label-\(label)_mask.nii.gz"), datatype: .uint8)
                written.append("\(t)_label-\(label)_mask.nii.gz")
            }
            func dseg(_ l: LabelMap, _ desc: String) throws {
                try NIfTIFile.write(l.volume, to: out.path("\(t)_desc-\(desc)_dseg.nii.gz"), datatype: .int16)
                let rows = l.names.keys.sorted().map { [String($0), l.names[$0] ?? ""] }
                try TSVTable(columns: ["index", "name"], rows: rows).write(to: out.path("\(t)_desc-\(desc)_dseg.tsv"))
                written += ["\(t)_desc-\(desc)_dseg.nii.gz", "\(t)_desc-\(desc)_dseg.tsv"]
            }
            try mask(phantom.cordMask, "cord")
            try mask(phantom.gmMask, "GM")
            try mask(phantom.csfMask, "CSF")
            try dseg(phantom.tissueLabels, "tissues")
            try dseg(phantom.levels, "levels")
            try dseg(phantom.discs, "discs")
            try NIfTIFile.write(phantom.cordFraction, to: out.path("\(t)_label-cord_probseg.nii.gz"))
            try NIfTIFile.write(phantom.t2wNoiseFree, to: out.path("\(t)_desc-noisefree_T2w.nii.gz"))
            written += ["\(t)_label-cord_probseg.nii.gz", "\(t)_desc-noisefree_T2w.nii.gz"]
            try centerlineTable(phantom.centerline).write(to: out.path("\(t)_desc-centerline.tsv"))
            try JSONFile.write(phantom.truth, to: out.path("\(t)_desc-truth_parameters.json"))
            written += ["\(t)_desc-centerline.tsv", "\(t)_desc-truth_parameters.json"]
            truthFiles += written
            truths.append(phantom.truth)
            if options.discLabels {
                let path = "derivatives/labels/\(sub)/anat/\(stem)_T2w_labels-disc.nii.gz"
                try NIfTIFile.write(discLabels(phantom), to: out.path(path), datatype: .uint8, description: "disc labels (phantom truth)")
                truthFiles.append(path)
            }
        }
        try out.commit()
        return PhantomExportSummary(root: out.destination, images: images, truthFiles: truthFiles, truth: truths)
    }

    static func datasetDescription(derivative: Bool) -> [String: JSONValue] {
        var d: [String: JSONValue] = [
            "Name": .string(derivative ? "CordQ phantom ground truth" : "CordQ digital cervical cord phantom"),
            "BIDSVersion": .string("1.9.0"),
            "DatasetType": .string(derivative ? "derivative" : "raw"),
            "GeneratedBy": .array([.object(["Name": .string("cordq"), "Version": .string(CordQVersion.string)])]),
        ]
        if !derivative { d["License"] = .string("CC0") }
        return d
    }

    static func centerlineTable(_ c: PhantomCenterline) -> TSVTable {
        var t = TSVTable(columns: ["arc_length_mm", "x_mm", "y_mm", "z_mm", "level"])
        for p in c.points {
            t.append([formatFixed(p.arcLength, 2), formatFixed(p.world.x, 3), formatFixed(p.world.y, 3),
                      formatFixed(p.world.z, 3), p.level?.name ?? ""])
        }
        return t
    }
}

extension Optional {
    /// The value, or an error naming what was missing.
    func orThrow(_ what: String) throws -> Wrapped {
        guard let v = self else { throw CordError.invalidValue(what: what, detail: "is not available") }
        return v
    }
}

extension PhantomExport {
    /// The distorted DWI (read out like the `dir-PA` image, PhaseEncodingDirection `j`), the
    /// reverse phase-encoding b = 0 pair in `fmap/` with `IntendedFor` the DWI, and the truth:
    /// field (Hz), undistorted noise-free b = 0, cord mask and the cord + 5 mm region.
    static func writeDistortion(_ phantom: PhantomSubject, table: GradientTable, diffusion: DiffusionPhantomParameters,
                                parameters dp: DistortionPhantomParameters, sub: String, stem: String,
                                into out: OutputFolder) throws -> (dwi: Volume<Float>, images: [String], truth: [String]) {
        var sp = dp; sp.phaseEncodingAxis = 1
        let d = try DistortionSimulator.simulate(phantom, table: table, diffusion: diffusion, parameters: sp)
        var images: [String] = [], truth: [String] = []
        for (image, dir, pe) in [(d.up, "PA", "j"), (d.down, "AP", "j-")] {
            let base = "\(sub)/fmap/\(sub)_dir-\(dir)_epi"
            try NIfTIFile.write(image, to: out.path(base + ".nii.gz"), description: "cordq phantom b=0 EPI \(pe)")
            let side: [String: JSONValue] = [
                "Manufacturer": .string("CordQ"), "ManufacturersModelName": .string("digital phantom"), "MagneticFieldStrength": .number(3),
                "PhaseEncodingDirection": .string(pe), "TotalReadoutTime": .number(sp.totalReadoutTime), "EchoTime": .number(0.08),
                "RepetitionTime": .number(5.0), "IntendedFor": .array([.string("bids::\(sub)/dwi/\(stem)_dwi.nii.gz")]),
                "SeriesDescription": .string("b=0 EPI \(dir) (phantom)"),
            ]
            try JSONFile.write(side, to: out.path(base + ".json"))
            images.append(base + ".nii.gz")
        }
        let t = "derivatives/truth/\(sub)/fmap/\(sub)"
        try NIfTIFile.write(d.fieldHz, to: out.path("\(t)_desc-truth_fieldmap.nii.gz"), description: "true field (Hz)")
        try NIfTIFile.write(d.undistorted, to: out.path("\(t)_desc-undistorted_b0.nii.gz"), description: "undistorted noise-free b=0")
        try NIfTIFile.write(d.dwiUndistorted, to: out.path("\(t)_desc-undistorted_dwi.nii.gz"), description: "undistorted noise-free DWI")
        try NIfTIFile.write(d.cordMask, to: out.path("\(t)_label-cord_mask.nii.gz"), datatype: .uint8)
        try NIfTIFile.write(d.region, to: out.path("\(t)_label-cordplus5mm_mask.nii.gz"), datatype: .uint8)
        truth += ["_desc-truth_fieldmap.nii.gz", "_desc-undistorted_b0.nii.gz", "_desc-undistorted_dwi.nii.gz",
                  "_label-cord_mask.nii.gz", "_label-cordplus5mm_mask.nii.gz"].map { t + $0 }
        return (d.dwi, images, truth)
    }
}
