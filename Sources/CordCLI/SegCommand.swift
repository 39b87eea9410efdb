// `cordq seg …`: cord and grey-matter segmentation, morphometry, compression.
import ArgumentParser
import CordCore
import CordPipeline
import CordRegistration
import CordSegmentation

extension SegmentationContrast: ExpressibleByArgument {}
extension CompressionMeasure: ExpressibleByArgument {}

/// `cordq seg`
public struct SegCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "seg",
        abstract: "Spinal cord and grey-matter segmentation, shape metrics and compression measures.",
        subcommands: [SegCordCommand.self, SegGMCommand.self, SegMorphometryCommand.self, SegCompressionCommand.self])
    public init() {}
}

/// `cordq seg cord IMAGE OUT`
public struct SegCordCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cord",
        abstract: "Segment the spinal cord (binary and partial-volume masks), without deep learning or network access.",
        discussion: """
        Method: the image is taken to RPI; on every axial slice each pixel is scored as a cord centre \
        (a core darker — or brighter — than a surrounding ring where CSF lies, sector by sector), and the \
        best path along the cord is found by dynamic programming (after OptiC, Gros et al. 2018, Med \
        Image Anal 44:215). Around each centre the outline is one radius per angle (72 rays), chosen by \
        dynamic programming on the cord/CSF edge with a smoothness penalty (polar-boundary formulation \
        of PropSeg's idea, De Leener et al. 2014, NeuroImage 98:528), searched twice with the \
        neighbouring slices as a weak prior. The boundary sits 40% of the way from the cord's intensity \
        (median 1.2–2.5 mm inside the edge) to the CSF's (mean 0.5–1.5 mm outside it; where the CSF \
        layer is thin but bright, the slice's median cord→CSF step; where it is effaced, the steepest \
        point of the edge), the convention \
        of the Spinal Cord Toolbox's segmentations on its test scan (they label a voxel cord only when \
        its intensity is within about 40% of that step), so CSA compares with SCT-derived norms. The \
        geometric (partial-volume) boundary would be 50%: CSA 2–3% larger on 0.5 mm phantom edges, \
        about 4% larger at 1 mm. The soft output holds each voxel's fraction inside the outline.

        Polarity: t2, t2s and mt (MT-on/off gradient echo) have a dark cord in bright CSF; t1 and dwi \
        (mean DWI) a bright cord. Without --contrast both are tried: the wrong polarity finds a \
        crescent of CSF or an irregular blob beside the cord, so the one whose outlines are convex and \
        cord-sized on most slices wins (then the inner of two nested outlines, then detection quality); \
        when neither is cord-like, up to two more detections per polarity look away from the first \
        ones. Detected correctly on the real test scans (t2, mt0, mt1, the T1w made from mt0, the mean \
        DWI of both DWI series).

        --hint-voxel I,J,K (voxel indices of the input) or --hint FILE (non-zero voxels; their mean \
        is used) makes the centerline pass within 3 mm of that point on its slice. --hint-slice K names \
        a slice where the cord is visible instead: K is the index along the input's voxel axis closest \
        to superior–inferior (the slice number of an axial acquisition; for a sagittal one the row \
        along S–I, e.g. the second index of an AIL image, as a viewer shows it). That whole slice is \
        searched for the most cord-like candidate (a significant detection score whose outline is \
        convex and cord-sized) and the centerline is tracked up and down from it. A slice outside the \
        image or without a cord-like candidate is an error naming the file and the slice.

        Fails with a message and exit code 1, writing nothing, when no cord is found or the cord's \
        outline reaches the edge of the image.
        """)

    @Argument(help: "Input image (NIfTI).") public var image: String
    @Argument(help: "Output binary cord mask (.nii.gz).") public var output: String
    @Option(help: "Image contrast: t2, t1, t2s, dwi or mt (sets the polarity).") public var contrast: SegmentationContrast?
    @Option(help: "Partial-volume output (default: OUT with _soft before the extension).") public var soft: String?
    @Option(name: .customLong("centerline"), help: "A centerline image (non-zero voxels, e.g. from SCT): skip detection.")
    public var centerline: String?
    @Option(help: "An image whose non-zero voxel(s) mark a point inside the cord.") public var hint: String?
    @Option(help: "A point inside the cord as voxel indices I,J,K of the input.") public var hintVoxel: String?
    @Option(help: "An axial slice where the cord is visible: index K along the input's voxel axis closest to S–I (see below).")
    public var hintSlice: Int?
    @Option(help: "Also write the centerline as a mask (one voxel per axial slice).") public var centerlineOut: String?

    public init() {}

    public func validate() throws {
        if let h = hintVoxel, Self.parsePoint(h) == nil { throw ValidationError("--hint-voxel takes I,J,K, e.g. 30,27,20") }
        if hintSlice != nil && (hint != nil || hintVoxel != nil) { throw ValidationError("give one hint: --hint-slice, --hint-voxel or --hint") }
    }
    static func parsePoint(_ text: String) -> SIMD3<Double>? {
        let v = text.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        return v.count == 3 ? SIMD3(v[0], v[1], v[2]) : nil
    }

    public func run() throws {
        do {
            let s = try SegmentationPipeline.segmentCord(image: image, output: output, softPath: soft, contrast: contrast,
                                                         hintPath: hint, hintVoxel: hintVoxel.flatMap(Self.parsePoint), hintSlice: hintSlice,
                                                         centerlinePath: centerline, centerlineOutput: centerlineOut)
            print("cord: \(s.voxels) voxels, \(formatFixed(s.volume, 1)) mm³ (partial volume), axial slices \(s.slices.lowerBound)–\(s.slices.upperBound - 1) (RPI), \(s.polarity == .darkCord ? "dark" : "bright") cord, \(formatFixed(s.seconds, 2)) s")
            print("  \(s.binaryPath)\n  \(s.softPath)" + (s.centerlinePath.map { "\n  \($0)" } ?? ""))
        } catch {
            writeStandardError("cordq seg cord: \(error)\n")
            throw ExitCode(1)
        }
    }
}

/// `cordq seg gm IMAGE CORD OUT`
public struct SegGMCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "gm",
        abstract: "Segment grey matter inside a cord segmentation on T2*w or MT images (atlas prior + EM), offline.",
        discussion: """
        Method (classical, no training data, no network): per axial slice the atlas's grey-matter \
        butterfly is placed inside the given cord by matching the cord's centre and second moments \
        (the in-plane step of PAM50 registration, De Leener et al. 2018, NeuroImage 165:170), with \
        in-plane partial volume. That prior weights a two-class Gaussian mixture (GM, WM) fitted by \
        EM inside the cord (spatial atlas priors as in Van Leemput et al. 1999, IEEE TMI 18:897), after \
        the prior is shifted in-plane by up to 1 mm where the mixture explains the slice clearly \
        better (likelihood-ratio test, χ²₂ 95 %, with the evidence counted per independent sample: \
        the log-likelihood gain is divided by the voxels per independent sample estimated from the \
        residuals' neighbour correlation); each voxel's intensity evidence is pooled over a Gaussian of --smoothing mm before it meets \
        the prior (shape regularisation). Grey matter is brighter than white matter on T2*w and on \
        MT-on/off gradient echo; a slice whose fitted contrast has the wrong sign keeps the prior. \
        The classical atlas-based family of the GM segmentation challenge (Prados et al. 2017, \
        NeuroImage 152:312; Asman et al. 2014, Med Image Anal 18:460; Dupont et al. 2017, \
        NeuroImage 150:358).

        Output: OUT (binary, GM fraction ≥ ½) and OUT with _soft (GM fraction 0…1 per voxel: \
        posterior × cord fraction). GM area per slice in mm²: `cordq seg morphometry CORD --gm \
        OUT_soft`. --levels (vertebral levels on the image grid, 1 = C1 …) picks the atlas slice \
        per level; without it the middle of C4 is used. --atlas takes a CordQ or PAM50 folder.
        """)
    @Argument(help: "Input image (NIfTI).") public var image: String
    @Argument(help: "Cord segmentation on the same grid (binary or soft).") public var cord: String
    @Argument(help: "Output binary grey-matter mask; the soft one gets _soft.") public var output: String
    @Option(help: "Image contrast: t2s or mt.") public var contrast: SegmentationContrast = .t2s
    @Option(help: "Atlas folder (CordQ or PAM50 layout); default: the project's atlas/CordQ.") public var atlas: String?
    @Option(help: "Vertebral level image on the same grid (1=C1 … 7=C7, 8=T1).") public var levels: String?
    @Option(help: "σ (mm) pooling the intensity evidence (shape regularisation); 0 = voxel by voxel.")
    public var smoothing: Double = GreyMatterOptions().evidenceSmoothing
    public init() {}
    public func validate() throws {
        if !smoothing.isFinite || smoothing < 0 || smoothing > 5 { throw ValidationError("--smoothing takes 0–5 mm") }
    }
    public func run() throws {
        do {
            var o = GreyMatterOptions(); o.evidenceSmoothing = smoothing
            let r = try SegmentationPipeline.segmentGreyMatter(image: image, cord: cord, output: output, contrast: contrast,
                                                               atlas: atlas, levels: levels, options: o)
            let cnr = r.slices.map { formatFixed($0.contrastToNoise, 2) }.joined(separator: " ")
            print("grey matter: \(r.voxels) voxels, \(formatFixed(r.gmVolume, 1)) mm³ (partial volume), prior from \(r.atlas) (\(r.priorSource.rawValue)), \(formatFixed(r.seconds, 2)) s")
            print("  GM−WM contrast-to-noise per slice: \(cnr)" + (r.slices.contains { !$0.usedImage } ? " (wrong-sign slices kept the prior)" : ""))
            print("  \(r.binary)\n  \(r.soft)")
        } catch {
            writeStandardError("cordq seg gm: \(error)\n")
            throw ExitCode(1)
        }
    }
}

/// `cordq seg morphometry SEG`
public struct SegMorphometryCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "morphometry",
        abstract: "Cord cross-sectional area, AP/RL diameters, eccentricity, solidity and orientation per slice or per level (TSV).",
        discussion: """
        Follows the Spinal Cord Toolbox's sct_process_segmentation so values compare with published \
        norms: the image is taken to RPI; per axial slice CSA = Σ segmentation value × pixel area \
        (partial volume counts) corrected for the cord's tilt; diameters are the axes of the ellipse \
        with the segmentation's second moments (upsampled ×5 and thresholded at ½), AP/RL assigned by \
        orientation; per level the mean over the level's slices. Any segmentation works (CordQ's, \
        SCT's, manual). Where CordQ differs: (1) tilt correction uses the exact cosine of the 3D angle \
        between centerline and slice normal and projects the shape along the centerline (SCT scales \
        the slice by cos(angle_AP)·cos(angle_RL); the two agree within 0.5% below 15°); (2) the \
        centerline is a local linear fit (σ 8 mm) of the slices' centres of mass, not a B-spline; \
        (3) solidity uses the convex hull of pixel corners, so an ideal ellipse gives ~0.99, not 1.
        Units: mm, mm², degrees. Slices are numbered in RPI order (inferior to superior).

        --gm FILE (a grey-matter fraction map on the same grid: `cordq seg gm`'s _soft output, or a \
        registered atlas GM map with --gm-source atlas) adds gm_csa_mm2 = Σ GM fraction × pixel area × \
        cos(tilt) and wm_csa_mm2 = csa_mm2 − gm_csa_mm2 per slice (per level: means), and gm_source.
        """)
    @Argument(help: "Cord segmentation (binary or soft, NIfTI).") public var segmentation: String
    @Option(help: "Vertebral level image on the same grid (1=C1 … 7=C7, 8=T1), e.g. a labelled segmentation.")
    public var levels: String?
    @Option(help: "Grey-matter fraction map on the same grid (adds gm_csa_mm2, wm_csa_mm2).") public var gm: String?
    @Option(help: "Where --gm comes from, written in gm_source: segmentation (default) or atlas.") public var gmSource = "segmentation"
    @Flag(help: "One row per axial slice (default).") public var perSlice = false
    @Flag(help: "One row per vertebral level (needs --levels).") public var perLevel = false
    @Option(name: .shortAndLong, help: "Write the table here (TSV) instead of printing it.") public var output: String?
    @Option(help: ArgumentHelp("Also write the table in sct_process_segmentation's CSV layout (MEAN(area), STD(area), …, SUM(length); Slice (I->S), VertLevel as numbers) for scripts written for SCT.", valueName: "file.csv"))
    public var sctCsv: String?
    public init() {}
    public func validate() throws {
        if perSlice && perLevel { throw ValidationError("choose --per-slice or --per-level") }
        if perLevel && levels == nil { throw ValidationError("--per-level needs --levels") }
        if !["segmentation", "atlas"].contains(gmSource) { throw ValidationError("--gm-source takes segmentation or atlas") }
    }
    public func run() throws {
        do {
            let t = try MorphometryTables.morphometry(segmentation: segmentation, levels: levels, perLevel: perLevel,
                                                      greyMatter: gm, greyMatterSource: gmSource, sctCSV: sctCsv)
            if let c = sctCsv { print("wrote \(c)") }
            if let o = output { try SegmentationPipeline.writeTable(t, to: o); print("wrote \(o)") } else { print(t.text, terminator: "") }
        } catch {
            writeStandardError("cordq seg morphometry: \(error)\n")
            throw ExitCode(1)
        }
    }
}

/// `cordq seg compression SEG --levels L --level C5`
public struct SegCompressionCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "compression",
        abstract: "MSCC, compression ratio and CSA relative to healthy norms at one vertebral level (TSV).",
        discussion: """
        MSCC = (1 − d_i/((d_a + d_b)/2))·100 (Fehlings et al. 1999, Spine 24:605) with d_i the smallest \
        AP diameter (or CSA, --measure area) among the level's slices and d_a, d_b the means over the \
        middle third of the levels above and below. Compression ratio = AP/RL at that slice. CSA ratio \
        and z-score against the healthy mean of the same level from spine-generic (203 adults; \
        Cohen-Adad et al. 2021, Sci Data 8:219), by sex with --sex.
        """)
    @Argument(help: "Cord segmentation (binary or soft).") public var segmentation: String
    @Option(help: "Vertebral level image on the same grid (1=C1 … 8=T1).") public var levels: String
    @Option(help: "Compressed level, e.g. C5.") public var level: String
    @Option(help: "ap (AP diameter, default) or area.") public var measure: CompressionMeasure = .apDiameter
    @Option(help: "M or F for sex-specific healthy CSA.") public var sex: String?
    @Option(name: .shortAndLong, help: "Write the table here (TSV) instead of printing it.") public var output: String?
    public init() {}
    public func validate() throws {
        if let s = sex, Sex(rawValue: s.uppercased()) == nil { throw ValidationError("--sex takes M or F") }
    }
    public func run() throws {
        do {
            let t = try MorphometryTables.compression(segmentation: segmentation, levels: levels, level: level, measure: measure,
                                                      sex: sex.flatMap { Sex(rawValue: $0.uppercased()) })
            if let o = output { try SegmentationPipeline.writeTable(t, to: o); print("wrote \(o)") } else { print(t.text, terminator: "") }
        } catch {
            writeStandardError("cordq seg compression: \(error)\n")
            throw ExitCode(1)
        }
    }
}
