// Small fixed-size matrices used for geometry (voxel→world affines, rotations, b-tensors).

/// A 3×3 matrix of doubles, stored by rows.
public struct Mat3: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var rows: (SIMD3<Double>, SIMD3<Double>, SIMD3<Double>)

    public init(rows r0: SIMD3<Double>, _ r1: SIMD3<Double>, _ r2: SIMD3<Double>) {
        rows = (r0, r1, r2)
    }
    public init(columns c0: SIMD3<Double>, _ c1: SIMD3<Double>, _ c2: SIMD3<Double>) {
        rows = (SIMD3(c0.x, c1.x, c2.x), SIMD3(c0.y, c1.y, c2.y), SIMD3(c0.z, c1.z, c2.z))
    }
    public static let identity = Mat3(rows: [1, 0, 0], [0, 1, 0], [0, 0, 1])
    public static let zero = Mat3(rows: .zero, .zero, .zero)
    public static func diagonal(_ d: SIMD3<Double>) -> Mat3 {
        Mat3(rows: [d.x, 0, 0], [0, d.y, 0], [0, 0, d.z])
    }
    /// Outer product a bᵀ.
    public static func outer(_ a: SIMD3<Double>, _ b: SIMD3<Double>) -> Mat3 {
        Mat3(rows: a.x * b, a.y * b, a.z * b)
    }

    public subscript(r: Int, c: Int) -> Double {
        get { row(r)[c] }
        set {
            switch r {
            case 0: rows.0[c] = newValue
            case 1: rows.1[c] = newValue
            default: rows.2[c] = newValue
            }
        }
    }
    public func row(_ r: Int) -> SIMD3<Double> { r == 0 ? rows.0 : (r == 1 ? rows.1 : rows.2) }
    public func column(_ c: Int) -> SIMD3<Double> { SIMD3(rows.0[c], rows.1[c], rows.2[c]) }
    public var transposed: Mat3 { Mat3(columns: rows.0, rows.1, rows.2) }
    public var trace: Double { rows.0.x + rows.1.y + rows.2.z }
    public var determinant: Double {
        let (a, b, c) = rows
        return a.x * (b.y * c.z - b.z * c.y) - a.y * (b.x * c.z - b.z * c.x) + a.z * (b.x * c.y - b.y * c.x)
    }
    /// The inverse, or nil when the matrix is singular (|det| < 1e-12).
    public var inverse: Mat3? {
        let d = determinant
        guard abs(d) > 1e-12 else { return nil }
        let (a, b, c) = rows
        let c0 = SIMD3(b.y * c.z - b.z * c.y, -(a.y * c.z - a.z * c.y), a.y * b.z - a.z * b.y)
        let c1 = SIMD3(-(b.x * c.z - b.z * c.x), a.x * c.z - a.z * c.x, -(a.x * b.z - a.z * b.x))
        let c2 = SIMD3(b.x * c.y - b.y * c.x, -(a.x * c.y - a.y * c.x), a.x * b.y - a.y * b.x)
        return Mat3(rows: c0 / d, c1 / d, c2 / d)
    }
    public static func * (m: Mat3, v: SIMD3<Double>) -> SIMD3<Double> {
        SIMD3((m.rows.0 * v).sum(), (m.rows.1 * v).sum(), (m.rows.2 * v).sum())
    }
    public static func * (a: Mat3, b: Mat3) -> Mat3 {
        let bt = b.transposed
        func r(_ x: SIMD3<Double>) -> SIMD3<Double> { SIMD3((x * bt.rows.0).sum(), (x * bt.rows.1).sum(), (x * bt.rows.2).sum()) }
        return Mat3(rows: r(a.rows.0), r(a.rows.1), r(a.rows.2))
    }
    public static func * (s: Double, m: Mat3) -> Mat3 { Mat3(rows: s * m.rows.0, s * m.rows.1, s * m.rows.2) }
    public static func + (a: Mat3, b: Mat3) -> Mat3 { Mat3(rows: a.rows.0 + b.rows.0, a.rows.1 + b.rows.1, a.rows.2 + b.rows.2) }
    public static func - (a: Mat3, b: Mat3) -> Mat3 { Mat3(rows: a.rows.0 - b.rows.0, a.rows.1 - b.rows.1, a.rows.2 - b.rows.2) }
    /// Frobenius inner product ⟨A,B⟩ = Σ A_ij B_ij.
    public func inner(_ b: Mat3) -> Double { (rows.0 * b.rows.0).sum() + (rows.1 * b.rows.1).sum() + (rows.2 * b.rows.2).sum() }
    public static func == (a: Mat3, b: Mat3) -> Bool { a.rows.0 == b.rows.0 && a.rows.1 == b.rows.1 && a.rows.2 == b.rows.2 }
    public func hash(into h: inout Hasher) { h.combine(rows.0); h.combine(rows.1); h.combine(rows.2) }
    public func isApproximatelyEqual(to b: Mat3, tolerance: Double) -> Bool {
        for r in 0..<3 { for c in 0..<3 where abs(self[r, c] - b[r, c]) > tolerance { return false } }
        return true
    }
    public var description: String {
        (0..<3).map { r in (0..<3).map { formatFixed(self[r, $0], 4) }.joined(separator: " ") }.joined(separator: "\n")
    }
}

/// A 4×4 homogeneous matrix (voxel→world affines), stored by rows.
public struct Mat4: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var rows: (SIMD4<Double>, SIMD4<Double>, SIMD4<Double>, SIMD4<Double>)

    public init(rows r0: SIMD4<Double>, _ r1: SIMD4<Double>, _ r2: SIMD4<Double>, _ r3: SIMD4<Double> = [0, 0, 0, 1]) {
        rows = (r0, r1, r2, r3)
    }
    /// Builds an affine from a linear part and a translation.
    public init(linear m: Mat3, translation t: SIMD3<Double>) {
        rows = (SIMD4(m.rows.0, t.x), SIMD4(m.rows.1, t.y), SIMD4(m.rows.2, t.z), SIMD4(0, 0, 0, 1))
    }
    public static let identity = Mat4(linear: .identity, translation: .zero)

    public subscript(r: Int, c: Int) -> Double {
        get { row(r)[c] }
        set {
            switch r {
            case 0: rows.0[c] = newValue
            case 1: rows.1[c] = newValue
            case 2: rows.2[c] = newValue
            default: rows.3[c] = newValue
            }
        }
    }
    public func row(_ r: Int) -> SIMD4<Double> {
        switch r { case 0: rows.0; case 1: rows.1; case 2: rows.2; default: rows.3 }
    }
    /// The upper-left 3×3 block.
    public var linear: Mat3 {
        Mat3(rows: SIMD3(rows.0.x, rows.0.y, rows.0.z), SIMD3(rows.1.x, rows.1.y, rows.1.z), SIMD3(rows.2.x, rows.2.y, rows.2.z))
    }
    public var translation: SIMD3<Double> { SIMD3(rows.0.w, rows.1.w, rows.2.w) }

    /// Applies the affine to a point.
    public func apply(_ p: SIMD3<Double>) -> SIMD3<Double> { linear * p + translation }
    public static func * (a: Mat4, b: Mat4) -> Mat4 {
        Mat4(linear: a.linear * b.linear, translation: a.linear * b.translation + a.translation)
    }
    /// The inverse of an affine (last row 0 0 0 1), or nil when singular.
    public var inverse: Mat4? {
        guard let li = linear.inverse else { return nil }
        return Mat4(linear: li, translation: -(li * translation))
    }
    public static func == (a: Mat4, b: Mat4) -> Bool {
        a.rows.0 == b.rows.0 && a.rows.1 == b.rows.1 && a.rows.2 == b.rows.2 && a.rows.3 == b.rows.3
    }
    public func hash(into h: inout Hasher) { h.combine(rows.0); h.combine(rows.1); h.combine(rows.2); h.combine(rows.3) }
    public func isApproximatelyEqual(to b: Mat4, tolerance: Double) -> Bool {
        for r in 0..<4 { for c in 0..<4 where abs(self[r, c] - b[r, c]) > tolerance { return false } }
        return true
    }
    public var description: String {
        (0..<4).map { r in (0..<4).map { formatFixed(self[r, $0], 4) }.joined(separator: " ") }.joined(separator: "\n")
    }
}

/// Formats a number with a fixed count of decimals, without Foundation's locale machinery.
public func formatFixed(_ x: Double, _ decimals: Int) -> String {
    guard x.isFinite else { return x.isNaN ? "nan" : (x > 0 ? "inf" : "-inf") }
    var p = 1.0
    for _ in 0..<decimals { p *= 10 }
    let r = (abs(x) * p).rounded()
    // Beyond 2^53 a Double holds no fractional digits and Int conversion could trap
    // (a voxel of 1e30 used to crash `cordq info`): such magnitudes print with an exponent.
    guard r < CheckedNumber.integerLimit else { return formatScientific(x, max(decimals, 3)) }
    let neg = x < 0 && r != 0
    let ip = CheckedNumber.clamped(r / p, .down)
    var s = String(ip)
    if decimals > 0 {
        let frac = CheckedNumber.clamped(r - Double(ip) * p)
        var f = String(frac)
        while f.count < decimals { f = "0" + f }
        s += "." + f
    }
    return neg ? "-" + s : s
}
