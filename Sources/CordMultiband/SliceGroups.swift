// Which slices a multiband (simultaneous multi-slice) acquisition excited together.
import CordCore

/// Errors of multiband correction, worded for the person running it.
public enum MultibandError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The series is not a 4D diffusion series.
    case notASeries(name: String, frames: Int)
    /// `SliceTiming` does not describe this image or contradicts the multiband factor.
    case inconsistentTiming(name: String, detail: String)
    /// The slices are not axial along voxel axis k (the slice-group model needs the slice axis).
    case sliceAxis(name: String, detail: String)

    public var description: String {
        switch self {
        case let .notASeries(name, frames):
            return "\(name) has \(frames) volume\(frames == 1 ? "" : "s"): multiband correction needs a 4D diffusion series (b = 0 and diffusion-weighted volumes)"
        case let .inconsistentTiming(name, detail): return "\(name): \(detail)"
        case let .sliceAxis(name, detail): return "\(name): \(detail)"
        }
    }
}

/// The slice groups of a multiband acquisition: slices excited together, in acquisition order.
///
/// Read from BIDS `SliceTiming` (slices with equal times form one group; Setsompop et al. 2012,
/// MRM 67:1210) and checked against `MultibandAccelerationFactor`; from the factor alone the
/// standard SMS layout is assumed (slice k with k + nz/MB, …; groups in slice order).
/// Slice indices run along voxel axis k of the image as stored (BIDS `SliceEncodingDirection` k).
public struct SliceGroups: Sendable, Equatable {
    /// Multiband factor: slices per group (1: single-band).
    public let factor: Int
    /// Slice indices (file voxel axis k) of each group, groups in acquisition order.
    public let groups: [[Int]]
    /// How the groups were found (for the provenance).
    public let source: String
    /// A warning to pass on (MB 1 assumed for lack of timing), nil otherwise.
    public let warning: String?

    public var count: Int { groups.count }
    public var sliceCount: Int { groups.reduce(0) { $0 + $1.count } }
    /// The group of each slice.
    public var groupOfSlice: [Int] {
        var g = [Int](repeating: 0, count: sliceCount)
        for (i, s) in groups.enumerated() { for k in s where k < g.count { g[k] = i } }
        return g
    }

    public init(factor: Int, groups: [[Int]], source: String, warning: String? = nil) {
        self.factor = factor; self.groups = groups; self.source = source; self.warning = warning
    }

    /// Single-band: every slice its own group, in slice order.
    public static func singleBand(slices: Int, source: String, warning: String? = nil) -> SliceGroups {
        SliceGroups(factor: 1, groups: (0..<slices).map { [$0] }, source: source, warning: warning)
    }

    /// Groups of the standard SMS layout for factor `mb`: slice k with k + nz/MB, k + 2·nz/MB, ….
    public static func standard(factor mb: Int, slices nz: Int, name: String) throws -> SliceGroups {
        guard mb >= 1 else { throw MultibandError.inconsistentTiming(name: name, detail: "multiband factor \(mb) must be at least 1") }
        if mb == 1 { return singleBand(slices: nz, source: "multiband factor 1 (single-band), slices in slice order") }
        guard nz % mb == 0 else {
            throw MultibandError.inconsistentTiming(name: name, detail: "multiband factor \(mb) does not divide the \(nz) slices into equal groups")
        }
        let n = nz / mb
        return SliceGroups(factor: mb, groups: (0..<n).map { g in (0..<mb).map { g + $0 * n } },
                           source: "multiband factor \(mb), standard layout (slice k with k + \(n)·m), groups in slice order (no SliceTiming)")
    }

    /// Groups from `SliceTiming` (seconds, one per slice), checked against `factor` when given.
    public static func fromTiming(_ timing: [Double], factor: Int?, slices nz: Int, name: String) throws -> SliceGroups {
        guard timing.count == nz else {
            throw MultibandError.inconsistentTiming(name: name, detail: "SliceTiming lists \(timing.count) times but the image has \(nz) slices")
        }
        var byTime: [Int: [Int]] = [:]
        for (k, t) in timing.enumerated() { byTime[Int((t * 1e4).rounded()), default: []].append(k) }
        let ordered = byTime.keys.sorted().map { byTime[$0] ?? [] }
        let sizes = Set(ordered.map(\.count))
        guard sizes.count == 1, let size = sizes.first else {
            throw MultibandError.inconsistentTiming(name: name, detail: "SliceTiming groups slices unevenly (\(ordered.map { String($0.count) }.joined(separator: ", ")) slices per time): not a multiband pattern")
        }
        if let f = factor, f != size {
            throw MultibandError.inconsistentTiming(name: name, detail: "MultibandAccelerationFactor is \(f) but SliceTiming has \(size) slice\(size == 1 ? "" : "s") per acquisition time")
        }
        return SliceGroups(factor: size, groups: ordered,
                           source: "SliceTiming (\(ordered.count) acquisition times, \(size) slice\(size == 1 ? "" : "s") each)"
                               + (factor.map { ", agreeing with MultibandAccelerationFactor \($0)" } ?? ""))
    }

    /// The groups of a series: `forced` (the command's `--slice-groups MB`) when given, else the
    /// sidecar's `SliceTiming` / `MultibandAccelerationFactor`; without either, single-band with
    /// a warning. A forced factor that contradicts the sidecar is an error.
    public static func resolve(sliceTiming: [Double]?, multibandFactor: Int?, forced: Int?, slices nz: Int, name: String) throws -> SliceGroups {
        if let t = sliceTiming, !t.isEmpty {
            let g = try fromTiming(t, factor: multibandFactor, slices: nz, name: name)
            if let f = forced, f != g.factor {
                throw MultibandError.inconsistentTiming(name: name, detail: "--slice-groups \(f) contradicts SliceTiming, which has \(g.factor) slice\(g.factor == 1 ? "" : "s") per acquisition time")
            }
            return g
        }
        if let f = forced {
            if let m = multibandFactor, m != f {
                throw MultibandError.inconsistentTiming(name: name, detail: "--slice-groups \(f) contradicts MultibandAccelerationFactor \(m)")
            }
            return try standard(factor: f, slices: nz, name: name)
        }
        if let m = multibandFactor { return try standard(factor: m, slices: nz, name: name) }
        return singleBand(slices: nz, source: "no SliceTiming or MultibandAccelerationFactor: single-band assumed, slices in slice order",
                          warning: "\(name) has no SliceTiming or MultibandAccelerationFactor: single-band (MB 1) assumed; give --slice-groups MB if the series is multiband")
    }
}
