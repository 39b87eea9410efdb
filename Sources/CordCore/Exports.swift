// Complex numbers (swift-numerics) are part of CordCore's vocabulary: complex images from
// reconstruction, complex-valued denoising. Re-exported so dependents share one type.
@_exported import ComplexModule
@_exported import RealModule

/// A single-precision complex sample (interleaved real, imaginary; C-compatible layout).
public typealias ComplexF = Complex<Float>
