// Checks every pipeline function makes on its inputs and outputs.
import CordCore
import CordIO

/// Shared input handling: masks read onto a reference grid, outputs that must not replace inputs.
enum PipelineInputs {
    /// A mask (non-zero above ½) on `grid`, checked for grid and emptiness.
    static func readMask(_ path: String, on grid: Grid, reference: String) throws -> Mask {
        let (m, _) = try NIfTIFile.read(path)
        try grid.requireCompatible(with: m.grid, reference, path)
        let mask = Mask.threshold(m, above: 0.5)
        try mask.requireNonEmpty(path)
        return mask
    }

    /// Throws when `output` is one of `inputs` (after resolving links and `.`/`..`).
    static func refuseOverwrite(_ output: String, inputs: [String]) throws {
        let o = TextFile.canonicalPath(output)
        if inputs.contains(where: { TextFile.canonicalPath($0) == o }) { throw CordIOError.wouldOverwriteInput(path: output) }
    }
}

extension NIfTIHeader {
    /// The header of one 3D volume of this series (for σ, rank and parameter maps).
    var singleVolume: NIfTIHeader {
        var h = self; h.dims = Array(dims.prefix(3)); h.pixdim = Array(pixdim.prefix(3))
        return h
    }
}
