import ArgumentParser
import Foundation
import Testing
import CordTestSupport
@testable import CordCLI
@testable import CordCore
@testable import CordIO
@testable import CordMetrics
@testable import CordNormative
@testable import CordPipeline

/// A value several threads update under a lock.
final class Locked<T>: @unchecked Sendable {
    private var stored: T
    private let lock = NSLock()
    init(_ v: T) { stored = v }
    func update(_ body: (inout T) -> Void) { lock.lock(); body(&stored); lock.unlock() }
    var value: T { lock.lock(); defer { lock.unlock() }; return stored }
}

/// The issue's must-show: a phantom cohort (20 healthy volunteers with natural variation, 5
/// patients with 30–60 % AP compressions at C4–C6) goes through `cordq process`,
/// `db build --bids` and `biomarkers`. Every patient's compressed level is found and its smallest-slice CSA has
/// z < −2 there; five healthy hold-outs (another seed, not in the database) stay within ±2.
@Suite struct CohortEndToEndTests {
    @Test func compressedPatientsStandOutAndHealthyHoldOutsDoNot() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let cohort = dir + "/cohort", holdout = dir + "/holdout"
        var make = try CordQCommand.parseAsRoot(["phantom", "cohort", cohort, "--healthy", "20", "--compressed", "5", "--seed", "1"])
        try make.run()
        var makeHoldout = try CordQCommand.parseAsRoot(["phantom", "cohort", holdout, "--healthy", "5", "--compressed", "0",
                                                        "--seed", "2", "--id-prefix", "ho"])
        try makeHoldout.run()
        let participants = try TSVTable.read(cohort + "/participants.tsv").records
        #expect(participants.count == 25 && participants.filter { $0["group"] == "patient" }.count == 5)

        // The database: `db build --bids` runs `cordq process` on the 20 healthy volunteers
        // (two at a time) and stores them; the patients are skipped.
        let db = dir + "/norms.sqlite"
        var build = try CordQCommand.parseAsRoot(["db", "build", db, "--bids", cohort])
        try build.run()
        let stored = try NormativeDatabase(path: db, readOnly: true)
        #expect(try stored.subjects().map(\.participant.id) == participants.filter { $0["group"] == "healthy" }.compactMap { $0["participant_id"] })
        #expect(try stored.subjects().allSatisfy { $0.participant.sex != nil && $0.participant.height != nil && $0.participant.pathology == "healthy" })
        let c5 = try #require(try stored.models(metric: "csa_mm2").first { $0.key.level == "C5" })
        print("cohort database C5 CSA: \(formatFixed(c5.mean, 2)) ± \(formatFixed(c5.sd, 2)) mm² (n \(c5.n)), model \(c5.fit?.covariates ?? [])")

        // Patients and hold-outs: `cordq process` each into its derivatives folder, two at a time.
        let holdouts = try TSVTable.read(holdout + "/participants.tsv").records
        let jobs: [(root: String, subject: String)] = participants.filter { $0["group"] == "patient" }.map { (cohort, $0["participant_id"] ?? "") }
            + holdouts.map { (holdout, $0["participant_id"] ?? "") }
        try TextFile.makeDirectory(holdout + "/derivatives/cordq")
        let failures = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            for job in jobs.enumerated() where job.offset % 2 == worker {
                let (root, id) = job.element
                do {
                    var process = try CordQCommand.parseAsRoot(["process", "\(root)/\(id)", "\(root)/derivatives/cordq/\(id)"])
                    try process.run()
                } catch { failures.update { $0.append("\(id): \(error)") } }
            }
        }
        #expect(failures.value.isEmpty, "\(failures.value)")

        // Patients and hold-outs in one list, with their demographics.
        var list = TSVTable(columns: ["participant_id", "sex", "age", "height_cm"])
        for p in participants.filter({ $0["group"] == "patient" }) + holdouts {
            list.append(["participant_id", "sex", "age", "height_cm"].map { p[$0] ?? "" })
        }
        try list.write(to: dir + "/list.tsv")
        var biomarkers = try CordQCommand.parseAsRoot(["biomarkers", "--db", db, "--patients", dir + "/list.tsv",
                                                       "--tables", cohort + "/derivatives/cordq", "--tables", holdout + "/derivatives/cordq",
                                                       dir + "/out.tsv"])
        try biomarkers.run()
        let out = Dictionary(uniqueKeysWithValues: try TSVTable.read(dir + "/out.tsv").records.map { ($0["participant_id"] ?? "", $0) })
        let truth = try TSVTable.read(cohort + "/derivatives/truth/compressions.tsv").records
        #expect(truth.count == 5)
        for t in truth {
            let id = t["participant_id"] ?? "", r = try #require(out[id])
            let zMin = Double(r["csa_min_z"] ?? "") ?? .nan, z = Double(r["csa_z"] ?? "") ?? .nan
            print("\(id): truth \(t["compressed_level"] ?? "") severity \(t["severity"] ?? ""); found \(r["compressed_level"] ?? "") (\(r["level_source"] ?? "")), csa_min z \(formatFixed(zMin, 2)), csa z \(formatFixed(z, 2)), MSCC \(r["mscc_percent"] ?? "")%")
            #expect(r["status"] == "ok")
            #expect(r["compressed_level"] == t["compressed_level"])
            #expect(r["level_source"] == "lowest csa_min_mm2 z")
            #expect(zMin < -2)                       // the issue's threshold
            #expect(zMin < z)                        // the level mean dilutes a focal compression
            // MSCC with d_i at the level's narrowest slice (3 mm slices) and level-mean references:
            // within 8 points of the truth (the slice misses the narrowest point by up to 1.5 mm).
            if let m = Double(r["mscc_percent"] ?? ""), let tm = Double(t["mscc_percent"] ?? "") {
                #expect(abs(m - tm) < 8, "\(id): MSCC \(m) vs truth \(tm)")
            } else { Issue.record("\(id): MSCC missing (\(r["mscc_percent"] ?? "—"), truth \(t["mscc_percent"] ?? "—"))") }
        }
        for h in holdouts {
            let id = h["participant_id"] ?? "", r = try #require(out[id])
            let zMin = Double(r["csa_min_z"] ?? "") ?? .nan, z = Double(r["csa_z"] ?? "") ?? .nan
            print("\(id) (healthy hold-out): lowest at \(r["compressed_level"] ?? ""), csa_min z \(formatFixed(zMin, 2)), csa z \(formatFixed(z, 2))")
            #expect(r["status"] == "ok")
            #expect(abs(zMin) < 2 && abs(z) < 2)     // within ±2 even at its own lowest level
        }
    }
}
