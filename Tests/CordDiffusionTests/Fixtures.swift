// Shared phantoms, protocols and measurements for the diffusion tests.
import CordCore
import CordDiffusion
import CordPhantom
import Foundation

/// Gradient schemes built in code (world directions, b in s/mm²).
enum Schemes {
    /// n directions spread over the sphere (Fibonacci lattice folded onto one hemisphere).
    static func directions(_ n: Int, twist: Double = 0) -> [SIMD3<Double>] {
        let golden = Double.pi * (3 - 5.0.squareRoot())
        return (0..<n).map { i in
            let z = 1 - (Double(i) + 0.5) / Double(n)  // upper hemisphere
            let r = (1 - z * z).squareRoot(), phi = golden * Double(i) + twist
            return SIMD3(r * cos(phi), r * sin(phi), z)
        }
    }
    static func b0(_ n: Int) -> [GradientEntry] { Array(repeating: GradientEntry(b: 0, direction: .zero), count: n) }
    static func shell(_ b: Double, _ n: Int, _ shape: BTensorShape = .linear, twist: Double = 0) -> [GradientEntry] {
        directions(n, twist: twist).map { GradientEntry(b: b, direction: $0, shape: shape) }
    }
    /// DDE at total b: `n` parallel pairs (both blocks along u), and `n` orthogonal pairs
    /// spanning the plane whose normals p are spread over the sphere (the orthogonal powder
    /// average depends on the normals only).
    static func dde(_ b: Double, _ n: Int) -> [GradientEntry] {
        let parallel = directions(n).map { GradientEntry(b: b, direction: $0, shape: .doubleDiffusion(second: $0)) }
        let orthogonal = directions(n, twist: 0.7).map { p -> GradientEntry in
            let helper: SIMD3<Double> = abs(p.x) < 0.6 ? [1, 0, 0] : [0, 1, 0]
            let n1 = normalized(cross(p, helper)), n2 = cross(p, n1)
            return GradientEntry(b: b, direction: n1, shape: .doubleDiffusion(second: n2))
        }
        return parallel + orthogonal
    }
    /// b = 0 ×2 + 30 linear directions at b = 800 (a clinical DTI scheme).
    static let dti = GradientTable(b0(2) + shell(800, 30))
    /// Linear and spherical encoding at b = 500, 1000, 2000 (as protocols/cervical-qmri.yaml).
    static let lteSte = GradientTable(b0(4) + [500.0, 1000, 2000].flatMap { shell($0, 20) + shell($0, 10, .spherical) })
}

/// Small axial phantoms around C3–C4 (0.8 × 0.8 × 3 mm, 20 × 20 in-plane).
enum Phantoms {
    static let grid = PhantomGrid.axial(inPlane: 0.8, sliceThickness: 3, fieldOfView: 16, inferior: -20, superior: -8, centre: [0, 4])
    static let subject: PhantomSubject = {
        var p = PhantomParameters(); p.snr = nil
        do { return try PhantomSubject(p, on: grid) } catch { fatalError("phantom: \(error)") }
    }()

    static func simulate(_ table: GradientTable, snr: Double? = nil, seed: UInt64 = 1,
                         _ edit: (inout DiffusionPhantomParameters) -> Void = { _ in }) -> DWISimulation {
        var p = DiffusionPhantomParameters()
        p.snr = snr; p.seed = seed
        edit(&p)
        do { return try DWISimulator.simulate(subject, table: table, parameters: p) } catch { fatalError("simulation: \(error)") }
    }

    /// Mask of voxels made of one tissue satisfying `where`.
    static func pureMask(_ isIncluded: (TissueClass) -> Bool) -> Mask {
        var m = Mask(grid: grid, frames: 1, repeating: 0)
        for n in 0..<grid.voxelCount {
            if let c = subject.composition.pureTissue(at: n), isIncluded(c) { m.data[n] = 1 }
        }
        return m
    }
    static let pureWhiteMatter = pureMask(\.isWhiteMatter)
    static let pureCord = pureMask(\.isCord)
}

/// Statistics of estimate − truth over a mask.
struct Errors: CustomStringConvertible {
    var maxAbs = 0.0, median = 0.0, mean = 0.0, count = 0
    init(_ estimate: Volume<Float>, _ truth: Volume<Float>, mask: Mask) {
        var d: [Double] = []
        for n in 0..<mask.data.count where mask.data[n] != 0 { d.append(Double(estimate.data[n]) - Double(truth.data[n])) }
        count = d.count
        guard !d.isEmpty else { return }
        maxAbs = d.map(abs).max() ?? 0
        mean = d.reduce(0, +) / Double(d.count)
        let s = d.sorted()
        median = s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
    var description: String { "n=\(count) max|Δ|=\(maxAbs) median Δ=\(median) mean Δ=\(mean)" }
}
