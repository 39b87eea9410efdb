// CordRegistration: vertebral labelling, straightening, template registration, warp fields.
// The module's content arrives with the issue that builds it (see DESIGN.md); until then it
// only names itself so the package layout and import boundaries are in place.

/// Identity of the CordRegistration module.
public enum CordRegistrationModule {
    /// What this module is responsible for.
    public static let responsibility = "vertebral labelling, straightening, template registration, warp fields"
}
