// `cordq recon RAW OUT.nii.gz`: raw k-space → image (single-shot and reduced-FOV EPI).
import ArgumentParser
import CordCore
import CordPipeline
import CordRecon

extension CoilCombination: ExpressibleByArgument {}
extension PartialFourierMethod: ExpressibleByArgument {}
extension GhostCorrection: ExpressibleByArgument {}
extension RawSequenceKind: ExpressibleByArgument {}
extension SMSSeparation: ExpressibleByArgument {}

public struct ReconCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "recon",
        abstract: "Reconstruct raw k-space (Siemens twix .dat) into a NIfTI image with a BIDS sidecar.",
        discussion: """
        Chain: noise pre-whitening (noise scans, else the outer k-space) → ramp-sampling regridding \
        (band-limited least-squares resampling of the trapezoid samples, times in µs from the raw \
        header) → readout FFT → Nyquist ghost correction of reflected lines (constant + linear phase \
        from the reference lines, Ahn & Cho 1987; --ghost polynomial adds a cubic fit; without \
        reference lines, entropy minimisation) → readout-oversampling removal → partial Fourier \
        (POCS, Haacke 1991; homodyne, Noll 1991; zero filling) → phase FFT → phase-oversampling crop \
        → coil combination (adaptive, Walsh 2000; sum of squares, Roemer 1990). \
        Output: magnitude float32 (complex64 with --complex) in units of the whitened noise SD; \
        the affine comes from the raw slice position and read/phase/slice directions (LPS → RAS); \
        OUT.json carries EchoTime, EffectiveEchoSpacing, TotalReadoutTime (s), PhaseEncodingDirection, \
        SliceTiming, MultibandAccelerationFactor, ParallelReductionFactorInPlane, PartialFourier. \
        RESOLVE (readout-segmented EPI, Porter & Heidemann 2009 MRM 62:468; auto-detected from \
        idx.segment > 0): per-segment ghost correction, 2D-navigator phase removal (the navigator \
        Hann-tapered over its own k-space window), segments placed on the full kx grid with overlap \
        averaging, re-acquired shots chosen by navigator consistency, readout partial Fourier by \
        POCS; OUT_resolve.json records each shot's navigator echo shift (Δk), central energy, phase \
        error (rad) and rejections. Conventions: docs/raw-data.md. \
        SMS (multiband): detected from the header's MultibandFactor > 1; the collapsed slice groups \
        are separated with kernels trained on the single-band calibration — --sms split-slice-grappa \
        (default; Cauley et al. 2014 MRM 72:93, less inter-slice leakage) or slice-grappa \
        (Setsompop et al. 2012 MRM 67:1210) — odd/even-aware (separate kernels for forward and \
        reflected rows, each calibration slice ghost-corrected with its own reference lines), the \
        CAIPI shift undone, then in-plane GRAPPA when R > 1. --gfactor writes the pseudo-replica \
        g-factor map (Robson 2008; dimensionless, 1 = no noise amplification); --sms-report writes \
        a JSON report with the leakage per slice (amplitude ratio, L-factor after Cauley 2014, \
        measured on the calibration) and mean/max g-factor per slice.
        """)
    @Argument(help: "Raw file: ISMRMRD HDF5 (.h5) or Siemens twix (.dat, VD/VE or VB).") public var raw: String
    @Argument(help: "Output NIfTI (.nii or .nii.gz); OUT.json is written beside it.") public var output: String
    @Option(help: "Sequence: auto, epi, zoomit, resolve.") public var sequence: RawSequenceKind = .auto
    @Flag(help: "Write the complex image (complex64) instead of the magnitude.") public var complex = false
    @Option(name: .customLong("coil-combination"), help: "adaptive (Walsh 2000) or sos.") public var coilCombination: CoilCombination = .adaptive
    @Option(name: .customLong("partial-fourier"), help: "pocs, homodyne or zero.") public var partialFourier: PartialFourierMethod = .pocs
    @Option(help: "Nyquist ghost correction: linear, polynomial or none.") public var ghost: GhostCorrection = .linear
    @Option(help: "Write the g-factor map here (1 everywhere without acceleration; GRAPPA not yet).") public var gfactor: String?
    @Option(help: "Also write a PNG of the middle slice (magnitude).") public var png: String?
    @Flag(name: .customLong("no-prewhiten"), help: "Skip noise pre-whitening.") public var noPrewhiten = false
    @Flag(name: .customLong("no-navigator"), help: "RESOLVE: combine segments without the 2D-navigator phase correction (the uncorrected baseline).") public var noNavigator = false
    @Flag(name: .customLong("no-shot-selection"), help: "RESOLVE: average re-acquired shots instead of choosing by navigator consistency.") public var noShotSelection = false
    @Option(help: "SMS slice separation for multiband data: split-slice-grappa (Cauley 2014) or slice-grappa (Setsompop 2012).") public var sms: SMSSeparation = .splitSliceGRAPPA
    @Option(name: .customLong("sms-report"), help: "Write the SMS report (JSON: leakage per slice as an amplitude ratio, g-factor mean/max per slice) here.") public var smsReport: String?

    public init() {}
    public func run() throws {
        var r = ReconRequest(input: raw, output: output)
        r.options.sequence = sequence
        r.options.complexOutput = complex
        r.options.coilCombination = coilCombination
        r.options.partialFourier = partialFourier
        r.options.ghost = ghost
        r.options.prewhiten = !noPrewhiten
        r.gfactorOutput = gfactor
        r.pngOutput = png
        r.resolveNavigator = !noNavigator
        r.resolveSelectShots = !noShotSelection
        r.sms.method = sms
        r.smsReportOutput = smsReport
        let rep = try ReconPipeline.run(r)
        let g = rep.recon
        print("reconstructed \(g.sequence): \(g.matrix.map(String.init).joined(separator: " × ")) × \(g.volumes) volume(s), \(g.coils) coil(s)")
        print("  pre-whitening: \(g.noiseSource); ramp regridding: \(g.rampRegridded ? "yes" : "no"); partial Fourier \(formatSignificantCore(g.partialFourier)) (\(g.partialFourierMethod)); coils: \(g.coilCombination)")
        if let p = g.ghostPhases.first {
            print("  ghost phase (slice 1): \(p.source); coefficients \(p.coefficients.map { formatSignificantCore($0) }.joined(separator: ", ")) (rad, rad/pixel, …)")
        }
        print("  ghost-to-signal ratio (middle slice): \(formatSignificantCore(rep.ghostToSignal))")
        if let rs = rep.resolve {
            print("  RESOLVE: \(rs.segments) segments × \(rs.segmentWidth) samples (overlap \(rs.overlapSamples)), readout coverage \(formatSignificantCore(rs.readoutCoverage)); navigator: \(rs.navigator); \(rs.shots.count) shots, \(rs.rejectedShots) rejected")
        }
        if let m = rep.sms {
            print("  SMS: MB \(m.multibandFactor), \(m.slices) slices in \(m.groups) groups, CAIPI FOV/\(m.caipiShiftDenominator), \(m.method); leakage mean \(formatSignificantCore(m.meanLeakage)), max \(formatSignificantCore(m.maxLeakage))"
                  + (m.meanGFactor.map { "; g-factor mean \(formatSignificantCore($0)), max \(formatSignificantCore(m.maxGFactor ?? $0))" } ?? ""))
        }
        for w in g.warnings { print("  warning: \(w)") }
        for o in rep.outputs { print("  wrote \(o)") }
    }
}
