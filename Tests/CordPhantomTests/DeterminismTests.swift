// Same seed, same image; another seed, other noise only.
import Testing
import CordCore
import CordPhantom

@Suite struct DeterminismTests {
    /// A small C4–C5 grid (1 mm, 32 × 32 × 30) keeps these tests fast.
    static let grid = PhantomGrid.isotropic(spacing: 1, fieldOfView: 32, inferior: -15, superior: 15)

    func subject(seed: UInt64) throws -> PhantomSubject {
        var p = PhantomParameters(); p.seed = seed; p.snr = 10
        return try PhantomSubject(p, on: Self.grid)
    }

    @Test func sameSeedGivesTheSameImage() throws {
        let a = try subject(seed: 3), b = try subject(seed: 3)
        #expect(a.t2w.data == b.t2w.data)
        #expect(a.tissueLabels.volume.data == b.tissueLabels.volume.data)
    }

    @Test func differentSeedGivesDifferentNoiseOnly() throws {
        let a = try subject(seed: 3), b = try subject(seed: 4)
        #expect(a.t2wNoiseFree.data == b.t2wNoiseFree.data)
        let n = a.grid.voxelCount
        let differing = (0..<n).filter { a.t2w.data[$0] != b.t2w.data[$0] }.count
        // Continuous noise: all voxels differ (≥ 99.9 %).
        #expect(Double(differing) >= 0.999 * Double(n))
        // Independent noise: in pure CSF the difference has SD √2·σ (σ = 0.03) within 5 %.
        let d = (0..<n).filter { a.composition.pureTissue(at: $0) == .csf }
            .map { Double(a.t2w.data[$0]) - Double(b.t2w.data[$0]) }
        #expect(d.count > 500)
        #expect(abs(standardDeviation(d) / (0.03 * 2.0.squareRoot()) - 1) < 0.05, "SD \(standardDeviation(d)) over \(d.count)")
    }

    @Test func ricianNoiseIsReproduciblePerFrameAndSlice() {
        // Each (frame, slice) draws from its own stream: re-running gives identical values,
        // frame 1 differs from frame 0, and a volume with more slices starts with the same
        // noise (so the split of slices between workers cannot matter).
        let g = Grid(nx: 8, ny: 8, nz: 4, spacing: [1, 1, 1])
        let clean = Volume<Float>(grid: g, frames: 2, repeating: 1)
        let a = RicianNoise.apply(to: clean, sigma: 0.1, seed: 9), b = RicianNoise.apply(to: clean, sigma: 0.1, seed: 9)
        #expect(a.data == b.data)
        #expect(Array(a.data[0..<256]) != Array(a.data[256..<512]))
        #expect(RicianNoise.apply(to: clean, sigma: 0, seed: 9).data == clean.data)
        let taller = Volume<Float>(grid: Grid(nx: 8, ny: 8, nz: 7, spacing: [1, 1, 1]), frames: 1, repeating: 1)
        #expect(Array(RicianNoise.apply(to: taller, sigma: 0.1, seed: 9).data[0..<256]) == Array(a.data[0..<256]))
    }

    @Test func phantomSlicesDoNotDependOnTheGridExtent() throws {
        // The same slices, computed as part of a 10- or a 24-slice grid (different chunking
        // over workers), are identical: composition, labels and noisy image.
        var p = PhantomParameters(); p.seed = 5
        let small = try PhantomSubject(p, on: Grid(nx: 24, ny: 24, nz: 10, spacing: [1, 1, 1], origin: [11.5, -8, -5]))
        let large = try PhantomSubject(p, on: Grid(nx: 24, ny: 24, nz: 24, spacing: [1, 1, 1], origin: [11.5, -8, -5]))
        let n = small.grid.voxelCount
        #expect(small.t2w.data == Array(large.t2w.data[0..<n]))
        #expect(small.tissueLabels.volume.data == Array(large.tissueLabels.volume.data[0..<n]))
        #expect(small.cordMask.count > 300)
    }
}
