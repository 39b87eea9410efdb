// Estimators of a metric's value in atlas regions from voxels with partial volume:
// weighted average, binary mask, weighted median, maximum likelihood and maximum a
// posteriori (Lévy et al. 2015 NeuroImage 119:262).

/// How a region's value is computed from the voxels of a slice or a level.
public enum ExtractionMethod: String, CaseIterable, Sendable, Codable {
    /// Σ wᵥxᵥ / Σ wᵥ with wᵥ the region's probability in voxel v (SCT `-method wa`).
    case wa
    /// Plain mean over voxels whose region probability is ≥ 0.5 (SCT `-method bin`).
    case bin
    /// Weighted median: the smallest value whose cumulative weight reaches half the total.
    case median
    /// Maximum likelihood over all tracts jointly: xᵥ = Σₜ pₜ(v) βₜ + εᵥ solved by least
    /// squares (Lévy 2015). The atlas sums to 1 with CSF; the remainder 1 − Σₜ pₜ(v) (tissue
    /// outside the dural sac) gets its own unreported value.
    case ml
    /// Maximum a posteriori: `ml` with a Gaussian prior βₜ ~ N(μ_c, σ_c²) per cluster c
    /// (white matter, grey matter, CSF). See `PartialVolumeModel.map`.
    case map
}

/// The voxels of one slice group: metric values and the probability of every tract.
struct VoxelSet {
    /// Metric value per voxel.
    var values: [Double] = []
    /// probabilities[v * tractCount + t].
    var probabilities: [Double] = []
    var tractCount: Int

    var count: Int { values.count }
    func p(_ v: Int, _ t: Int) -> Double { probabilities[v * tractCount + t] }
    /// Σ over `tracts` of the probability in voxel v.
    func weight(_ v: Int, _ tracts: [Int]) -> Double { tracts.reduce(0) { $0 + p(v, $1) } }
}

/// Direct estimators (no model): wa, bin, median. Each returns nil when no voxel qualifies.
enum DirectEstimator {
    static func weightedAverage(_ s: VoxelSet, _ tracts: [Int]) -> (value: Double, count: Int)? {
        var sw = 0.0, sx = 0.0, n = 0
        for v in 0..<s.count {
            let w = s.weight(v, tracts)
            guard w > 0 else { continue }
            sw += w; sx += w * s.values[v]; n += 1
        }
        return sw > 0 ? (sx / sw, n) : nil
    }

    /// Σ weights and the weighted standard deviation √(Σw(x − x̄)²/Σw) of the values (nil
    /// when no voxel has weight), as SCT's STD() column.
    static func weightedSpread(_ s: VoxelSet, _ tracts: [Int]) -> (size: Double, sd: Double?) {
        guard let mean = weightedAverage(s, tracts)?.value else { return (0, nil) }
        var sw = 0.0, ss = 0.0
        for v in 0..<s.count {
            let w = s.weight(v, tracts)
            guard w > 0 else { continue }
            sw += w; ss += w * (s.values[v] - mean) * (s.values[v] - mean)
        }
        return (sw, (ss / sw).squareRoot())
    }

    static func binary(_ s: VoxelSet, _ tracts: [Int], threshold: Double = 0.5) -> (value: Double, count: Int)? {
        var sx = 0.0, n = 0
        for v in 0..<s.count where s.weight(v, tracts) >= threshold { sx += s.values[v]; n += 1 }
        return n > 0 ? (sx / Double(n), n) : nil
    }

    static func weightedMedian(_ s: VoxelSet, _ tracts: [Int]) -> (value: Double, count: Int)? {
        var pairs: [(x: Double, w: Double)] = []
        for v in 0..<s.count {
            let w = s.weight(v, tracts)
            if w > 0 { pairs.append((s.values[v], w)) }
        }
        guard !pairs.isEmpty else { return nil }
        pairs.sort { $0.x < $1.x }
        let half = pairs.reduce(0) { $0 + $1.w } / 2
        var cumulative = 0.0
        for p in pairs {
            cumulative += p.w
            if cumulative >= half { return (p.x, pairs.count) }
        }
        return (pairs[pairs.count - 1].x, pairs.count)
    }
}
