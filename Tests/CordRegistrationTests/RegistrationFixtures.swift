import CordTestSupport
import Foundation
@testable import CordAtlas
@testable import CordCore
@testable import CordIO
@testable import CordPhantom
@testable import CordRegistration

/// Shared inputs of the registration tests: phantom subjects with labels, real scans, atlases.
enum Fixtures {
    /// A noise-free axial phantom (0.6 mm pixels, 2 mm slices, C2…C6 region).
    static func phantom(_ edit: (inout PhantomParameters) -> Void = { _ in }) throws -> PhantomSubject {
        var p = PhantomParameters(); p.snr = nil
        edit(&p)
        return try PhantomSubject(p, on: PhantomGrid.axial(inPlane: 0.6, sliceThickness: 2, fieldOfView: 30, inferior: -30, superior: 50))
    }

    /// Mid-vertebral-body labels (SCT `-l`) for `levels` on the phantom's centerline.
    static func bodyLabels(_ ph: PhantomSubject, levels: [Int]) -> Volume<Int32> {
        var out = Volume<Int32>(grid: ph.grid, repeating: 0)
        for l in levels {
            guard let level = VertebralLevel(rawValue: l) else { continue }
            let w = ph.anatomy.centerlinePoint(atArcLength: ph.anatomy.centre(of: level))
            let v = ph.grid.voxel(ofWorld: w)
            let i = Int(v.x.rounded()), j = Int(v.y.rounded()), k = Int(v.z.rounded())
            if ph.grid.contains(i, j, k) { out[i, j, k] = Int32(l) }
        }
        return out
    }

    static var cordQAtlasPath: String { Support.packageRoot + "/atlas/CordQ" }
    static var pam50Path: String { Support.sharedData + "/PAM50" }
    static var t2Path: String { Support.sharedData + "/sct_testing_data/t2" }

    /// An atlas folder's cord, levels and tissue maps (no tract maps), cropped to `levels`.
    static func atlas(_ path: String, levels: [Int]? = nil) throws -> Atlas {
        var o = AtlasLoadOptions(); o.contrasts = false; o.levels = levels; o.tractIDs = []
        return try Atlas(folder: AtlasFolder.load(path, options: o), source: path)
    }

    /// The real T2w scan, its manual segmentation and its two labels (3 = C3, 5 = C5).
    static func realT2() throws -> (image: Volume<Float>, seg: Mask, labels: Volume<Int32>) {
        let img = try NIfTIFile.read(t2Path + "/t2.nii.gz").0
        let seg = try NIfTIFile.read(t2Path + "/t2_seg-manual.nii.gz").0.map { UInt8($0 > 0.5 ? 1 : 0) }
        let labels = try NIfTIFile.read(t2Path + "/labels.nii.gz", as: Int32.self).0
        return (img, seg, labels)
    }

    /// Dice of the warped atlas cord (≥ 0.5) and `truth`, over the axial slices (canonical
    /// RPI) where `truth` holds cord.
    static func dice(_ warped: Volume<Float>, _ truth: Mask) -> Double {
        TemplateRegistration.cordDice(warped, truth)
    }

    /// The real MT-on scan registered to `atlas` (PAM50) without and with `options`, levels
    /// from the t2 scan's labels (same session, same scanner coordinates): cord Dice against
    /// `mt1_seg` and grey-matter Dice against `mt1_gmseg` (which no step is driven by), each
    /// as (without, with), and the registration with the options.
    static func realMT1OffAndOn(atlas: Atlas, options: TemplateRegistrationOptions) throws
        -> (cord: (Double, Double), grey: (Double, Double), registration: TemplateRegistration) {
        let dir = t2Path + "/../mt"
        let img = try NIfTIFile.read(dir + "/mt1.nii.gz").0
        let seg = try NIfTIFile.read(dir + "/mt1_seg.nii.gz").0.map { UInt8($0 > 0.5 ? 1 : 0) }
        let gm = try NIfTIFile.read(dir + "/mt1_gmseg.nii.gz").0.map { UInt8($0 > 0.5 ? 1 : 0) }
        let (_, t2seg, t2labels) = try realT2()
        let labels = try VertebralLabelling.fromLabels(t2labels, kind: .vertebralBody, segmentation: t2seg)
        let a = try TemplateRegistration.register(subject: img, segmentation: seg, labels: labels, atlas: atlas)
        let b = try TemplateRegistration.register(subject: img, segmentation: seg, labels: labels, atlas: atlas, options: options)
        let wa = try a.atlasInSubjectSpace(), wb = try b.atlasInSubjectSpace()
        guard let ca = wa.cord, let cb = wb.cord, let ga = wa.greyMatter, let gb = wb.greyMatter else {
            throw RegistrationError.atlasIncomplete("the warped atlas lacks its cord or grey-matter map")
        }
        return ((dice(ca, seg), dice(cb, seg)), (dice(ga, gm), dice(gb, gm)), b)
    }

    /// Largest |forward∘inverse − identity| (mm) over the voxels of `mask`: p → template
    /// point q (forward field on the subject grid) → back through the inverse field.
    static func roundTripError(_ r: TemplateRegistration, mask: Mask) -> Double {
        let g = r.forwardWarp.grid
        var worst = 0.0
        for n in 0..<mask.data.count where mask.data[n] != 0 {
            let p = g.world(g.coordinates(of: n))
            let q = p + DisplacementField.displacement(r.forwardWarp, atWorld: p)
            let back = q + DisplacementField.displacement(r.inverseWarp, atWorld: q)
            worst = max(worst, length(back - p))
        }
        return worst
    }

    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let t = ContinuousClock.now
        try body()
        let d = ContinuousClock.now - t
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}
