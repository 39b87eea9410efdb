// Allocation-free eigen-analysis of symmetric 3×3 tensors for per-voxel loops.
import CordCore
#if canImport(Glibc)
import Glibc
#endif

/// Eigenvalues (descending) of the symmetric matrix [[a, d, e], [d, b, f], [e, f, c]] by
/// the trigonometric solution of the characteristic cubic (Smith 1961, Commun ACM 4:168),
/// and the unit eigenvector of the largest one from the largest cross product of two rows
/// of A − λ₁I (sign fixed so its largest component is positive).
@inline(__always)
func symmetricEigen3(_ a: Double, _ b: Double, _ c: Double, _ d: Double, _ e: Double, _ f: Double)
    -> (l1: Double, l2: Double, l3: Double, v: SIMD3<Double>) {
    let q = (a + b + c) / 3
    let p1 = d * d + e * e + f * f
    let aq = a - q, bq = b - q, cq = c - q
    let p2 = aq * aq + bq * bq + cq * cq + 2 * p1
    let p = (p2 / 6).squareRoot()
    var l1 = q, l2 = q, l3 = q
    if p > 1e-12 * max(abs(q), 1e-300) {
        let ip = 1 / p
        let b00 = aq * ip, b11 = bq * ip, b22 = cq * ip, b01 = d * ip, b02 = e * ip, b12 = f * ip
        let det = b00 * (b11 * b22 - b12 * b12) - b01 * (b01 * b22 - b12 * b02) + b02 * (b01 * b12 - b11 * b02)
        let r = min(1, max(-1, det / 2))
        let phi = acos(r) / 3
        l1 = q + 2 * p * cos(phi)
        l3 = q + 2 * p * cos(phi + 2 * Double.pi / 3)
        l2 = 3 * q - l1 - l3
    }
    // Eigenvector of l1: rows of A − l1·I are orthogonal to it.
    let r0 = SIMD3(a - l1, d, e), r1 = SIMD3(d, b - l1, f), r2 = SIMD3(e, f, c - l1)
    let c01 = cross(r0, r1), c02 = cross(r0, r2), c12 = cross(r1, r2)
    let n01 = dot(c01, c01), n02 = dot(c02, c02), n12 = dot(c12, c12)
    var v = n01 >= n02 && n01 >= n12 ? c01 : (n02 >= n12 ? c02 : c12)
    let nv = max(n01, max(n02, n12))
    if nv > 1e-300 {
        v = v / nv.squareRoot()
    } else {
        v = SIMD3(1, 0, 0)  // isotropic tensor: any direction is an eigenvector
    }
    let big = abs(v.x) >= abs(v.y) && abs(v.x) >= abs(v.z) ? v.x : (abs(v.y) >= abs(v.z) ? v.y : v.z)
    if big < 0 { v = -v }
    return (l1, l2, l3, v)
}
