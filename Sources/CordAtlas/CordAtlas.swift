// CordAtlas: atlas model (template contrasts, cord/GM/WM masks, tract probability maps, levels, discs); builds the project atlas; loads PAM50.
// The module's content arrives with the issue that builds it (see DESIGN.md); until then it
// only names itself so the package layout and import boundaries are in place.

/// Identity of the CordAtlas module.
public enum CordAtlasModule {
    /// What this module is responsible for.
    public static let responsibility = "atlas model (template contrasts, cord/GM/WM masks, tract probability maps, levels, discs); builds the project atlas; loads PAM50"
}
