// CordMyelin: MTR, MTsat, T1 (variable flip angle), B1 correction.
// The module's content arrives with the issue that builds it (see DESIGN.md); until then it
// only names itself so the package layout and import boundaries are in place.

/// Identity of the CordMyelin module.
public enum CordMyelinModule {
    /// What this module is responsible for.
    public static let responsibility = "MTR, MTsat, T1 (variable flip angle), B1 correction"
}
