// Where a subject's rows came from, stored as JSON beside them.
import CordCore
import Foundation

/// Provenance of one ingest: the command, the CordQ version, the time (ISO 8601, UTC) and
/// every source file with its SHA-256. Stored as JSON text in the database.
public struct Provenance: Sendable, Equatable, Codable {
    public struct Source: Sendable, Equatable, Codable {
        public var path: String
        public var sha256: String
        public init(path: String, sha256: String) { self.path = path; self.sha256 = sha256 }
    }
    public var command: String
    public var cordqVersion: String
    public var created: String
    public var sources: [Source]

    public init(command: String, sources: [Source], created: Date = Date()) {
        self.command = command; self.sources = sources
        cordqVersion = CordQVersion.string
        self.created = ISO8601DateFormatter().string(from: created)
    }
    private enum CodingKeys: String, CodingKey { case command, cordqVersion = "cordq_version", created, sources }

    /// Compact JSON with sorted keys.
    public var json: String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? e.encode(self)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
    }
    /// Decodes stored JSON; nil when it is not a CordQ provenance record.
    public static func decode(_ json: String) -> Provenance? {
        try? JSONDecoder().decode(Provenance.self, from: Data(json.utf8))
    }
}
