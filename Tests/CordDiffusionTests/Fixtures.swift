// Shared phantoms, protocols and measurements for the diffusion tests.
import CordCore
import CordDiffusion
import CordPhantom

/// Gradient schemes (see `DiffusionSchemes`).
enum Schemes {
    static func b0(_ n: Int) -> [GradientEntry] { DiffusionSchemes.referenceVolumes(n) }
    static func shell(_ b: Double, _ n: Int, _ shape: BTensorShape = .linear, twist: Double = 0) -> [GradientEntry] {
        DiffusionSchemes.shell(b, n, shape, twist: twist)
    }
    static func dde(_ b: Double, _ n: Int) -> [GradientEntry] { DiffusionSchemes.doubleDiffusion(b, n) }
    static let dti = DiffusionSchemes.named("dti")!
    static let lteSte = DiffusionSchemes.named("lte-ste")!
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
