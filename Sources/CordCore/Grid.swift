// The sampling grid of an image: voxel counts and the voxel→world affine.

/// Voxel counts along i, j, k and the voxel→world affine (RAS+, mm).
///
/// Two volumes can be combined voxel by voxel only when their grids are compatible
/// (same counts, affines equal within `Grid.affineTolerance` mm).
public struct Grid: Equatable, Hashable, Sendable, CustomStringConvertible {
    public let nx: Int, ny: Int, nz: Int
    /// Voxel index (i, j, k) → world position (x, y, z) in mm, RAS+.
    public let affine: Mat4

    /// Affine entries may differ by this much (mm) between files written by different tools.
    public static let affineTolerance = 1e-3

    public init(nx: Int, ny: Int, nz: Int, affine: Mat4) {
        precondition(nx > 0 && ny > 0 && nz > 0, "grid dimensions must be positive")
        self.nx = nx; self.ny = ny; self.nz = nz; self.affine = affine
    }
    /// An axis-aligned grid in canonical RPI orientation (i toward L, j toward A, k toward S)
    /// with the given spacing in mm and world origin of voxel (0,0,0).
    public init(nx: Int, ny: Int, nz: Int, spacing: SIMD3<Double>, origin: SIMD3<Double> = .zero) {
        self.init(nx: nx, ny: ny, nz: nz,
                  affine: Mat4(linear: .diagonal(SIMD3(-spacing.x, spacing.y, spacing.z)), translation: origin))
    }

    public var dims: SIMD3<Int> { SIMD3(nx, ny, nz) }
    public var voxelCount: Int { nx * ny * nz }
    /// Voxel size (mm): the length of each affine column.
    public var spacing: SIMD3<Double> {
        let l = affine.linear
        return SIMD3(length(l.column(0)), length(l.column(1)), length(l.column(2)))
    }
    public var voxelVolume: Double { abs(affine.linear.determinant) }
    /// The pure rotation/reflection part of the affine (columns normalised).
    public var rotation: Mat3 {
        let l = affine.linear, s = spacing
        return Mat3(columns: l.column(0) / s.x, l.column(1) / s.y, l.column(2) / s.z)
    }
    /// World → voxel affine.
    public var inverseAffine: Mat4 {
        // A grid's affine is built from positive spacings, so it is invertible.
        affine.inverse ?? .identity
    }

    @inline(__always) public func index(_ i: Int, _ j: Int, _ k: Int) -> Int { i + nx * (j + ny * k) }
    @inline(__always) public func contains(_ i: Int, _ j: Int, _ k: Int) -> Bool {
        i >= 0 && j >= 0 && k >= 0 && i < nx && j < ny && k < nz
    }
    public func coordinates(of index: Int) -> SIMD3<Int> {
        SIMD3(index % nx, (index / nx) % ny, index / (nx * ny))
    }
    public func world(_ i: Double, _ j: Double, _ k: Double) -> SIMD3<Double> { affine.apply(SIMD3(i, j, k)) }
    public func world(_ v: SIMD3<Int>) -> SIMD3<Double> { affine.apply(SIMD3<Double>(Double(v.x), Double(v.y), Double(v.z))) }
    public func voxel(ofWorld p: SIMD3<Double>) -> SIMD3<Double> { inverseAffine.apply(p) }

    /// Same counts and affines equal within `affineTolerance`.
    public func isCompatible(with other: Grid) -> Bool {
        nx == other.nx && ny == other.ny && nz == other.nz
            && affine.isApproximatelyEqual(to: other.affine, tolerance: Grid.affineTolerance)
    }
    /// Throws `CordError.gridMismatch` naming both inputs when grids differ.
    public func requireCompatible(with other: Grid, _ name: String, _ otherName: String) throws {
        guard isCompatible(with: other) else {
            throw CordError.gridMismatch(first: name, firstGrid: shortDescription,
                                         second: otherName, secondGrid: other.shortDescription)
        }
    }
    public var shortDescription: String {
        let s = spacing
        return "\(nx)×\(ny)×\(nz) at \(formatFixed(s.x, 3))×\(formatFixed(s.y, 3))×\(formatFixed(s.z, 3)) mm"
    }
    public var description: String { "Grid(\(shortDescription), \(orientationCode))" }
}

@inline(__always) public func length(_ v: SIMD3<Double>) -> Double { (v * v).sum().squareRoot() }
@inline(__always) public func dot(_ a: SIMD3<Double>, _ b: SIMD3<Double>) -> Double { (a * b).sum() }
@inline(__always) public func cross(_ a: SIMD3<Double>, _ b: SIMD3<Double>) -> SIMD3<Double> {
    SIMD3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
}
@inline(__always) public func normalized(_ v: SIMD3<Double>) -> SIMD3<Double> {
    let l = length(v)
    return l > 0 ? v / l : v
}
