// More contrasts for the phantom: T1w-like, T2*w-like, MT-on-like and mean-DWI-like images
// from the same tissue composition as the T2w image.
import CordCore

/// Tissue intensities of one simulated contrast (arbitrary units), applied through
/// `TissueComposition.signal(perClass:)` so partial volume is the same as for T2w.
///
/// The values are relative signal levels chosen to look like the clinical images, not the
/// output of a signal equation:
/// - T1w (3D gradient echo, e.g. MPRAGE-like): cord bright, CSF dark, grey matter slightly
///   darker than white matter, fat-rich vertebral marrow bright.
/// - T2*w (multi-echo gradient echo, e.g. MEDIC): CSF bright, grey matter clearly brighter
///   than white matter (the contrast grey-matter segmentation uses), bone dark.
/// - MT-on (gradient echo with an MT pulse, as the Spinal Cord Toolbox's `mt1` test scan):
///   CSF bright, white matter darkest, grey matter between.
/// - Mean DWI (average of b ≈ 800 s/mm² volumes): CSF suppressed, cord bright, grey and
///   white matter alike.
public struct PhantomContrast: Codable, Sendable, Equatable {
    public var name: String
    public var csf: Double, whiteMatter: Double, greyMatter: Double
    public var background: Double, vertebralBody: Double, disc: Double

    public init(name: String, csf: Double, whiteMatter: Double, greyMatter: Double,
                background: Double, vertebralBody: Double, disc: Double) {
        self.name = name; self.csf = csf; self.whiteMatter = whiteMatter; self.greyMatter = greyMatter
        self.background = background; self.vertebralBody = vertebralBody; self.disc = disc
    }

    /// The phantom's T2w contrast (`T2wContrast` defaults).
    public static let t2w: PhantomContrast = {
        let c = T2wContrast()
        return PhantomContrast(name: "T2w", csf: c.csf, whiteMatter: c.whiteMatter, greyMatter: c.greyMatter,
                               background: c.background, vertebralBody: c.vertebralBody, disc: c.disc)
    }()
    public static let t1w = PhantomContrast(name: "T1w", csf: 0.25, whiteMatter: 0.80, greyMatter: 0.70,
                                            background: 0.45, vertebralBody: 0.65, disc: 0.40)
    public static let t2starw = PhantomContrast(name: "T2starw", csf: 1.0, whiteMatter: 0.35, greyMatter: 0.60,
                                                background: 0.15, vertebralBody: 0.10, disc: 0.40)
    public static let mtOn = PhantomContrast(name: "MTon", csf: 1.0, whiteMatter: 0.40, greyMatter: 0.55,
                                             background: 0.45, vertebralBody: 0.30, disc: 0.35)
    public static let meanDWI = PhantomContrast(name: "meanDWI", csf: 0.10, whiteMatter: 0.50, greyMatter: 0.50,
                                                background: 0.05, vertebralBody: 0.05, disc: 0.15)
    /// MT-on gradient echo with the grey/white contrast measured on the real `mt1` scan
    /// (issue #25): white matter 280, grey-matter core 314 (GM/WM 1.12), CSF around the cord
    /// 440–660 (×2.3 of WM at the 90th percentile); noise σ ≈ 30 from neighbour differences, so
    /// white-matter SNR ≈ 9 (`clinicalSNR`). `mtOn` above has a far stronger contrast (1.38).
    public static let mtOnClinical = PhantomContrast(name: "MTonClinical", csf: 0.92, whiteMatter: 0.40, greyMatter: 0.448,
                                                     background: 0.45, vertebralBody: 0.30, disc: 0.35)
    /// T2*w (MEDIC-like) with a GM/WM ratio of 1.15 and SNR 15: values in the range the
    /// Spinal Cord Toolbox's GM imaging challenge lists for its T2*w protocols (GM/WM contrast
    /// 0.12–0.15, single-image SNR 15–18; sct-pipeline/gm-challenge README; no real T2*w scan
    /// is in the shared data to measure). `t2starw` above has GM/WM 1.71.
    public static let t2starwClinical = PhantomContrast(name: "T2starwClinical", csf: 1.0, whiteMatter: 0.35, greyMatter: 0.4025,
                                                        background: 0.15, vertebralBody: 0.10, disc: 0.40)
    /// White-matter SNR (signal / Rician σ) that goes with the clinical contrasts above.
    public static func clinicalSNR(_ c: PhantomContrast) -> Double? {
        switch c.name {
        case "MTonClinical": 9
        case "T2starwClinical": 15
        default: nil
        }
    }
    /// Every contrast above, T2w first.
    public static let all: [PhantomContrast] = [t2w, t1w, t2starw, mtOn, meanDWI]

    /// Intensity of each tissue class, indexed by `TissueClass.rawValue`.
    public var intensities: [Double] {
        TissueClass.perClass(background: background, csf: csf, vertebralBody: vertebralBody, disc: disc,
                             greyMatter: greyMatter, whiteMatter: whiteMatter)
    }
}

extension PhantomSubject {
    /// The subject imaged with `contrast`, without noise.
    public func noiseFreeImage(_ contrast: PhantomContrast) -> Volume<Float> {
        composition.signal(perClass: contrast.intensities)
    }

    /// The subject imaged with `contrast` plus Rician noise of σ = white-matter signal / `snr`
    /// per channel (the SNR definition of `PhantomParameters.snr`); nil `snr` gives the
    /// noise-free image. The same seed gives the same noise for every contrast.
    public func image(_ contrast: PhantomContrast, snr: Double?, seed: UInt64) -> Volume<Float> {
        let clean = noiseFreeImage(contrast)
        guard let snr, snr > 0 else { return clean }
        return RicianNoise.apply(to: clean, sigma: contrast.whiteMatter / snr, seed: seed)
    }
}
