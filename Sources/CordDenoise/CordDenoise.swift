// CordDenoise: MP-PCA denoising, Rician/non-central-χ bias correction, Gibbs unringing.
// The module's content arrives with the issue that builds it (see DESIGN.md); until then it
// only names itself so the package layout and import boundaries are in place.

/// Identity of the CordDenoise module.
public enum CordDenoiseModule {
    /// What this module is responsible for.
    public static let responsibility = "MP-PCA denoising, Rician/non-central-χ bias correction, Gibbs unringing"
}
