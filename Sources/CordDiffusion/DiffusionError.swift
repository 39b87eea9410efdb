// Errors of the diffusion models, worded for the person running the tool.
import CordCore

/// Why a diffusion model cannot be fitted to a series. Each message says what is present
/// and what would be needed.
public enum DiffusionError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Every volume has b = 0 (or below the shell tolerance).
    case noDiffusionWeighting(volumes: Int)
    /// No b = 0 volume, which a model needs for S₀.
    case noReferenceVolume(model: String)
    /// The method needs encodings the series does not have.
    case missingEncodings(method: String, found: String, needed: String)
    /// Too few measurements for the number of unknowns.
    case tooFewMeasurements(model: String, unknowns: Int, found: Int, hint: String)
    /// The signal matrix and the gradient table disagree.
    case countMismatch(what: String, expected: Int, found: Int)

    public var description: String {
        switch self {
        case let .noDiffusionWeighting(n):
            return "all \(n) volumes have b = 0 s/mm² (or below 50 s/mm²): there is no diffusion weighting to fit; check the bval file"
        case let .noReferenceVolume(model):
            return "\(model) needs at least one b = 0 volume (for S₀); the series has none"
        case let .missingEncodings(method, found, needed):
            return "\(method) cannot be fitted to this series: it has \(found), but \(method) needs \(needed)"
        case let .tooFewMeasurements(model, unknowns, found, hint):
            return "\(model) has \(unknowns) unknowns but the series gives \(found) independent measurements\(hint.isEmpty ? "" : "; \(hint)")"
        case let .countMismatch(what, expected, found):
            return "\(what): expected \(expected), found \(found)"
        }
    }
}
