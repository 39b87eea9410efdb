import CordCore
import CordIO
import CordTestSupport
import Foundation
import Testing
@testable import CordSegmentation

@Suite(.enabled(if: Support.hasSharedData, "needs ../shared/data (sct_testing_data)"))
struct RealScanSegmentationTests {
    static let root = Support.sharedData + "/sct_testing_data"

    /// t2.nii.gz (sagittal 1 mm, stored AIL) against t2_seg-manual: Dice ≥ 0.90; CSA per
    /// slice against `Morphometry` of the reference. The reference is binary: its CSA moves
    /// by whole pixels (SD 1.95 % about its own smooth trend along the cord, up to 6 % on
    /// one slice; on slices 44–48 it is the same 75-pixel mask five times), so a smooth
    /// outline cannot meet 5 % on every slice. Measured: Dice 0.985, mean +1.8 %, 52 of 55
    /// slices within 5 % (not 0, 45, 48), worst 6.8 % (slice 0, the first slice).
    @Test func t2SagittalScanAgainstManualSegmentation() throws {
        let (img, _) = try NIfTIFile.read(Self.root + "/t2/t2.nii.gz")
        let (ref, _) = try NIfTIFile.read(Self.root + "/t2/t2_seg-manual.nii.gz")
        var o = CordSegmentationOptions(); o.contrast = .t2
        let start = ContinuousClock.now
        let seg = try CordSegmenter.segment(img, options: o)
        let time = ContinuousClock.now - start
        let d = dice(seg.binary, ref.map { $0 > 0.5 ? 1 : 0 })
        #expect(d >= 0.90, "Dice \(d)")
        let ours = try Morphometry.perSlice(seg.soft), reference = try Morphometry.perSlice(ref)
        var errors: [Double] = []
        for r in reference {
            if let s = ours.first(where: { $0.slice == r.slice }) { errors.append(s.csa / r.csa - 1) }
        }
        let mean = errors.reduce(0, +) / Double(errors.count)
        let worst = errors.map { abs($0) }.max() ?? 1
        let within = errors.filter { abs($0) < 0.05 }.count
        print("t2: Dice \(formatFixed(d, 4)); CSA vs reference over \(errors.count) slices: mean \(formatFixed(mean * 100, 2)) %, worst \(formatFixed(worst * 100, 2)) %, \(within) within 5 %; \(time)")
        #expect(errors.count == reference.count)
        #expect(abs(mean) < 0.025, "mean CSA difference within 2.5 % (measured +1.8 %)")
        #expect(within >= 50, "at least 50 of 55 slices within 5 % (measured 52)")
        #expect(worst < 0.075, "every slice within 7.5 % (measured 6.8 %)")
    }

    /// Polarity detected without `contrast` on every real scan: dark cord in bright CSF on
    /// t2, mt1, mt0 and `mt/t1w` (the data README makes it as mt0 / 1.5, an MT-off gradient
    /// echo, so its CSF is bright like mt0's); bright cord on the mean diffusion-weighted
    /// image (b > 0) of both DWI series. Where a reference exists, the detected result must
    /// also reach the Dice.
    @Test(arguments: [
        ("t2/t2.nii.gz", CordPolarity.darkCord), ("mt/mt1.nii.gz", .darkCord), ("mt/mt0.nii.gz", .darkCord),
        ("mt/t1w.nii.gz", .darkCord), ("dmri/dmri.nii.gz", .brightCord), ("tutorial:dmri/dmri.nii.gz", .brightCord),
    ])
    func polarityDetectedOnRealScans(file: String, expected: CordPolarity) throws {
        let path = file.hasPrefix("tutorial:") ? Support.sharedData + "/sct_tutorial_data/" + file.dropFirst(9) : Self.root + "/" + file
        var (img, _) = try NIfTIFile.read(path)
        if img.frames > 1 {
            let dir = (path as NSString).deletingLastPathComponent
            let b = try GradientFiles.readRaw(bval: dir + "/bvals.txt", bvec: dir + "/bvecs.txt").bValues
            img = meanOfFrames(img, where: b.map { $0 > 50 })
        }
        let stack = AxialStack(img)
        let (attempts, _) = CordSegmenter.attempts(img, stack, options: CordSegmentationOptions())
        for a in attempts {
            print("\(file) \(a.segmentation.polarity): cord-like \(formatFixed(a.cordLike, 2)), quality \(formatFixed(a.quality, 3))")
        }
        let seg = try CordSegmenter.segment(img)
        #expect(seg.polarity == expected, "\(file)")
        // mt0_seg is SCT's own mask of the MT-off scan; t1w is mt0 / 1.5. Before kinks were taken
        // out (`CordSegmenter.straightened`), mt0's middle slice went to a dark band beside the
        // cord: Dice 0.802 with that slice at 0; now 0.936.
        let references = ["t2/t2.nii.gz": ("t2/t2_seg-manual.nii.gz", 0.90), "mt/mt1.nii.gz": ("mt/mt1_seg.nii.gz", 0.85),
                          "mt/mt0.nii.gz": ("mt/mt0_seg.nii.gz", 0.90), "mt/t1w.nii.gz": ("mt/mt0_seg.nii.gz", 0.90)]
        if let (ref, minimum) = references[file] {
            let (r, _) = try NIfTIFile.read(Self.root + "/" + ref)
            let d = dice(seg.binary, r.map { $0 > 0.5 ? 1 : 0 })
            print("\(file): Dice \(formatFixed(d, 3)) against \(ref) without --contrast")
            #expect(d >= minimum, "\(file): Dice \(d) without --contrast")
        }
    }

    /// mt1.nii.gz (axial 0.84 × 0.84 × 17 mm, 5 slices) against mt1_seg: Dice ≥ 0.85, with
    /// and without the point hint shipped with the scan.
    @Test func mtScanAgainstReferenceSegmentation() throws {
        let (img, _) = try NIfTIFile.read(Self.root + "/mt/mt1.nii.gz")
        let (ref, _) = try NIfTIFile.read(Self.root + "/mt/mt1_seg.nii.gz")
        var o = CordSegmentationOptions(); o.contrast = .mt
        let seg = try CordSegmenter.segment(img, options: o)
        let d = dice(seg.binary, ref.map { $0 > 0.5 ? 1 : 0 })
        #expect(d >= 0.85, "Dice \(d)")
        let (point, _) = try NIfTIFile.read(Self.root + "/mt/mt1_point.nii.gz")
        let n = try #require(point.data.firstIndex { $0 != 0 })
        let c = img.grid.coordinates(of: n)
        o.hint = CenterlineHint(voxel: SIMD3(Double(c.x), Double(c.y), Double(c.z)))
        let hinted = try CordSegmenter.segment(img, options: o)
        let dh = dice(hinted.binary, ref.map { $0 > 0.5 ? 1 : 0 })
        #expect(dh >= 0.85, "Dice with hint \(dh)")
        print("mt1: Dice \(formatFixed(d, 4)), with hint \(formatFixed(dh, 4)) (grey matter: CordRegistrationTests, it needs the atlas prior)")
    }
}

/// The mean of the frames whose flag is set (e.g. the diffusion-weighted ones).
func meanOfFrames(_ v: Volume<Float>, where keep: [Bool]) -> Volume<Float> {
    let per = v.grid.voxelCount
    var sum = [Float](repeating: 0, count: per)
    var n: Float = 0
    for t in 0..<min(v.frames, keep.count) where keep[t] {
        n += 1
        for i in 0..<per { sum[i] += v.data[t * per + i] }
    }
    return try! Volume(grid: v.grid, frames: 1, data: sum.map { $0 / max(n, 1) })
}

extension RealScanSegmentationTests {
    /// Thick axial slices of real anatomy: t2.nii.gz (1 mm isotropic) averaged into axial slabs
    /// of 3, 5 and 7 mm (slice partial volume along S–I, as a thick-slice acquisition records
    /// it), the same done to t2_seg-manual (slab fraction ≥ ½ is the reference). Measured:
    /// Dice 0.987, 0.985, 0.987 without --contrast. Tolerance: Dice ≥ 0.95 at every thickness.
    @Test(arguments: [3, 5, 7])
    func thickAxialSlabsOfTheT2Scan(thickness: Int) throws {
        let (img, _) = try NIfTIFile.read(Self.root + "/t2/t2.nii.gz")
        let (ref, _) = try NIfTIFile.read(Self.root + "/t2/t2_seg-manual.nii.gz")
        func slabs(_ v: Volume<Float>) -> Volume<Float> {
            let (rpi, _) = v.reoriented()
            let g = rpi.grid, per = g.nx * g.ny, nz = g.nz / thickness
            var out = [Float](repeating: 0, count: per * nz)
            for k in 0..<nz {
                for t in 0..<thickness { for n in 0..<per { out[k * per + n] += rpi.data[(k * thickness + t) * per + n] / Float(thickness) } }
            }
            let l = g.affine.linear, c2 = l.column(2)
            let origin = g.world(0, 0, Double(thickness - 1) / 2)
            let affine = Mat4(linear: Mat3(columns: l.column(0), l.column(1), c2 * Double(thickness)), translation: origin)
            return Volume(grid: Grid(nx: g.nx, ny: g.ny, nz: nz, affine: affine), frames: 1, exactly: out)
        }
        let thick = slabs(img), reference = slabs(ref).map { $0 >= 0.5 ? UInt8(1) : 0 }
        #expect(abs(thick.grid.spacing.z - Double(thickness)) < 1e-6)
        let seg = try CordSegmenter.segment(thick)
        let d = dice(seg.binary, reference)
        print("t2 in \(thickness) mm axial slabs (\(thick.grid.nz) slices): Dice \(formatFixed(d, 3)), polarity \(seg.polarity.rawValue)")
        #expect(seg.polarity == .darkCord)
        #expect(d >= 0.95, "\(thickness) mm: Dice \(d)")
    }
}
