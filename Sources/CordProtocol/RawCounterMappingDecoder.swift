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
        let allowed: Set<String> = ["vendor", "sequences", "counters", "flags", "skip"]
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
        return RawCounterMapping(vendor: try scalar("vendor"), sequences: list("sequences"), counters: counters,
                                 flags: flags, skipFlags: list("skip"), source: path)
    }
}
