// Grey-matter segmentation with the atlas prior (issue #25): phantom per level with clinical
// T2*w and MT contrast, and the real mt1 scan against SCT's GM mask.
import CordAtlas
import CordCore
import CordIO
import CordPhantom
import CordSegmentation
import CordTestSupport
import Foundation
import Testing
@testable import CordRegistration

/// The committed project atlas without its tract maps (cord, GM and levels are what the prior needs).
func committedAtlas() throws -> Atlas {
    var o = AtlasLoadOptions(); o.tractIDs = []
    let dir = Support.packageRoot + "/atlas/CordQ"
    return try Atlas(folder: AtlasFolder.load(dir, options: o), source: dir)
}

func gmDice(_ a: Mask, _ b: Mask) -> Double {
    var both = 0, na = 0, nb = 0
    for n in 0..<a.data.count {
        let x = a.data[n] != 0, y = b.data[n] != 0
        if x { na += 1 }
        if y { nb += 1 }
        if x && y { both += 1 }
    }
    return na + nb == 0 ? 1 : 2 * Double(both) / Double(na + nb)
}

@Suite struct GreyMatterPhantomTests {
    /// C2–C6 on axial slices 5 mm thick (the spine-generic T2*w protocol's thickness), clinical
    /// contrast and SNR (`PhantomContrast.clinicalSNR`): the cord from `CordSegmenter`, the prior
    /// from the committed atlas placed with the phantom's level map, then EM. Per level: GM Dice
    /// and GM area error (soft GM × pixel area against the truth's GM fraction, summed over the
    /// level's slices). Tolerances: Dice ≥ 0.85 and |area error| ≤ 5 % per level (T2*w at
    /// 0.5 mm in-plane, measured 0.877–0.964 and −1.9…+0.4 %; MT at 0.8 mm in-plane, measured
    /// 0.881–0.952 and −2.2…+0.1 %). The levels at either end hold 1–2 slices. The phantom's butterfly is the atlas's own shape, so this
    /// checks placement, partial volume and the intensity model, not the shape itself (the
    /// real-scan test below does that).
    @Test(arguments: [(PhantomContrast.t2starwClinical, SegmentationContrast.t2s, 0.5, 0.85, 0.05),
                      (PhantomContrast.mtOnClinical, .mt, 0.8, 0.85, 0.05)])
    func greyMatterPerLevelOnClinicalContrast(contrast: PhantomContrast, kind: SegmentationContrast, inPlane: Double,
                                              minimumDice: Double, maximumAreaError: Double) throws {
        let grid = PhantomGrid.axial(inPlane: inPlane, sliceThickness: 5, fieldOfView: 24, inferior: -45, superior: 40, centre: [0, 3])
        let s = try PhantomSubject(PhantomParameters(), on: grid)
        let snr = try #require(PhantomContrast.clinicalSNR(contrast))
        let img = s.image(contrast, snr: snr, seed: 25)
        var o = CordSegmentationOptions(); o.contrast = kind
        let start = ContinuousClock.now
        let cord = try CordSegmenter.segment(img, options: o)
        let prior = try GreyMatterPrior.place(atlas: committedAtlas(), cord: cord.soft, levels: s.levels)
        let gm = try GreyMatterSegmenter.segment(img, cord: cord.soft, prior: prior.fraction, contrast: kind)
        let time = ContinuousClock.now - start
        let truth = s.composition.fractionMap(of: TissueClass.allCases.filter(\.isGreyMatter))
        let pixel = grid.spacing.x * grid.spacing.y
        var levelsSeen: [Int32] = []
        for level in s.levels.presentLabels {
            // Slices (voxels) of this level: where the truth's cord carries it.
            var a = Mask(grid: grid, frames: 1, repeating: 0), b = a
            var found = 0.0, expected = 0.0, voxels = 0
            let (lv, _) = s.levels.volume.reoriented(), (seg, _) = gm.binary.reoriented(), (ref, _) = s.gmMask.reoriented()
            let (soft, _) = gm.soft.reoriented(), (tf, _) = truth.reoriented()
            let g = lv.grid, per = g.nx * g.ny
            for k in 0..<g.nz where (k * per..<(k + 1) * per).contains(where: { lv.data[$0] == level }) {
                let count = (k * per..<(k + 1) * per).filter { lv.data[$0] == level }.count
                guard count * 2 > (k * per..<(k + 1) * per).filter({ lv.data[$0] != 0 }).count else { continue }
                for n in (k * per)..<((k + 1) * per) {
                    a.data[n] = seg.data[n]; b.data[n] = ref.data[n]
                    found += Double(soft.data[n]) * pixel; expected += Double(tf.data[n]) * pixel
                }
                voxels += 1
            }
            guard voxels > 0, expected > 0 else { continue }
            levelsSeen.append(level)
            let d = gmDice(a, b), err = found / expected - 1
            print("\(contrast.name) SNR \(formatFixed(snr, 0)) \(VertebralLevelName.name(Int(level))): GM Dice \(formatFixed(d, 3)), GM area \(formatFixed(found / Double(voxels), 1)) vs \(formatFixed(expected / Double(voxels), 1)) mm² per slice (\(formatFixed(err * 100, 1)) %), \(voxels) slices")
            #expect(d >= minimumDice, "\(contrast.name) level \(level): GM Dice \(d) ≥ \(minimumDice)")
            #expect(abs(err) <= maximumAreaError, "\(contrast.name) level \(level): GM area error \(err) within \(maximumAreaError)")
        }
        print("\(contrast.name): cord + prior + GM on \(grid.nx)×\(grid.ny)×\(grid.nz) in \(time)")
        #expect(levelsSeen.count >= 4, "C2/C3…C6 present: \(levelsSeen)")
    }
}

extension GreyMatterPhantomTests {
    /// The prior is placed by the cord's moments, so a cord outline that sits too far out (or
    /// in) scales the butterfly with it. How far does that carry into the GM? Clinical T2*w
    /// phantom (GM/WM 1.15, SNR 15, 0.5 × 0.5 × 5 mm, C3–C5), the cord from `CordSegmenter`
    /// with its boundary at 85 % (too big) or 5 % (too small) of the cord→CSF step instead of
    /// 40 %. Measured: cord area +11.8 % → GM Dice 0.955, soft GM area +16.8 %; cord area
    /// −16.4 % → GM Dice 0.884, soft GM area −11.1 %. So the binary butterfly holds (the EM
    /// finds the horns) while the GM area follows the cord's. Tolerances: Dice ≥ 0.85, and
    /// the GM area error has the cord error's sign and at most 1.6× its size. (Two image-driven
    /// size corrections were tried and dropped: a likelihood search over the prior's scale never
    /// passed its likelihood-ratio test here, and rescaling the prior to the posterior's GM area
    /// shrank the GM by 5–8 % with a correct cord.)
    @Test(arguments: [0.85, 0.05])
    func greyMatterWithAWrongCordBoundaryOnT2star(boundaryLevel: Double) throws {
        let grid = PhantomGrid.axial(inPlane: 0.5, sliceThickness: 5, fieldOfView: 24, inferior: -25, superior: 10, centre: [0, 3])
        let s = try PhantomSubject(PhantomParameters(), on: grid)
        let contrast = PhantomContrast.t2starwClinical
        guard let snr = PhantomContrast.clinicalSNR(contrast) else { Issue.record("no clinical SNR for \(contrast.name)"); return }
        let img = s.image(contrast, snr: snr, seed: 31)
        var o = CordSegmentationOptions(); o.contrast = .t2s; o.boundaryLevel = boundaryLevel
        let cord = try CordSegmenter.segment(img, options: o)
        let prior = try GreyMatterPrior.place(atlas: committedAtlas(), cord: cord.soft, levels: s.levels)
        let gm = try GreyMatterSegmenter.segment(img, cord: cord.soft, prior: prior.fraction, contrast: .t2s)
        let sum = { (v: Volume<Float>) in v.data.reduce(0.0) { $0 + Double($1) } }
        let gmTruth = sum(s.composition.fractionMap(of: TissueClass.allCases.filter(\.isGreyMatter)))
        let cordError = sum(cord.soft) / max(sum(s.composition.fractionMap(of: TissueClass.allCases.filter(\.isCord))), 1e-9) - 1
        let gmError = sum(gm.soft) / max(gmTruth, 1e-9) - 1
        let d = gmDice(gm.binary, s.gmMask)
        print("T2*w phantom, cord boundary at \(formatFixed(boundaryLevel * 100, 0)) % of the step: cord area \(formatFixed(cordError * 100, 1)) %, GM Dice \(formatFixed(d, 3)), soft GM area \(formatFixed(gmError * 100, 1)) %")
        #expect(d >= 0.85, "GM Dice \(d) ≥ 0.85")
        #expect(abs(cordError) >= 0.05, "the moved boundary changes the cord area (\(cordError))")
        #expect(gmError * cordError > 0 && abs(gmError) <= 1.6 * abs(cordError), "GM area error \(gmError) follows the cord's \(cordError) by at most 1.6×")
    }
}

extension GreyMatterPhantomTests {
    /// A cord outline that runs 1.5 mm too far on one side (posterior, as on `mt1`'s lowest slice
    /// where no CSF bounds the cord): the cord mask is its union with itself moved 1.5 mm back,
    /// so the moment-placed butterfly moves back and grows. Clinical T2*w phantom (GM/WM 1.15,
    /// SNR 15, 0.5 × 0.5 × 5 mm, C3–C5). GM Dice with the placement search over ±1 mm (default)
    /// against ±0.5 mm (the earlier range) and no search. A limit, measured: 0.673 with each,
    /// against 0.92–0.95 with the segmenter's own cord. The CSF inside the outline lifts the
    /// white-matter mean above the grey matter's (contrast-to-noise −0.5 on every slice), so
    /// every slice keeps the misplaced prior. Two fixes were tried and dropped.
    /// - A Tukey fence on the cord's intensities drops the CSF, but the misplaced, stretched
    ///   prior then leaves the two classes mixed (contrast-to-noise 0.0–0.3 instead of about
    ///   2), so no shift passes the test.
    /// - An outlier class did not help here either. It also shrank the variance on the real
    ///   `mt1` and cut Dice there (0.81 → 0.76 with the reference cord).
    /// Asserted: Dice ≥ 0.6, and the search never loses against no search.
    @Test func greyMatterWithACordBulgingBackOnT2star() throws {
        let grid = PhantomGrid.axial(inPlane: 0.5, sliceThickness: 5, fieldOfView: 24, inferior: -25, superior: 10, centre: [0, 3])
        let s = try PhantomSubject(PhantomParameters(), on: grid)
        let contrast = PhantomContrast.t2starwClinical
        guard let snr = PhantomContrast.clinicalSNR(contrast) else { Issue.record("no clinical SNR for \(contrast.name)"); return }
        let img = s.image(contrast, snr: snr, seed: 33)
        var o = CordSegmentationOptions(); o.contrast = .t2s
        let cord = try CordSegmenter.segment(img, options: o)
        // Union with the cord moved 3 pixels (1.5 mm) toward posterior (−y in RPI).
        let (r, back) = cord.soft.reoriented()
        var bulged = r
        let g = r.grid
        for k in 0..<g.nz {
            for j in 0..<g.ny {
                for i in 0..<g.nx where j + 3 < g.ny {
                    let n = i + g.nx * (j + g.ny * k), m = i + g.nx * (j + 3 + g.ny * k)
                    bulged.data[n] = max(bulged.data[n], r.data[m])
                }
            }
        }
        let wrongCord = back.invert(bulged)
        let prior = try GreyMatterPrior.place(atlas: committedAtlas(), cord: wrongCord, levels: s.levels)
        var results: [Double] = []
        for range in [1.0, 0.5, 0.0] {
            var go = GreyMatterOptions(); go.placementRange = range
            let gm = try GreyMatterSegmenter.segment(img, cord: wrongCord, prior: prior.fraction, contrast: .t2s, options: go)
            results.append(gmDice(gm.binary, s.gmMask))
            if range == 1.0 { print("contrast-to-noise per slice: " + gm.slices.map { formatFixed($0.contrastToNoise, 2) }.joined(separator: " ")) }
        }
        print("T2*w phantom, cord bulging 1.5 mm back: GM Dice \(formatFixed(results[0], 3)) (±1 mm search), \(formatFixed(results[1], 3)) (±0.5 mm), \(formatFixed(results[2], 3)) (none)")
        #expect(results[0] >= 0.6, "GM Dice \(results[0]) ≥ 0.6 with a cord 1.5 mm too long at the back")
        #expect(results[0] >= results[2] - 0.01 && results[1] >= results[2] - 0.01, "the placement search does not lose Dice")
    }
}

@Suite(.enabled(if: Support.hasSharedData, "needs ../shared/data (sct_testing_data/mt)"))
struct GreyMatterRealScanTests {
    static let mt = Support.sharedData + "/sct_testing_data/mt"

    /// mt1 (MT-on, 0.84 × 0.84 × 17 mm, 5 slices) against mt1_gmseg (SCT's GM mask, ≥ ½): the
    /// cord from CordQ's own segmentation, the committed CordQ atlas (no level map: the middle of
    /// C4), EM. Issue #25's target is Dice ≥ 0.80: measured 0.784 with CordQ's own cord and
    /// 0.81 with the reference cord (`mt1_seg`), so the assertions are 0.77 and 0.80; the
    /// defaults were chosen on the phantom, not on these 5 slices. GM area per slice (soft GM ×
    /// pixel area) against the reference's soft mask: +19.0 % on average (the atlas's GM is 20 %
    /// of the cord, SCT's mask 16–22 %; our cord is 5 % larger than mt1_seg), asserted within 25 %. The reference comes from
    /// SCT's atlas-based pipeline (sct_segment_graymatter, data README), so it shares PAM50's
    /// butterfly with the atlas prior: this measures agreement with SCT, not histology. The
    /// reference-cord assertion also guards the placement's likelihood-ratio test: with the 1 mm
    /// range and voxels counted as independent, slice 1 moved 1 mm (2·ΔlogL 6.8) and Dice fell
    /// to 0.73; counted per independent sample (factor 4.4 there) it stays.
    @Test func mt1GreyMatterAgainstReference() throws {
        let (img, _) = try NIfTIFile.read(Self.mt + "/mt1.nii.gz")
        let (ref, _) = try NIfTIFile.read(Self.mt + "/mt1_gmseg.nii.gz")
        let (refCord, _) = try NIfTIFile.read(Self.mt + "/mt1_seg.nii.gz")
        var o = CordSegmentationOptions(); o.contrast = .mt
        let start = ContinuousClock.now
        let cord = try CordSegmenter.segment(img, options: o)
        let atlas = try committedAtlas()
        let prior = try GreyMatterPrior.place(atlas: atlas, cord: cord.soft)
        let gm = try GreyMatterSegmenter.segment(img, cord: cord.soft, prior: prior.fraction, contrast: .mt)
        let time = ContinuousClock.now - start
        let truth = ref.map { $0 >= 0.5 ? UInt8(1) : 0 }
        let d = gmDice(gm.binary, truth)
        // The same with the reference cord mask, and the prior alone (what EM adds).
        let priorRef = try GreyMatterPrior.place(atlas: atlas, cord: refCord)
        let gmRef = try GreyMatterSegmenter.segment(img, cord: refCord, prior: priorRef.fraction, contrast: .mt)
        let dRef = gmDice(gmRef.binary, truth), dPrior = gmDice(prior.fraction.map { $0 >= 0.5 ? 1 : 0 }, truth)
        // GM area per slice (mm²): ours (soft) against the reference's soft mask.
        let g = img.grid, pixel = g.spacing.x * g.spacing.y, per = g.nx * g.ny
        var errors: [Double] = [], rows: [String] = []
        for k in 0..<g.nz {   // mt1 is LAS: k is the axial slice
            let r = (k * per..<(k + 1) * per).reduce(0.0) { $0 + Double(ref.data[$1]) } * pixel
            let ours = (k * per..<(k + 1) * per).reduce(0.0) { $0 + Double(gm.soft.data[$1]) } * pixel
            guard r > 0 else { continue }
            errors.append(ours / r - 1); rows.append("\(formatFixed(ours, 1))/\(formatFixed(r, 1))")
        }
        let meanError = errors.reduce(0, +) / Double(max(errors.count, 1))
        let cnr = gm.slices.map { formatFixed($0.contrastToNoise, 2) }.joined(separator: " ")
        print("mt1 GM: Dice \(formatFixed(d, 3)) (\(gm.binary.count) voxels vs \(truth.count)); with the reference cord \(formatFixed(dRef, 3)); prior alone \(formatFixed(dPrior, 3)); GM area per slice ours/reference mm² \(rows.joined(separator: " ")), mean \(formatFixed(meanError * 100, 1)) %; CNR per slice \(cnr); \(time)")
        #expect(d >= 0.77, "GM Dice \(d) ≥ 0.77 (measured 0.784; issue #25's target 0.80)")
        // Issue #25's own measurement gave `seg gm` on mt1 with `mt1_seg` as its cord (the old Otsu
        // method reproduces its "Dice 0.44, 160 voxels found, 99 in the reference" only with that
        // cord: 0.423/185 with CordQ's binary cord, 0.413/293 with its soft one), so this is the
        // issue's target: measured 0.810 (101 voxels vs 99).
        #expect(dRef >= 0.80, "GM Dice with the reference cord \(dRef) ≥ 0.80 (issue #25's protocol)")
        #expect(abs(meanError) <= 0.25, "mean GM area error \(meanError) within 25 % (measured +19.0 %)")
        #expect(errors.count == 5)
    }
}


