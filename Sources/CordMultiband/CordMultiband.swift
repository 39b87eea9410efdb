// CordMultiband: slice groups from SliceTiming / MB factor, slice-wise motion correction, outlier slices, slice-group intensity correction.
// The module's content arrives with the issue that builds it (see DESIGN.md); until then it
// only names itself so the package layout and import boundaries are in place.

/// Identity of the CordMultiband module.
public enum CordMultibandModule {
    /// What this module is responsible for.
    public static let responsibility = "slice groups from SliceTiming / MB factor, slice-wise motion correction, outlier slices, slice-group intensity correction"
}
