// The phantom's MT set (MT-on, MT-off, T1-weighted FLASH) and its disc labels, for the
// demo subject and the `cordq process` tests.
import CordCore
import CordIO
import CordPhantom

extension PhantomExport {
    /// The spine-generic MT protocol's timings (Cohen-Adad et al. 2021 Nat Protoc 16:4611):
    /// MT-on and MT-off at 9° / 35 ms, T1-weighted at 15° / 15 ms. BIDS qMRI names (`flip`, `mt`
    /// entities, suffix `MTS`).
    static let mtSeries: [(name: String, acquisition: FLASHAcquisition)] = [
        ("flip-1_mt-on", FLASHAcquisition(flipAngleDegrees: 9, repetitionTime: 0.035, mtPulse: true)),
        ("flip-1_mt-off", FLASHAcquisition(flipAngleDegrees: 9, repetitionTime: 0.035, mtPulse: false)),
        ("flip-2_mt-off", FLASHAcquisition(flipAngleDegrees: 15, repetitionTime: 0.015, mtPulse: false)),
    ]

    /// Writes the MT set of `phantom` (`anat/*_MTS.nii.gz` with sidecars carrying FlipAngle,
    /// RepetitionTime and MTState) and the truth maps (MTsat in p.u., T1 in s, the noise-free
    /// MTR in p.u.). Returns the paths written (relative to the dataset).
    static func writeMT(_ phantom: PhantomSubject, sub: String, snr: Double?, seed: UInt64,
                        into out: OutputFolder) throws -> (images: [String], truth: [String]) {
        try writeMT(phantom, imageBase: "\(sub)/anat/\(sub)", truthBase: "derivatives/truth/\(sub)/anat/\(sub)_mt", snr: snr, seed: seed) { try out.path($0) }
    }

    /// The same with the images at `imageBase`_<series>_MTS and the truth at `truthBase`_…
    /// (paths relative to the dataset, made absolute by `path`), the tissues' relaxometry
    /// given (`tissues`, default the simulator's) and every volume written on `scanner` (same
    /// voxel counts; the phantom sampled on a turned grid appears turned).
    static func writeMT(_ phantom: PhantomSubject, imageBase: String, truthBase: String, snr: Double?, seed: UInt64,
                        tissues: [RelaxometryTissue]? = nil, scanner: Grid? = nil,
                        path: (String) throws -> String) throws -> (images: [String], truth: [String]) {
        func onScanner<T>(_ v: Volume<T>) -> Volume<T> { scanner.map { Volume(grid: $0, frames: v.frames, exactly: v.data) } ?? v }
        // `snr` is the image's: the MT-off signal in the cord over σ (the simulator's own SNR
        // refers to the white-matter PD, about 8× the signal of a 9° / 35 ms FLASH).
        var clean = FLASHSimulationParameters(); clean.snr = nil; clean.seed = seed
        if let tissues { clean.tissues = tissues }
        let noiseFree = try FLASHSimulator.simulate(phantom.composition, acquisitions: mtSeries.map(\.acquisition).prefix(2).map { $0 },
                                                    parameters: clean)
        let cord = (0..<phantom.grid.voxelCount).filter { phantom.cordMask.data[$0] != 0 }
        let offInCord = cord.reduce(0.0) { $0 + Double(noiseFree.images[1].data[$1]) } / Double(max(1, cord.count))
        let pdWM = clean.tissues[Int(TissueClass.dorsalColumnLeft.rawValue)].pd
        var p = clean
        p.snr = snr.map { $0 * clean.gain * pdWM / max(offInCord, 1e-9) }
        let sim = try FLASHSimulator.simulate(phantom.composition, acquisitions: mtSeries.map(\.acquisition), parameters: p)
        var images: [String] = [], truth: [String] = []
        for (n, s) in mtSeries.enumerated() {
            let base = "\(imageBase)_\(s.name)_MTS"
            try NIfTIFile.write(onScanner(sim.images[n]), to: path(base + ".nii.gz"), description: "cordq phantom MT FLASH")
            var sidecar = PhantomAcquisition.mt.sidecar
            sidecar["FlipAngle"] = .number(s.acquisition.flipAngleDegrees)
            sidecar["RepetitionTime"] = .number(s.acquisition.repetitionTime)
            sidecar["RepetitionTimeExcitation"] = .number(s.acquisition.repetitionTime)   // required by BIDS for MTS
            sidecar["MTState"] = .bool(s.acquisition.mtPulse)
            sidecar["SeriesDescription"] = .string("MT FLASH \(s.name) (phantom)")
            try JSONFile.write(sidecar, to: path(base + ".json"))
            images.append(base + ".nii.gz")
        }
        let on = noiseFree.images[0], off = noiseFree.images[1]
        let mtr = try Volume(grid: on.grid, frames: 1, data: zip(on.data, off.data).map { $1 > 0 ? 100 * ($1 - $0) / $1 : 0 })
        let t = truthBase
        for (v, name) in [(sim.mtsat, "MTsat"), (sim.t1, "T1"), (mtr, "MTR")] {
            try NIfTIFile.write(onScanner(v), to: path("\(t)_desc-truth\(name)_map.nii.gz"))
            truth.append("\(t)_desc-truth\(name)_map.nii.gz")
        }
        try NIfTIFile.write(onScanner(phantom.cordMask), to: path("\(t)_label-cord_mask.nii.gz"), datatype: .uint8)
        truth.append("\(t)_label-cord_mask.nii.gz")
        return (images, truth)
    }

    /// Disc labels as SCT and spine-generic draw them: one voxel on the cord's centerline at
    /// each intervertebral disc, valued n for the disc above vertebra n (2 = C1/C2, 3 = C2/C3 …,
    /// 8 = C7/T1), from the phantom's true level boundaries along its centerline.
    static func discLabels(_ phantom: PhantomSubject) -> Volume<UInt8> {
        let g = phantom.grid
        var labels = Volume<UInt8>(grid: g, repeating: 0)
        let points = phantom.centerline.points
        for (a, b) in zip(points, points.dropFirst()) {
            guard let upper = a.level, let lower = b.level, lower.rawValue == upper.rawValue + 1 else { continue }
            let v = (a.voxel + b.voxel) / 2
            let i = CheckedNumber.clamped(v.x, .toNearestOrAwayFromZero), j = CheckedNumber.clamped(v.y, .toNearestOrAwayFromZero), k = CheckedNumber.clamped(v.z, .toNearestOrAwayFromZero)
            if g.contains(i, j, k) { labels[i, j, k] = UInt8(lower.rawValue) }
        }
        return labels
    }
}
