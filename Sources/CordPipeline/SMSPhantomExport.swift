// `cordq phantom kspace --multiband MB OUTDIR`: a simulated SMS EPI acquisition (ISMRMRD) with
// per-slice truth (CordPhantom's SMSKSpaceSimulator).
import CordCore
import CordIO
import CordPhantom
import Foundation

public enum SMSPhantomExport {
    /// Writes OUTDIR/sms.h5 (ISMRMRD, docs/raw-data.md "SMS"), OUTDIR/truth_combined.nii.gz
    /// (|ρ_s|·√(S_sᴴΨ⁻¹S_s) per slice, whitened units) and OUTDIR/truth_object.nii.gz (|ρ_s|);
    /// all at once or not at all.
    public static func write(_ s: SMSSimulationSettings, to dir: String) throws -> [String] {
        let sim = try SMSKSpaceSimulator.simulate(s)
        let grid = Grid(nx: s.nx, ny: s.ny, nz: s.slices, spacing: SIMD3(s.fieldOfView / Double(s.nx), s.fieldOfView / Double(s.ny), s.sliceSpacing))
        return try KSpacePhantomExport.writeRawWithTruth(sim.raw, name: "sms.h5", truth: [("truth_combined", sim.combinedTruth), ("truth_object", sim.objectMagnitude)],
                                                         grid: grid, to: dir, description: "cordq phantom kspace SMS truth")
    }
}
