// Displacement fields on disk as ITK/ANTs and the Spinal Cord Toolbox write them.
import CordCore

extension NIfTIFile {
    /// NIfTI intent code of a vector per voxel (NIFTI_INTENT_VECTOR), which ITK writes for
    /// displacement fields.
    public static let vectorIntent = 1007

    /// Writes a displacement field (3 frames: x, y, z displacement in mm, ITK's LPS space)
    /// as ITK/ANTs and SCT do (`warp_template2anat.nii.gz`): a 5D float32 image of dims
    /// (nx, ny, nz, 1, 3) with intent code 1007 (vector), readable by
    /// `antsApplyTransforms` and `sct_apply_transfo`. Atomic.
    public static func writeDisplacementField(_ field: Volume<Float>, to path: String) throws {
        guard field.frames == 3 else {
            throw CordIOError.writeFailed(path: path, reason: "a displacement field has 3 components per voxel, this volume has \(field.frames) frames")
        }
        guard path.hasSuffix(".nii") || path.hasSuffix(".nii.gz") else {
            throw CordIOError.writeFailed(path: path, reason: "NIfTI output names end in .nii or .nii.gz")
        }
        let g = field.grid
        var h = NIfTIHeader(grid: g, frames: 1, datatype: .float32)
        h.dims = [g.nx, g.ny, g.nz, 1, 3]
        h.pixdim = [g.spacing.x, g.spacing.y, g.spacing.z, 1]
        h.intentCode = vectorIntent
        h.intentName = "ITK LPS mm"
        var bytes = try encodeHeader(h, path: path)
        bytes.append(contentsOf: [0, 0, 0, 0])
        encode(field.data, datatype: .float32, slope: 1, inter: 0, into: &bytes)
        try FileAccess.writeAtomically(bytes, to: path)
    }

    /// Reads a displacement field written by `writeDisplacementField`, ANTs or SCT (5D with
    /// 3 components, or 4D with 3 frames).
    public static func readDisplacementField(_ path: String) throws -> Volume<Float> {
        let (v, _) = try read(path)
        guard v.frames == 3 else {
            throw CordIOError.invalidContent(path: path, reason: "is not a displacement field: it holds \(v.frames) value(s) per voxel, a warp holds 3 (x, y, z in mm)")
        }
        return v
    }
}
