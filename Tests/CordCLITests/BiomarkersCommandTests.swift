import ArgumentParser
import Foundation
import Testing
import CordTestSupport
@testable import CordBiomarkers
@testable import CordCLI
@testable import CordCore
@testable import CordIO
@testable import CordMetrics
@testable import CordNormative
@testable import CordPipeline

@Suite struct BiomarkersCommandTests {
    static let levels = ["C1", "C2", "C3", "C4", "C5", "C6", "C7"]
    static let csaMeans = [74.0, 71.7, 72.5, 77.3, 76.4, 69.1, 56.8], apMeans = [8.3, 7.8, 7.6, 7.6, 7.5, 7.1, 6.6]

    /// Rows of one subject: CSA and AP/RL per level scaled by `scale`, times `factor` at `compressed`.
    static func rows(_ id: String, scale: Double, compressed: String? = nil, factor: Double = 1) -> [[String]] {
        var out: [[String]] = []
        for (i, l) in levels.enumerated() {
            let f = l == compressed ? factor : 1
            out.append([id, "", l, "cord", "csa_mm2", String(csaMeans[i] * scale * f), "morphometry", "10"])
            out.append([id, "", l, "cord", "diameter_ap_mm", String(apMeans[i] * scale.squareRoot() * f), "morphometry", "10"])
            out.append([id, "", l, "cord", "diameter_rl_mm", String(11.5 * scale.squareRoot()), "morphometry", "10"])
        }
        return out
    }

    @Test func compressedPatientsAreFoundAndAFailingOneIsReported() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        // 24 healthy volunteers (sizes ±10%), no demographics: mean/SD models.
        var healthy = TSVTable(columns: LongFormTable.columns)
        for i in 0..<24 { for r in Self.rows("sub-h\(i)", scale: 0.9 + 0.2 * Double(i) / 23) { healthy.append(r) } }
        try healthy.write(to: dir + "/healthy.tsv")
        var build = try CordQCommand.parseAsRoot(["db", "build", dir + "/n.sqlite", "--tables", dir + "/healthy.tsv"])
        try build.run()
        // Patients: C5 compressed to 60% (AP too), a healthy one, C4 given in the list, one without rows.
        var pt = TSVTable(columns: LongFormTable.columns)
        for r in Self.rows("sub-p1", scale: 1, compressed: "C5", factor: 0.6) + Self.rows("sub-p2", scale: 1.02)
            + Self.rows("sub-p3", scale: 1, compressed: "C3", factor: 0.7) { pt.append(r) }
        try TextFile.makeDirectory(dir + "/patients")
        try pt.write(to: dir + "/patients/tables.tsv")
        try TextFile.write("participant_id\tcompressed_level\tmJOA\nsub-p1\tn/a\t12\nsub-p2\t\t18\nsub-p3\tC4\t15\nsub-p9\t\t11\n", to: dir + "/list.tsv")
        var cmd = try CordQCommand.parseAsRoot(["biomarkers", "--db", dir + "/n.sqlite", "--patients", dir + "/list.tsv",
                                                "--tables", dir + "/patients", dir + "/out.tsv"])
        #expect(throws: ExitCode.self) { try cmd.run() }            // one patient failed → exit 1, outputs still written
        let out = try TSVTable.read(dir + "/out.tsv").records
        #expect(out.map { $0["status"] } == ["ok", "ok", "ok", "failed"])
        #expect(out[3]["error"]?.contains("no rows") == true && out[3]["mJOA"] == "11")
        let p1 = out[0], p2 = out[1], p3 = out[2]
        #expect(p1["compressed_level"] == "C5" && p1["level_source"] == "lowest csa_mm2 z" && p1["mJOA"] == "12")
        // Hand computation of the z-score: healthy C5 CSA = 76.4·s, s = 0.9 + 0.2·i/23 (i = 0…23).
        let healthyC5 = (0..<24).map { 76.4 * (0.9 + 0.2 * Double($0) / 23) }
        let mean = healthyC5.reduce(0, +) / 24
        let sd = (healthyC5.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 23).squareRoot()
        let z = (76.4 * 0.6 - mean) / sd
        #expect(abs((Double(p1["csa_z"] ?? "") ?? 0) - z) < 0.01)      // printed with 2 decimals
        #expect((Double(p1["csa_z"] ?? "") ?? 0) < -2)
        #expect(abs((Double(p1["csa_ratio"] ?? "") ?? 0) - 76.4 * 0.6 / mean) < 1e-4)
        // MSCC on AP: 1 − 0.6·7.5/((7.6 + 7.1)/2), in %.
        #expect(abs((Double(p1["mscc_percent"] ?? "") ?? 0) - (1 - 0.6 * 7.5 / 7.35) * 100) < 0.01)
        #expect(abs((Double(p1["compression_ratio_ap_rl"] ?? "") ?? 0) - 0.6 * 7.5 / 11.5) < 1e-4)
        #expect(abs(Double(p2["csa_z"] ?? "") ?? 9) < 2)               // healthy: within ±2
        #expect(p3["compressed_level"] == "C4" && p3["level_source"] == "given")
        let values = try TSVTable.read(dir + "/out_values.tsv").records.filter { $0["participant_id"] == "sub-p1" }
        #expect(Set(values.map { $0["position"] ?? "" }) == ["above", "at", "below"])
        #expect(values.filter { $0["position"] == "above" }.allSatisfy { $0["level"] == "C4" })
        let c5csa = try #require(values.first { $0["level"] == "C5" && $0["metric"] == "csa_mm2" })
        #expect(abs((Double(c5csa["ratio_to_c2"] ?? "") ?? 0) - 76.4 * 0.6 / 71.7) < 1e-4)
    }

    /// Rows of one subject with a focal narrowing: the level mean barely moves (−8 %), the
    /// smallest slice a lot (−40 %); `csa_min_mm2` is 3 % below the mean in healthy levels.
    static func focalRows(_ id: String, scale: Double, narrowed: String? = nil) -> [[String]] {
        var out = rows(id, scale: scale, compressed: narrowed, factor: 0.92)
        for (i, l) in levels.enumerated() {
            out.append([id, "", l, "cord", "csa_min_mm2", String(csaMeans[i] * scale * (l == narrowed ? 0.6 : 0.97)), "morphometry", "10"])
        }
        return out
    }

    @Test func focalCompressionIsFoundFromTheSmallestSliceAndAReRunResumes() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var healthy = TSVTable(columns: LongFormTable.columns)
        for i in 0..<24 { for r in Self.focalRows("sub-h\(i)", scale: 0.9 + 0.2 * Double(i) / 23) { healthy.append(r) } }
        try healthy.write(to: dir + "/healthy.tsv")
        _ = try NormativePipeline.build(database: dir + "/n.sqlite", tables: [dir + "/healthy.tsv"], participants: nil)
        // p1: C6 narrowed on a large cord (scale 1.08): its level mean is unremarkable, its
        // smallest slice is not. p2: healthy and small. p3: its table has no csa_min_mm2.
        try TextFile.makeDirectory(dir + "/tables")
        func write(_ id: String, _ rows: [[String]]) throws {
            var t = TSVTable(columns: LongFormTable.columns)
            for r in rows { t.append(r) }
            try t.write(to: "\(dir)/tables/\(id).tsv")
        }
        try write("sub-p1", Self.focalRows("sub-p1", scale: 1.08, narrowed: "C6"))
        try write("sub-p2", Self.focalRows("sub-p2", scale: 0.95))
        try write("sub-p3", Self.rows("sub-p3", scale: 1, compressed: "C4", factor: 0.6))
        try TextFile.write("participant_id\tmJOA\nsub-p1\t13\nsub-p2\t18\nsub-p3\t12\nsub-p9\t10\n", to: dir + "/list.tsv")
        func run() throws -> BiomarkersPipeline.Outcome {
            try BiomarkersPipeline.run(database: dir + "/n.sqlite", patients: dir + "/list.tsv", tables: [dir + "/tables"], output: dir + "/out.tsv")
        }
        let first = try run()
        #expect(first.succeeded == ["sub-p1", "sub-p2", "sub-p3"] && first.reused.isEmpty && first.failed.map(\.subject) == ["sub-p9"])
        let out = try TSVTable.read(dir + "/out.tsv").records
        let p1 = out[0], p3 = out[2]
        #expect(p1["compressed_level"] == "C6" && p1["level_source"] == "lowest csa_min_mm2 z")
        // Hand computation: healthy csa_min at C6 = 0.97·69.1·s over the 24 scales.
        let scales = (0..<24).map { 0.9 + 0.2 * Double($0) / 23 }
        func z(_ v: Double, _ healthy: [Double]) -> Double {
            let m = healthy.reduce(0, +) / 24
            return (v - m) / (healthy.reduce(0) { $0 + ($1 - m) * ($1 - m) } / 23).squareRoot()
        }
        let zMin = z(69.1 * 1.08 * 0.6, scales.map { 69.1 * 0.97 * $0 }), zMean = z(69.1 * 1.08 * 0.92, scales.map { 69.1 * $0 })
        #expect(abs((Double(p1["csa_min_z"] ?? "") ?? 0) - zMin) < 0.01)   // printed with 2 decimals
        #expect(abs((Double(p1["csa_z"] ?? "") ?? 0) - zMean) < 0.01)
        #expect(zMin < -2 && zMean > -2)             // the level mean alone would miss it
        #expect(abs((Double(p1["csa_min_ratio"] ?? "") ?? 0) - 1.08 * 0.6 / 0.97 / (scales.reduce(0, +) / 24)) < 1e-4)
        #expect(p3["compressed_level"] == "C4" && p3["level_source"] == "lowest csa_mm2 z" && p3["csa_min_z"] == "n/a")   // empty cells are written n/a
        #expect(out.allSatisfy { ($0["input_sha256"] ?? "").count == 64 })

        // Re-run: the three ok patients are copied, the failed one is retried.
        let before = try TextFile.read(dir + "/out.tsv"), beforeValues = try TextFile.read(dir + "/out_values.tsv")
        let second = try run()
        #expect(second.reused == ["sub-p1", "sub-p2", "sub-p3"] && second.failed.map(\.subject) == ["sub-p9"])
        let again = try TextFile.read(dir + "/out.tsv"), againValues = try TextFile.read(dir + "/out_values.tsv")
        #expect(again == before && againValues == beforeValues)
        // A changed table, a changed list entry and a newly available table are recomputed.
        try write("sub-p2", Self.focalRows("sub-p2", scale: 0.95, narrowed: "C5"))
        try write("sub-p9", Self.focalRows("sub-p9", scale: 1))
        try TextFile.write("participant_id\tcompressed_level\tmJOA\nsub-p1\t\t14\nsub-p2\t\t18\nsub-p3\tC5\t12\nsub-p9\t\t10\n", to: dir + "/list.tsv")
        let third = try run()
        #expect(third.reused == ["sub-p1"] && third.failed.isEmpty && third.succeeded.count == 4)
        let after = try TSVTable.read(dir + "/out.tsv").records
        #expect(after[0]["mJOA"] == "14")            // clinical columns come from the current list
        #expect(after[1]["compressed_level"] == "C5" && after[2]["level_source"] == "given" && after[3]["status"] == "ok")
        // A new database (other models) invalidates everything.
        _ = try NormativePipeline.build(database: dir + "/n.sqlite", tables: [dir + "/tables/sub-p2.tsv"], participants: nil)
        #expect(try run().reused.isEmpty)
    }
}
