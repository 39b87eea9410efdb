// CordBiomarkers: myelopathy biomarkers for one subject and for patient lists.
// The module's content arrives with the issue that builds it (see DESIGN.md); until then it
// only names itself so the package layout and import boundaries are in place.

/// Identity of the CordBiomarkers module.
public enum CordBiomarkersModule {
    /// What this module is responsible for.
    public static let responsibility = "myelopathy biomarkers for one subject and for patient lists"
}
