// Ready-made grids for phantoms: axial, sagittal, isotropic, and oblique/flipped variants.
import CordCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Grid presets centred on the default phantom (C1–T1 spans world z ≈ −73…73 mm, the cord
/// near x = 0, y = 0…4 mm). Any other grid works as well.
public enum PhantomGrid {
    /// Axial slices in canonical RPI order (i R→L, j P→A, k I→S): `inPlane` mm pixels over
    /// a square `fieldOfView` (mm), `sliceThickness` mm slices from `inferior` to
    /// `superior` (world z, mm), centred on world (x, y) = `centre`.
    public static func axial(inPlane: Double = 0.5, sliceThickness: Double = 3, fieldOfView: Double = 48,
                             inferior: Double = -80, superior: Double = 80,
                             centre: SIMD2<Double> = [0, 4]) -> Grid {
        let n = count(fieldOfView, inPlane), nz = count(superior - inferior, sliceThickness)
        let origin = SIMD3(centre.x + Double(n - 1) / 2 * inPlane, centre.y - Double(n - 1) / 2 * inPlane,
                           (superior + inferior) / 2 - Double(nz - 1) / 2 * sliceThickness)
        return Grid(nx: n, ny: n, nz: nz, spacing: SIMD3(inPlane, inPlane, sliceThickness), origin: origin)
    }

    /// Sagittal slices stored as a scanner often writes them: i runs A→P, j runs S→I,
    /// k runs L→R (SCT code "ASL"): a permuted, flipped affine. `inPlane` mm pixels,
    /// `sliceThickness` mm slices across `fieldOfViewRL`, `fieldOfViewAP` mm front to back.
    public static func sagittal(inPlane: Double = 0.8, sliceThickness: Double = 0.8,
                                fieldOfViewAP: Double = 64, fieldOfViewRL: Double = 32,
                                inferior: Double = -80, superior: Double = 80,
                                centre: SIMD2<Double> = [0, 4]) -> Grid {
        let ni = count(fieldOfViewAP, inPlane), nj = count(superior - inferior, inPlane)
        let nk = count(fieldOfViewRL, sliceThickness)
        let linear = Mat3(columns: SIMD3(0, -inPlane, 0), SIMD3(0, 0, -inPlane), SIMD3(sliceThickness, 0, 0))
        let origin = SIMD3(centre.x - Double(nk - 1) / 2 * sliceThickness, centre.y + Double(ni - 1) / 2 * inPlane,
                           (superior + inferior) / 2 + Double(nj - 1) / 2 * inPlane)
        return Grid(nx: ni, ny: nj, nz: nk, affine: Mat4(linear: linear, translation: origin))
    }

    /// Isotropic voxels in RPI order.
    public static func isotropic(spacing: Double = 0.8, fieldOfView: Double = 48,
                                 inferior: Double = -80, superior: Double = 80,
                                 centre: SIMD2<Double> = [0, 4]) -> Grid {
        axial(inPlane: spacing, sliceThickness: spacing, fieldOfView: fieldOfView,
              inferior: inferior, superior: superior, centre: centre)
    }

    /// `grid` rotated about its centre by `degrees` about world x, then y, then z (R =
    /// R_z·R_y·R_x), with the voxel axes listed in `flip` reversed (the same voxels read
    /// backwards): an oblique acquisition.
    public static func oblique(_ grid: Grid, degrees: SIMD3<Double>, flip: [Bool] = [false, false, false]) -> Grid {
        let r = degrees * (Double.pi / 180)
        let rx = Mat3(rows: [1, 0, 0], [0, cos(r.x), -sin(r.x)], [0, sin(r.x), cos(r.x)])
        let ry = Mat3(rows: [cos(r.y), 0, sin(r.y)], [0, 1, 0], [-sin(r.y), 0, cos(r.y)])
        let rz = Mat3(rows: [cos(r.z), -sin(r.z), 0], [sin(r.z), cos(r.z), 0], [0, 0, 1])
        let rotation = rz * ry * rx
        let dims = [grid.nx, grid.ny, grid.nz]
        let centreVoxel = SIMD3(Double(grid.nx - 1), Double(grid.ny - 1), Double(grid.nz - 1)) / 2
        let centre = grid.affine.apply(centreVoxel)
        var linear = rotation * grid.affine.linear
        var columns = [linear.column(0), linear.column(1), linear.column(2)]
        for a in 0..<3 where a < flip.count && flip[a] && dims[a] > 0 { columns[a] = -columns[a] }
        linear = Mat3(columns: columns[0], columns[1], columns[2])
        return Grid(nx: grid.nx, ny: grid.ny, nz: grid.nz,
                    affine: Mat4(linear: linear, translation: centre - linear * centreVoxel))
    }

    private static func count(_ extent: Double, _ spacing: Double) -> Int {
        max(1, CheckedNumber.clamped(extent / spacing, .toNearestOrAwayFromZero))
    }
}
