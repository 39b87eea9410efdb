// The file side of protocol cards: reading a card file and checking a subject folder.
// CordProtocol decodes and checks in memory; CordIO reads the files.
import CordIO
import CordProtocol

extension ProtocolCard {
    /// Reads and validates a card file. Errors name the file, line, column and key.
    public static func load(_ path: String) throws -> ProtocolCard {
        try decode(try TextFile.read(path), path: path)
    }
}

extension ProtocolCheck {
    /// Reads the subject folder (images, or sidecars when images are absent) and checks it;
    /// the report names the folder as given.
    public static func run(subject path: String, card: ProtocolCard) throws -> ProtocolReport {
        var report = run(inventory: try SubjectInventory.read(path), card: card)
        report.subjectPath = path
        return report
    }
}
