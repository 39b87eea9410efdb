import CordIO
import CordTestSupport
import Foundation
import Testing
@testable import CordPipeline

/// The spine-generic cards against the public sidecars in ../shared/data/spine-generic-sidecars
/// (three subjects, one per vendor; no images).
@Suite(.enabled(if: Support.hasSharedData, "../shared/data is absent: spine-generic sidecar checks skipped"))
struct SpineGenericCardTests {
    static let subjects = ["siemens": "sub-amu01", "ge": "sub-juntendo750w01", "philips": "sub-tokyoIngenia01"]
    let root = Support.sharedData + "/spine-generic-sidecars"

    func card(_ name: String) throws -> ProtocolCard { try ProtocolCard.load(Support.packageRoot + "/protocols/\(name).yaml") }
    func check(_ subject: String, _ cardName: String) throws -> ProtocolReport { try ProtocolCheck.run(subject: subject, card: card(cardName)) }

    @Test(arguments: ["siemens", "ge", "philips"])
    func eachSubjectPassesItsVendorCardAndTheSharedCardAndFailsTheOthers(vendor: String) throws {
        let sub = root + "/" + Self.subjects[vendor]!
        for name in ["spine-generic-\(vendor)", "spine-generic"] {
            let r = try check(sub, name)
            #expect(r.canProceed && r.deviations.isEmpty, "\(name):\n\(r.text)")
            #expect(r.series.filter { $0.spec.required }.allSatisfy { $0.status == .matched })
            #expect(r.notInCard.map(\.stem) == ["\(Self.subjects[vendor]!)_rec-average_dwi"])
            // The only unknowns are those SOURCES.md documents: DWI multiband for GE and
            // Philips (no SliceTiming, no MultibandAccelerationFactor); Philips T1w TI.
            let unknown = Set(r.series.flatMap { s in s.files.flatMap { $0.unknowns.map { "\(s.spec.id).\($0.key)" } } })
            var expected: Set<String> = vendor == "siemens" ? [] : ["dwi.multiband"]
            if vendor == "philips" && name == "spine-generic" { expected.insert("t1w.ti_s") }
            #expect(unknown == expected, "\(name)")
        }
        for other in ["siemens", "ge", "philips"] where other != vendor {
            let r = try check(sub, "spine-generic-\(other)")
            #expect(!r.canProceed, "\(vendor) data passed the \(other) card")
            #expect(r.blockers.first?.hasPrefix("manufacturer is") == true)
            #expect(r.deviations.count >= 10)   // 16 to 18 parameter deviations besides the vendor
        }
    }

    /// Each vendor card's TR, TE, TI and flip angle values are the vendor's sidecar values
    /// (to 1e-9: copied, not rounded), series by series.
    @Test(arguments: ["siemens", "ge", "philips"])
    func vendorCardValuesAreTheSidecarValues(vendor: String) throws {
        let c = try card("spine-generic-\(vendor)")
        let acquisitions = try SubjectInventory.read(root + "/" + Self.subjects[vendor]!).series
        var compared = 0
        for s in c.series {
            guard let a = acquisitions.first(where: { ProtocolCheck.matches($0, s) }), let json = a.sidecarPath else { continue }
            let sc = try BIDSSidecar.read(json)
            for (spec, value, key) in [(s.tr, sc.repetitionTime, "RepetitionTime"), (s.te, sc.echoTime, "EchoTime"),
                                       (s.ti, sc.inversionTime, "InversionTime"), (s.flip, sc.flipAngle, "FlipAngle"),
                                       (s.voxelSlice, sc.sliceThickness, "SliceThickness")] {
                guard let spec else { continue }
                let v = try #require(value, "\(s.id): \(key) absent but carded")
                #expect(abs(spec.value - v) < 1e-9, "\(vendor) \(s.id) \(key): card \(spec.value), sidecar \(v)")
                compared += 1
            }
        }
        // TR, TE, flip and slice thickness of every carded series, plus TI where carded
        // (t1w of Siemens and GE): Siemens 8 × 4 + 1 = 33, GE 7 × 4 + 1 = 29, Philips 7 × 4 = 28.
        #expect(compared == ["siemens": 33, "ge": 29, "philips": 28][vendor])
    }

    // MARK: - One changed value gives exactly one deviation

    func editedAmu01(_ edit: (String) throws -> Void) throws -> ProtocolReport {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let sub = try SubjectEdit.copy(root + "/sub-amu01", into: dir)
        try edit(sub)
        return try check(sub, "spine-generic-siemens")
    }

    @Test func changedTRIsReportedExactly() throws {
        let r = try editedAmu01 { try SubjectEdit.setSidecar($0 + "/anat/sub-amu01_flip-1_mt-on_MTS.json", "RepetitionTime", 0.045) }
        let d = r.deviations.map { "\($0.series) \($0.finding.key): found \($0.finding.found), expected \($0.finding.expected)" }
        #expect(d == ["mt-on tr_s: found 0.045 s, expected 0.035 ± 0.0007 s"])
        #expect(!r.canProceed && r.blockers == ["required series 'mt-on' deviates (tr_s)"])
        #expect(r.maps.filter { !$0.computed }.map(\.map.id) == ["mtr", "mtsat"])
    }

    @Test func changedFlipAngleIsReportedExactly() throws {
        let r = try editedAmu01 { try SubjectEdit.setSidecar($0 + "/anat/sub-amu01_flip-2_mt-off_MTS.json", "FlipAngle", 20) }
        let d = r.deviations.map { "\($0.series) \($0.finding.key): found \($0.finding.found), expected \($0.finding.expected)" }
        #expect(d == ["t1w-mts flip_deg: found 20°, expected 15°"])
        #expect(r.warnings.isEmpty)
    }

    @Test func aRemovedBValueIsReportedExactly() throws {
        // Volume 5 is a b = 800 volume; its direction is also acquired as volume 36, so the
        // shell keeps 30 distinct directions and only the volume count changes (60 → 59).
        let r = try editedAmu01 { try SubjectEdit.removeVolume(5, bval: $0 + "/dwi/sub-amu01_dwi.bval", bvec: $0 + "/dwi/sub-amu01_dwi.bvec") }
        let d = r.deviations.map { "\($0.series) \($0.finding.key): found \($0.finding.found), expected \($0.finding.expected)" }
        #expect(d == ["dwi b=800 volumes: found 59, expected 60"])
    }

    @Test func multibandFourIsReportedExactlyWithTheWarning() throws {
        let r = try editedAmu01 { try SubjectEdit.setSidecar($0 + "/dwi/sub-amu01_dwi.json", "MultibandAccelerationFactor", 4) }
        let d = r.deviations.map { "\($0.series) \($0.finding.key): found \($0.finding.found), expected \($0.finding.expected)" }
        #expect(d == ["dwi multiband: found 4, expected 1"])
        #expect(r.warnings.count == 1)
        #expect(r.warnings.first?.contains("dwi/sub-amu01_dwi: multiband factor 4 (MultibandAccelerationFactor)") == true)
        #expect(r.text.contains("WARNING") && r.text.contains("breaks down at multiband >= 4"))
    }

    @Test func theCheckDoesNotTouchTheSharedData() throws {
        // Reading only: the sidecar folder lists the same files before and after a check.
        let before = try FileManager.default.subpathsOfDirectory(atPath: root).sorted()
        _ = try check(root + "/sub-amu01", "spine-generic")
        #expect(try FileManager.default.subpathsOfDirectory(atPath: root).sorted() == before)
    }
}
