// CordDiffusion: DTI and the μFA family (QTI, powder-average gamma, SMT, DDE).
// The module's content arrives with the issue that builds it (see DESIGN.md); until then it
// only names itself so the package layout and import boundaries are in place.

/// Identity of the CordDiffusion module.
public enum CordDiffusionModule {
    /// What this module is responsible for.
    public static let responsibility = "DTI and the μFA family (QTI, powder-average gamma, SMT, DDE)"
}
