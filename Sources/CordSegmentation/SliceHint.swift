// A slice hint: the user names an axial slice in which the cord is visible; detection seeds
// there and tracks the cord up and down from it.
import CordCore

extension CenterlineDetector {
    /// Most candidates (local maxima of the detection score) whose outline is tried on the
    /// hint slice.
    static let seedCandidates = 32

    /// The RPI slice (k of `stack`) of slice `index` of `image` along its voxel axis closest
    /// to superior–inferior (the slice index of an axial acquisition, the I–S row of a
    /// sagittal or coronal one). Throws when `index` is outside that axis.
    static func rpiSlice(ofInputSlice index: Int, image: Volume<Float>, stack: AxialStack) throws -> Int {
        let axis = image.grid.orientation.letters.firstIndex { $0.worldAxis == 2 } ?? 2
        let n = [image.grid.nx, image.grid.ny, image.grid.nz][axis]
        guard index >= 0 && index < n else {
            throw SegmentationError.invalidInput("the hint slice \(index) is outside the image: its voxel axis closest to superior–inferior (the \(["first", "second", "third"][axis]) axis; orientation \(image.grid.orientation)) has slices 0–\(n - 1)")
        }
        var v = SIMD3<Double>(0, 0, 0)
        v[axis] = Double(index)
        let k = CheckedNumber.clamped(stack.grid.voxel(ofWorld: image.grid.world(v.x, v.y, v.z)).z, .toNearestOrAwayFromZero)
        return min(max(k, 0), stack.nz - 1)
    }

    /// The most cord-like centre on RPI slice `k`: the local maxima of the detection score
    /// (within 2 mm) that reach `minimumSignificance` noise SDs, best first, each outlined by
    /// `PolarBoundaryFinder`; the first whose outline lies inside the slice and is cord-like
    /// (`StarContour.isCordLike`) wins, and its outline's centroid is returned (continuous pixel coordinates).
    /// Throws `noCordFound` naming the slice when no candidate qualifies.
    static func seed(_ scores: UnsafeMutableBufferPointer<Float>, noise: Double, stack: AxialStack, slice k: Int,
                     sign: Float, minimumSignificance: Double, inputSlice: Int) throws -> SIMD2<Double> {
        let nx = stack.nx, ny = stack.ny, per = nx * ny
        let ri = max(1, CheckedNumber.clamped(2 / stack.dx, .toNearestOrAwayFromZero)), rj = max(1, CheckedNumber.clamped(2 / stack.dy, .toNearestOrAwayFromZero))
        var maxima: [(p: Int, score: Float)] = []
        for j in 0..<ny {
            for i in 0..<nx {
                let s = scores[per * k + i + nx * j]
                guard Double(s) / noise >= minimumSignificance else { continue }
                var isMax = true
                search: for b in max(0, j - rj)...min(ny - 1, j + rj) {
                    for a in max(0, i - ri)...min(nx - 1, i + ri) where scores[per * k + a + nx * b] > s {
                        isMax = false; break search
                    }
                }
                if isMax { maxima.append((i + nx * j, s)) }
            }
        }
        maxima.sort { $0.score > $1.score }
        let stats = stack.intensityStatistics()
        let range = max(stats.high - stats.low, 1e-12)
        let finder = PolarBoundaryFinder()
        for m in maxima.prefix(seedCandidates) {
            let centre = SIMD2(Double(m.p % nx), Double(m.p / nx))
            let c = finder.find(stack, slice: k, centre: centre, sign: sign, range: range, noise: stats.noise, prior: nil)
            guard c.insideImage, c.isCordLike else { continue }
            return c.centre + c.polygon().centroid / SIMD2(stack.dx, stack.dy)
        }
        let best = maxima.first.map { formatFixed(Double($0.score) / noise, 1) } ?? "none"
        throw SegmentationError.noCordFound(detail: "no cord-like candidate on the hint slice \(inputSlice) (axial slice \(k) in RPI order; \(maxima.count) candidate(s) of at least \(formatFixed(minimumSignificance, 1)) noise SDs, best \(best)); choose a slice where the cord and the CSF around it are visible")
    }
}
