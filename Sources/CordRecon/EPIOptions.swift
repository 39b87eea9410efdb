// Options and results of the EPI reconstruction.
import CordCore
import Foundation

/// How coil images are combined.
public enum CoilCombination: String, Sendable, CaseIterable, Codable {
    /// Adaptive combination (Walsh, Gmitro & Marcellin 2000 MRM 43:682): per pixel, the dominant
    /// eigenvector of the local (7×7) coil correlation matrix; keeps a smooth phase.
    case adaptive
    /// Root sum of squares (Roemer 1990 MRM 16:192): magnitude only.
    case sos
}

/// Partial Fourier reconstruction along phase encoding.
public enum PartialFourierMethod: String, Sendable, CaseIterable, Codable {
    /// Projection onto convex sets (Haacke 1991 JMR 92:126): phase from the symmetric centre,
    /// measured lines restored every iteration.
    case pocs
    /// Homodyne detection (Noll, Nishimura & Macovski 1991 IEEE TMI 10:154).
    case homodyne
    /// Zero filling.
    case zero
}

/// Nyquist ghost correction.
public enum GhostCorrection: String, Sendable, CaseIterable, Codable {
    /// Constant + linear phase between odd and even echoes along x (Ahn & Cho 1987 IEEE TMI 6:32
    /// autocorrelation estimate) from the reference lines; reference-free (ghost-energy
    /// minimisation) when there are none.
    case linear
    /// Constant + linear + higher (cubic) polynomial phase, weighted least squares.
    case polynomial
    case none
}

/// Which sequence's chain to run.
public enum RawSequenceKind: String, Sendable, CaseIterable, Codable {
    case auto, epi, zoomit, resolve
}

/// EPI reconstruction options.
public struct EPIReconOptions: Sendable {
    public var coilCombination: CoilCombination = .adaptive
    public var partialFourier: PartialFourierMethod = .pocs
    public var ghost: GhostCorrection = .linear
    /// Keep the complex image (adaptive combination keeps the phase).
    public var complexOutput = false
    /// Pre-whiten channels (noise scans, or the outer k-space when there are none).
    public var prewhiten = true
    /// Resample ramp-sampled readouts onto the uniform grid.
    public var rampRegridding = true
    /// Remove the 2× readout oversampling.
    public var removeReadoutOversampling = true
    /// POCS iterations.
    public var pocsIterations = 15
    /// Adaptive combination kernel width (pixels).
    public var adaptiveKernel = 7
    public var sequence: RawSequenceKind = .auto
    /// GRAPPA for accelerated data (off: missing lines stay zero, the aliased "naive" image).
    public var parallelImaging = true
    /// Compute the g-factor map (pseudo-replicas; ones without acceleration).
    public var gFactor = false
    public var gFactorReplicas = 40
    public var quiet = false
    public init() {}
}

/// The odd/even phase applied to reflected lines: φ(x) = Σ c_p·x^p, x in pixels from the
/// readout centre (radians).
public struct GhostPhase: Sendable, Codable, Equatable {
    public var coefficients: [Double]
    /// "reference lines", "reference-free", or "none".
    public var source: String
    public init(coefficients: [Double], source: String) { self.coefficients = coefficients; self.source = source }
    public func phase(at x: Double) -> Double {
        var p = 0.0, xp = 1.0
        for c in coefficients { p += c * xp; xp *= x }
        return p
    }
}

/// What the reconstruction did (for the sidecar, `cordq recon`'s report and tests).
public struct EPIReconReport: Sendable, Codable {
    public var sequence = ""
    public var matrix: [Int] = []
    public var coils = 0
    public var slices = 0
    public var volumes = 0
    public var noiseSource = ""
    public var noiseCovarianceDiagonal: [Double] = []
    public var rampRegridded = false
    public var readoutOversamplingRemoved = false
    public var phaseOversamplingCropped = false
    public var partialFourier = 1.0
    public var partialFourierMethod = ""
    /// Ghost phase per slice (first volume).
    public var ghostPhases: [GhostPhase] = []
    public var coilCombination = ""
    /// Excitation profile along PE (reduced FOV): mean magnitude per PE row, normalised to its
    /// maximum, of the first slice (measured, not corrected).
    public var phaseProfile: [Double] = []
    public var warnings: [String] = []
    /// GRAPPA: acceleration, calibration lines, mean g-factor in the object (first slice).
    public var grappa = ""
    public var meanGFactor: Double?
}

/// A reconstructed series: image (x along read, y along phase, z slices, frames = volumes),
/// LPS geometry and timing for the NIfTI writer and sidecar.
public struct EPIReconResult: Sendable {
    /// Complex images (combined); magnitude = |·|.
    public var image: Volume<ComplexF>
    public var report: EPIReconReport
    /// Acquisition time of each slice relative to the first (s).
    public var sliceTiming: [Double]
    /// +1 when ky was traversed along +phase_dir over time (BIDS "j"), −1 for "j-".
    public var phaseEncodingSign: Int
    public var echoSpacingSeconds: Double?
    public var reconPhaseLines: Int
    /// g-factor map (same grid, one frame) when requested.
    public var gFactor: Volume<Float>?
    /// Diffusion encoding per output volume, from the acquisitions' user fields as the raw-data
    /// convention stores it (`user_float[0]` = b in s/mm², `user_float[1…3]` = unit gradient
    /// direction in the ISMRMRD patient frame, LPS); nil when no volume has b > 0.
    public var diffusion: [(b: Double, directionLPS: SIMD3<Double>)]? = nil
}
