// `cordq recon --sequence resolve` (or auto-detected from idx.segment > 0): the RESOLVE chain of
// CordRecon and its per-shot quality record (OUT_resolve.json beside the image).
import CordCore
import CordRecon
import Foundation

enum ResolveRecon {
    static func run(_ ds: RawDataset, options: EPIReconOptions, request r: ReconRequest) throws -> (EPIReconResult, ResolveReconReport) {
        guard r.gfactorOutput == nil else {
            throw CordError.invalidValue(what: r.input, detail: "--gfactor is not available for RESOLVE (no in-plane acceleration in this chain)")
        }
        var o = ResolveReconOptions()
        o.base = options
        o.navigator = r.resolveNavigator
        o.selectShots = r.resolveSelectShots
        return try ResolveReconstruction.reconstruct(ds, options: o)
    }

    /// The quality record as JSON (segments, navigator smoothing, per-shot phase error and rejections).
    static func qualityJSON(_ rep: ResolveReconReport) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try e.encode(rep), as: UTF8.self) + "\n"
    }
}
