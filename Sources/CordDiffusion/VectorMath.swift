// e^x and ln x on four lanes for the per-voxel fitting loops (no libm calls per value).
#if canImport(Glibc)
import Glibc
#endif

typealias Lanes = SIMD4<Double>

/// e^x on four lanes, as the scalar `fastExp` (about 2·10⁻¹⁰ relative error).
@inline(__always)
func fastExp(_ x: Lanes) -> Lanes {
    let xc = x.replacing(with: -700, where: x .< -700).replacing(with: 700, where: x .> 700)
    // n = round(x/ln 2) by the 1.5·2⁵² trick (exact for |n| < 2⁵¹; no libm call), r = x − n·ln 2.
    let magic = Lanes(repeating: 6755399441055744.0)
    let t = xc * 1.4426950408889634 + magic
    let n = t - magic
    let r = xc - n * 0.6931471805599453
    var p = Lanes(repeating: 1.0 / 362880)
    p = p * r + 1.0 / 40320; p = p * r + 1.0 / 5040; p = p * r + 1.0 / 720; p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24; p = p * r + 1.0 / 6; p = p * r + 0.5; p = p * r + 1; p = p * r + 1
    let ni = unsafeBitCast(t, to: SIMD4<Int64>.self) &- unsafeBitCast(magic, to: SIMD4<Int64>.self)
    return p * unsafeBitCast((ni &+ 1023) &<< 52, to: Lanes.self)
}

/// e^x on four lanes to about 2·10⁻⁷ relative error (degree-6 Taylor polynomial after the
/// same range reduction), for least-squares weights, where that precision changes the
/// estimate far less than the data's own Float rounding does.
@inline(__always)
func weightExp(_ x: Lanes) -> Lanes {
    let xc = x.replacing(with: -700, where: x .< -700).replacing(with: 700, where: x .> 700)
    let magic = Lanes(repeating: 6755399441055744.0)
    let t = xc * 1.4426950408889634 + magic
    let n = t - magic
    let r = xc - n * 0.6931471805599453
    // Estrin's scheme: shorter dependency chains than Horner's.
    let r2 = r * r
    let a: Lanes = 1 + r, b: Lanes = 0.5 + r * (1.0 / 6), c: Lanes = 1.0 / 24 + r * (1.0 / 120)
    let p: Lanes = a + r2 * (b + r2 * (c + r2 * (1.0 / 720)))
    let ni = unsafeBitCast(t, to: SIMD4<Int64>.self) &- unsafeBitCast(magic, to: SIMD4<Int64>.self)
    return p * unsafeBitCast((ni &+ 1023) &<< 52, to: Lanes.self)
}

/// ln x on four lanes for positive normal x (signals floored above 0): x = 2ᵉ·m with
/// m in [√½, √2), ln m = 2·atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.172, by its series to s¹¹
/// (truncation below 10⁻¹¹ absolute, far under the Float data's own precision, 6·10⁻⁸).
@inline(__always)
func fastLog(_ x: Lanes) -> Lanes {
    let bits = unsafeBitCast(x, to: SIMD4<Int64>.self)
    var e = (bits &>> 52) &- 1023
    var m = unsafeBitCast((bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000, to: Lanes.self)
    let high = m .> 1.4142135623730951
    m.replace(with: m * 0.5, where: high)
    e.replace(with: e &+ 1, where: high)
    let s = (m - 1) / (m + 1), s2 = s * s
    let s4 = s2 * s2
    let c0: Lanes = 1 + s2 * (1.0 / 3), c1: Lanes = 1.0 / 5 + s2 * (1.0 / 7), c2: Lanes = 1.0 / 9 + s2 * (1.0 / 11)
    let p: Lanes = c0 + s4 * (c1 + s4 * c2)
    let magic = Lanes(repeating: 6755399441055744.0)
    let ef = unsafeBitCast(e &+ unsafeBitCast(magic, to: SIMD4<Int64>.self), to: Lanes.self) - magic
    return ef * 0.6931471805599453 + 2 * s * p
}

/// ln x for one positive value, with the same arithmetic as the four-lane version.
@inline(__always)
func fastLog(_ x: Double) -> Double { fastLog(Lanes(repeating: x))[0] }
