// The cord's centerline as a curve in world space, its arc length and the local frame.
import CordCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A point expressed in the cord's own coordinates (all lengths in mm).
public struct CordCoordinates: Sendable, Equatable {
    /// Arc length along the centerline from the top of C1, increasing downward.
    public var s: Double
    /// Position in the plane orthogonal to the centerline: u toward the patient's right,
    /// v toward anterior (the world +x and +y directions tilted with the cord).
    public var u: Double, v: Double
    /// Unit tangent of the centerline at the foot point, pointing superior (world +z side).
    public var tangent: SIMD3<Double>
}

/// c(z) = (x₀ + A_lat·sin πζ, y₀ + A_lord·sin πζ, z) with ζ = (z_top − z)/span: a smooth
/// bow that vanishes at the top of C1 and at the bottom of T1 and peaks (A_lord anterior,
/// A_lat to the right) halfway, near C4/C5 — the apex of the cervical lordosis.
/// Arc length s(z) = ∫_z^{z_top} |c′| dz comes from a table (0.1 mm steps, trapezoid rule).
/// A final class with a raw-pointer table, for speed in unoptimised builds (see `CordShape`).
final class CenterlineCurve: @unchecked Sendable {
    let x0: Double, y0: Double, lordosis: Double, lateral: Double, zTop: Double, k: Double
    private let tableStart: Double, tableStep = 0.1
    /// ∫ |c′| dz from tableStart to tableStart + i·step, `count` entries.
    private let cumulative: UnsafeMutablePointer<Double>
    private let count = 12001  // 800 mm below to 400 mm above the top of C1
    private let sTopOffset: Double

    init(x0: Double, y0: Double, lordosis: Double, lateral: Double, zTop: Double, span: Double) {
        self.x0 = x0; self.y0 = y0; self.lordosis = lordosis; self.lateral = lateral
        self.zTop = zTop; k = Double.pi / span
        tableStart = zTop - 800
        let n = count
        let c = UnsafeMutablePointer<Double>.allocate(capacity: n)
        c.initialize(repeating: 0, count: n)
        var previous = 0.0
        for i in 0..<n {
            let sp = CenterlineCurve.speed(z: tableStart + Double(i) * 0.1, zTop: zTop, k: k, lordosis: lordosis, lateral: lateral)
            if i > 0 { c[i] = c[i - 1] + 0.05 * (previous + sp) }
            previous = sp
        }
        cumulative = c
        sTopOffset = c[8000]  // zTop = tableStart + 8000·0.1
    }
    deinit { cumulative.deallocate() }

    static func speed(z: Double, zTop: Double, k: Double, lordosis: Double, lateral: Double) -> Double {
        let cs = cos(k * (zTop - z))
        let dx = -lateral * k * cs, dy = -lordosis * k * cs
        return (1 + dx * dx + dy * dy).squareRoot()
    }

    /// Arc length (mm from the top of C1, increasing downward) of the point at height z.
    func arcLength(z: Double) -> Double {
        let f = (z - tableStart) / tableStep
        let n = count
        if f <= 0 { return sTopOffset - cumulative[0] + (tableStart - z) * CenterlineCurve.speed(z: tableStart, zTop: zTop, k: k, lordosis: lordosis, lateral: lateral) }
        if f >= Double(n - 1) {
            let zEnd = tableStart + Double(n - 1) * tableStep
            return sTopOffset - cumulative[n - 1] - (z - zEnd) * CenterlineCurve.speed(z: zEnd, zTop: zTop, k: k, lordosis: lordosis, lateral: lateral)
        }
        let i = CheckedNumber.clamped(f), w = f - Double(i)
        return sTopOffset - (cumulative[i] * (1 - w) + cumulative[i + 1] * w)
    }

    /// Height z of the centerline point at arc length s (Newton on s(z)).
    func z(arcLength s: Double) -> Double {
        var z = zTop - s
        for _ in 0..<20 {
            let step = (arcLength(z: z) - s) / CenterlineCurve.speed(z: z, zTop: zTop, k: k, lordosis: lordosis, lateral: lateral)
            z += step
            if absolute(step) < 1e-11 { break }
        }
        return z
    }

    func point(z: Double) -> SIMD3<Double> {
        let sn = sin(k * (zTop - z))
        return SIMD3(x0 + lateral * sn, y0 + lordosis * sn, z)
    }

    /// Unit tangent at height z, pointing toward +z.
    func tangent(z: Double) -> SIMD3<Double> {
        let cs = cos(k * (zTop - z))
        let d = SIMD3(-lateral * k * cs, -lordosis * k * cs, 1.0)
        return d / (d * d).sum().squareRoot()
    }

    /// Foot point on the centerline and local coordinates of world point (px, py, pz).
    /// Newton iterations on F(z) = (p − c(z))·c′(z), started at z = pz; converges in a few
    /// steps while the distance to the centerline times its curvature stays ≪ 1.
    /// Written with scalars: this runs for every sub-sample of every voxel.
    @inline(__always)
    func local(_ px: Double, _ py: Double, _ pz: Double) -> (s: Double, u: Double, v: Double, tx: Double, ty: Double, tz: Double) {
        var z = pz
        var dx = 0.0, dy = 0.0, rx = 0.0, ry = 0.0
        for iteration in 0..<8 {
            let phase = k * (zTop - z)
            let sn = sin(phase), cs = cos(phase)
            dx = -lateral * k * cs; dy = -lordosis * k * cs
            rx = px - (x0 + lateral * sn); ry = py - (y0 + lordosis * sn)
            if iteration == 7 { break }
            let ddx = -lateral * k * k * sn, ddy = -lordosis * k * k * sn
            let f = rx * dx + ry * dy + (pz - z)
            let fp = -(dx * dx + dy * dy + 1) + rx * ddx + ry * ddy
            let step = f / fp
            z -= step
            if absolute(step) < 1e-10 {
                // Refresh the derivatives at the converged z.
                let ph = k * (zTop - z)
                let s2 = sin(ph), c2 = cos(ph)
                dx = -lateral * k * c2; dy = -lordosis * k * c2
                rx = px - (x0 + lateral * s2); ry = py - (y0 + lordosis * s2)
                break
            }
        }
        let rz = pz - z
        let norm = (dx * dx + dy * dy + 1).squareRoot()
        let tx = dx / norm, ty = dy / norm, tz = 1 / norm
        // e_v: world +y made orthogonal to t; e_u = e_v × t (world +x when t = +z).
        var vx = -ty * tx, vy = 1 - ty * ty, vz = -ty * tz
        let vn = (vx * vx + vy * vy + vz * vz).squareRoot()
        vx /= vn; vy /= vn; vz /= vn
        let ux = vy * tz - vz * ty, uy = vz * tx - vx * tz, uz = vx * ty - vy * tx
        return (arcLength(z: z), rx * ux + ry * uy + rz * uz, rx * vx + ry * vy + rz * vz, tx, ty, tz)
    }

    /// Unit vectors (e_u, e_v) of the cross-section plane at height z.
    func frame(z: Double) -> (u: SIMD3<Double>, v: SIMD3<Double>) {
        let t = tangent(z: z)
        let v = normalizedVector(SIMD3(0, 1, 0) - t.y * t)
        let u = SIMD3(v.y * t.z - v.z * t.y, v.z * t.x - v.x * t.z, v.x * t.y - v.y * t.x)
        return (u, v)
    }
}

/// |x| without the generic `abs`, which unoptimised builds call through protocol witnesses.
@inline(__always) func absolute(_ x: Double) -> Double { x < 0 ? -x : x }

@inline(__always) func normalizedVector(_ v: SIMD3<Double>) -> SIMD3<Double> {
    let l = (v * v).sum().squareRoot()
    return l > 0 ? v / l : v
}
