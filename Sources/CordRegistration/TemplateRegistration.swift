// Template ↔ subject registration driven by the cord segmentation (De Leener et al. 2018
// NeuroImage 165:170, PAM50): levels along the cord, then per-slice in-plane affine.
import CordAtlas
import CordCore

/// Options of template registration.
public struct TemplateRegistrationOptions: Sendable {
    /// Half-width (mm) of the moving average along z applied to the subject's per-slice cord
    /// centre and moments (suppresses the staircase of a segmentation drawn on thick or
    /// sagittal slices).
    public var subjectSmoothing = 1.5
    /// Minimum number of labels at different levels (2: translation and scaling along z).
    public var minimumLabels = 2
    /// After the per-slice affine, stretch each axial plane radially so the subject cord's
    /// outline meets the template cord's (`RadialRefinement`: smooth in angle and z,
    /// invertible ray by ray). Off by default: it matches the outline (cord Dice +2.6
    /// points on the phantom, +1.3 on the real MT scan and +0.4 on the real T2w against
    /// PAM50) but does not improve the inside — grey-matter Dice, which does not drive it,
    /// is unchanged on the real MT scan and 0–0.6 points lower on phantoms.
    public var radialRefinement = false
    /// Gaussian smoothing of the radial stretch across angle (degrees, σ).
    public var radialAngleSmoothing = 15.0
    /// Taper exponent p of the stretch inside the cord: the correction at radius r is the
    /// boundary's times (r/R)^p (1 moves grey matter with the outline: GM Dice fell by
    /// 0.6–1.1 points in the tests; 2 leaves it mostly to the affine).
    public var radialTaper = 2
    /// After the per-slice affine (and the radial stretch when on), align the subject *image*
    /// with the template contrast mapped through the current transform, slice by slice in the
    /// axial plane (`ImageRefinement`): additive demons with the symmetric force (Thirion 1998,
    /// Med Image Anal 2:243; step normalisation of Vercauteren et al. 2009, NeuroImage 45:S61)
    /// on SSD after a robust linear intensity match per slice (independent of the two
    /// contrasts' scale and offset), restricted to the cord dilated by `imageMargin` mm and
    /// fading to zero beyond, smoothed across slices, Jacobian bounded and inverted by fixed
    /// point. The analogous SCT step is `sct_register_to_template -param step=…,type=im`
    /// (analogy only). Template contrast: the atlas's T1w/T2w (PAM50_t1/PAM50_t2, CordQ_t1/t2)
    /// that correlates best with the subject near the cord, or `imageContrast`; an atlas
    /// without contrasts gets T2w-/T1w-like images synthesised from its cord, GM and CSF maps.
    /// Off by default: on noise-free phantoms it raises cord Dice (0.971 → 0.988) with GM Dice
    /// unchanged (0.867), but on the real T2w against PAM50 (no T2 template in the shared copy:
    /// the tissue-map T2w-like image drives it) cord Dice falls 0.985 → 0.968.
    public var imageRefinement = false
    /// σ (mm) of the Gaussian regularising the in-plane field after every demons update (the
    /// fade ramp beyond `imageMargin` is max(2, 2σ) mm). 1.5 mm lost 0.5 GM Dice points on the
    /// phantom and 3 points of cord Dice on the real T2w more than 3 mm.
    public var imageRegularisation = 3.0
    /// σ (mm of height) of the Gaussian smoothing the field across axial slices.
    public var imageZSmoothing = 2.0
    /// Demons iterations per axial slice (each moves a point at most ½ lattice pixel).
    public var imageIterations = 60
    /// Margin (mm) around the subject cord inside which the field acts fully; it fades to zero
    /// over a further max(2, 2σ) mm.
    public var imageMargin = 2.0
    /// Template contrast name ("T2w", "T1w"); nil: the one correlating best with the subject.
    public var imageContrast: String? = nil
    /// Guard of the image-driven refinement: the registration is also run without it, and the
    /// refined one is kept only when the warped atlas cord's Dice with the segmentation
    /// (`cordDice`) falls by no more than this; otherwise the one without is returned
    /// (`refinementCheck` says so). Default 0.01: the demons step follows the template
    /// contrast, and a contrast unlike it (the mean DWI on the demo phantom: 0.970 → 0.922)
    /// can pull the cord off its outline. nil: keep the refinement unchecked.
    public var imageRefinementMaximumDiceLoss: Double? = 0.01
    public init() {}
}

/// Template → subject registration: a map from every subject point to the template point
/// that lands there, and its inverse.
///
/// Method (after De Leener et al. 2018 NeuroImage 165:170 and SCT's
/// `sct_register_to_template` with `step=1,type=seg`): (1) along the superior axis, the
/// labelled levels are aligned by a piecewise-linear map of world z (translation and
/// scaling between labels, Ullmann et al. 2014); (2) in each axial plane, the template
/// cord's cross-section is taken onto the subject segmentation's by the affine that matches
/// centres and second moments, x ↦ c_s + Σ_s^{1/2}Σ_t^{−1/2}(x − c_t), which is
/// exactly invertible; (3) optionally (`radialRefinement`), a smooth radial stretch per
/// axial plane takes the subject cord's outline onto the mapped template outline
/// (`RadialRefinement`, exactly invertible ray by ray); (4) optionally (`imageRefinement`), a
/// smooth in-plane displacement per axial plane aligning the subject image with the template
/// contrast near the cord (`ImageRefinement`, inverted by fixed point). Axial planes stand in for planes
/// orthogonal to the centerline (De Leener et al. 2017 straightening); the in-plane affine
/// absorbs the elongation a tilted cord shows in axial planes.
///
/// Warps follow ITK/ANTs as SCT writes them (`warp_template2anat.nii.gz`): a displacement
/// field on the grid where the image is resampled, 3 frames (x, y, z) in mm in **LPS**
/// physical space (ITK's; RAS+ world with x and y negated); point p of that grid takes its
/// value from p + d(p) in the other image.
public struct TemplateRegistration: Sendable {
    public let subjectGrid: Grid
    public let atlas: Atlas
    public let labels: VertebralLabels
    public let reference: LevelReference
    public let subjectProfile: CordProfile, templateProfile: CordProfile
    /// Template → subject: on the subject grid, LPS displacement (mm) to the template point.
    public let forwardWarp: Volume<Float>
    /// Subject → template: on the (possibly cropped) atlas grid, LPS displacement (mm) to the subject point.
    public let inverseWarp: Volume<Float>
    /// Template contrast that drove the image-driven refinement (nil when it was off or dropped).
    public let imageContrast: String?
    /// Dice of the warped atlas cord (≥ 0.5) and the segmentation over the axial slices
    /// holding segmentation (`cordDice`).
    public let dice: Double
    /// The image-refinement guard's comparison, when it ran.
    public let refinementCheck: RefinementCheck?

    /// Cord Dice with and without the image-driven refinement, and which was kept.
    public struct RefinementCheck: Sendable, Equatable {
        public var diceWith: Double, diceWithout: Double
        public var kept: Bool
    }

    /// Registers `atlas` (its `cord` map and `levels`) onto the subject. `subject` supplies
    /// the grid (its intensities are used only by the optional image-driven refinement);
    /// `segmentation` is the subject's binary cord mask on that grid.
    /// With `imageRefinement` and `imageRefinementMaximumDiceLoss` set, the refinement is kept
    /// only when it does not lower the cord Dice by more than that (`refinementCheck`).
    public static func register(subject: Volume<Float>, segmentation: Mask, labels: VertebralLabels, atlas: Atlas,
                                options: TemplateRegistrationOptions = TemplateRegistrationOptions()) throws -> TemplateRegistration {
        let chosen = try registerOnce(subject: subject, segmentation: segmentation, labels: labels, atlas: atlas, options: options)
        guard options.imageRefinement, let loss = options.imageRefinementMaximumDiceLoss else { return chosen }
        var plainOptions = options; plainOptions.imageRefinement = false
        let plain = try registerOnce(subject: subject, segmentation: segmentation, labels: labels, atlas: atlas, options: plainOptions)
        let keep = chosen.dice >= plain.dice - loss
        let check = RefinementCheck(diceWith: chosen.dice, diceWithout: plain.dice, kept: keep)
        return (keep ? chosen : plain).with(check)
    }

    /// Dice of `warped` ≥ 0.5 and `truth` over the axial (canonical RPI) slices holding `truth`.
    public static func cordDice(_ warped: Volume<Float>, _ truth: Mask) -> Double {
        let (w, _) = warped.reoriented(), (t, _) = truth.reoriented()
        let g = t.grid, per = g.nx * g.ny
        var inter = 0, a = 0, b = 0
        for k in 0..<g.nz {
            let range = (k * per)..<((k + 1) * per)
            guard range.contains(where: { t.data[$0] != 0 }) else { continue }
            for n in range {
                let x = w.data[n] >= 0.5, y = t.data[n] != 0
                if x { a += 1 }
                if y { b += 1 }
                if x && y { inter += 1 }
            }
        }
        return a + b > 0 ? 2 * Double(inter) / Double(a + b) : 0
    }

    func with(_ check: RefinementCheck) -> TemplateRegistration {
        TemplateRegistration(subjectGrid: subjectGrid, atlas: atlas, labels: labels, reference: reference,
                             subjectProfile: subjectProfile, templateProfile: templateProfile, forwardWarp: forwardWarp,
                             inverseWarp: inverseWarp, imageContrast: imageContrast, dice: dice, refinementCheck: check)
    }

    static func registerOnce(subject: Volume<Float>, segmentation: Mask, labels: VertebralLabels, atlas: Atlas,
                             options: TemplateRegistrationOptions) throws -> TemplateRegistration {
        try subject.grid.requireCompatible(with: segmentation.grid, "subject image", "segmentation")
        try segmentation.requireNonEmpty("cord segmentation")
        let distinct = Set(labels.points.map(\.level))
        guard distinct.count >= options.minimumLabels else {
            throw RegistrationError.tooFewLabels(found: distinct.sorted(), needed: options.minimumLabels)
        }
        guard let cord = atlas.cord else { throw RegistrationError.atlasIncomplete("\(atlas.source) has no spinal cord map") }
        let reference = try LevelReference(atlas: atlas)
        let missing = labels.points.filter { reference.position(level: $0.level, kind: $0.kind) == nil }.map(\.level)
        guard missing.isEmpty else {
            throw RegistrationError.atlasIncomplete("level(s) \(missing.map { VertebralLevelName.name($0) }.joined(separator: ", ")) of the labels are not in the atlas's level map (loaded: \(reference.extents.keys.sorted().map { VertebralLevelName.name($0) }.joined(separator: ", ")))")
        }
        let subjectProfile = try CordProfile(segmentation.map { Float($0 != 0 ? 1 : 0) }, smoothing: options.subjectSmoothing)
        let templateProfile = try CordProfile(cord.map { $0 >= 0.5 ? $0 : 0 })
        var map = CordMap(labels: labels, reference: reference, subject: subjectProfile, template: templateProfile)
        if options.radialRefinement {
            map.radial = RadialRefinement(map: map, segmentation: segmentation.map { Float($0 != 0 ? 1 : 0) }, templateCord: cord,
                                          angleSmoothing: options.radialAngleSmoothing, taper: options.radialTaper)
        }
        var imageContrast: String?
        if options.imageRefinement {
            let image = try ImageRefinement(map: map, subject: subject, segmentation: segmentation.map { Float($0 != 0 ? 1 : 0) },
                                            atlas: atlas, options: options)
            map.image = image; imageContrast = image.contrast
        }
        let final = map
        let forward = DisplacementField.field(on: subject.grid) { final.templatePoint(ofSubject: $0) }
        let inverse = DisplacementField.field(on: atlas.grid) { final.subjectPoint(ofTemplate: $0) }
        let dice = cordDice(try DisplacementField.apply(forward, to: cord), segmentation)
        return TemplateRegistration(subjectGrid: subject.grid, atlas: atlas, labels: labels, reference: reference,
                                    subjectProfile: subjectProfile, templateProfile: templateProfile,
                                    forwardWarp: forward, inverseWarp: inverse, imageContrast: imageContrast,
                                    dice: dice, refinementCheck: nil)
    }

    /// Every atlas map warped onto the subject grid (trilinear for probability maps and
    /// contrasts, nearest neighbour for level and disc labels, as SCT's `sct_warp_template`).
    public func atlasInSubjectSpace() throws -> Atlas {
        try atlas.transformed(grid: subjectGrid,
                              maps: { try DisplacementField.apply(self.forwardWarp, to: $0) },
                              labels: { try DisplacementField.apply(self.forwardWarp, to: $0) })
    }
}

/// The analytic point maps behind the warps.
struct CordMap: Sendable {
    let labels: VertebralLabels
    let reference: LevelReference
    let subject: CordProfile, template: CordProfile
    let toTemplateZ: PiecewiseLinear, toSubjectZ: PiecewiseLinear
    /// Optional radial in-plane stretch applied in subject space before the affine.
    var radial: RadialRefinement?
    /// Optional image-driven in-plane displacement applied in subject space before the radial
    /// stretch and the affine (estimated last, on top of both).
    var image: ImageRefinement?

    init(labels: VertebralLabels, reference: LevelReference, subject: CordProfile, template: CordProfile) {
        self.labels = labels; self.reference = reference; self.subject = subject; self.template = template
        let a = labels.anchors(reference)
        toTemplateZ = PiecewiseLinear(a)
        toSubjectZ = PiecewiseLinear(a.map { ($0.1, $0.0) })
    }

    func templatePoint(ofSubject p0: SIMD3<Double>) -> SIMD3<Double> {
        let p = image?.forward(p0) ?? p0
        guard let radial else { return affineTemplatePoint(ofSubject: p) }
        return affineTemplatePoint(ofSubject: radial.forward(p, centre: subject.at(z: p.z).centre))
    }

    func subjectPoint(ofTemplate q: SIMD3<Double>) -> SIMD3<Double> {
        var p = affineSubjectPoint(ofTemplate: q)
        if let radial { p = radial.inverse(p, centre: subject.at(z: p.z).centre) }
        return image?.inverse(p) ?? p
    }

    /// Subject → template by the level map along z and the per-slice moment-matching affine.
    func affineTemplatePoint(ofSubject p: SIMD3<Double>) -> SIMD3<Double> {
        let zt = toTemplateZ.value(p.z)
        let s = subject.at(z: p.z), t = template.at(z: zt)
        let (r0, r1) = Sym2.matching(from: s.covariance, to: t.covariance)
        let d = SIMD2(p.x, p.y) - s.centre
        return SIMD3(t.centre.x + (r0 * d).sum(), t.centre.y + (r1 * d).sum(), zt)
    }

    /// The exact inverse of `affineTemplatePoint`.
    func affineSubjectPoint(ofTemplate q: SIMD3<Double>) -> SIMD3<Double> {
        let zs = toSubjectZ.value(q.z)
        let s = subject.at(z: zs), t = template.at(z: q.z)
        let (r0, r1) = Sym2.matching(from: t.covariance, to: s.covariance)
        let d = SIMD2(q.x, q.y) - t.centre
        return SIMD3(s.centre.x + (r0 * d).sum(), s.centre.y + (r1 * d).sum(), zs)
    }
}
