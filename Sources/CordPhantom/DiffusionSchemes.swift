// Ready-made diffusion encoding schemes for simulations (world directions, b in s/mm²).
import CordCore
#if canImport(Glibc)
import Glibc
#endif

/// Encoding schemes for simulated acquisitions.
public enum DiffusionSchemes {
    /// `n` directions on the upper hemisphere (Fibonacci lattice); `twist` rotates the set
    /// about z so that shells can interleave.
    public static func directions(_ n: Int, twist: Double = 0) -> [SIMD3<Double>] {
        let golden = Double.pi * (3 - 5.0.squareRoot())
        return (0..<n).map { i in
            let z = 1 - (Double(i) + 0.5) / Double(n)
            let r = (1 - z * z).squareRoot(), phi = golden * Double(i) + twist
            return SIMD3(r * cos(phi), r * sin(phi), z)
        }
    }
    public static func referenceVolumes(_ n: Int) -> [GradientEntry] {
        Array(repeating: GradientEntry(b: 0, direction: .zero), count: n)
    }
    /// One shell of `n` volumes; for planar encoding the direction is the plane's normal.
    public static func shell(_ b: Double, _ n: Int, _ shape: BTensorShape = .linear, twist: Double = 0) -> [GradientEntry] {
        directions(n, twist: twist).map { GradientEntry(b: b, direction: $0, shape: shape) }
    }
    /// Double diffusion encoding at total b: `n` parallel pairs and `n` orthogonal pairs
    /// whose plane normals are spread over the sphere (the orthogonal powder average
    /// depends only on the normals).
    public static func doubleDiffusion(_ b: Double, _ n: Int) -> [GradientEntry] {
        let parallel = directions(n).map { GradientEntry(b: b, direction: $0, shape: .doubleDiffusion(second: $0)) }
        let orthogonal = directions(n, twist: 0.7).map { p -> GradientEntry in
            let helper: SIMD3<Double> = abs(p.x) < 0.6 ? [1, 0, 0] : [0, 1, 0]
            let n1 = normalized(cross(p, helper))
            return GradientEntry(b: b, direction: n1, shape: .doubleDiffusion(second: cross(p, n1)))
        }
        return parallel + orthogonal
    }

    /// Named schemes: `dti` (b = 0 ×5 + 30 linear at 800, as the SCT tutorial series),
    /// `lte-ste` (b = 0 ×4, linear ×20 and spherical ×10 at 500, 1000, 2000, as
    /// protocols/cervical-qmri.yaml), `lte-pte-ste` (the same plus planar ×10 per shell),
    /// `qti286` (b = 0 ×10, linear ×32, planar ×20 and spherical ×17 at 500, 1000, 1500 and
    /// 2000: 286 volumes, a realistic tensor-valued QTI protocol), `multishell` (b = 0 ×3, linear ×20 at 1000, 2000, 3000: SMT), `dde` (b = 0 ×4,
    /// parallel and orthogonal DDE ×15 each at 1000 and 2000).
    public static func named(_ name: String) -> GradientTable? {
        switch name {
        case "dti": GradientTable(referenceVolumes(5) + shell(800, 30))
        case "dti66": GradientTable(referenceVolumes(6) + shell(1000, 60))
        case "lte-ste": GradientTable(referenceVolumes(4) + [500.0, 1000, 2000].flatMap { shell($0, 20) + shell($0, 10, .spherical) })
        case "lte-pte-ste":
            GradientTable(referenceVolumes(4) + [500.0, 1000, 2000].flatMap { shell($0, 20) + shell($0, 10, .planar, twist: 0.3) + shell($0, 10, .spherical) })
        case "multishell": GradientTable(referenceVolumes(3) + [1000.0, 2000, 3000].flatMap { shell($0, 20, twist: $0 / 1000) })
        case "qti286":
            GradientTable(referenceVolumes(10) + [500.0, 1000, 1500, 2000].enumerated().flatMap { i, b in
                shell(b, 32, twist: Double(i) * 0.4) + shell(b, 20, .planar, twist: 0.2 + Double(i) * 0.4) + shell(b, 17, .spherical)
            })
        case "dde": GradientTable(referenceVolumes(4) + doubleDiffusion(1000, 15) + doubleDiffusion(2000, 15))
        default: nil
        }
    }
    public static let names = ["dti", "dti66", "lte-ste", "lte-pte-ste", "qti286", "multishell", "dde"]
}
