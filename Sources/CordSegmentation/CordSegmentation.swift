// CordSegmentation: centerline, cord/GM segmentation, shape and compression metrics.
// The module's content arrives with the issue that builds it (see DESIGN.md); until then it
// only names itself so the package layout and import boundaries are in place.

/// Identity of the CordSegmentation module.
public enum CordSegmentationModule {
    /// What this module is responsible for.
    public static let responsibility = "centerline, cord/GM segmentation, shape and compression metrics"
}
