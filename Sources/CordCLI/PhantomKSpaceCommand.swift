// `cordq phantom kspace OUTDIR`: simulated multi-coil EPI raw data (ISMRMRD) with ground truth.
import ArgumentParser
import CordCore
import CordPhantom
import CordPipeline

public struct PhantomKSpaceCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "kspace",
        abstract: "Simulate single-shot or reduced-FOV EPI k-space (ISMRMRD HDF5) with ground-truth images.",
        discussion: """
        Writes OUTDIR/epi.h5 in CordQ's raw-data convention (docs/raw-data.md: ramp-sampled \
        trapezoid readouts with trajectoryDescription in µs, 2× readout oversampling, reflected \
        odd lines with an odd/even phase, three ACQ_IS_PHASECORR_DATA reference lines, noise scans, \
        optional partial Fourier, GRAPPA undersampling with a separate calibration train and \
        reduced FOV with phase oversampling and an excitation profile) and the truth: \
        truth_combined.nii.gz (|ρ|·√(SᴴΨ⁻¹S), the SNR-optimal combination in whitened units), \
        truth_object.nii.gz, and truth_sense_gfactor.nii.gz (Pruessmann 1999) when accelerated. \
        With --multiband MB: OUTDIR/sms.h5 instead — N slices in N/MB groups, collapsed blipped-CAIPI \
        readouts (slice k of a group shifted by k·FOV/D), a spine-like array whose elements differ \
        along z, slice-specific odd/even phase, a single-band calibration per slice \
        (ACQ_IS_PARALLEL_CALIBRATION), uniform Cartesian readouts — and the truth per slice.
        """)
    @Argument(help: "Output folder (created).") public var outdir: String
    @Option(help: "Reconstructed matrix (square, even).") public var matrix = 64
    @Option(help: "Receive coils.") public var coils = 8
    @Option(name: .customLong("partial-fourier"), help: "Fraction of ky acquired (0.5–1; 0.75 = 6/8).") public var partialFourier = 1.0
    @Option(help: "In-plane acceleration R (GRAPPA undersampling).") public var acceleration = 1
    @Flag(name: .customLong("reduced-fov"), help: "ZoomIt-like reduced FOV: 50 % phase oversampling and an excitation profile.") public var reducedFOV = false
    @Flag(name: .customLong("no-reference"), help: "Leave out the EPI reference lines.") public var noReference = false
    @Option(help: "Noise SD relative to the object's peak.") public var noise = 0.01
    @Option(name: .customLong("off-resonance"), help: "Uniform off-resonance along the echo train (Hz).") public var offResonance = 0.0
    @Option(help: "Random seed.") public var seed: UInt64 = 1
    @Option(help: "SMS: multiband factor (2–8); writes OUTDIR/sms.h5 with single-band calibration and per-slice truth instead of epi.h5.") public var multiband: Int?
    @Option(help: "SMS: number of slices (a multiple of --multiband).") public var slices = 12
    @Option(name: .customLong("caipi-denominator"), help: "SMS: CAIPI shift FOV/D (default D = multiband factor).") public var caipiDenominator: Int?
    @Option(name: .customLong("slice-spacing"), help: "SMS: slice spacing (mm).") public var sliceSpacing = 5.0
    @Flag(name: .customLong("no-odd-even-phase"), help: "No odd/even (Nyquist) phase on reflected lines (e.g. for peers without ghost handling).") public var noOddEvenPhase = false

    public init() {}
    public func validate() throws {
        guard matrix >= 8, matrix <= 256, matrix % 2 == 0 else { throw ValidationError("--matrix must be even, 8–256") }
        guard coils >= 1, coils <= 32 else { throw ValidationError("--coils must be 1–32") }
        guard partialFourier > 0.5, partialFourier <= 1 else { throw ValidationError("--partial-fourier must be in (0.5, 1]") }
        guard acceleration >= 1, acceleration <= 4 else { throw ValidationError("--acceleration must be 1–4") }
    }
    public func run() throws {
        if let mb = multiband {
            guard mb >= 1, mb <= 8, slices >= mb, slices % mb == 0, slices <= 128 else {
                throw ValidationError("--slices (\(slices)) must be a multiple of --multiband (\(mb), 1–8), at most 128")
            }
            var s = SMSSimulationSettings()
            s.nx = matrix; s.ny = matrix; s.coils = coils; s.slices = slices; s.multiband = mb; s.acceleration = acceleration
            s.caipiDenominator = caipiDenominator; s.sliceSpacing = sliceSpacing; s.noise = noise; s.seed = seed
            if noOddEvenPhase { s.ghostConstant = 0; s.ghostLinear = 0; s.ghostSliceVariation = 0 }
            for p in try SMSPhantomExport.write(s, to: outdir) { print("wrote \(p)") }
            return
        }
        var s = EPISimulationSettings()
        s.nx = matrix; s.ny = matrix; s.coils = coils; s.partialFourier = partialFourier; s.acceleration = acceleration
        s.reducedFOV = reducedFOV; s.phaseOversampling = reducedFOV ? 0.5 : 0; s.referenceLines = !noReference
        s.noise = noise; s.offResonanceHz = offResonance; s.seed = seed
        if noOddEvenPhase { s.ghostConstant = 0; s.ghostLinear = 0 }
        for p in try KSpacePhantomExport.write(s, to: outdir) { print("wrote \(p)") }
    }
}
