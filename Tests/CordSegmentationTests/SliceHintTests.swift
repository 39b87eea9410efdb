import CordCore
import CordPhantom
import Testing
@testable import CordSegmentation

@Suite struct SliceHintTests {
    /// A slice hint on the phantom (axial, and sagittal where the slice is the S–I row)
    /// gives the same segmentation quality as no hint.
    @Test func sliceHintKeepsPhantomQuality() throws {
        let s = Fixtures.axial
        let img = s.image(.t2w, snr: 20, seed: 4)
        var o = CordSegmentationOptions(); o.contrast = .t2
        let plain = dice(try CordSegmenter.segment(img, options: o).binary, s.cordMask)
        o.hintSlice = 14
        let hinted = dice(try CordSegmenter.segment(img, options: o).binary, s.cordMask)
        print("slice hint: Dice \(formatFixed(hinted, 4)) vs \(formatFixed(plain, 4)) without")
        #expect(hinted >= 0.95, "Dice ≥ 0.95 with a slice hint")
        #expect(abs(hinted - plain) < 0.005, "within 0.005 of the Dice without hint")

        // Sagittal storage (A→P, S→I, L→R): the hint is the index along the S–I voxel axis.
        let g = PhantomGrid.sagittal(inPlane: 0.8, sliceThickness: 0.8, fieldOfViewAP: 32, fieldOfViewRL: 24,
                                     inferior: -10, superior: 14, centre: [0, 3])
        let sag = Fixtures.make(PhantomParameters(), g)
        let axis = g.orientation.letters.firstIndex { $0.worldAxis == 2 } ?? 2
        #expect(axis == 1)
        var so = CordSegmentationOptions(); so.contrast = .t2; so.hintSlice = g.ny / 2
        let d = dice(try CordSegmenter.segment(sag.t2w, options: so).binary, sag.cordMask)
        print("sagittal slice hint \(g.ny / 2): Dice \(formatFixed(d, 4))")
        #expect(d >= 0.95)
    }

    /// Two copies of the phantom side by side along i: the right one at full contrast, the
    /// left at 0.6× (so detection without hint follows the right one). On slice `k0` the
    /// right copy is blanked to the slice's median: the slice hint seeds on the left copy,
    /// the only cord visible there, and the centerline follows it up and down.
    @Test func sliceHintSeedsOnTheCordVisibleThere() throws {
        let s = Fixtures.axial
        let img = s.image(.t2w, snr: 20, seed: 6)
        let g = s.grid, nx = g.nx, ny = g.ny, nz = g.nz, k0 = 10
        let wide = Grid(nx: 2 * nx, ny: ny, nz: nz, affine: g.affine)
        var data = [Float](repeating: 0, count: wide.voxelCount)
        var truth = Mask(grid: wide, frames: 1, repeating: 0)
        for k in 0..<nz {
            let slice = (0..<(nx * ny)).map { img.data[nx * ny * k + $0] }.sorted()
            let median = slice[slice.count / 2]
            for j in 0..<ny { for i in 0..<nx {
                let v = img.data[i + nx * (j + ny * k)]
                data[i + 2 * nx * (j + ny * k)] = 0.6 * v
                data[i + nx + 2 * nx * (j + ny * k)] = k == k0 ? median : v
                truth[i, j, k] = s.cordMask[i, j, k]
            } }
        }
        let two = try Volume(grid: wide, frames: 1, data: data)
        func meanI(_ m: Mask) -> Double {
            var sum = 0.0, n = 0.0
            for q in 0..<m.data.count where m.data[q] != 0 { sum += Double(wide.coordinates(of: q).x); n += 1 }
            return sum / max(n, 1)
        }
        var o = CordSegmentationOptions(); o.contrast = .t2
        let plain = try CordSegmenter.segment(two, options: o)
        #expect(meanI(plain.binary) > Double(nx), "without hint: the stronger right copy")
        o.hintSlice = k0
        let hinted = try CordSegmenter.segment(two, options: o)
        #expect(meanI(hinted.binary) < Double(nx), "with the slice hint: the left copy")
        let d = dice(hinted.binary, truth)
        print("decoy: Dice of the hinted segmentation vs the left copy \(formatFixed(d, 4))")
        #expect(d >= 0.95)
    }

    /// A slice outside the image, and a slice without any cord, are errors naming the slice.
    @Test func badHintSlicesFail() throws {
        let s = Fixtures.axial
        var img = s.image(.t2w, snr: 20, seed: 7)
        var o = CordSegmentationOptions(); o.contrast = .t2
        o.hintSlice = s.grid.nz
        #expect {
            try CordSegmenter.segment(img, options: o)
        } throws: { e in
            guard case let .invalidInput(text) = e as? SegmentationError else { return false }
            return text.contains("hint slice \(s.grid.nz)") && text.contains("0–\(s.grid.nz - 1)")
        }
        let per = s.grid.nx * s.grid.ny, k0 = 12
        let median = img.data[(per * k0)..<(per * (k0 + 1))].sorted()[per / 2]
        for n in (per * k0)..<(per * (k0 + 1)) { img.data[n] = median }
        o.hintSlice = k0
        #expect {
            try CordSegmenter.segment(img, options: o)
        } throws: { e in
            guard case let .noCordFound(text) = e as? SegmentationError else { return false }
            return text.contains("hint slice \(k0)")
        }
    }
}
