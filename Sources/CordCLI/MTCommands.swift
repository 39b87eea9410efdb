// `cordq mt mtr` and `cordq mt mtsat`.
import ArgumentParser
import CordCore
import CordMyelin
import CordPipeline
import CordRegistration

/// `cordq mt`: magnetization-transfer myelin maps.
public struct MTCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "mt",
        abstract: "Magnetization-transfer myelin maps: MTR, MTsat, T1.",
        subcommands: [MTRCommand.self, MTsatCommand.self])
    public init() {}
}

/// Slice-wise alignment options shared by both commands.
public struct AlignmentOptions: ParsableArguments {
    @Flag(help: "Align the other images to the MT-weighted one slice by slice first (in-plane translation per axial slice maximising normalised cross-correlation; as SCT's slice-wise registration). With --mask, the metric is computed in a box around the mask plus 8 mm.")
    public var register = false
    @Flag(help: "With --register, also estimate an in-plane rotation per slice (rigid).")
    public var rigid = false
    @Option(help: "With --register, the largest shift searched (mm).")
    public var maxShift: Double = 6
    @Option(help: "With --register, smoothing of the per-slice shifts along z: none (independent slices), or a polynomial degree 0–3.")
    public var smoothing: String = "none"
    @Flag(help: "With --register, keep an alignment even when it lowers the mean slice NCC (by default such an alignment is dropped and the image used as acquired, as cordq process does).")
    public var keepWorseAlignment = false
    public init() {}
    public func validate() throws {
        guard smoothing == "none" || (Int(smoothing).map { (0...3).contains($0) } ?? false) else {
            throw ValidationError("--smoothing takes none or a polynomial degree from 0 to 3")
        }
        guard maxShift.isFinite, (0...50).contains(maxShift) else {
            throw ValidationError("--max-shift is a distance in mm from 0 to 50 (found \(maxShift))")
        }
    }
    var options: SliceRegistrationOptions {
        var o = SliceRegistrationOptions(); o.rigid = rigid; o.maximumShift = maxShift; o.keepOnlyIfBetter = !keepWorseAlignment
        o.smoothingDegree = Int(smoothing)
        return o
    }
}

/// `cordq mt mtr`
public struct MTRCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "mtr",
        abstract: "Magnetization transfer ratio MTR = 100·(M0 − Msat)/M0, in percent units (p.u.).",
        discussion: """
        M0 is the MT-off image, Msat the MT-on image (same grid). Division rule: voxels where M0 ≤ 0 \
        (or a value is not finite) are written as 0 and counted in the report; no other clipping. \
        With --sct-compatible the Spinal Cord Toolbox's sct_compute_mtr rule applies instead: NaN \
        where M0 = 0 and every value clipped to ±100 p.u. Output is written on the MT-on grid with \
        its header; a cord mask gives the median MTR inside it.
        """)
    @Option(help: "MT-on image (with the saturation pulse).") public var mtOn: String
    @Option(help: "MT-off image (reference, no saturation pulse).") public var mtOff: String
    @Argument(help: "Output MTR image (.nii or .nii.gz), in p.u.") public var output: String
    @Option(help: "Cord mask on the MT-on grid: restricts the alignment metric and reports the median MTR inside.") public var mask: String?
    @Option(help: "Also write the aligned MT-off image here.") public var alignedOutput: String?
    @Flag(help: "Reproduce sct_compute_mtr's division and clipping rules.") public var sctCompatible = false
    @OptionGroup public var alignment: AlignmentOptions
    public init() {}

    public func run() throws {
        var r = MTRRequest(mtOn: mtOn, mtOff: mtOff, output: output)
        r.mask = mask; r.register = alignment.register; r.alignedOutput = alignedOutput
        r.registration = alignment.options
        r.convention = sctCompatible ? .sct : .cordq
        print(try MTPipeline.mtr(r).text)
    }
}

/// `cordq mt mtsat`
public struct MTsatCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "mtsat",
        abstract: "MTsat (p.u.), T1 (s), R1 (1/s) and A from MT-, PD- and T1-weighted FLASH images (Helms et al. 2008).",
        discussion: """
        Method: Helms G, Dathe H, Kallenberg K, Dechent P. MRM 2008;60:1396 (erratum MRM 2010;64:1856). \
        Flip angles (degrees) and TR (seconds) come from each image's BIDS sidecar (FlipAngle, \
        RepetitionTime) unless given on the command line.

        --form small-angle (default): Helms' equations, exact for small flip angles and R1·TR ≪ 1; \
        their bias is about α²/4 + R1·TR/2 of T1 (≈3% at 15°/15 ms) and O(δ²) on MTsat. \
        --form tangent: α replaced by 2·tan(α/2), removing the flip-angle part. --form exact (or \
        --exact-flip-angles): the steady-state FLASH equations solved without approximation.

        B1 (a map of actual/nominal flip angle, 1 = nominal): --b1-correction none ignores it; full \
        scales every excitation's flip angle by B1 (exact if the MT pulse's saturation does not \
        depend on B1); weiskopf does the same and multiplies MTsat by (1−0.4)/(1−0.4·B1) \
        (Weiskopf et al. 2013, Front Neurosci 7:95) for the MT pulse's own B1 dependence.

        Invalid voxels (a non-positive signal, R1 outside 0.01–100 1/s, non-finite values) are 0 in \
        every map and counted; no map contains NaN. --sct-compatible reproduces sct_compute_mtsat: \
        small-angle form with nominal flip angles, R1 < 0.01 1/s gives T1 = 0, |MTsat| > 100 p.u. \
        set to 0, and a B1 map enters only through the Weiskopf factor on MTsat (not on T1).
        """)
    @Option(help: "MT-weighted FLASH image.") public var mt: String
    @Option(help: "PD-weighted FLASH image (MT off, small flip angle).") public var pd: String
    @Option(help: "T1-weighted FLASH image (MT off, larger flip angle).") public var t1w: String
    @Argument(help: "Output folder (new or empty): mtsat.nii.gz, t1map.nii.gz, r1map.nii.gz, a.nii.gz, mtsat.json.") public var outdir: String
    @Flag(help: "Replace an existing output folder (the old one stays until the new output is complete).") public var overwrite = false
    @Option(help: "B1 map (relative flip angle, 1 = nominal) on the MT grid.") public var b1: String?
    @Option(help: "B1 handling: none, full or weiskopf.") public var b1Correction: String = "none"
    @Option(help: "Equations: small-angle, tangent or exact.") public var form: String = "small-angle"
    @Flag(help: "Same as --form exact.") public var exactFlipAngles = false
    @Flag(help: "Reproduce sct_compute_mtsat's conventions (see above).") public var sctCompatible = false
    @Option(help: "Mask on the MT grid: compute inside only; report medians.") public var mask: String?
    @Option(help: "MT-weighted flip angle (degrees).") public var mtFlip: Double?
    @Option(help: "MT-weighted TR (seconds).") public var mtTr: Double?
    @Option(help: "PD-weighted flip angle (degrees).") public var pdFlip: Double?
    @Option(help: "PD-weighted TR (seconds).") public var pdTr: Double?
    @Option(help: "T1-weighted flip angle (degrees).") public var t1wFlip: Double?
    @Option(help: "T1-weighted TR (seconds).") public var t1wTr: Double?
    @OptionGroup public var alignment: AlignmentOptions
    public init() {}

    public func validate() throws {
        guard B1Correction(rawValue: b1Correction) != nil else { throw ValidationError("--b1-correction takes none, full or weiskopf") }
        guard FLASHForm(rawValue: form) != nil else { throw ValidationError("--form takes small-angle, tangent or exact") }
        if b1Correction != "none" && b1 == nil { throw ValidationError("--b1-correction \(b1Correction) needs --b1 MAP") }
        for (v, name) in [(mtTr, "--mt-tr"), (pdTr, "--pd-tr"), (t1wTr, "--t1w-tr")] {
            if let t = v, t > 30 { throw ValidationError("\(name) is in seconds; \(t) s looks like milliseconds") }
        }
    }

    public func run() throws {
        var r = MTsatRequest(mt: mt, pd: pd, t1w: t1w, outputFolder: outdir)
        r.b1 = b1; r.mask = mask; r.overwrite = overwrite
        r.mtTiming = TimingOverride(flipAngleDegrees: mtFlip, repetitionTime: mtTr)
        r.pdTiming = TimingOverride(flipAngleDegrees: pdFlip, repetitionTime: pdTr)
        r.t1Timing = TimingOverride(flipAngleDegrees: t1wFlip, repetitionTime: t1wTr)
        r.form = exactFlipAngles ? .exact : (FLASHForm(rawValue: form) ?? .smallAngle)
        r.b1Correction = B1Correction(rawValue: b1Correction) ?? .none
        r.convention = sctCompatible ? .sct : .cordq
        r.register = alignment.register
        r.registration = alignment.options
        print(try MTPipeline.mtsat(r).text)
    }
}
