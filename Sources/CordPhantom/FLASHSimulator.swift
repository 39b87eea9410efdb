// Spoiled gradient-echo (FLASH) acquisitions with magnetization-transfer saturation:
// MT-weighted, PD-weighted and T1-weighted images with known T1, PD, MTsat and B1.
import CordCore
#if canImport(Glibc)
import Glibc
#endif

/// Relaxation and MT properties of one tissue.
public struct RelaxometryTissue: Codable, Sendable, Equatable {
    /// Longitudinal relaxation time (s).
    public var t1: Double
    /// Proton density (relative; CSF = 1). With the receive gain it sets A = PD × gain.
    public var pd: Double
    /// MT saturation per TR, in p.u. (100·δ), of the MT-weighted acquisition.
    public var mtsat: Double
    public init(t1: Double, pd: Double, mtsat: Double) { self.t1 = t1; self.pd = pd; self.mtsat = mtsat }
}

/// One FLASH acquisition: nominal flip angle (degrees), TR (s) and whether the MT pulse is on.
public struct FLASHAcquisition: Codable, Sendable, Equatable {
    public var flipAngleDegrees: Double
    public var repetitionTime: Double
    public var mtPulse: Bool
    public init(flipAngleDegrees: Double, repetitionTime: Double, mtPulse: Bool) {
        self.flipAngleDegrees = flipAngleDegrees; self.repetitionTime = repetitionTime; self.mtPulse = mtPulse
    }
}

/// A smooth transmit field: relative flip angle B1 (1 = nominal) varying linearly along one
/// world axis between two values over the grid's extent along it.
public struct B1Field: Codable, Sendable, Equatable {
    public var minimum: Double, maximum: Double
    /// World axis (0 = x/RL, 1 = y/AP, 2 = z/SI) the field varies along.
    public var axis: Int
    public init(minimum: Double = 1, maximum: Double = 1, axis: Int = 2) {
        self.minimum = minimum; self.maximum = maximum; self.axis = axis
    }
    /// The field on `grid`: `minimum` at the lowest world coordinate of the grid's voxel
    /// centres along `axis`, `maximum` at the highest.
    public func map(on grid: Grid) -> Volume<Float> {
        var lo = Double.infinity, hi = -Double.infinity
        for k in [0, grid.nz - 1] { for j in [0, grid.ny - 1] { for i in [0, grid.nx - 1] {
            let w = grid.world(SIMD3(i, j, k))[axis]; lo = min(lo, w); hi = max(hi, w)
        } } }
        var out = Volume<Float>(grid: grid)
        for n in 0..<grid.voxelCount {
            let w = grid.world(grid.coordinates(of: n))[axis]
            let t = hi > lo ? (w - lo) / (hi - lo) : 0.5
            out.data[n] = Float(minimum + t * (maximum - minimum))
        }
        return out
    }
}

/// Parameters of an MT/FLASH simulation.
public struct FLASHSimulationParameters: Codable, Sendable, Equatable {
    /// Tissue properties per class, indexed like `TissueClass` (defaults: `defaultTissues`).
    public var tissues: [RelaxometryTissue] = FLASHSimulationParameters.defaultTissues
    public var b1 = B1Field()
    /// Receive gain: A = gain × PD (signal units).
    public var gain = 1000.0
    /// The MT pulse's saturation scales as B1^power (0: independent of B1, the model under
    /// which correcting the excitation flip angles is exact; 2: saturation ∝ pulse power).
    public var mtSaturationB1Power = 0.0
    /// SNR = A_WM·sin-free reference: σ = gain·PD_WM / snr (nil = noise-free).
    public var snr: Double? = nil
    public var seed: UInt64 = 1

    public init() {}

    /// Cervical cord at 3 T, from the ranges in the literature (cord WM T1 ≈ 0.85–1.2 s,
    /// MTsat ≈ 1.4–4 p.u.; GM T1 longer, MTsat lower; CSF T1 ≈ 4 s, no MT).
    public static let defaultTissues: [RelaxometryTissue] = TissueClass.allCases.map { c in
        switch c {
        case .background: RelaxometryTissue(t1: 1.4, pd: 0.70, mtsat: 3.2)       // muscle
        case .csf: RelaxometryTissue(t1: 4.0, pd: 1.0, mtsat: 0.05)
        case .vertebralBody: RelaxometryTissue(t1: 0.6, pd: 0.80, mtsat: 0.6)     // fatty marrow
        case .intervertebralDisc: RelaxometryTissue(t1: 1.2, pd: 0.85, mtsat: 1.2)
        default:
            c.isGreyMatter ? RelaxometryTissue(t1: 1.3, pd: 0.80, mtsat: 1.8)
                : RelaxometryTissue(t1: 1.0, pd: 0.70, mtsat: 2.8)
        }
    }
}

/// Noise-free (or noisy) FLASH images and the truth maps behind them.
public struct FLASHSimulation: Sendable {
    /// One image per requested acquisition, in order.
    public var images: [Volume<Float>]
    /// Relative transmit field used.
    public var b1: Volume<Float>
    /// Partial-volume-weighted truth: T1 (s), PD (relative), MTsat (p.u.). Exact in pure voxels.
    public var t1: Volume<Float>, pd: Volume<Float>, mtsat: Volume<Float>
    /// Voxels holding one tissue only (where the truth maps are exact per voxel).
    public var pureMask: Mask
    public var sigma: Double
}

public enum FLASHSimulator {
    /// Simulates FLASH images of `composition` with the steady-state signal
    /// S = A(1−δ)·sin α·(1−E₁)/(1 − (1−δ)·cos α·E₁), α = B1 × nominal, E₁ = e^(−TR/T1),
    /// δ = MTsat/100 (× B1^power) when the MT pulse is on, A = gain·PD; partial-volume voxels
    /// sum their tissues' signals. Rician noise (σ = gain·PD_WM/SNR) per image, seeded.
    public static func simulate(_ composition: TissueComposition, acquisitions: [FLASHAcquisition],
                                parameters p: FLASHSimulationParameters) throws -> FLASHSimulation {
        guard p.tissues.count == TissueClass.count else {
            throw CordError.countMismatch(what: "FLASH tissue table", expected: TissueClass.count, found: p.tissues.count, detail: "one entry per tissue class")
        }
        for a in acquisitions where !(a.repetitionTime > 0 && a.flipAngleDegrees > 0 && a.flipAngleDegrees < 180) {
            throw CordError.invalidValue(what: "FLASH acquisition", detail: "TR must be > 0 s and the flip angle between 0 and 180° (got \(a.repetitionTime) s, \(a.flipAngleDegrees)°)")
        }
        let grid = composition.grid
        let b1 = p.b1.map(on: grid)
        let n = grid.voxelCount
        let classes = TissueClass.count
        var images: [Volume<Float>] = []
        for acq in acquisitions {
            let out = SharedBuffer<Float>(repeating: 0, count: n)
            parallelChunks(n, minimumChunk: 4096) { range, _ in
                for v in range {
                    let b = Double(b1.data[v])
                    let alpha = acq.flipAngleDegrees * .pi / 180 * b
                    func signal(_ t: RelaxometryTissue) -> Double {
                        let e1 = exp(-acq.repetitionTime / t.t1)
                        let d = acq.mtPulse ? t.mtsat / 100 * pow(b, p.mtSaturationB1Power) : 0
                        return p.gain * t.pd * (1 - d) * sin(alpha) * (1 - e1) / (1 - (1 - d) * cos(alpha) * e1)
                    }
                    if let c = composition.pureTissue(at: v) {
                        out[v] = Float(signal(p.tissues[Int(c.rawValue)]))
                    } else {
                        var s = 0.0
                        for c in 0..<classes {
                            let f = Double(composition.fraction(of: TissueClass.allCases[c], at: v))
                            if f > 0 { s += f * signal(p.tissues[c]) }
                        }
                        out[v] = Float(s)
                    }
                }
            }
            // Count matches the grid: cannot fail.
            images.append(Volume(grid: grid, exactly: out.array))
        }
        let wm = p.tissues[Int(TissueClass.dorsalColumnLeft.rawValue)]
        let sigma = p.snr.map { p.gain * wm.pd / $0 } ?? 0
        if sigma > 0 {
            images = images.enumerated().map { RicianNoise.apply(to: $0.element, sigma: sigma, seed: p.seed &+ UInt64($0.offset) &* 7919) }
        }
        var pure = Mask(grid: grid, frames: 1, repeating: 0)
        for v in 0..<n where composition.pureTissue(at: v) != nil { pure.data[v] = 1 }
        return FLASHSimulation(images: images, b1: b1,
                               t1: composition.signal(perClass: p.tissues.map(\.t1)),
                               pd: composition.signal(perClass: p.tissues.map(\.pd)),
                               mtsat: composition.signal(perClass: p.tissues.map(\.mtsat)),
                               pureMask: pure, sigma: sigma)
    }
}
