// The version recorded in every output's provenance.

/// CordQ's version (semantic versioning).
public enum CordQVersion {
    public static let string = "0.1.0"
}
