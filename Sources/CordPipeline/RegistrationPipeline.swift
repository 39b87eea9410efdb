// `cordq reg …`: vertebral levels from labels, template registration and warping, with
// files read and written through CordIO.
import CordAtlas
import CordCore
import CordIO
import CordRegistration
import Foundation

/// What `RegistrationPipeline.toTemplate` wrote.
public struct TemplateRegistrationSummary: Sendable {
    public var levelMapPath: String, forwardWarpPath: String, inverseWarpPath: String, atlasFolder: String
    /// Labels used: level value and world z (mm).
    public var labels: [(level: Int, z: Double)]
    /// Dice of the warped template cord (≥ 0.5) and the subject segmentation, over the axial
    /// slices holding segmentation.
    public var dice: Double
    /// Template contrast that drove the image-driven refinement (nil when off or dropped).
    public var imageContrast: String?
    /// The image-refinement guard's comparison (nil when the option was off).
    public var refinementCheck: TemplateRegistration.RefinementCheck?
    /// Wall time of the registration itself (s), without file I/O.
    public var seconds: Double
}

/// File-level entry points of the registration commands.
public enum RegistrationPipeline {
    /// Reads labels and segmentation (same grid), returns the labels.
    static func readLabels(_ labelsPath: String, segmentation: Mask, kind: LabelKind) throws -> VertebralLabels {
        let (labels, _) = try NIfTIFile.readLabels(labelsPath)
        return try VertebralLabelling.fromLabels(labels, kind: kind, segmentation: segmentation)
    }

    static func readMask(_ path: String) throws -> (Mask, NIfTIHeader) {
        let (v, h) = try NIfTIFile.read(path)
        return (v.map { $0 > 0.5 ? 1 : 0 }, h)
    }

    /// Level map (1 = C1 … 9 = T2) inside the segmentation from user labels, with PAM50's
    /// level proportions between and beyond the labels; written as int16 on the
    /// segmentation's header. Returns the levels present.
    public static func levelMap(labels labelsPath: String, segmentation segPath: String, kind: LabelKind,
                                output: String) throws -> [Int] {
        let (seg, header) = try readMask(segPath)
        let labels = try readLabels(labelsPath, segmentation: seg, kind: kind)
        let map = try labels.levelMap(on: seg.grid, segmentation: seg)
        try NIfTIFile.write(map.volume, to: output, datatype: .int16, like: header, description: "cordq vertebral levels")
        return map.presentLabels.map(Int.init)
    }

    /// Registers the atlas in `atlasDir` (PAM50 or CordQ layout; `levels` limits the slices
    /// read, `regions` the tract maps) to the subject and writes into `outputDir`:
    /// `levels.nii.gz`, `warp_template2anat.nii.gz` (on the subject grid),
    /// `warp_anat2template.nii.gz` (on the cropped atlas grid) and `atlas/` (the atlas folder
    /// with every map on the subject grid). Both warps are ITK/ANTs LPS displacement fields.
    /// `radialRefinement` adds the radial in-plane stretch after the per-slice affine
    /// (`TemplateRegistrationOptions.radialRefinement`); `imageRefinement` the image-driven
    /// in-plane demons step after both (`TemplateRegistrationOptions.imageRefinement`: the
    /// atlas's T1w/T2w templates are read for it).
    public static func toTemplate(image imagePath: String, segmentation segPath: String, labels labelsPath: String,
                                  kind: LabelKind, atlas atlasDir: String, levels: [Int]? = Array(1...9),
                                  regions: [String]? = nil, radialRefinement: Bool = false, imageRefinement: Bool = false,
                                  imageRefinementMaximumDiceLoss: Double? = 0.01,
                                  outputDir: String) throws -> TemplateRegistrationSummary {
        let (image, header) = try NIfTIFile.read(imagePath)
        let (seg, _) = try readMask(segPath)
        try image.grid.requireCompatible(with: seg.grid, imagePath, segPath)
        let labels = try readLabels(labelsPath, segmentation: seg, kind: kind)
        var options = AtlasLoadOptions(); options.levels = levels
        let atlas = try AtlasPipeline.load(atlasDir, regions: regions, options: options).atlas
        let start = ContinuousClock.now
        var registration = TemplateRegistrationOptions(); registration.radialRefinement = radialRefinement
        registration.imageRefinement = imageRefinement
        registration.imageRefinementMaximumDiceLoss = imageRefinementMaximumDiceLoss
        let reg = try TemplateRegistration.register(subject: image.frame(0), segmentation: seg, labels: labels, atlas: atlas,
                                                    options: registration)
        let warped = try reg.atlasInSubjectSpace()
        let elapsed = ContinuousClock.now - start
        let levelMap = try labels.levelMap(on: seg.grid, segmentation: seg, reference: reg.reference)
        try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
        let paths = (levels: outputDir + "/levels.nii.gz", fwd: outputDir + "/warp_template2anat.nii.gz",
                     inv: outputDir + "/warp_anat2template.nii.gz", atlas: outputDir + "/atlas")
        try NIfTIFile.write(levelMap.volume, to: paths.levels, datatype: .int16, like: header, description: "cordq vertebral levels")
        try NIfTIFile.writeDisplacementField(reg.forwardWarp, to: paths.fwd)
        try NIfTIFile.writeDisplacementField(reg.inverseWarp, to: paths.inv)
        try AtlasFolder.write(warped.folderContents(title: "\(atlasDir) in the space of \(imagePath)"), to: paths.atlas)
        return TemplateRegistrationSummary(levelMapPath: paths.levels, forwardWarpPath: paths.fwd, inverseWarpPath: paths.inv,
                                           atlasFolder: paths.atlas, labels: labels.points.map { ($0.level, $0.world.z) }, dice: reg.dice,
                                           imageContrast: reg.imageContrast, refinementCheck: reg.refinementCheck,
                                           seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
    }

    /// Warps `imagePath` through the displacement field `warpPath` onto `referencePath`'s
    /// grid (which must be the warp's) and writes `output` on the reference's header:
    /// trilinear, or nearest neighbour for label images.
    public static func apply(image imagePath: String, warp warpPath: String, reference referencePath: String,
                             output: String, nearest: Bool) throws {
        let field = try NIfTIFile.readDisplacementField(warpPath)
        let refHeader = try NIfTIFile.readHeader(referencePath)
        try refHeader.grid.requireCompatible(with: field.grid, referencePath, warpPath)
        if nearest {
            let (labels, _) = try NIfTIFile.readLabels(imagePath)
            try NIfTIFile.write(try DisplacementField.apply(field, to: labels), to: output, datatype: .int32, like: refHeader,
                                description: "cordq reg apply (nearest)")
        } else {
            let (image, _) = try NIfTIFile.read(imagePath)
            try NIfTIFile.write(try DisplacementField.apply(field, to: image), to: output, datatype: .float32, like: refHeader,
                                description: "cordq reg apply")
        }
    }
}
