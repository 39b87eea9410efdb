import Foundation
import Testing
import CordTestSupport
@testable import CordBiomarkers
@testable import CordCore
@testable import CordIO
@testable import CordMetrics
@testable import CordNormative
@testable import CordPipeline
@testable import CordProtocol

/// Issue #23: seeded mutants of small NIfTI images, TSV tables and protocol cards, each read
/// the way the commands read them, in this process. Every mutant must end in success or in
/// an error that names its file; a crash would take the test runner down with it.
@Suite struct FuzzTests {
    struct Tally: CustomStringConvertible {
        var mutants = 0, successes = 0, namedErrors = 0
        var unnamed: [String] = []
        mutating func run(_ path: String, _ what: String, _ body: () throws -> Void) {
            mutants += 1
            do { try body(); successes += 1 } catch {
                if "\(error)".contains(path) { namedErrors += 1 } else { unnamed.append("\(what): \(error)") }
            }
        }
        var description: String {
            "\(mutants) mutants: \(successes) successes, \(namedErrors) clean errors naming the file, \(unnamed.count) other errors, 0 crashes"
        }
    }

    struct Mutator {
        var rng: SeededRNG
        mutating func int(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        mutating func pick<T>(_ a: [T]) -> T { a[int(a.count)] }
    }

    static let hostileFloats: [Float] = [.nan, .infinity, -.infinity, 1e30, -1e30, 1e20, 0, -1, 1e-30, 3.4e38, 2.5, 1e10, 352.5, 65536]
    static let hostileShorts: [Int16] = [0, -1, 1, 2, 3, 4, 5, 7, 8, 16, 64, 255, 256, 1024, 32767, -32768]
    /// pixdim, vox_offset, scl_slope/inter, slice_duration, toffset, quaternion, srow.
    static let floatOffsets = Array(stride(from: 76, to: 108, by: 4)) + [108, 112, 116, 132, 136, 140, 144]
        + Array(stride(from: 256, to: 328, by: 4))
    /// dim, intent_code, datatype, bitpix, slice_start, qform_code, sform_code.
    static let shortOffsets = Array(stride(from: 40, to: 56, by: 2)) + [68, 70, 72, 74, 252, 254]

    static func niftiMutant(_ base: [UInt8], _ m: inout Mutator) -> [UInt8] {
        var b = base
        func one(_ kind: Int) {
            switch kind {
            case 0: Hostile.setFloat(&b, m.pick(floatOffsets), m.pick(hostileFloats))
            case 1: Hostile.setInt16(&b, m.pick(shortOffsets), m.pick(hostileShorts))
            case 2: for _ in 0...m.int(8) { b[m.int(352)] = UInt8(m.int(256)) }
            case 3: Hostile.setFloat(&b, 352 + 4 * m.int((b.count - 352) / 4), m.pick(hostileFloats))
            default: b.removeLast(m.int(b.count))
            }
        }
        let kind = m.int(6)
        if kind == 5 { for _ in 0..<3 { one(m.int(4)) } } else { one(kind) }
        return b
    }

    @Test func niftiMutantsNeverCrashAndFailOnlyWithTheirName() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let base = try Hostile.image(frames: 3)
        var m = Mutator(rng: SeededRNG(seed: 23))
        var tally = Tally()
        for k in 0..<240 {
            var bytes = Self.niftiMutant(base, &m)
            var path = dir + "/m\(k).nii"
            if k % 4 == 3 {   // a quarter gzip-compressed, some of those with damaged compressed bytes
                bytes = Gzip.compress(bytes) ?? bytes
                if k % 8 == 7 && bytes.count > 40 { bytes[18 + m.int(bytes.count - 18)] ^= 0x5A }
                path += ".gz"
            }
            try Hostile.write(bytes, path)
            tally.run(path, "m\(k)") {
                _ = try ImageInfo.describe(path)
                _ = try NIfTIFile.read(path)
                _ = try NIfTIFile.read(path, as: Double.self)
            }
        }
        print("NIfTI fuzz: \(tally)")
        #expect(tally.unnamed.isEmpty, "\(tally.unnamed.prefix(5))")
        #expect(tally.successes > 20 && tally.namedErrors > 20, "\(tally)")   // both paths exercised
    }

    static let hostileCells = ["nan", "NaN", "1e30", "-1e30", "inf", "-inf", "", "n/a", "1e308", "-0", "0x10", "7,5", " 81.2 ",
                               "\u{FEFF}81", "999999999999999999999", "C3\r", "\"quoted\"", String(repeating: "9", count: 400), "-1", "2.5"]

    static func tableMutant(_ lines: [String], _ m: inout Mutator) -> String {
        var rows = lines.map { $0.components(separatedBy: "\t") }
        for _ in 0...m.int(3) {
            switch m.int(7) {
            case 0, 1, 2:
                let r = m.int(rows.count), c = m.int(rows[r].count)
                rows[r][c] = m.pick(hostileCells)
            case 3: if rows.count > 1 { rows.remove(at: 1 + m.int(rows.count - 1)) }
            case 4: let r = m.int(rows.count); rows[r].append("extra")
            case 5: let r = m.int(rows.count); rows[r] = [rows[r].joined(separator: " ")]
            default: rows.append(rows[m.int(rows.count)])
            }
        }
        var text = rows.map { $0.joined(separator: "\t") }.joined(separator: m.int(3) == 0 ? "\r\n" : "\n") + "\n"
        if m.int(5) == 0 { text = "\u{FEFF}" + text }
        return text
    }

    @Test func tableMutantsNeverCrashAndFailOnlyWithTheirName() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let longForm = ["participant_id\tsession\tlevel\tregion\tmetric\tvalue\tmethod\tcount",
                        "sub-01\tn/a\tC2\tcord\tcsa_mm2\t74.2\tmorphometry\t12",
                        "sub-01\tn/a\tC3\tcord\tfa\t0.71\twa\t9",
                        "sub-02\tn/a\tC3\twhite matter\tmtr_pu\t48.5\twa\t9",
                        "sub-02\tn/a\tC4\tcord\tdiameter_ap_mm\t7.6\tmorphometry\t10"]
        let patients = ["participant_id\tsex\tage\theight_cm\tweight_kg\tcompressed_level\tmJOA",
                        "sub-01\tM\t54\t176\t80\tC5\t14", "sub-02\tF\t61\t162\t58\tn/a\t16", "sub-03\tf\t47\tn/a\t70\tC4\tn/a"]
        var m = Mutator(rng: SeededRNG(seed: 2023))
        var tally = Tally()
        for k in 0..<160 {
            let isList = k % 2 == 1
            let path = dir + "/t\(k).tsv"
            try Self.tableMutant(isList ? patients : longForm, &m).write(toFile: path, atomically: true, encoding: .utf8)
            tally.run(path, "t\(k)") {
                let t = try TSVTable.read(path)
                if isList {
                    _ = try PatientEntry.parseList(columns: t.columns, rows: t.rows, source: path)
                } else {
                    let table = try LongFormTable.parse(columns: t.columns, rows: t.rows, source: path)
                    #expect(table.rows.allSatisfy { $0.value.isFinite }, "t\(k): a non-finite value was read")
                    _ = try Participant.parseTable(columns: t.columns, rows: t.rows, source: path)
                }
            }
        }
        print("TSV fuzz: \(tally)")
        #expect(tally.unnamed.isEmpty, "\(tally.unnamed.prefix(5))")
        #expect(tally.successes > 10 && tally.namedErrors > 10, "\(tally)")
    }

    static let hostileYAML = ["1e308", "-1", ".nan", ".inf", "abc", "99999999999999999999", "0", "-0.0", "[]", "{}", "~", "\"3\"", "1e-300"]

    static func cardMutant(_ lines: [String], _ m: inout Mutator) -> String {
        var l = lines
        for _ in 0...m.int(2) {
            let i = m.int(l.count)
            switch m.int(6) {
            case 0, 1:
                // Replace the first number on a line by a hostile value.
                if let r = l[i].range(of: #"-?[0-9]+(\.[0-9]+)?"#, options: .regularExpression) { l[i].replaceSubrange(r, with: m.pick(hostileYAML)) }
            case 2: l.remove(at: i)
            case 3: l.insert(l[i], at: i)
            case 4: l[i] = "  " + l[i]
            default: l[i] = String(l[i].prefix(m.int(max(l[i].count, 1))))
            }
        }
        return l.joined(separator: "\n") + "\n"
    }

    @Test func protocolCardMutantsNeverCrashAndFailOnlyWithTheirName() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let card = try TextFile.read(Support.packageRoot + "/protocols/clinical-minimal.yaml").components(separatedBy: "\n")
        var m = Mutator(rng: SeededRNG(seed: 1923))
        var tally = Tally()
        for k in 0..<120 {
            // A card's file is named after its `name` field: one folder per mutant.
            try FileManager.default.createDirectory(atPath: dir + "/c\(k)", withIntermediateDirectories: true)
            let path = dir + "/c\(k)/clinical-minimal.yaml"
            try Self.cardMutant(card, &m).write(toFile: path, atomically: true, encoding: .utf8)
            tally.run(path, "c\(k)") { _ = try ProtocolCard.load(path) }
        }
        print("Card fuzz: \(tally)")
        #expect(tally.unnamed.isEmpty, "\(tally.unnamed.prefix(5))")
        #expect(tally.successes > 5 && tally.namedErrors > 10, "\(tally)")
    }
}
