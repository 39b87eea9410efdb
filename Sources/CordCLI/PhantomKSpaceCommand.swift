// `cordq phantom kspace OUTDIR`: simulated multi-coil EPI raw data (ISMRMRD) with ground truth.
import ArgumentParser
import CordCore
import CordPhantom
import CordPipeline

public struct PhantomKSpaceCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "kspace",
        abstract: "Simulate single-shot, reduced-FOV or readout-segmented (RESOLVE) EPI k-space (ISMRMRD HDF5) with ground truth.",
        discussion: """
        Writes OUTDIR/epi.h5 in CordQ's raw-data convention (docs/raw-data.md: ramp-sampled \
        trapezoid readouts with trajectoryDescription in µs, 2× readout oversampling, reflected \
        odd lines with an odd/even phase, three ACQ_IS_PHASECORR_DATA reference lines, noise scans, \
        optional partial Fourier, GRAPPA undersampling with a separate calibration train and \
        reduced FOV with phase oversampling and an excitation profile) and the truth: \
        truth_combined.nii.gz (|ρ|·√(SᴴΨ⁻¹S), the SNR-optimal combination in whitened units), \
        truth_object.nii.gz, and truth_sense_gfactor.nii.gz (Pruessmann 1999) when accelerated. \
        --sequence resolve writes OUTDIR/resolve.h5: a DWI series (one b = 0, --directions at \
        --b-value s/mm²) of an axial cord slice (1.5 mm pixels) with diffusion tensors, readout \
        segments with overlap (uniform-grid readouts, idx.segment, user_int[0] = first kx sample), \
        2D navigators (idx.set = 1) carrying each shot's random smooth phase and echo shift, \
        optional corrupted shots re-acquired; truth_combined (per slice and volume), truth_fa, \
        truth_md (µm²/ms), truth_cord.
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
    @Option(help: "epi (single shot / reduced FOV) or resolve (readout-segmented DWI series).") public var sequence = "epi"
    @Option(help: "RESOLVE: readout segments.") public var segments = 5
    @Option(name: .customLong("segment-width"), help: "RESOLVE: samples per segment (the full kx grid is --matrix; (matrix − width) divisible by segments − 1).") public var segmentWidth = 16
    @Option(name: .customLong("phase-lines"), help: "RESOLVE: ky lines (default: --matrix).") public var phaseLines: Int?
    @Option(name: .customLong("navigator-lines"), help: "RESOLVE: ky lines of the 2D navigator.") public var navigatorLines = 24
    @Option(help: "RESOLVE: diffusion directions at --b-value after one b = 0 volume.") public var directions = 6
    @Option(name: .customLong("b-value"), help: "RESOLVE: b-value (s/mm²).") public var bValue = 1000.0
    @Option(name: .customLong("corrupted-shots"), help: "RESOLVE: shots corrupted by motion and re-acquired.") public var corruptedShots = 0
    @Option(name: .customLong("omitted-segments"), help: "RESOLVE: readout partial Fourier, segments left out on the −kx side.") public var omittedSegments = 0
    @Flag(name: .customLong("replicate-slices"), help: "RESOLVE, timing only: slices after the first reuse its k-space.") public var replicateSlices = false
    @Option(help: "SMS: multiband factor (2–8); writes OUTDIR/sms.h5 with single-band calibration and per-slice truth instead of epi.h5.") public var multiband: Int?
    @Option(help: "Slices: RESOLVE (default 1); SMS, a multiple of --multiband (default 12).") public var slices: Int?
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
        if sequence == "resolve" {
            var r = ResolveSimulationSettings()
            r.nx = matrix; r.ny = phaseLines ?? matrix; r.fieldOfView = 1.5 * Double(matrix); r.coils = coils; r.segments = segments
            r.segmentWidth = segmentWidth; r.navigatorLines = navigatorLines; r.slices = slices ?? 1; r.directions = directions
            r.bValue = bValue; r.corruptedShots = corruptedShots; r.omittedSegments = omittedSegments; r.noise = noise
            r.replicateSlices = replicateSlices; r.seed = seed
            for p in try ResolvePhantomExport.write(r, to: outdir) { print("wrote \(p)") }
            return
        }
        if let mb = multiband {
            let slices = self.slices ?? 12
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
        guard sequence == "epi" else { throw ValidationError("--sequence must be epi or resolve") }
        var s = EPISimulationSettings()
        s.nx = matrix; s.ny = matrix; s.coils = coils; s.partialFourier = partialFourier; s.acceleration = acceleration
        s.reducedFOV = reducedFOV; s.phaseOversampling = reducedFOV ? 0.5 : 0; s.referenceLines = !noReference
        s.noise = noise; s.offResonanceHz = offResonance; s.seed = seed
        if noOddEvenPhase { s.ghostConstant = 0; s.ghostLinear = 0 }
        for p in try KSpacePhantomExport.write(s, to: outdir) { print("wrote \(p)") }
    }
}
