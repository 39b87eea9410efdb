// CordNormative: normative database, normative models, z-scores.
// The module's content arrives with the issue that builds it (see DESIGN.md); until then it
// only names itself so the package layout and import boundaries are in place.

/// Identity of the CordNormative module.
public enum CordNormativeModule {
    /// What this module is responsible for.
    public static let responsibility = "normative database, normative models, z-scores"
}
