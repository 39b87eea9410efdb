import CordCore
import CordIO
import CordTestSupport
import Foundation
import Testing
@testable import CordPipeline

/// `protocol check` on a subject written here with CordIO (no ../shared/data needed).
@Suite struct SyntheticSubjectCheckTests {
    let card: ProtocolCard
    init() throws { card = try ProtocolCard.load(Support.packageRoot + "/protocols/clinical-minimal.yaml") }

    func check(_ subject: SyntheticSubject, edit: ((String) throws -> Void)? = nil) throws -> ProtocolReport {
        let root = try Support.temporaryDirectory(); defer { Support.remove(root) }
        let sub = try subject.write(in: root)
        try edit?(sub)
        return try ProtocolCheck.run(subject: sub, card: card)
    }

    func finding(_ r: ProtocolReport, _ series: String, _ key: String) -> Finding? {
        r.series(series)?.chosen?.findings.first { $0.key == key }
    }

    @Test func aSubjectWrittenToMatchTheClinicalCardPasses() throws {
        let r = try check(SyntheticSubject())
        #expect(r.canProceed, "\(r.text)")
        #expect(r.deviations.isEmpty)
        #expect(r.series("t2w-sag")?.status == .matched && r.series("dwi")?.status == .matched)
        // The optional axial T2w is absent: reported, not blocking, its map skipped.
        #expect(r.series("t2w-ax")?.status == .missing)
        #expect(r.maps.filter { !$0.computed }.map(\.map.id) == ["csa-ax"])
        // Values come from the right sources: the NIfTI header for the sagittal plane and the
        // in-plane spacing (0.7 mm written, printed to 1e-6 mm), SliceTiming for multiband.
        #expect(finding(r, "t2w-sag", "orientation")?.found == "sagittal")
        #expect(finding(r, "t2w-sag", "orientation")?.source.contains("NIfTI affine") == true)
        #expect(finding(r, "t2w-sag", "voxel_mm.in_plane")?.found == "0.7 × 0.7 mm")
        #expect(finding(r, "t2w-sag", "voxel_mm.slice")?.found == "3 mm")
        #expect(finding(r, "dwi", "orientation")?.source == "ImageOrientationPatientDICOM")
        #expect(finding(r, "dwi", "multiband")?.found == "2")
        #expect(finding(r, "dwi", "b=900 volumes")?.found == "6")
        #expect(finding(r, "dwi", "b=900 directions")?.found == "6")
        #expect(finding(r, "dwi", "b=0 volumes")?.found == "2")
        #expect(r.series.flatMap { $0.files.flatMap(\.unknowns) }.isEmpty)
        #expect(r.warnings.isEmpty)
        #expect(r.text.contains("Verdict: OK"))
    }

    @Test func aMissingRequiredSeriesBlocks() throws {
        let r = try check(SyntheticSubject(writeDWI: false))
        #expect(!r.canProceed)
        #expect(r.blockers == ["required series 'dwi' is missing (no dwi/sub-*_dwi)"])
        #expect(r.text.contains("[MISSING] dwi") && r.text.contains("Verdict: BLOCKED"))
    }

    @Test func multibandFourIsADeviationAndAWarning() throws {
        let r = try check(SyntheticSubject(dwiOverrides: ["MultibandAccelerationFactor": 4]))
        #expect(r.deviations.map { "\($0.series) \($0.finding.key) \($0.finding.found)" } == ["dwi multiband 4"])
        #expect(r.warnings.count == 1 && r.warnings[0].contains("multiband factor 4") && r.warnings[0].contains("breaks down"))
        #expect(!r.canProceed)
    }

    @Test func bvalCountDifferingFromTheImageIsADeviation() throws {
        // 8 volumes in the image, 7 b-values: the count check fires; the b = 0 shell drops to 1
        // (still within 5 ± 4), so nothing else deviates.
        let r = try check(SyntheticSubject(bvals: [0, 1000, 1000, 1000, 1000, 1000, 1000]))
        #expect(r.deviations.map(\.finding.key) == ["diffusion volumes"])
        #expect(r.deviations.first?.finding.found == "7 in .bval")
    }

    @Test func bValuesOutsideEveryShellAreListed() throws {
        // 9 volumes: b = 0 ×2 and b = 1000 ×6 fit their shells (0 ± 20, 900 ± 120); b = 2000 fits none.
        let r = try check(SyntheticSubject(bvals: [0, 1000, 1000, 1000, 1000, 1000, 1000, 2000, 0], dwiFrames: 9))
        #expect(r.deviations.map(\.finding.key) == ["diffusion b-values"])
        #expect(r.deviations.first?.finding.found == "1 volume fits no shell: b 2000 (volume 7)")
    }

    @Test func theHighestRunIsUsed() throws {
        let r = try check(SyntheticSubject()) { sub in
            // run-1 with TR 9 s, outside 3.25 ± 1.75 s; run-2 as written: run-2 is the one processed.
            let base = sub + "/anat/sub-synth01_acq-sag_T2w"
            for ext in [".nii.gz", ".json"] {
                try FileManager.default.moveItem(atPath: base + ext, toPath: sub + "/anat/sub-synth01_acq-sag_run-2_T2w" + ext)
                try FileManager.default.copyItem(atPath: sub + "/anat/sub-synth01_acq-sag_run-2_T2w" + ext, toPath: sub + "/anat/sub-synth01_acq-sag_run-1_T2w" + ext)
            }
            try SubjectEdit.setSidecar(sub + "/anat/sub-synth01_acq-sag_run-1_T2w.json", "RepetitionTime", 9.0)
        }
        let s = try #require(r.series("t2w-sag"))
        #expect(s.files.count == 2 && s.status == .matched)
        #expect(s.chosen?.file.run == 2)
        #expect(r.deviations.map { "\($0.file) \($0.finding.key)" } == ["anat/sub-synth01_acq-sag_run-1_T2w tr_s"])
        #expect(r.canProceed)
    }

    @Test func sidecarsInheritFromTheDatasetLevel() throws {
        // The DWI sidecar lacks RepetitionTime; a dataset-level dwi.json supplies it.
        let r = try check(SyntheticSubject(dwiOverrides: ["RepetitionTime": NSNull()])) { sub in
            try TextFile.write(#"{"RepetitionTime": 4.5}"#, to: sub + "/../dwi.json")
        }
        #expect(finding(r, "dwi", "tr_s")?.found == "4.5 s")
        #expect(r.canProceed)
    }

    @Test func aValueWithNoSourceIsUnknownNotADeviation() throws {
        let r = try check(SyntheticSubject(dwiOverrides: ["SliceTiming": NSNull(), "EchoTime": NSNull()]))
        #expect(r.deviations.isEmpty && r.canProceed)
        #expect(Set(r.series("dwi")?.chosen?.unknowns.map(\.key) ?? []) == ["multiband", "te_s"])
    }

    @Test func aWrongVendorOrFieldBlocks() throws {
        var c = card
        c.manufacturer = "GE"
        let sub = SyntheticSubject()
        let root = try Support.temporaryDirectory(); defer { Support.remove(root) }
        let r = ProtocolCheck.run(inventory: try SubjectInventory.read(try sub.write(in: root)), card: c)
        #expect(r.blockers == ["manufacturer is Siemens, the card expects GE"])
    }
}

@Suite struct CardInferenceTests {
    @Test func theClinicalCardIsInferredForTheSyntheticSubject() throws {
        let root = try Support.temporaryDirectory(); defer { Support.remove(root) }
        let sub = try SyntheticSubject().write(in: root)
        let inf = try ProtocolLibrary(folders: [Support.packageRoot + "/protocols"]).infer(subject: sub)
        #expect(inf.chosen?.card.name == "clinical-minimal")
        #expect(inf.ranking.count == 6 && inf.ranking.first?.name == "clinical-minimal")
        // Siemens sidecars: the GE and Philips cards are dropped, not merely ranked lower.
        #expect(inf.ranking.filter { $0.note.hasPrefix("dropped") }.map(\.name).sorted() == ["spine-generic-ge", "spine-generic-philips"])
    }

    @Test func anInventoryReadOnceIsCheckedLikeTheFolder() throws {
        let root = try Support.temporaryDirectory(); defer { Support.remove(root) }
        let sub = try SyntheticSubject().write(in: root)
        let library = ProtocolLibrary(folders: [Support.packageRoot + "/protocols"])
        let inventory = try SubjectInventory.read(sub)
        let byFolder = try library.check(subject: sub, protocol: "clinical-minimal")
        let byInventory = try library.check(inventory: inventory, protocol: "clinical-minimal")
        #expect(byInventory.subjectPath == inventory.path && byFolder.subjectPath == sub)
        #expect(byInventory.text.replacingOccurrences(of: inventory.path, with: sub) == byFolder.text)
        let inf = try library.infer(inventory: inventory)
        #expect(inf.chosen?.card.name == "clinical-minimal")
        #expect(inf.ranking.map(\.name) == (try library.infer(subject: sub)).ranking.map(\.name))
    }

    @Test(.enabled(if: Support.hasSharedData, "../shared/data is absent: spine-generic inference skipped"))
    func theVendorCardBeatsTheSharedCardOnATie() throws {
        let inf = try ProtocolLibrary(folders: [Support.packageRoot + "/protocols"])
            .infer(subject: Support.sharedData + "/spine-generic-sidecars/sub-amu01")
        #expect(inf.chosen?.card.name == "spine-generic-siemens")
        #expect(inf.ranking.prefix(2).map(\.name) == ["spine-generic-siemens", "spine-generic"])
        #expect(inf.ranking.prefix(2).map(\.matched) == [8, 8])
    }
}
