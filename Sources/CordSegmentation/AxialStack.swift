// An image in canonical RPI order held as raw slices, for the per-slice loops of
// centerline detection, boundary search and morphometry.
import CordCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An image reoriented to RPI (i R→L, j P→A, k I→S) with a contiguous Float buffer.
/// A final class so per-voxel loops read through one raw pointer (no copies, no ARC traffic
/// in unoptimised builds).
final class AxialStack: @unchecked Sendable {
    let nx: Int, ny: Int, nz: Int
    /// In-plane pixel size and slice spacing (mm).
    let dx: Double, dy: Double, dz: Double
    /// The RPI grid and the reorientation that restores the input's voxel order.
    let grid: Grid
    let reorientation: Reorientation
    let data: UnsafeMutableBufferPointer<Float>

    init(_ volume: Volume<Float>) {
        let first = volume.frames > 1 ? volume.frame(0) : volume
        let (rpi, r) = first.reoriented(to: .canonical)
        grid = rpi.grid; reorientation = r
        nx = rpi.grid.nx; ny = rpi.grid.ny; nz = rpi.grid.nz
        let s = rpi.grid.spacing
        dx = s.x; dy = s.y; dz = s.z
        data = .allocate(capacity: rpi.data.count)
        _ = data.initialize(from: rpi.data)
    }
    deinit { data.deallocate() }

    var sliceCount: Int { nx * ny }
    @inline(__always) func index(_ i: Int, _ j: Int, _ k: Int) -> Int { i + nx * (j + ny * k) }

    /// Bilinear sample of slice k at continuous pixel (x, y), clamped to the slice.
    @inline(__always) func sample(_ x: Double, _ y: Double, _ k: Int) -> Float {
        let cx = x < 0 ? 0 : (x > Double(nx - 1) ? Double(nx - 1) : x)
        let cy = y < 0 ? 0 : (y > Double(ny - 1) ? Double(ny - 1) : y)
        var i0 = CheckedNumber.clamped(cx), j0 = CheckedNumber.clamped(cy)
        if i0 >= nx - 1 { i0 = max(nx - 2, 0) }
        if j0 >= ny - 1 { j0 = max(ny - 2, 0) }
        let i1 = min(i0 + 1, nx - 1), j1 = min(j0 + 1, ny - 1)
        let fx = Float(cx - Double(i0)), fy = Float(cy - Double(j0))
        let base = nx * ny * k
        let a = data[base + i0 + nx * j0], b = data[base + i1 + nx * j0]
        let c = data[base + i0 + nx * j1], d = data[base + i1 + nx * j1]
        return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy
    }

    /// Robust intensity statistics: the 2nd and 98th percentiles of the image and the
    /// noise σ from the median absolute difference of i-neighbours (MAD/0.6745/√2), floored
    /// at 10⁻³ of the range so noise-free images do not divide by zero.
    func intensityStatistics() -> (low: Float, high: Float, noise: Float) {
        let n = data.count
        let step = max(1, n / 200_000)
        var values: [Float] = []
        values.reserveCapacity(n / step + 1)
        var diffs: [Float] = []
        diffs.reserveCapacity(n / step + 1)
        var m = 0
        while m < n {
            values.append(data[m])
            if m % nx < nx - 1 { diffs.append(abs(data[m + 1] - data[m])) }
            m += step
        }
        values.sort(); diffs.sort()
        let lo = values[values.count * 2 / 100], hi = values[min(values.count - 1, values.count * 98 / 100)]
        let mad = diffs.isEmpty ? 0 : diffs[diffs.count / 2]
        let range = max(hi - lo, 1e-12)
        return (lo, hi, max(mad / 0.6745 / 2.0.squareRoot().float, range * 1e-3))
    }

    /// The q-quantile (0…1) of the voxel values, from a regular sample of at most 200 000.
    func percentile(_ q: Double) -> Float {
        let step = max(1, data.count / 200_000)
        var values: [Float] = []
        values.reserveCapacity(data.count / step + 1)
        var m = 0
        while m < data.count { values.append(data[m]); m += step }
        values.sort()
        return values[min(values.count - 1, max(0, Int(q * Double(values.count))))]
    }

    /// Puts RPI data back into the input's voxel order and grid.
    func restore<T>(_ values: [T]) -> Volume<T> {
        // The buffer holds exactly one RPI frame.
        let v = Volume(grid: grid, frames: 1, exactly: values)
        return reorientation.invert(v)
    }
}

extension Double {
    var float: Float { Float(self) }
}
