// What a gradient table holds: b-tensors in model units, their shapes, and their shells.
import CordCore

/// The kind of encoding of one volume, from its b-tensor (Westin et al. 2016,
/// NeuroImage 135:345; Topgaard 2017, J Magn Reson 275:98).
public enum EncodingKind: String, Sendable, CaseIterable, Comparable {
    case none = "b=0"
    case linear, planar, spherical
    /// An axisymmetric tensor with another b_Δ, or a non-axisymmetric tensor.
    case other
    /// Double diffusion encoding with parallel (b_Δ = 1) or orthogonal (b_Δ = −½) blocks.
    case ddeParallel = "dde-parallel", ddeOrthogonal = "dde-orthogonal"
    /// DDE at another angle between the blocks.
    case ddeOther = "dde-other"

    public static func < (a: EncodingKind, b: EncodingKind) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
    public var isDDE: Bool { self == .ddeParallel || self == .ddeOrthogonal || self == .ddeOther }
}

/// One volume's b-tensor in model units: B in ms/µm² (b in s/mm² divided by 1000), so
/// that ⟨B, D⟩ is dimensionless with D in µm²/ms.
public struct EncodedVolume: Sendable, Equatable {
    /// b = trace(B), ms/µm².
    public var b: Double
    /// b_Δ = (b∥ − b⊥)/(b∥ + 2b⊥) from the eigenvalues, the symmetry axis taken as the
    /// eigenvalue farthest from the mean (exact for axisymmetric tensors).
    public var bDelta: Double
    /// The b-tensor (ms/µm²).
    public var tensor: Mat3
    public var kind: EncodingKind
}

/// A shell: volumes with the same b (within tolerance) and the same encoding kind.
public struct EncodingShell: Sendable, Equatable {
    /// Mean b of the shell (ms/µm²).
    public var b: Double
    /// Mean b_Δ of the shell.
    public var bDelta: Double
    public var kind: EncodingKind
    public var volumes: [Int]
    /// b in s/mm², for messages.
    public var bSPerMM2: Int { CheckedNumber.clamped(b * 1000, .toNearestOrAwayFromZero) }
}

/// A gradient table analysed for model fitting: per-volume b-tensors and shells.
public struct EncodingScheme: Sendable {
    public let volumes: [EncodedVolume]
    /// b = 0 volumes first, then by kind and b.
    public let shells: [EncodingShell]
    /// Volumes with b below this (s/mm²) count as b = 0.
    public let zeroThreshold: Double

    /// Analyses `table`. b-values within `shellTolerance` s/mm² of a shell's first member
    /// join it. Throws `DiffusionError.noDiffusionWeighting` when every b is below
    /// `zeroThreshold`.
    public init(_ table: GradientTable, zeroThreshold: Double = 50, shellTolerance: Double = 50) throws {
        self.zeroThreshold = zeroThreshold
        var vols: [EncodedVolume] = []
        for e in table.entries {
            let t = e.bTensor
            let bt = (1.0 / 1000) * t
            let b = bt.trace
            guard e.b >= zeroThreshold, b > 0 else {
                vols.append(EncodedVolume(b: 0, bDelta: 0, tensor: .zero, kind: .none)); continue
            }
            let ev = SymmetricEigen3(bt).values
            let mean = b / 3
            let order = [0, 1, 2].sorted { abs(ev[$0] - mean) > abs(ev[$1] - mean) }
            let par = ev[order[0]], perp = (ev[order[1]] + ev[order[2]]) / 2
            let delta = (par - perp) / b
            // Non-axisymmetric when the other two eigenvalues differ.
            let axisymmetric = abs(ev[order[1]] - ev[order[2]]) < 1e-3 * b
            var kind: EncodingKind
            if case let .doubleDiffusion(second) = e.shape {
                let c = abs(dot(normalized(e.direction), normalized(second)))
                kind = c > 0.999 ? .ddeParallel : (c < 0.02 ? .ddeOrthogonal : .ddeOther)
            } else if !axisymmetric {
                kind = .other
            } else if abs(delta - 1) < 0.02 {
                kind = .linear
            } else if abs(delta + 0.5) < 0.02 {
                kind = .planar
            } else if abs(delta) < 0.02 {
                kind = .spherical
            } else {
                kind = .other
            }
            vols.append(EncodedVolume(b: b, bDelta: delta, tensor: bt, kind: kind))
        }
        volumes = vols
        guard vols.contains(where: { $0.kind != .none }) else {
            throw DiffusionError.noDiffusionWeighting(volumes: vols.count)
        }
        var shells: [EncodingShell] = []
        let tol = shellTolerance / 1000
        for (n, v) in vols.enumerated() {
            if let s = shells.firstIndex(where: { $0.kind == v.kind && abs($0.b - v.b) <= tol }) {
                let m = Double(shells[s].volumes.count)
                shells[s].b = (shells[s].b * m + v.b) / (m + 1)
                shells[s].bDelta = (shells[s].bDelta * m + v.bDelta) / (m + 1)
                shells[s].volumes.append(n)
            } else {
                shells.append(EncodingShell(b: v.b, bDelta: v.bDelta, kind: v.kind, volumes: [n]))
            }
        }
        self.shells = shells.sorted { ($0.kind == .none ? 0 : 1, $0.kind, $0.b) < ($1.kind == .none ? 0 : 1, $1.kind, $1.b) }
    }

    public var count: Int { volumes.count }
    /// Indices of the b = 0 volumes.
    public var referenceVolumes: [Int] { volumes.indices.filter { volumes[$0].kind == .none } }
    /// Non-zero shells of one kind.
    public func shells(_ kind: EncodingKind) -> [EncodingShell] { shells.filter { $0.kind == kind } }
    /// Kinds present among b > 0 volumes.
    public var kinds: Set<EncodingKind> { Set(volumes.map(\.kind)).subtracting([.none]) }

    /// e.g. "b=0 ×5, linear b=800 ×30".
    public var summary: String {
        shells.map { s in
            s.kind == .none ? "b=0 ×\(s.volumes.count)" : "\(s.kind.rawValue) b=\(s.bSPerMM2) ×\(s.volumes.count)"
        }.joined(separator: ", ")
    }
}
