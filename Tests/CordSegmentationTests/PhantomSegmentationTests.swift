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

    /// Grey matter on T2*w at SNR 20 with a misplaced prior: the truth's GM fraction moved
    /// 1 mm (2 pixels) to the right and blurred stands in for a registered atlas. The EM's
    /// image evidence must move the butterfly back: Dice with the truth ≥ 0.85 (measured 0.907 with the 1 mm placement range, 0.897 with 0.5 mm;
    /// the shifted prior alone 0.546). The wrong-sign
    /// contrast keeps the prior; a contrast without visible GM is refused.
    @Test func greyMatterOnT2starCorrectsAMisplacedPrior() throws {
        let s = Fixtures.axial
        let img = s.image(.t2starw, snr: 20, seed: 8)
        var o = CordSegmentationOptions(); o.contrast = .t2s
        let cord = try CordSegmenter.segment(img, options: o)
        let truth = s.composition.fractionMap(of: TissueClass.allCases.filter(\.isGreyMatter))
        let prior = shiftedBlurred(truth, by: 2, within: cord.soft)
        let gm = try GreyMatterSegmenter.segment(img, cord: cord.soft, prior: prior, contrast: .t2s)
        let d = dice(gm.binary, s.gmMask), dp = dice(prior.map { $0 >= 0.5 ? 1 : 0 }, s.gmMask)
        print("T2*w GM Dice \(formatFixed(d, 4)) (shifted prior alone \(formatFixed(dp, 4)))")
        #expect(d >= 0.85, "GM Dice \(d) ≥ 0.85")
        #expect(d >= dp + 0.25, "the image improves the shifted prior by ≥ 0.25 (\(dp) → \(d))")
        #expect(gm.slices.allSatisfy { $0.usedImage }, "GM brighter than WM on every slice")
        // Inverted image (GM darker than WM): every slice keeps the prior alone.
        let inverted = img.map { 2 - $0 }
        let kept = try GreyMatterSegmenter.segment(inverted, cord: cord.soft, prior: prior, contrast: .t2s)
        #expect(kept.slices.allSatisfy { !$0.usedImage })
        #expect(abs(dice(kept.binary, s.gmMask) - dp) < 0.02, "prior alone within 0.02 of the prior's own Dice")
        #expect(throws: SegmentationError.self) { try GreyMatterSegmenter.segment(img, cord: cord.soft, prior: prior, contrast: .t2) }
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

/// `v` moved `by` pixels toward +i (RPI) and blurred by a 3×3 box in-plane, times the cord fraction.
func shiftedBlurred(_ v: Volume<Float>, by shift: Int, within cord: Volume<Float>) -> Volume<Float> {
    let (r, back) = v.reoriented(), (c, _) = cord.reoriented()
    let g = r.grid
    var out = r
    for k in 0..<g.nz {
        for j in 0..<g.ny {
            for i in 0..<g.nx {
                var sum: Float = 0, n: Float = 0
                for dj in -1...1 {
                    for di in -1...1 {
                        let x = i - shift + di, y = j + dj
                        guard x >= 0, x < g.nx, y >= 0, y < g.ny else { continue }
                        sum += r.data[x + g.nx * (y + g.ny * k)]; n += 1
                    }
                }
                let m = i + g.nx * (j + g.ny * k)
                out.data[m] = n > 0 ? sum / n * min(max(c.data[m], 0), 1) : 0
            }
        }
    }
    return back.invert(out)
}

/// Cord on T2*w and T1w (issue #25): polarity found without --contrast, Dice with the truth
/// mask and mean CSA bias against the rasterised truth (the boundary convention: 40 % of the
/// cord→CSF step, as on T2w), on clinical-like geometry: T2*w axial 0.5 × 0.5 mm with 5 mm
/// (spine-generic) and 7.5 mm slices at SNR 15 with the clinical GM/WM contrast; T1w axial
/// 1 × 1 × 1 mm at SNR 20. Measured: T2*w 5 mm Dice 0.990, CSA −2.9 % (worst 3.1 %); 7.5 mm
/// 0.987, −3.0 % (3.4 %); T1w 0.981, −6.3 % (7.3 %): the 40 % convention sits further inside a
/// bright cord at 1 mm pixels. Tolerances: Dice ≥ 0.95; mean CSA bias within 4.5 % (T2*w) and
/// 8 % (T1w).
@Suite struct CordOnT1wAndT2starTests {
    /// Per-level CSA of the segmentation against the rasterised truth: the relative errors and their mean.
    static func csaBias(_ seg: CordSegmentation, _ s: PhantomSubject) throws -> (mean: Double, errors: [Double]) {
        let ours = Morphometry.perLevel(try Morphometry.perSlice(seg.soft, levels: s.levels.volume))
        let truth = Morphometry.perLevel(try Morphometry.perSlice(s.cordFraction, levels: s.levels.volume))
        var errors: [Double] = []
        for t in truth { if let o = ours.first(where: { $0.level == t.level }) { errors.append(o.csa / t.csa - 1) } }
        return (errors.reduce(0, +) / Double(max(errors.count, 1)), errors)
    }

    @Test(arguments: [(PhantomContrast.t2starwClinical, 0.5, 5.0, 15.0, CordPolarity.darkCord, 0.045),
                      (.t2starwClinical, 0.5, 7.5, 15.0, .darkCord, 0.045),
                      (PhantomContrast.t1w, 1.0, 1.0, 20.0, .brightCord, 0.08)])
    func cordPolarityDiceAndArea(contrast: PhantomContrast, inPlane: Double, thickness: Double, snr: Double,
                                 expected: CordPolarity, maximumBias: Double) throws {
        let grid = PhantomGrid.axial(inPlane: inPlane, sliceThickness: thickness, fieldOfView: 24, inferior: -40, superior: 40, centre: [0, 3])
        let s = try PhantomSubject(PhantomParameters(), on: grid)
        let img = s.image(contrast, snr: snr, seed: 31)
        let start = ContinuousClock.now
        let seg = try CordSegmenter.segment(img)
        let time = ContinuousClock.now - start
        let d = dice(seg.binary, s.cordMask)
        let (bias, errors) = try Self.csaBias(seg, s)
        print("\(contrast.name) \(formatFixed(inPlane, 1))×\(formatFixed(inPlane, 1))×\(formatFixed(thickness, 1)) mm SNR \(formatFixed(snr, 0)): polarity \(seg.polarity.rawValue), cord Dice \(formatFixed(d, 4)), CSA bias \(formatFixed(bias * 100, 2)) % over \(errors.count) levels (worst \(formatFixed((errors.map { abs($0) }.max() ?? 0) * 100, 2)) %), \(time)")
        #expect(seg.polarity == expected, "\(contrast.name): polarity \(seg.polarity)")
        #expect(d >= 0.95, "\(contrast.name) \(thickness) mm: cord Dice \(d) ≥ 0.95")
        #expect(abs(bias) <= maximumBias, "\(contrast.name) \(thickness) mm: mean CSA bias \(bias) within \(maximumBias)")
        #expect(errors.count >= 4)
    }
}

extension CordOnT1wAndT2starTests {
    /// T1w with a narrow dural sac (15 × 10 mm: a CSF layer of about 1–1.5 mm, as in cervical
    /// stenosis) and epidural fat brighter than the cord (0.95 vs white matter 0.80), 1 mm
    /// isotropic, SNR 20. The detector's default ring then lies in the fat and finds nothing
    /// ("best cord candidate 0.8 noise SDs"); its smaller ring, tried only when the default
    /// finds no cord-like outline (`CenterlineDetector.narrowRingScale`), finds it. Measured: bright
    /// polarity, Dice 0.925, CSA −14.6 % (the layer is thinner than the window that measures
    /// the CSF level, so the fat lowers the step and the 40 % crossing moves inward; with the
    /// sac at 19 × 13 mm the same fat gives 0.978 and −6.3 %). Tolerances: found without
    /// `--contrast`, bright polarity, Dice ≥ 0.90, CSA bias within −20 %…0.
    @Test func narrowSacWithBrightFatOnT1w() throws {
        var p = PhantomParameters(); p.csfSacRLDiameter = 15; p.csfSacAPDiameter = 10
        let grid = PhantomGrid.axial(inPlane: 1, sliceThickness: 1, fieldOfView: 30, inferior: -40, superior: 40, centre: [0, 3])
        let s = try PhantomSubject(p, on: grid)
        var c = PhantomContrast.t1w; c.background = 0.95
        let img = s.image(c, snr: 20, seed: 31)
        let seg = try CordSegmenter.segment(img)
        let d = dice(seg.binary, s.cordMask)
        let (bias, errors) = try Self.csaBias(seg, s)
        print("T1w, 15 × 10 mm sac, bright fat: polarity \(seg.polarity.rawValue), Dice \(formatFixed(d, 3)), CSA bias \(formatFixed(bias * 100, 1)) %")
        #expect(seg.polarity == .brightCord)
        #expect(d >= 0.90, "Dice \(d)")
        #expect(bias > -0.20 && bias < 0, "CSA bias \(bias)")
        #expect(errors.count >= 4)
    }
}
