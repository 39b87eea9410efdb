import Foundation

/// Test scaffolding: temporary folders and the shared real-data folder.
public enum Support {
    /// Package root, found from this file's location.
    public static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.path + "/Package.swift") { return url.path }
        }
        return FileManager.default.currentDirectoryPath
    }()
    /// `../shared/data` beside the package (the project's real test scans), or `CORDQ_SHARED_DATA`.
    public static let sharedData: String = ProcessInfo.processInfo.environment["CORDQ_SHARED_DATA"]
        ?? URL(fileURLWithPath: packageRoot + "/../shared/data").standardizedFileURL.path
    public static var hasSharedData: Bool { FileManager.default.fileExists(atPath: sharedData + "/README.md") }

    public static func temporaryDirectory() throws -> String {
        let p = NSTemporaryDirectory() + "cordq-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }
    public static func remove(_ p: String) { try? FileManager.default.removeItem(atPath: p) }
    public static func files(in dir: String) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() }
}
