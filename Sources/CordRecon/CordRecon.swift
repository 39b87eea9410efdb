// CordRecon: k-space → image: EPI ghost correction, RESOLVE segment combination, partial Fourier, coil combination, ZoomIt reduced FOV, SMS unaliasing.
// The module's content arrives with the issue that builds it (see DESIGN.md); until then it
// only names itself so the package layout and import boundaries are in place.

/// Identity of the CordRecon module.
public enum CordReconModule {
    /// What this module is responsible for.
    public static let responsibility = "k-space → image: EPI ghost correction, RESOLVE segment combination, partial Fourier, coil combination, ZoomIt reduced FOV, SMS unaliasing"
}
