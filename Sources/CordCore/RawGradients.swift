// Gradient files as written: b-values and b-vectors before any conversion.

/// b-values (s/mm²) and b-vectors exactly as a bval/bvec pair holds them.
///
/// The vectors are in FSL's voxel frame and not normalised, one per volume. No image is
/// needed to hold them (sidecar-only datasets).
public struct RawGradients: Sendable, Equatable {
    /// s/mm², one per volume.
    public var bValues: [Double]
    /// As written (FSL voxel frame, any length), one per volume.
    public var vectors: [SIMD3<Double>]

    /// Gradients as read from a bval/bvec pair.
    public init(bValues: [Double], vectors: [SIMD3<Double>]) {
        self.bValues = bValues
        self.vectors = vectors
    }
}
