import CordCore
import CordPhantom
import Testing
@testable import CordSegmentation

@Suite struct PhantomSegmentationTests {
    /// Every contrast, polarity detected (no --contrast), SNR 20: Dice ≥ 0.95 (issue 6).
    @Test(arguments: PhantomContrast.all)
    func diceAtSNR20(contrast: PhantomContrast) throws {
        let s = Fixtures.axial
        let seg = try CordSegmenter.segment(s.image(contrast, snr: 20, seed: 3))
        let d = dice(seg.binary, s.cordMask)
        print("\(contrast.name): Dice \(formatFixed(d, 4)), \(seg.polarity)")
        #expect(d >= 0.95, "Dice ≥ 0.95 on \(contrast.name)")
        let bright = contrast.csf < contrast.whiteMatter
        #expect(seg.polarity == (bright ? .brightCord : .darkCord))
    }

    /// The sagittal grid (stored A→P, S→I, L→R) gives the same result after reorientation.
    @Test func sagittalGridIsReorientedAndRestored() throws {
        let g = PhantomGrid.sagittal(inPlane: 0.8, sliceThickness: 0.8, fieldOfViewAP: 32, fieldOfViewRL: 24,
                                     inferior: -10, superior: 14, centre: [0, 3])
        let s = Fixtures.make(PhantomParameters(), g)
        var o = CordSegmentationOptions(); o.contrast = .t2
        let seg = try CordSegmenter.segment(s.t2w, options: o)
        #expect(seg.binary.grid == s.grid)
        let d = dice(seg.binary, s.cordMask)
        print("sagittal: Dice \(formatFixed(d, 4))")
        #expect(d >= 0.95)
    }

    /// A point hint and a given centerline lead to the same cord.
    @Test func hintAndExternalCenterline() throws {
        let s = Fixtures.axial
        let img = s.image(.t2w, snr: 20, seed: 4)
        var o = CordSegmentationOptions(); o.contrast = .t2
        let mid = try #require(s.centerline.slices[14])
        o.hint = CenterlineHint(voxel: mid.voxel)
        let hinted = try CordSegmenter.segment(img, options: o)
        #expect(dice(hinted.binary, s.cordMask) >= 0.95)
        var c = CordSegmentationOptions(); c.contrast = .t2
        c.centerline = s.centerline.slices.compactMap { $0?.voxel }
        let given = try CordSegmenter.segment(img, options: c)
        #expect(dice(given.binary, s.cordMask) >= 0.95)
        // The returned centerline lies within 0.3 mm of the truth on every slice.
        var worst = 0.0
        for w in given.centerlineWorld {
            let k = Int(s.grid.voxel(ofWorld: w).z.rounded())
            if let t = s.centerline.slices[k] { worst = max(worst, length(SIMD3(w.x - t.world.x, w.y - t.world.y, 0))) }
        }
        #expect(worst < 0.3, "centre error \(worst) mm")
    }

    /// Grey matter on T2*w at SNR 20.
    @Test func greyMatterOnT2star() throws {
        let s = Fixtures.axial
        let img = s.image(.t2starw, snr: 20, seed: 8)
        var o = CordSegmentationOptions(); o.contrast = .t2s
        let cord = try CordSegmenter.segment(img, options: o)
        let gm = try GreyMatterSegmenter.segment(img, cord: cord.soft, contrast: .t2s)
        let d = dice(gm.map { $0 >= 0.5 ? 1 : 0 }, s.gmMask)
        print("GM Dice \(formatFixed(d, 4))")
        #expect(d >= 0.80, "GM Dice ≥ 0.80")
        #expect(throws: SegmentationError.self) { try GreyMatterSegmenter.segment(img, cord: cord.soft, contrast: .t2) }
    }

    /// Pure noise: no cord, a clear error instead of a mask.
    @Test func noiseOnlyImageFails() {
        let g = Grid(nx: 40, ny: 40, nz: 12, spacing: [0.5, 0.5, 2])
        let img = RicianNoise.apply(to: Volume<Float>(grid: g), sigma: 1, seed: 2)
        do {
            _ = try CordSegmenter.segment(img)
            Issue.record("noise gave a segmentation")
        } catch let e as SegmentationError {
            guard case .noCordFound = e else { Issue.record("unexpected error \(e)"); return }
            #expect(e.description.hasPrefix("no spinal cord found"))
        } catch { Issue.record("unexpected error \(error)") }
    }

    /// A field of view that cuts through the cord: the outline reaches the edge.
    @Test func cordLeavingTheImageFails() throws {
        let g = PhantomGrid.axial(inPlane: 0.5, sliceThickness: 2, fieldOfView: 20, inferior: -6, superior: 10, centre: [8, 3])
        let s = Fixtures.make(PhantomParameters(), g)
        var o = CordSegmentationOptions(); o.contrast = .t2
        do {
            _ = try CordSegmenter.segment(s.t2w, options: o)
            Issue.record("a cut field of view gave a segmentation")
        } catch let e as SegmentationError {
            guard case .centerlineLeavesImage = e else { Issue.record("unexpected error \(e)"); return }
            #expect(e.description.contains("leaves the image"))
        } catch { Issue.record("unexpected error \(error)") }
    }
}

extension PhantomContrast: CustomTestStringConvertible {
    public var testDescription: String { name }
}
