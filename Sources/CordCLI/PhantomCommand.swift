// `cordq phantom OUTDIR`: write the digital cord phantom as a BIDS subject.
import ArgumentParser
import CordCore
import CordPhantom
import CordPipeline

/// `cordq phantom`
public struct PhantomCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "subject",
        abstract: "Write a digital cervical cord phantom (C1–T1) as a BIDS subject with its ground truth.",
        discussion: """
        The cord follows a lordotic centerline; its cross-section is an ellipse whose area per \
        level equals the healthy spine-generic mean (203 adults; Cohen-Adad et al. 2021, Sci Data \
        8:219), with the measured AP/RL ratio. Grey matter, named white-matter regions (dorsal \
        columns, lateral corticospinal tracts, rest of the lateral funiculi, ventral funiculi), \
        CSF, vertebral bodies and discs are labelled; level lengths follow the PAM50 template. \
        Images are T2w-like (CSF 1.0, WM 0.30, GM 0.38) with Rician noise: SNR = WM signal / σ, \
        σ the noise SD of each complex channel.

        Output: OUTDIR/sub-<label>/anat/*_acq-sag_T2w.nii.gz (2D TSE, 0.7×0.7×3 mm sagittal), \
        *_acq-ax_T2w.nii.gz (0.5×0.5×3 mm axial) and dwi/*_dwi.nii.gz (1×1×5 mm axial, 5 b=0 + 30 \
        directions at b=800 s/mm², with bval/bvec), with sidecars that match the clinical-minimal \
        protocol card (cordq protocol check … --protocol clinical-minimal); OUTDIR/derivatives/truth/ holds \
        cord/GM/CSF masks, tissue, level (1=C1…8=T1) and disc label maps (disc n at the top of \
        vertebra n: 2 = C1/C2, 3 = C2/C3), the cord partial-volume map, the noise-free image, \
        the centerline (mm) and all parameters with the measured truth (areas in mm²).
        """)

    @Argument(help: "Output folder (created; must not exist or be empty).")
    public var outdir: String
    @Option(help: "BIDS subject label (letters and digits).")
    public var subject = "phantom01"
    @Option(help: "Noise seed; the same seed gives the same images.")
    public var seed: UInt64 = 1
    @Option(help: "Signal-to-noise ratio (white matter / σ).")
    public var snr: Double = 20
    @Flag(help: "Write noise-free images.")
    public var noNoise = false
    @Option(help: "Focal compression LEVEL:FRACTION, e.g. C5:0.4 (AP diameter reduced by 40% at mid-C5).")
    public var compress: String?
    @Option(help: "Length of the compression along the cord (mm).")
    public var compressionLength: Double = 12
    @Option(help: "Acquisitions to simulate, comma-separated: sag (2D sagittal T2w), ax (axial T2w), dwi (single-shell DWI), mt (MT-on, MT-off and T1-weighted FLASH, spine-generic timings).")
    public var acquisitions = "sag,ax,dwi,mt"
    @Flag(help: "Distort the DWI with a susceptibility field (a bump at each disc, up to --field-peak Hz, plus a gradient) read out with TotalReadoutTime --readout-time, and write a reverse phase-encoding b=0 pair fmap/*_dir-PA_epi (j) and *_dir-AP_epi (j-) with IntendedFor the DWI; the true field (Hz) and the undistorted images go to derivatives/truth/.")
    public var epiDistortion = false
    @Option(help: "Peak of each disc's field bump (Hz) with --epi-distortion.")
    public var fieldPeak = 60.0
    @Option(help: "TotalReadoutTime (s) of the distorted EPI with --epi-distortion.")
    public var readoutTime = 0.04
    @Option(help: "DWI in-plane voxel size (mm); default 1.")
    public var dwiInPlane: Double?
    @Option(help: "DWI in-plane field of view (mm); default 40.")
    public var dwiFov: Double?

    public init() {}

    public func validate() throws {
        if let c = compress { _ = try Self.parseCompression(c, length: compressionLength) }
        _ = try Self.parseAcquisitions(acquisitions)
        if !noNoise && !(snr > 0) { throw ValidationError("--snr must be positive (or use --no-noise)") }
        if !(fieldPeak.magnitude <= 500) { throw ValidationError("--field-peak must be within ±500 Hz") }
        if !(readoutTime > 0.001 && readoutTime <= 0.2) { throw ValidationError("--readout-time must be 0.001 to 0.2 s") }
        if let v = dwiInPlane, !(v >= 0.3 && v <= 5) { throw ValidationError("--dwi-in-plane must be 0.3 to 5 mm") }
        if let v = dwiFov, !(v >= 16 && v <= 256) { throw ValidationError("--dwi-fov must be 16 to 256 mm") }
    }

    static func parseCompression(_ text: String, length: Double) throws -> CompressionParameters {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let level = VertebralLevel(name: String(parts[0]).uppercased()),
              let f = Double(parts[1]), f > 0, f <= 0.8 else {
            throw ValidationError("--compress takes LEVEL:FRACTION with a level C1…C7 or T1 and 0 < FRACTION ≤ 0.8, e.g. C5:0.4")
        }
        return CompressionParameters(level: level, fraction: f, length: length)
    }
    static func parseAcquisitions(_ text: String) throws -> [PhantomAcquisition] {
        let list = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        return try list.map { name in
            guard let a = PhantomAcquisition(rawValue: name) else {
                throw ValidationError("unknown acquisition \"\(name)\": use sag, ax, dwi, mt or a comma-separated list")
            }
            return a
        }
    }

    public func run() throws {
        var options = PhantomExportOptions()
        options.subject = subject
        options.parameters.seed = seed
        options.parameters.snr = noNoise ? nil : snr
        options.parameters.compression = try compress.map { try Self.parseCompression($0, length: compressionLength) }
        options.acquisitions = try Self.parseAcquisitions(acquisitions)
        if epiDistortion {
            var d = DistortionPhantomParameters(); d.discPeakHz = fieldPeak; d.totalReadoutTime = readoutTime; d.seed = seed &+ 100
            options.distortion = d
        }
        options.dwiInPlane = dwiInPlane; options.dwiFieldOfView = dwiFov
        let summary = try PhantomExport.write(to: outdir, options: options)
        print("wrote \(summary.root)")
        for i in summary.images { print("  \(i)") }
        print("  derivatives/truth/: \(summary.truthFiles.count) ground-truth files")
        if let t = summary.truth.first {
            let areas = t.levels.map { "\($0.level.name) \(formatFixed($0.modelCSA, 1))" }.joined(separator: ", ")
            print("  cord area per level (mm²): \(areas)")
            if let c = t.compression {
                print("  compression at \(c.level.name): AP \(formatFixed(c.healthyAP, 2)) → \(formatFixed(c.compressedAP, 2)) mm, MSCC \(formatFixed(c.msccPercent, 1))%")
            }
        }
    }
}
