// `cordq phantom kspace OUTDIR --sequence resolve`: a simulated RESOLVE diffusion series written
// as ISMRMRD (docs/raw-data.md) with its truth.
import CordCore
import CordIO
import CordPhantom
import Foundation

public enum ResolvePhantomExport {
    /// Writes OUTDIR/resolve.h5, OUTDIR/truth_combined.nii.gz (|ρ|·√(SᴴΨ⁻¹S) per slice and
    /// volume), OUTDIR/truth_fa.nii.gz, OUTDIR/truth_md.nii.gz (µm²/ms), OUTDIR/truth_cord.nii.gz
    /// (white + grey matter) and OUTDIR/truth_shots.json (the corrupted shot counters); all or nothing.
    public static func write(_ s: ResolveSimulationSettings, to dir: String) throws -> [String] {
        let sim = try ResolveKSpaceSimulator.simulate(s)
        let files = OutputFiles()
        var out: [String] = []
        let h5 = dir + "/resolve.h5"
        try ISMRMRDFile.write(sim.raw, to: try files.stage(h5))
        out.append(h5)
        let pix = s.fieldOfView / Double(s.nx)
        let grid = Grid(nx: s.nx, ny: s.ny, nz: s.slices, spacing: SIMD3(pix, s.fieldOfView / Double(s.ny), s.sliceThickness + s.sliceGap))
        let n2 = s.nx * s.ny, volumes = sim.encodings.count
        var truth = [Float](repeating: 0, count: n2 * s.slices * volumes)
        for v in 0..<volumes { for k in 0..<s.slices {
            let t = sim.truth[v * s.slices + k]
            for i in 0..<n2 { truth[(v * s.slices + k) * n2 + i] = Float(t[i]) }
        } }
        func perSlice(_ a: [Double]) -> [Float] { (0..<s.slices).flatMap { _ in a.map(Float.init) } }
        let maps: [(String, Volume<Float>)] = [
            ("truth_combined", Volume<Float>(grid: grid, frames: volumes, exactly: truth)),
            ("truth_fa", Volume<Float>(grid: grid, frames: 1, exactly: perSlice(sim.fa))),
            ("truth_md", Volume<Float>(grid: grid, frames: 1, exactly: perSlice(sim.md))),
            ("truth_cord", Volume<Float>(grid: grid, frames: 1, exactly: perSlice(sim.cordMask.map { $0 ? 1 : 0 }))),
        ]
        for (name, v) in maps {
            let p = dir + "/" + name + ".nii.gz"
            try NIfTIFile.write(v, to: try files.stage(p), datatype: .float32, description: "cordq phantom kspace resolve truth")
            out.append(p)
        }
        let shots = dir + "/truth_shots.json"
        try TextFile.write("{\n  \"corruptedShotCounters\": [\(sim.corruptedShotCounters.map(String.init).joined(separator: ", "))]\n}\n", to: try files.stage(shots))
        out.append(shots)
        try files.commit()
        return out
    }
}
