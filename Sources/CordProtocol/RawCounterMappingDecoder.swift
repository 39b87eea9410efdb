// Decoding a vendor counter mapping (`protocols/raw/*.yaml`, docs/raw-data.md) into CordCore's
// `RawCounterMapping`: the only place the twix → ISMRMRD counter and flag names are written.
import CordCore
import Yams

public enum RawCounterMappingDecoder {
    /// Decodes `text` (the YAML of `path`); errors name the file and the key.
    public static func decode(_ text: String, path: String) throws -> RawCounterMapping {
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch {
            throw CordIOError.invalidContent(path: path, reason: "not valid YAML (\(error))")
        }
        guard let root = node?.mapping else {
            throw CordIOError.invalidContent(path: path, reason: "a counter mapping is a YAML mapping with vendor, counters, flags and skip")
        }
        func scalar(_ key: String) throws -> String {
            guard let s = root[key]?.scalar?.string, !s.isEmpty else {
                throw CordIOError.missingField(path: path, key: key, expected: "a name")
            }
            return s
        }
        func list(_ key: String) -> [String] { root[key]?.sequence?.compactMap { $0.scalar?.string } ?? [] }
        let allowed: Set<String> = ["vendor", "sequences", "counters", "flags", "skip", "diffusion"]
        for (k, _) in root {
            if let name = k.scalar?.string, !allowed.contains(name) {
                throw CordIOError.invalidContent(path: path, reason: "unknown key \"\(name)\" (allowed: \(allowed.sorted().joined(separator: ", ")))")
            }
        }
        guard let countersNode = root["counters"]?.mapping else {
            throw CordIOError.missingField(path: path, key: "counters", expected: "a mapping of vendor counter → ISMRMRD counter or null")
        }
        var counters: [String: String?] = [:]
        for (k, v) in countersNode {
            guard let name = k.scalar?.string, let s = v.scalar else {
                throw CordIOError.invalidContent(path: path, reason: "counters: each entry is `VendorName: ismrmrd_counter` or `VendorName: null`")
            }
            let target = s.string
            if target == "null" || target == "~" || target.isEmpty { counters[name] = .some(nil); continue }
            guard RawEncodingIndex.counterNames.contains(target) else {
                throw CordIOError.invalidContent(path: path, reason: "counters.\(name): \"\(target)\" is not an ISMRMRD counter (\(RawEncodingIndex.counterNames.joined(separator: ", ")))")
            }
            counters[name] = .some(target)
        }
        guard let flagsNode = root["flags"]?.mapping else {
            throw CordIOError.missingField(path: path, key: "flags", expected: "a mapping of vendor flag → ISMRMRD flag")
        }
        var flags: [String: String] = [:]
        for (k, v) in flagsNode {
            guard let name = k.scalar?.string, let target = v.scalar?.string else {
                throw CordIOError.invalidContent(path: path, reason: "flags: each entry is `VENDORFLAG: ACQ_…`")
            }
            guard RawAcquisitionFlags.flag(named: target) != nil else {
                throw CordIOError.invalidContent(path: path, reason: "flags.\(name): \"\(target)\" is not an ISMRMRD acquisition flag CordQ knows")
            }
            flags[name] = target
        }
        var diffusion: RawDiffusionMapping?
        if let d = root["diffusion"] {
            diffusion = try decodeDiffusion(d, path: path, counters: counters)
        }
        return RawCounterMapping(vendor: try scalar("vendor"), sequences: list("sequences"), counters: counters,
                                 flags: flags, skipFlags: list("skip"), source: path, diffusion: diffusion)
    }

    /// The `diffusion:` block (docs/raw-data.md, "Siemens twix: diffusion").
    static func decodeDiffusion(_ node: Node, path: String, counters: [String: String?]) throws -> RawDiffusionMapping {
        guard let m = node.mapping else {
            throw CordIOError.invalidContent(path: path, reason: "diffusion: a mapping with volume_counter, ice_bmatrix, ice_nominal_b, ice_offset, ice_frame, free_coordinate_system, magnet_to_patient")
        }
        let allowed: Set<String> = ["volume_counter", "ice_bmatrix", "ice_nominal_b", "ice_offset", "ice_frame",
                                    "free_coordinate_system", "magnet_to_patient"]
        for (k, _) in m {
            if let name = k.scalar?.string, !allowed.contains(name) {
                throw CordIOError.invalidContent(path: path, reason: "diffusion: unknown key \"\(name)\" (allowed: \(allowed.sorted().joined(separator: ", ")))")
            }
        }
        guard let vc = m["volume_counter"]?.scalar?.string, counters[vc] != nil else {
            throw CordIOError.invalidContent(path: path, reason: "diffusion.volume_counter must name one of the vendor counters listed under counters")
        }
        func int(_ s: String?) -> Int? { s.flatMap { Int($0) } }
        let ice = m["ice_bmatrix"]?.sequence?.compactMap { int($0.scalar?.string) } ?? []
        guard ice.isEmpty || (ice.count == 6 && ice.allSatisfy { $0 >= 0 && $0 < 24 }) else {
            throw CordIOError.invalidContent(path: path, reason: "diffusion.ice_bmatrix lists six ICE parameter indices (0…23) for Bxx, Byy, Bzz, Bxy, Bxz, Byz")
        }
        let nominal = int(m["ice_nominal_b"]?.scalar?.string)
        if let n = nominal, n < 0 || n >= 24 {
            throw CordIOError.invalidContent(path: path, reason: "diffusion.ice_nominal_b is an ICE parameter index 0…23")
        }
        let offset = (m["ice_offset"]?.scalar?.string).flatMap { Double($0) } ?? 0
        let frame = m["ice_frame"]?.scalar?.string ?? "xyz"
        guard frame == "xyz" || frame == "prs" else {
            throw CordIOError.invalidContent(path: path, reason: "diffusion.ice_frame is xyz or prs")
        }
        var systems: [Int: String] = [:]
        for (k, v) in m["free_coordinate_system"]?.mapping ?? [:] {
            guard let key = int(k.scalar?.string), let name = v.scalar?.string, name == "xyz" || name == "prs" else {
                throw CordIOError.invalidContent(path: path, reason: "diffusion.free_coordinate_system: each entry is `ulCoordinateSystem value: xyz|prs`")
            }
            systems[key] = name
        }
        var toPatient: [String: SIMD3<Double>] = [:]
        for (k, v) in m["magnet_to_patient"]?.mapping ?? [:] {
            let signs = v.sequence?.compactMap { ($0.scalar?.string).flatMap { Double($0) } } ?? []
            guard let name = k.scalar?.string, signs.count == 3, signs.allSatisfy({ abs($0) == 1 }) else {
                throw CordIOError.invalidContent(path: path, reason: "diffusion.magnet_to_patient: each entry is `HFS: [±1, ±1, ±1]`")
            }
            toPatient[name] = SIMD3(signs[0], signs[1], signs[2])
        }
        return RawDiffusionMapping(volumeCounter: vc, iceBMatrix: ice, iceNominalB: nominal, iceOffset: offset, iceFrame: frame,
                                   freeCoordinateSystems: systems, magnetToPatient: toPatient)
    }
}
