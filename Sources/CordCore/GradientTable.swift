// Diffusion encodings: b-value, direction and b-tensor shape per volume.

/// The shape of a b-tensor (Westin et al. 2016, NeuroImage 135:345).
public enum BTensorShape: Sendable, Equatable {
    /// Linear tensor encoding (LTE, conventional single PGSE), b_Δ = 1.
    case linear
    /// Planar tensor encoding (PTE); the direction is the plane's normal, b_Δ = −½.
    case planar
    /// Spherical tensor encoding (STE), b_Δ = 0; the direction is ignored.
    case spherical
    /// Any other axisymmetric shape given by b_Δ ∈ [−½, 1] around the direction.
    case axisymmetric(bDelta: Double)
    /// A full b-tensor, normalised to unit trace (the b-value scales it).
    case general(Mat3)
    /// Double diffusion encoding (DDE): two pulsed-gradient blocks of b/2 each, the first
    /// along the entry's direction, the second along `second` (unit, world space). At long
    /// mixing time its b-tensor is (b/2)(n₁n₁ᵀ + n₂n₂ᵀ): linear when the blocks are
    /// parallel, planar when orthogonal (Jespersen et al. 2013, NMR Biomed 26:1647;
    /// Shemesh et al. 2016, MRM 75:82).
    case doubleDiffusion(second: SIMD3<Double>)

    /// The anisotropy b_Δ of an axisymmetric tensor (nil for a general tensor).
    public var bDelta: Double? {
        switch self {
        case .linear: 1
        case .planar: -0.5
        case .spherical: 0
        case let .axisymmetric(d): d
        case .general: nil
        case .doubleDiffusion: nil
        }
    }
    public var name: String {
        switch self {
        case .linear: "linear"
        case .planar: "planar"
        case .spherical: "spherical"
        case .axisymmetric: "axisymmetric"
        case .general: "general"
        case .doubleDiffusion: "dde"
        }
    }
}

/// One diffusion-weighted volume's encoding.
public struct GradientEntry: Sendable, Equatable {
    /// b-value in s/mm².
    public var b: Double
    /// Unit direction in world (RAS+) space; zero for b = 0 or spherical encoding.
    public var direction: SIMD3<Double>
    public var shape: BTensorShape

    public init(b: Double, direction: SIMD3<Double>, shape: BTensorShape = .linear) {
        self.b = b; self.direction = direction; self.shape = shape
    }
    /// The b-tensor B (s/mm²): B = b·((1−b_Δ)/3·I + b_Δ·n nᵀ), or b·T for a general shape.
    public var bTensor: Mat3 {
        switch shape {
        case let .general(t): return b * t
        case let .doubleDiffusion(second):
            let n1 = normalized(direction), n2 = normalized(second)
            return (b / 2) * (Mat3.outer(n1, n1) + Mat3.outer(n2, n2))
        default:
            let d = shape.bDelta ?? 1
            let n = normalized(direction)
            return b * ((1 - d) / 3 * Mat3.identity + d * Mat3.outer(n, n))
        }
    }
}

/// The encoding of every volume of a diffusion series, in acquisition order.
public struct GradientTable: Sendable, Equatable {
    public var entries: [GradientEntry]
    public init(_ entries: [GradientEntry]) { self.entries = entries }

    public var count: Int { entries.count }
    public var bValues: [Double] { entries.map(\.b) }

    /// Throws when the table and the image disagree on the number of volumes.
    public func requireCount(matching frames: Int, image: String, table: String) throws {
        guard frames == count else {
            throw CordError.invalidValue(
                what: image, detail: "has \(frames) volume\(frames == 1 ? "" : "s") but \(table) lists \(count) encoding\(count == 1 ? "" : "s")")
        }
    }

    /// A group of volumes sharing a b-value (within the tolerance) and shape.
    public struct Shell: Sendable, Equatable {
        public var b: Double
        public var shape: String
        public var indices: [Int]
    }
    /// Volumes grouped by b-value (s/mm², rounded within `tolerance`) and b-tensor shape,
    /// ordered by b. b-values under `tolerance` count as b = 0 whatever their shape.
    public func shells(tolerance: Double = 50) -> [Shell] {
        var shells: [Shell] = []
        for (n, e) in entries.enumerated() {
            let shape = e.b < tolerance ? "none" : e.shape.name
            if let s = shells.firstIndex(where: { abs($0.b - e.b) <= tolerance && $0.shape == shape }) {
                let m = Double(shells[s].indices.count)
                shells[s].b = (shells[s].b * m + e.b) / (m + 1)
                shells[s].indices.append(n)
            } else {
                shells.append(Shell(b: e.b, shape: shape, indices: [n]))
            }
        }
        return shells.sorted { $0.b < $1.b }
    }
    /// One line per shell, e.g. "b=0 ×1, b=750 linear ×6".
    public var summary: String {
        shells().map { s in
            let b = CheckedNumber.clamped(s.b, .toNearestOrAwayFromZero)
            return s.shape == "none" ? "b=\(b) ×\(s.indices.count)" : "b=\(b) \(s.shape) ×\(s.indices.count)"
        }.joined(separator: ", ")
    }
}
