// One-time set-up of the C numerical libraries, and thin wrappers the step modules share:
// LAPACK's symmetric eigensolver, FFTW transforms, GSL special functions.
@preconcurrency import CFFTW
@preconcurrency import CGSL
import CLAPACK
#if canImport(Glibc)
import Glibc
#endif

/// Process-wide configuration of FFTW, GSL and OpenBLAS (see BUILD-NOTES): FFTW's planner
/// made thread-safe, GSL's abort-on-error handler off (return codes are checked instead),
/// OpenBLAS single-threaded because CordQ parallelises over voxels itself.
///
/// OpenBLAS starts its worker threads when the library is loaded, before any Swift code
/// runs, and an idle worker spins (yielding) for about 0.1 s before it sleeps, taking a core
/// from CordQ's own workers. Setting one thread does not stop workers that already exist,
/// so they are shut down here as well; `cordq` calls this first thing in `main`.
public enum NumericLibraries {
    private static let configured: Bool = {
        openblas_set_num_threads(1)
        _ = blas_thread_shutdown_()
        fftw_make_planner_thread_safe()
        fftwf_make_planner_thread_safe()
        gsl_set_error_handler_off()
        return true
    }()
    /// Idempotent; every wrapper below calls it.
    public static func configure() { _ = configured }
}

// MARK: - FFT (FFTW, double precision)

/// Multi-dimensional complex FFTs through FFTW. Plans are made with FFTW_ESTIMATE (no
/// timing runs, input untouched) under FFTW's thread-safe planner.
public enum FourierTransform {
    /// In-place unnormalised DFT of `data` laid out with the first dimension fastest
    /// (CordQ's order). The inverse is scaled by 1/N so forward then inverse is the identity.
    public static func transform(_ data: inout [Complex<Double>], shape: [Int], inverse: Bool = false) throws {
        NumericLibraries.configure()
        let total = shape.reduce(1, *)
        guard total == data.count, !shape.isEmpty, shape.allSatisfy({ $0 > 0 }) else {
            throw CordError.countMismatch(what: "FFT input", expected: total, found: data.count, detail: "shape \(shape)")
        }
        // FFTW wants the slowest dimension first.
        let dims = shape.reversed().map { Int32($0) }
        let sign: Int32 = inverse ? FFTW_BACKWARD : FFTW_FORWARD
        try data.withUnsafeMutableBytes { raw in
            let p = raw.baseAddress!.assumingMemoryBound(to: fftw_complex.self)
            guard let plan = fftw_plan_dft(Int32(dims.count), dims, p, p, sign, UInt32(FFTW_ESTIMATE)) else {
                throw CordError.invalidValue(what: "FFT", detail: "FFTW could not plan a transform of shape \(shape)")
            }
            fftw_execute(plan)
            fftw_destroy_plan(plan)
        }
        if inverse {
            let s = 1 / Double(total)
            for i in data.indices { data[i] = Complex(data[i].real * s, data[i].imaginary * s) }
        }
    }
}

// MARK: - Special functions (GSL)

public enum SpecialFunctions {
    /// e^(−|x|)·I₀(x), the exponentially scaled modified Bessel function of order 0
    /// (Rician likelihoods and bias correction, where I₀ alone overflows).
    public static func besselI0Scaled(_ x: Double) -> Double {
        NumericLibraries.configure()
        var r = gsl_sf_result()
        return gsl_sf_bessel_I0_scaled_e(x, &r) == GSL_SUCCESS ? r.val : .nan
    }
    /// e^(−|x|)·I₁(x).
    public static func besselI1Scaled(_ x: Double) -> Double {
        NumericLibraries.configure()
        var r = gsl_sf_result()
        return gsl_sf_bessel_I1_scaled_e(x, &r) == GSL_SUCCESS ? r.val : .nan
    }
}
