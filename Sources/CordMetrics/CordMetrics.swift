// CordMetrics: metric extraction per slice/level/tract, per-level tables.
// The module's content arrives with the issue that builds it (see DESIGN.md); until then it
// only names itself so the package layout and import boundaries are in place.

/// Identity of the CordMetrics module.
public enum CordMetricsModule {
    /// What this module is responsible for.
    public static let responsibility = "metric extraction per slice/level/tract, per-level tables"
}
