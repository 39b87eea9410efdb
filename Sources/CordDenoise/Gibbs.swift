// Gibbs-ringing removal by local sub-voxel shifts (Kellner, Dhital, Kiselev & Reisert 2016).
import CordCore

/// Parameters of Gibbs unringing; the defaults are those of Kellner et al. 2016 and MRtrix3
/// `mrdegibbs`.
public struct GibbsOptions: Sendable, Equatable {
    /// The two axes of the in-plane (2D) acquisition, as voxel axes 0 = i, 1 = j, 2 = k.
    /// nil: the two axes with the finest spacing (ties go to the lower axes, so i and j for
    /// isotropic voxels and for thick axial slices).
    public var axes: SIMD2<Int>?
    /// `nsh`: candidate sub-voxel shifts on each side of zero. The shifts tried are
    /// s = j/(2·nsh) voxel for j = −nsh…nsh, i.e. 2·nsh + 1 shifts spanning [−½, ½].
    public var shifts: Int
    /// Nearest distance (voxels) of the one-sided total-variation window (`minW`).
    public var minW: Int
    /// Farthest distance (voxels) of the one-sided total-variation window (`maxW`).
    public var maxW: Int

    public init(axes: SIMD2<Int>? = nil, shifts: Int = 20, minW: Int = 1, maxW: Int = 3) {
        self.axes = axes; self.shifts = shifts; self.minW = minW; self.maxW = maxW
    }
}

/// Gibbs-ringing removal by local sub-voxel shifts: Kellner E, Dhital B, Kiselev VG,
/// Reisert M. Gibbs-ringing artifact removal based on local subvoxel-shifts. Magn Reson Med
/// 2016; 76:1574–1581. Same algorithm (and, up to floating-point rounding, the same output)
/// as MRtrix3 `mrdegibbs` in its default 2D mode.
///
/// Each 2D slice f (in the acquisition plane, axes x and y below) is processed on its own:
///
/// 1. Split by direction. With F = DFT(f) and kₓ = 2πp/nₓ, k_y = 2πq/n_y the angular
///    frequencies of DFT bin (p, q),
///
///        Gₓ(k) = (1 + cos k_y) / (2 + cos kₓ + cos k_y),
///        G_y(k) = (1 + cos kₓ) / (2 + cos kₓ + cos k_y),
///
///    so Gₓ + G_y = 1 and f = fₓ + f_y with fₓ = IDFT(F·Gₓ), f_y = IDFT(F·G_y). The factor
///    (1 + cos k_y) is a Hann window along y, so fₓ rings only along x (and f_y only along
///    y). At kₓ = k_y = π both weights are 0/0; that single coefficient is dropped, as in the
///    paper's code and `mrdegibbs` (no shifted image below can represent it anyway).
/// 2. Unring fₓ along x, one line r(l), l = 0…n−1, at a time:
///    - shifted copies r_s(l) = r(l + s) for the 2·nsh + 1 shifts s = j/(2·nsh), made
///      exactly by a phase ramp on the line's DFT, R(k)·e^{2πi k s/n} (the Nyquist bin is
///      zeroed for s ≠ 0, where a real shifted line cannot carry it);
///    - one-sided total variations of each copy around each voxel l,
///
///          TV⁻_s(l) = Σ_{t=minW…maxW} |r_s(l − t) − r_s(l − t − 1)|,
///          TV⁺_s(l) = Σ_{t=minW…maxW} |r_s(l + t) − r_s(l + t + 1)|,
///
///      (indices periodic, as the DFT is); the shift s*(l) minimising min(TV⁻_s, TV⁺_s)
///      places the samples where the local oscillation vanishes (ties go to the first in
///      the order 0, +1/(2·nsh), …, +½, −1/(2·nsh), …, −½, as in `mrdegibbs`);
///    - back to the original grid by linear interpolation between neighbouring samples of
///      that copy: u(l) = (1 − s)·r_s(l) + s·r_s(l − 1) for s > 0, and
///      u(l) = (1 + s)·r_s(l) − s·r_s(l + 1) for s ≤ 0.
/// 3. Unring f_y along y the same way and return uₓ + u_y.
///
/// Values keep the input's units. Run it on data as reconstructed, before any
/// interpolation (motion correction, registration), and after MP-PCA denoising, which
/// needs the noise spatially uncorrelated (unringing correlates it). It assumes full
/// k-space coverage; partial-Fourier data ring differently along the truncated axis.
public enum GibbsUnringing {
    /// Smallest in-plane size (voxels along each in-plane axis) that is processed.
    public static let minimumPlaneSize = 8

    /// Removes Gibbs ringing from every 2D slice of every frame of `image` (3D or 4D).
    /// Slices are spread over all cores; FFTs through FFTW with plans made once per call.
    /// Throws when the options are invalid, the plane is smaller than 8×8 voxels, or the
    /// image holds NaN or infinite values.
    public static func apply(_ image: Volume<Float>, options: GibbsOptions = GibbsOptions()) throws -> Volume<Float> {
        let axes = try planeAxes(for: image.grid, options: options)
        try image.requireFinite("image to unring")
        let g = image.grid
        let dims = [g.nx, g.ny, g.nz], strides = [1, g.nx, g.nx * g.ny]
        let sliceAxis = 3 - axes.x - axes.y
        let layout = GibbsSliceLayout(n0: dims[axes.x], n1: dims[axes.y],
                                      stride0: strides[axes.x], stride1: strides[axes.y])
        NumericLibraries.configure()
        let spaces = try (0..<max(workerCount, 1)).map { _ in
            try GibbsWorkspace(n0: layout.n0, n1: layout.n1, slots: 2 * options.shifts + 1)
        }
        let plans = try GibbsPlans(layout: layout, options: options, planningWith: spaces[0])

        let buffer = SharedBuffer<Float>(repeating: 0, count: image.data.count)
        image.data.withUnsafeBufferPointer { _ = buffer.pointer.update(fromContentsOf: $0) }
        let perSlice = dims[sliceAxis], sliceStride = strides[sliceAxis], voxels = g.voxelCount
        let slices = image.frames * perSlice
        let progress = ProgressReporter("Gibbs unringing", total: slices)
        parallelChunks(slices) { range, worker in
            guard let data = buffer.pointer.baseAddress else { return }
            let space = spaces[worker]
            for s in range {
                let base = (s / perSlice) * voxels + (s % perSlice) * sliceStride
                plans.unringSlice(data + base, workspace: space)
                progress.advance()
            }
        }
        progress.finish()
        return try Volume(grid: g, frames: image.frames, data: buffer.array)
    }

    /// The in-plane axes used for `grid`: `options.axes` when given, otherwise the two axes
    /// with the finest spacing. Also checks the options and the plane size, so a caller can
    /// validate (and report the plane) before reading the image.
    public static func planeAxes(for grid: Grid, options: GibbsOptions = GibbsOptions()) throws -> SIMD2<Int> {
        let names = ["i", "j", "k"]
        let axes: SIMD2<Int>
        if let a = options.axes {
            guard (0...2).contains(a.x), (0...2).contains(a.y), a.x != a.y else {
                throw CordError.invalidValue(what: "Gibbs unringing axes \(a.x),\(a.y)",
                                             detail: "give two different axes among 0 (i), 1 (j) and 2 (k)")
            }
            axes = a
        } else {
            // The slice axis is the coarsest one; among equal spacings (within 0.1%) the highest.
            let s = grid.spacing, spacing = [s.x, s.y, s.z]
            var slice = 0
            for a in 1...2 where spacing[a] >= spacing[slice] * (1 - 1e-3) { slice = a }
            axes = slice == 0 ? SIMD2(1, 2) : (slice == 1 ? SIMD2(0, 2) : SIMD2(0, 1))
        }
        let dims = [grid.nx, grid.ny, grid.nz]
        let n0 = dims[axes.x], n1 = dims[axes.y]
        guard n0 >= minimumPlaneSize, n1 >= minimumPlaneSize else {
            throw CordError.invalidValue(
                what: "Gibbs unringing",
                detail: "the in-plane size \(n0)×\(n1) voxels (axes \(names[axes.x]) and \(names[axes.y]) of \(grid.shortDescription)) "
                    + "is smaller than \(minimumPlaneSize)×\(minimumPlaneSize); choose the acquisition plane with the axes option")
        }
        guard options.shifts >= 1 else {
            throw CordError.invalidValue(what: "Gibbs unringing shifts \(options.shifts)", detail: "must be at least 1 (default 20)")
        }
        guard options.minW >= 0, options.maxW > options.minW else {
            throw CordError.invalidValue(what: "Gibbs unringing window \(options.minW)…\(options.maxW)",
                                         detail: "needs 0 ≤ minW < maxW (default 1…3)")
        }
        guard 2 * options.maxW < min(n0, n1) else {
            throw CordError.invalidValue(what: "Gibbs unringing window maxW \(options.maxW)",
                                         detail: "must be less than half the in-plane size \(n0)×\(n1)")
        }
        return axes
    }
}

/// Where one 2D slice's voxels lie in a volume's buffer: n0 × n1 voxels, neighbours along
/// the first in-plane axis `stride0` apart and along the second `stride1` apart.
struct GibbsSliceLayout: Sendable {
    let n0: Int, n1: Int, stride0: Int, stride1: Int
}
