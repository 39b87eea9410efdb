import CordTestSupport
import Foundation
import Testing
@testable import CordPipeline

/// The shipped cards, the README example, and malformed cards (errors with file, line, key).
@Suite struct CardDecodingTests {
    static let shipped = ["cervical-qmri", "clinical-minimal", "spine-generic", "spine-generic-siemens", "spine-generic-ge", "spine-generic-philips"]
    static let folder = Support.packageRoot + "/protocols"

    @Test(arguments: shipped)
    func eachShippedCardParsesAndValidates(name: String) throws {
        let card = try ProtocolCard.load(Self.folder + "/\(name).yaml")
        #expect(card.name == name && card.format == 1)
        #expect(!card.series.isEmpty && card.series.contains { $0.required })
        #expect(card.warnings.isEmpty)   // no shipped card admits multiband >= 4 on diffusion
        for m in card.maps { #expect(m.inputs.values.allSatisfy { card.series($0) != nil }) }
        #expect(!card.summary.isEmpty)
    }

    @Test func theLibraryListsEveryShippedCardAsValid() throws {
        let (text, allValid) = try ProtocolLibrary(folders: [Self.folder]).list()
        #expect(allValid)
        for n in Self.shipped { #expect(text.contains("  \(n) ")) }
    }

    @Test func shippedValuesDecodeAsWritten() throws {
        let sg = try ProtocolCard.load(Self.folder + "/spine-generic-siemens.yaml")
        let dwi = try #require(sg.series("dwi"))
        #expect(dwi.tr == Spec(0.64, tolerance: 0.01) && dwi.slices == Spec(15) && dwi.multiband == Spec(1))
        #expect(dwi.diffusion?.shells.map(\.b) == [Spec(0, tolerance: 20), Spec(800, tolerance: 20)])
        #expect(dwi.diffusion?.shells.last?.volumes == Spec(60) && dwi.diffusion?.shells.last?.directions == Spec(30))
        #expect(sg.series("mt-on")?.entities == ["flip": "1", "mt": "on"] && sg.series("mt-on")?.mtPulse == true)
        let q = try ProtocolCard.load(Self.folder + "/cervical-qmri.yaml")
        #expect(q.series("dwi-ste")?.diffusion?.encoding == .spherical)
        #expect(q.maps.first { $0.kind == .mufa }?.method == .gamma)
        #expect(q.timeBudgetMinutes == 15 && q.series.compactMap(\.duration).map(\.value).reduce(0, +) == 890)
        #expect(q.series("dwi-resolve")?.processing.multibandCorrection == true)
    }

    @Test func theReadmeExampleIsAValidCard() throws {
        let readme = try String(contentsOfFile: Self.folder + "/README.md", encoding: .utf8)
        let section = try #require(readme.range(of: "## 11."))
        let body = readme[section.upperBound...]
        let start = try #require(body.range(of: "```yaml\n")), end = try #require(body.range(of: "\n```", range: start.upperBound..<body.endIndex))
        let card = try ProtocolCard.decode(String(body[start.upperBound..<end.lowerBound]), path: "example.yaml")
        #expect(card.series.map(\.id) == ["t2w", "dwi"] && card.maps.count == 2)
    }

    @Test func toleranceConvention() {
        let s = Spec(0.035, tolerance: 0.0007)                // accepted: 0.0343 … 0.0357 s
        #expect(s.admits(0.0357) && s.admits(0.0343) && s.admits(0.035))
        #expect(!s.admits(0.03571) && !s.admits(0.03429))
        #expect(Spec(9).admits(9.0000005) && !Spec(9).admits(9.00002))   // round-off slack 1e-6·max(1, 9) = 9e-6
        #expect("\(s)" == "0.035 ± 0.0007" && "\(Spec(9))" == "9")
    }

    @Test func distortionCorrectionKeyDecodes() throws {
        for (value, expected) in [("reverse-pe", ProcessingSpec.DistortionCorrection.reversePE), ("anat", .anat), ("none", .none)] {
            let text = Malformed.base.joined(separator: "\n").replacingOccurrences(of: "processing: {denoise: mppca, motion_correction: slicewise}",
                                                                                   with: "processing: {denoise: mppca, distortion_correction: \(value)}")
            let card = try ProtocolCard.decode(text, path: "example.yaml")
            #expect(card.series("dwi")?.processing.distortionCorrection == expected, "\(value)")
        }
        #expect(try ProtocolCard.decode(Malformed.base.joined(separator: "\n"), path: "example.yaml").series("dwi")?.processing.distortionCorrection == nil)
    }

    @Test func aDWISeriesAdmittingMultibandFourWarns() throws {
        let text = Malformed.base.joined(separator: "\n").replacingOccurrences(of: "multiband: {value: 2, tolerance: 1}", with: "multiband: {value: 3, tolerance: 1}")
        let card = try ProtocolCard.decode(text, path: "example.yaml")
        #expect(card.warnings.count == 1 && card.warnings[0].contains("series 'dwi' admits multiband 4"))
    }

    // MARK: - Malformed cards

    @Test(arguments: Malformed.cases)
    func malformedCardsNameFileLineAndKey(_ c: Malformed) throws {
        var lines = Malformed.base
        c.edit(&lines)
        do {
            _ = try ProtocolCard.decode(lines.joined(separator: "\n"), path: c.path)
            Issue.record("\(c.name): no error")
        } catch let e as ProtocolCardError {
            #expect(e.line == c.line, "\(c.name): \(e)")
            if let col = c.column { #expect(e.column == col, "\(c.name): \(e)") }
            #expect(e.key == c.key, "\(c.name): \(e)")
            #expect(e.description.hasPrefix("\(c.path):\(e.line):\(e.column): "), "\(e)")
            #expect(e.message.contains(c.fragment), "\(c.name): \(e)")
        }
    }
}

/// A valid base card (README §11) and single edits that break it.
struct Malformed: Sendable, CustomTestStringConvertible {
    static let base = [
        "format: 1",                                                       // 1
        "name: example",                                                   // 2
        "title: Example card",                                             // 3
        "series:",                                                         // 4
        "  - id: t2w",                                                     // 5
        "    datatype: anat",                                              // 6
        "    suffix: T2w",                                                 // 7
        "    required: true",                                              // 8
        "    sequence: tse3d",                                             // 9
        "    orientation: sagittal",                                       // 10
        "    voxel_mm: {slice: {value: 0.8, tolerance: 0.05}}",            // 11
        "    tr_s: {value: 2.0, tolerance: 0.04}",                         // 12
        "  - id: dwi",                                                     // 13
        "    datatype: dwi",                                               // 14
        "    suffix: dwi",                                                 // 15
        "    required: true",                                              // 16
        "    sequence: [epi, zoomit]",                                     // 17
        "    multiband: {value: 2, tolerance: 1}",                         // 18
        "    diffusion:",                                                  // 19
        "      encoding: linear",                                          // 20
        "      shells:",                                                   // 21
        "        - {b_s_per_mm2: {value: 0, tolerance: 20}, volumes: {value: 3, tolerance: 2}}",   // 22
        "        - {b_s_per_mm2: {value: 800, tolerance: 20}, volumes: 30, directions: 30}",       // 23
        "    processing: {denoise: mppca, motion_correction: slicewise}",  // 24
        "maps:",                                                           // 25
        "  - {id: csa, kind: morphometry, inputs: {image: t2w}}",          // 26
        "  - {id: dti, kind: dti, inputs: {dwi: dwi}}",                    // 27
    ]
    let name: String
    let edit: @Sendable (inout [String]) -> Void
    let line: Int
    let column: Int?
    let key: String
    let fragment: String
    var path = "protocols/example.yaml"
    var testDescription: String { name }

    static func set(_ n: Int, _ text: String) -> @Sendable (inout [String]) -> Void { { $0[n - 1] = text } }
    static func insert(after n: Int, _ text: String) -> @Sendable (inout [String]) -> Void { { $0.insert(text, at: n) } }

    static let cases: [Malformed] = [
        // The four kinds the issue names, with exact positions.
        Malformed(name: "unknown key", edit: insert(after: 12, "    te_ms: 0.1"), line: 13, column: 5, key: "te_ms",
                  fragment: "unknown key 'te_ms' in series 't2w' (allowed: id, title, datatype,"),
        Malformed(name: "wrong type", edit: set(12, "    tr_s: nine"), line: 12, column: 11, key: "tr_s",
                  fragment: "'tr_s' in series 't2w' must be a number or {value, tolerance}; found the string \"nine\""),
        Malformed(name: "missing series id", edit: { $0[12] = "  - datatype: dwi"; $0.remove(at: 13) }, line: 13, column: 5, key: "id",
                  fragment: "series #2 has no 'id'"),
        Malformed(name: "unquoted mt: on", edit: insert(after: 7, "    entities: {mt: on}"), line: 8, column: 20, key: "mt",
                  fragment: "must be a string; found on, which YAML reads as a boolean: quote it (\"on\")"),
        Malformed(name: "duplicate key (block)", edit: insert(after: 12, "    tr_s: 3"), line: 13, column: 5, key: "tr_s",
                  fragment: "duplicate key 'tr_s' in series 't2w' (first at line 12)"),
        Malformed(name: "duplicate key (flow, same line)", edit: set(11, "    voxel_mm: {slice: 1, slice: 2}"), line: 11, column: 26, key: "slice",
                  fragment: "duplicate key 'slice' in 'voxel_mm' of series 't2w'"),
        // The YAML subset.
        Malformed(name: "exponent", edit: set(12, "    tr_s: 2e-3"), line: 12, column: 11, key: "tr_s", fragment: "exponent notation"),
        Malformed(name: "leading zero", edit: set(12, "    tr_s: 02"), line: 12, column: 11, key: "tr_s", fragment: "leading zeros"),
        Malformed(name: "tab indentation", edit: set(12, "\ttr_s: 2"), line: 12, column: 1, key: "", fragment: "tab used for indentation"),
        Malformed(name: "anchor", edit: set(12, "    tr_s: &t {value: 2.0, tolerance: 0.04}"), line: 12, column: 11, key: "tr_s", fragment: "anchors (&)"),
        Malformed(name: "tag", edit: set(12, "    tr_s: !!float 2"), line: 12, column: 11, key: "tr_s", fragment: "tags ("),
        Malformed(name: "null", edit: set(10, "    orientation: ~"), line: 10, column: 18, key: "orientation", fragment: "null"),
        Malformed(name: "yes as boolean", edit: set(8, "    required: yes"), line: 8, column: 15, key: "required", fragment: "booleans are written true or false"),
        Malformed(name: "syntax error", edit: set(11, "    voxel_mm: {slice: {value: 0.8, tolerance: 0.05}"), line: 12, column: nil, key: "", fragment: "YAML syntax error"),
        // Specs.
        Malformed(name: "missing tolerance", edit: set(12, "    tr_s: {value: 2.0}"), line: 12, column: 12, key: "tolerance", fragment: "'tr_s' in series 't2w' has no 'tolerance'"),
        Malformed(name: "negative tolerance", edit: set(12, "    tr_s: {value: 2.0, tolerance: -0.1}"), line: 12, column: 35, key: "tr_s", fragment: "negative tolerance"),
        Malformed(name: "non-integer count", edit: set(18, "    multiband: 2.5"), line: 18, column: 16, key: "multiband", fragment: "whole numbers"),
        Malformed(name: "flip out of range", edit: insert(after: 12, "    flip_deg: 200"), line: 13, column: 5, key: "flip_deg", fragment: "<= 180"),
        // Card rules (README §7).
        Malformed(name: "format 2", edit: set(1, "format: 2"), line: 1, column: 1, key: "format", fragment: "card format 1"),
        Malformed(name: "name differs from file", edit: { _ in }, line: 2, column: 1, key: "name", fragment: "'name' is 'example' but the file is other.yaml",
                  path: "protocols/other.yaml"),
        Malformed(name: "duplicate series id", edit: set(13, "  - id: t2w"), line: 13, column: 5, key: "id", fragment: "two series have the id 't2w'"),
        Malformed(name: "ambiguous series", edit: { $0.insert(contentsOf: ["  - id: t2w-b", "    datatype: anat", "    suffix: T2w", "    required: false"], at: 12) },
                  line: 13, column: 5, key: "entities", fragment: "both match anat/sub-*_T2w"),
        Malformed(name: "overlapping shells", edit: set(23, "        - {b_s_per_mm2: {value: 30, tolerance: 20}, volumes: 30, directions: 30}"),
                  line: 23, column: 12, key: "b_s_per_mm2", fragment: "overlaps shell #1"),
        Malformed(name: "directions on b=0", edit: set(22, "        - {b_s_per_mm2: 0, directions: 3}"), line: 22, column: 28, key: "directions", fragment: "b = 0 shell"),
        Malformed(name: "directions with spherical encoding", edit: set(20, "      encoding: spherical"), line: 23, column: 67, key: "directions", fragment: "spherical"),
        Malformed(name: "multiband correction without multiband", edit: { $0[23] = "    processing: {multiband_correction: true}"; $0.remove(at: 17) },
                  line: 23, column: 18, key: "multiband_correction", fragment: "needs 'multiband'"),
        Malformed(name: "distortion correction unknown", edit: set(24, "    processing: {denoise: mppca, distortion_correction: topup}"),
                  line: 24, column: nil, key: "distortion_correction", fragment: "must be one of reverse-pe, anat, none; found \"topup\""),
        Malformed(name: "distortion correction on anat", edit: insert(after: 12, "    processing: {distortion_correction: anat}"),
                  line: 13, column: nil, key: "distortion_correction", fragment: "allowed only on dwi series"),
        Malformed(name: "mt_pulse on dwi", edit: insert(after: 16, "    mt_pulse: true"), line: 17, column: 5, key: "mt_pulse", fragment: "only on anat"),
        Malformed(name: "map names an unknown series", edit: set(27, "  - {id: dti, kind: dti, inputs: {dwi: dwi2}}"), line: 27, column: 6, key: "inputs", fragment: "names the series 'dwi2'"),
        Malformed(name: "map lacks a role", edit: set(26, "  - {id: csa, kind: morphometry, inputs: {}}"), line: 26, column: 6, key: "inputs", fragment: "needs the input role 'image'"),
        Malformed(name: "map role on the wrong datatype", edit: set(27, "  - {id: dti, kind: dti, inputs: {dwi: t2w}}"), line: 27, column: 6, key: "inputs", fragment: "needs a dwi series"),
        Malformed(name: "mufa without method", edit: set(27, "  - {id: mufa, kind: mufa, inputs: {lte: dwi}}"), line: 27, column: 6, key: "method", fragment: "has no 'method'"),
        Malformed(name: "time budget without durations", edit: insert(after: 3, "time_budget_min: 15"), line: 6, column: 5, key: "duration_s", fragment: "has no 'duration_s'"),
    ]
}
