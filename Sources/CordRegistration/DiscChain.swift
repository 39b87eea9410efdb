// Dynamic programming over a disc-response profile: the chain of discs, numbered
// consecutively, whose gaps best follow a reference spacing.
import CordCore

/// A numbered chain of discs on a profile: (disc value, sample index), superior first.
struct DiscChain: Sendable {
    var nodes: [(level: Int, index: Int)]
    var score: Double
    /// Factor on the reference spacing.
    var alpha: Double
}

/// Finds the best chain for a profile of disc scores (z-scores, sample j at world z
/// z0 + j·step). Score of a chain: Σ (z_j − 1) over its discs minus 20·(gap/(α·G) − 1)²
/// per gap, G the reference gap between the two disc values, α the subject's spacing
/// factor (searched over `options.spacingScale` in steps of 0.025); each gap within
/// `options.gapRatio` of α·G. Without a hint the chain starts at C2/C3 (value 3); with one,
/// disc n must lie within 6 mm + 10 % of its reference distance from where the hint and α
/// put it, and the chain may start at any value.
struct DiscChainSearch {
    let scores: [Double]
    let z0: Double, step: Double
    let reference: DiscReference
    let options: AutomaticLabellingOptions
    let hint: VertebralLabels.Point?

    /// Per-disc cost subtracted from the z-score and weight of the squared gap deviation.
    static let discCost = 1.0, gapWeight = 20.0

    func best() -> DiscChain? {
        var best: DiscChain?
        let lo = options.spacingScale.lowerBound, hi = options.spacingScale.upperBound
        for alpha in stride(from: lo, through: hi + 1e-9, by: 0.025) {
            if let c = chain(alpha: alpha), c.score > (best?.score ?? -.infinity) { best = c }
        }
        return best
    }

    /// The best chain for one spacing factor α.
    func chain(alpha: Double) -> DiscChain? {
        let n = scores.count, levels = reference.levels, count = levels.count
        guard n > 0, count > 0 else { return nil }
        let margin = CheckedNumber.clamped(2 / step, .toNearestOrAwayFromZero)
        guard n > 2 * margin else { return nil }
        let none = -Double.infinity
        var score = [Double](repeating: none, count: count * n)
        var back = [Int](repeating: -1, count: count * n)
        // Hint window per level: centre (world z) and half-width (mm).
        var window: [(Double, Double)?] = Array(repeating: nil, count: count)
        if let h = hint, let rh = reference.position(level: h.level, kind: h.kind) {
            for (l, level) in levels.enumerated() {
                guard let r = reference.position(level: level, kind: .disc) else { continue }
                window[l] = (h.world.z + alpha * (r - rh), 6 + 0.1 * alpha * abs(r - rh))
            }
        }
        var bestValue = none, bestNode = (-1, -1)
        for (l, level) in levels.enumerated() {
            let canStart = hint != nil || l == 0
            var kLow = 0, kHigh = -1
            if l > 0 {
                let g = alpha * reference.gap(above: level)
                kLow = CheckedNumber.clamped(options.gapRatio.lowerBound * g / step, .up)
                kHigh = CheckedNumber.clamped(options.gapRatio.upperBound * g / step, .down)
            }
            let g = l > 0 ? alpha * reference.gap(above: level) : 1
            for j in margin..<(n - margin) {
                let zj = z0 + Double(j) * step
                if let (c, w) = window[l], abs(zj - c) > w { continue }
                let base = scores[j] - Self.discCost
                var value = canStart ? base : none
                if l > 0 {
                    // The disc above (value level−1) sits k samples higher.
                    for k in kLow...max(kLow, kHigh) where k <= kHigh {
                        let jp = j + k
                        guard jp < n - margin else { break }
                        let prev = score[(l - 1) * n + jp]
                        guard prev > none else { continue }
                        let q = Double(k) * step / g - 1
                        let cand = prev - Self.gapWeight * q * q + base
                        if cand > value { value = cand; back[l * n + j] = jp }
                    }
                }
                score[l * n + j] = value
                if value > bestValue { bestValue = value; bestNode = (l, j) }
            }
        }
        guard bestValue > none else { return nil }
        var nodes: [(level: Int, index: Int)] = []
        var (l, j) = bestNode
        while l >= 0 && j >= 0 {
            nodes.append((levels[l], j))
            let jp = back[l * n + j]
            if jp < 0 { break }
            l -= 1; j = jp
        }
        return DiscChain(nodes: nodes.reversed(), score: bestValue, alpha: alpha)
    }
}
