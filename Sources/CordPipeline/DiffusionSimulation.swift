// `cordq dwi simulate`: a phantom diffusion series with its encodings and ground truth.
import CordCore
import CordIO
import CordPhantom

/// What to simulate.
public struct DWISimulationOptions: Sendable {
    /// A `DiffusionSchemes.named` scheme.
    public var scheme = "lte-ste"
    public var snr: Double? = 50
    public var seed: UInt64 = 1
    /// Axial grid: in-plane spacing, slice thickness (mm), square field of view (mm), and
    /// the world z range (mm; C1–T1 spans about −73…73, C3–C5 about −45…−5).
    public var inPlane = 0.8, sliceThickness = 3.0, fieldOfView = 20.0
    public var inferior = -45.0, superior = -5.0
    /// Fractional increase of σ from the first to the last slice (see `DiffusionPhantomParameters`).
    public var sliceNoiseRamp = 0.0
    /// Multiband factor and the spread of σ between slice groups (see `DiffusionPhantomParameters`).
    public var multibandFactor = 1, groupNoiseSpread = 0.0
    /// `standard` (one population per tissue) or `heterogeneous` (several compartments; see
    /// `DiffusionPhantomParameters.heterogeneous`).
    public var tissue = "standard"
    public init() {}

    /// Voxel sizes, field of view, slab, SNR and noise ramp a scanner could use (an in-plane
    /// size of 0 or NaN, or a 1e9 mm field of view, used to crash the simulator).
    public func checkPlausible() throws {
        try CheckedNumber.plausible(inPlane, field: "--in-plane", in: "", unit: "mm", range: 0.05...10)
        try CheckedNumber.plausible(sliceThickness, field: "--slice-thickness", in: "", unit: "mm", range: 0.1...20)
        try CheckedNumber.plausible(fieldOfView, field: "--field-of-view", in: "", unit: "mm", range: 2...400)
        try CheckedNumber.plausible(inferior, field: "--z-range (inferior)", in: "", unit: "mm", range: -500...500)
        try CheckedNumber.plausible(superior, field: "--z-range (superior)", in: "", unit: "mm", range: -500...500)
        if let snr { try CheckedNumber.plausible(snr, field: "--snr", in: "", unit: "", range: 0.5...1e6, hint: "0 means noise-free") }
        try CheckedNumber.plausible(sliceNoiseRamp, field: "--slice-noise-ramp", in: "", unit: "", range: 0...10)
        let side = fieldOfView / inPlane, slices = abs(superior - inferior) / sliceThickness + 1
        guard side * side * slices <= 5e7 else {
            throw CordError.invalidValue(what: "simulated grid", detail: "\(formatSignificantCore(side)) × \(formatSignificantCore(side)) × \(formatSignificantCore(slices)) voxels is more than CordQ simulates (5e7); use a larger --in-plane or a smaller --field-of-view")
        }
    }
}

public enum DiffusionSimulationExport {
    /// Writes `output` (new or empty folder): `dwi.nii.gz`, `dwi.bval`, `dwi.bvec` (FSL),
    /// `dwi_encoding.tsv`, `mask_cord.nii.gz` (cord fraction ≥ ½), `mask_wm.nii.gz` / `mask_gm.nii.gz` (voxels of
    /// pure white / grey matter), `dwi.json` (RepetitionTime, SliceTiming, MultibandAccelerationFactor), and `truth_{FA,MD,microFA,VI,VA,S0}.nii.gz` (µm²/ms, (µm²/ms)²), `truth_dwi_noisefree.nii.gz` and `truth_sigma.nii.gz` (noise σ per voxel).
    public static func write(to output: String, options o: DWISimulationOptions) throws -> [String] {
        guard let table = DiffusionSchemes.named(o.scheme) else {
            throw CordError.invalidValue(what: "scheme \"\(o.scheme)\"", detail: "use one of \(DiffusionSchemes.names.joined(separator: ", "))")
        }
        try o.checkPlausible()
        var anatomy = PhantomParameters(); anatomy.snr = nil
        let grid = PhantomGrid.axial(inPlane: o.inPlane, sliceThickness: o.sliceThickness, fieldOfView: o.fieldOfView,
                                     inferior: o.inferior, superior: o.superior, centre: [0, 4])
        let subject = try PhantomSubject(anatomy, on: grid)
        guard ["standard", "heterogeneous"].contains(o.tissue) else {
            throw CordError.invalidValue(what: "tissue \"\(o.tissue)\"", detail: "use standard or heterogeneous")
        }
        var p = o.tissue == "heterogeneous" ? DiffusionPhantomParameters.heterogeneous() : DiffusionPhantomParameters()
        p.snr = o.snr; p.seed = o.seed; p.sliceNoiseRamp = o.sliceNoiseRamp
        p.multibandFactor = o.multibandFactor; p.groupNoiseSpread = o.groupNoiseSpread
        let sim = try DWISimulator.simulate(subject, table: table, parameters: p)
        let out = try OutputFolder(output)
        var files: [String] = []
        try NIfTIFile.write(sim.image, to: out.path("dwi.nii.gz"), description: "cordq dwi simulate \(o.scheme)")
        try GradientFiles.write(table, grid: grid, bval: out.path("dwi.bval"), bvec: out.path("dwi.bvec"))
        try EncodingTable.write(table, grid: grid, to: out.path("dwi_encoding.tsv"))
        files += ["dwi.nii.gz", "dwi.bval", "dwi.bvec", "dwi_encoding.tsv"]
        // Sidecar: slice timing (TR 4 s, groups in ascending order) and the multiband factor.
        let groups = try p.sliceGroups(slices: grid.nz), ngroups = grid.nz / p.multibandFactor
        let sidecar: [String: JSONValue] = [
            "RepetitionTime": .number(4.0),
            "MultibandAccelerationFactor": .number(Double(p.multibandFactor)),
            "SliceTiming": .array(groups.map { .number(4.0 * Double($0) / Double(ngroups)) }),
        ]
        try JSONFile.write(sidecar, to: out.path("dwi.json"))
        files.append("dwi.json")
        // Ground truth for denoising: the noise-free series and the noise σ of every voxel.
        try NIfTIFile.write(sim.noiseFree, to: out.path("truth_dwi_noisefree.nii.gz"), description: "cordq dwi simulate noise-free")
        var sigmaMap = Volume<Float>(grid: grid)
        for k in 0..<grid.nz { for j in 0..<grid.ny { for i in 0..<grid.nx { sigmaMap[i, j, k] = Float(sim.sigmaPerSlice[k]) } } }
        try NIfTIFile.write(sigmaMap, to: out.path("truth_sigma.nii.gz"), description: "cordq dwi simulate noise sigma")
        files += ["truth_dwi_noisefree.nii.gz", "truth_sigma.nii.gz"]
        var wm = Mask(grid: grid, frames: 1, repeating: 0), gm = wm
        for n in 0..<grid.voxelCount {
            let pure = subject.composition.pureTissue(at: n)
            if pure?.isWhiteMatter ?? false { wm.data[n] = 1 }
            if pure?.isGreyMatter ?? false { gm.data[n] = 1 }
        }
        try NIfTIFile.write(subject.cordMask, to: out.path("mask_cord.nii.gz"), datatype: .uint8)
        try NIfTIFile.write(wm, to: out.path("mask_wm.nii.gz"), datatype: .uint8)
        try NIfTIFile.write(gm, to: out.path("mask_gm.nii.gz"), datatype: .uint8)
        files += ["mask_cord.nii.gz", "mask_wm.nii.gz", "mask_gm.nii.gz"]
        let t = sim.truth
        for (v, name) in [(t.fa, "FA"), (t.md, "MD"), (t.microFA, "microFA"), (t.isotropicVariance, "VI"), (t.anisotropicVariance, "VA"), (t.s0, "S0")] {
            try NIfTIFile.write(v, to: out.path("truth_\(name).nii.gz"), description: "cordq dwi simulate truth \(name)")
            files.append("truth_\(name).nii.gz")
        }
        try out.commit()
        return files
    }
}
