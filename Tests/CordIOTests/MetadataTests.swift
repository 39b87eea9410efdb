import Foundation
import Testing
import CordTestSupport
@testable import CordCore
@testable import CordIO

@Suite struct GradientFileTests {
    func write(_ text: String, _ path: String) throws { try text.write(toFile: path, atomically: true, encoding: .utf8) }

    @Test func bothLayoutsReadTheSameTable() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let g = Grid(nx: 4, ny: 4, nz: 4, spacing: [2, 2, 2])
        // Four volumes: with three, a 3×3 file is ambiguous and read as FSL's 3 rows.
        try write("0 1000 1000 1000\n", dir + "/a.bval")
        try write("0 1 0 0.6\n0 0 1 0\n0 0 0 0.8\n", dir + "/rows.bvec")
        try write("0 0 0\n1 0 0\n0 1 0\n0.6 0 0.8\n", dir + "/cols.bvec")
        let a = try GradientFiles.read(bval: dir + "/a.bval", bvec: dir + "/rows.bvec", grid: g, frames: 4, image: "dwi.nii.gz")
        let b = try GradientFiles.read(bval: dir + "/a.bval", bvec: dir + "/cols.bvec", grid: g, frames: 4, image: "dwi.nii.gz")
        #expect(a == b)
        #expect(a.entries[0].direction == .zero)
    }

    @Test func fslDirectionsMapToTheSameWorldVectorForEitherStorageOrder() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        try write("1000 1000 1000\n", dir + "/a.bval")
        try write("1 0 0.6\n0 1 0\n0 0 0.8\n", dir + "/a.bvec")
        // Radiological storage (det < 0, i toward L) and neurological (det > 0, i toward R).
        let radio = Grid(nx: 4, ny: 4, nz: 4, spacing: [1, 1, 1])
        let neuro = Grid(nx: 4, ny: 4, nz: 4, affine: Mat4(linear: .identity, translation: .zero))
        let tr = try GradientFiles.read(bval: dir + "/a.bval", bvec: dir + "/a.bvec", grid: radio, frames: 3, image: "x")
        let tn = try GradientFiles.read(bval: dir + "/a.bval", bvec: dir + "/a.bvec", grid: neuro, frames: 3, image: "x")
        for (x, y) in zip(tr.entries, tn.entries) { #expect(length(x.direction - y.direction) < 1e-12) }
        #expect(length(tr.entries[0].direction - SIMD3(-1, 0, 0)) < 1e-12)  // FSL x runs toward L
        // Writing and reading back gives the same world directions.
        try GradientFiles.write(tn, grid: neuro, bval: dir + "/o.bval", bvec: dir + "/o.bvec")
        let again = try GradientFiles.read(bval: dir + "/o.bval", bvec: dir + "/o.bvec", grid: neuro, frames: 3, image: "x")
        for (x, y) in zip(again.entries, tn.entries) { #expect(length(x.direction - y.direction) < 1e-6) }  // 6 decimals written
    }

    @Test func countMismatchesNameTheFiles() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let g = Grid(nx: 2, ny: 2, nz: 2, spacing: [1, 1, 1])
        try write("0 1000 1000\n", dir + "/dwi.bval")
        try write("0 1 0\n0 0 1\n0 0 0\n", dir + "/dwi.bvec")
        try write("0 1\n0 0\n0 0\n", dir + "/short.bvec")
        do { _ = try GradientFiles.read(bval: dir + "/dwi.bval", bvec: dir + "/dwi.bvec", grid: g, frames: 5, image: "dwi.nii.gz"); Issue.record("no error") } catch {
            #expect("\(error)" == "dwi.nii.gz: has 5 volumes but \(dir)/dwi.bval lists 3 b-values")
        }
        do { _ = try GradientFiles.read(bval: dir + "/dwi.bval", bvec: dir + "/short.bvec", grid: g, frames: 3, image: "dwi.nii.gz"); Issue.record("no error") } catch {
            #expect("\(error)".contains("short.bvec") && "\(error)".contains("3 rows of 3"))
        }
        try write("0 abc 1000\n", dir + "/bad.bval")
        #expect(throws: CordIOError.self) { try GradientFiles.read(bval: dir + "/bad.bval", bvec: dir + "/dwi.bvec", grid: g, frames: 3, image: "x") }
    }
}

@Suite struct SidecarTests {
    func sidecar(_ json: String) throws -> (String, () throws -> BIDSSidecar) {
        let dir = try Support.temporaryDirectory()
        let p = dir + "/sub-01_T1w.json"
        try json.write(toFile: p, atomically: true, encoding: .utf8)
        return (dir, { try BIDSSidecar.read(p) })
    }

    @Test func typedFieldsWithUnits() throws {
        let (dir, read) = try sidecar("""
        {"RepetitionTime": 0.035, "EchoTime": 0.0032, "FlipAngle": 9, "SliceTiming": [0, 0.5, 0, 0.5],
         "PhaseEncodingDirection": "j-", "MTState": true, "Manufacturer": "Siemens", "TotalReadoutTime": 0.04}
        """)
        defer { Support.remove(dir) }
        let s = try read()
        #expect(s.repetitionTime == 0.035 && s.echoTime == 0.0032 && s.flipAngle == 9)
        #expect(abs((s.flipAngleRadians ?? 0) - 9 * .pi / 180) < 1e-15)
        #expect(s.phaseEncodingDirection == PhaseEncoding(axis: 1, reversed: true))
        #expect(s.mtState == true && s.inferredMultibandFactor == 2)
        #expect(s.multibandAccelerationFactor == nil)
        do { _ = try s.required(\.inversionTime, "InversionTime", "a number in seconds"); Issue.record("no error") } catch {
            #expect("\(error)" == "\(dir)/sub-01_T1w.json: the field \"InversionTime\" is missing (expected a number in seconds)")
        }
    }

    @Test(arguments: [
        (#"{"RepetitionTime": "2.0"}"#, "RepetitionTime"),
        (#"{"FlipAngle": [9]}"#, "FlipAngle"),
        (#"{"MultibandAccelerationFactor": 2.5}"#, "MultibandAccelerationFactor"),
        (#"{"PhaseEncodingDirection": "y"}"#, "PhaseEncodingDirection"),
        (#"{"RepetitionTime": 2000}"#, "milliseconds"),
        (#"{"MTState": 3}"#, "MTState"),
        (#"{"EchoTime": 0.003,"#, "not valid JSON"),
        (#"[1, 2]"#, "JSON object"),
    ])
    func badFieldsNameFileAndKey(json: String, expected: String) throws {
        let (dir, read) = try sidecar(json)
        defer { Support.remove(dir) }
        do { _ = try read(); Issue.record("no error for \(json)") } catch {
            #expect("\(error)".contains(expected) && "\(error)".contains("sub-01_T1w.json"), "\(error)")
        }
    }
}

@Suite struct BIDSTests {
    @Test func namesParseEntitiesAndSuffix() throws {
        let n = try #require(BIDSName("sub-amu01_flip-1_mt-on_MTS.nii.gz"))
        #expect(n.entity("sub") == "amu01" && n.entity("flip") == "1" && n.entity("mt") == "on")
        #expect(n.suffix == "MTS" && n.fileExtension == ".nii.gz")
        #expect(n.fileName(extension: ".json") == "sub-amu01_flip-1_mt-on_MTS.json")
        #expect(BIDSName("notbids.nii.gz") == nil)
        #expect(BIDSName("sub-01_T2w.txt") == nil)
    }

    @Test func datasetWalkFindsImagesCompanionsAndParticipants() throws {
        let root = try Support.temporaryDirectory(); defer { Support.remove(root) }
        let fm = FileManager.default
        for d in ["sub-01/anat", "sub-01/dwi", "sub-02/ses-a/anat", "sub-02/ses-b/anat"] {
            try fm.createDirectory(atPath: root + "/" + d, withIntermediateDirectories: true)
        }
        let tiny = Volume<Float>(grid: Grid(nx: 2, ny: 2, nz: 2, spacing: [1, 1, 1]))
        for f in ["sub-01/anat/sub-01_T2w.nii.gz", "sub-01/dwi/sub-01_dwi.nii.gz", "sub-02/ses-a/anat/sub-02_ses-a_acq-ax_T2w.nii.gz",
                  "sub-02/ses-b/anat/sub-02_ses-b_T2w.nii"] {
            try NIfTIFile.write(tiny, to: root + "/" + f)
        }
        for f in ["sub-01/anat/sub-01_T2w.json", "sub-01/dwi/sub-01_dwi.bval", "sub-01/dwi/sub-01_dwi.bvec"] {
            try "{}".write(toFile: root + "/" + f, atomically: true, encoding: .utf8)
        }
        try "participant_id\tage\tsex\nsub-01\t34\tF\nsub-02\t51\tM\n".write(toFile: root + "/participants.tsv", atomically: true, encoding: .utf8)
        let ds = try BIDSDataset.load(root)
        #expect(ds.subjects.map(\.id) == ["sub-01", "sub-02"])
        #expect(ds.participants["sub-02"]?["age"] == "51")
        let s1 = ds.subjects[0]
        #expect(s1.series(suffix: "T2w").first?.sidecarPath != nil)
        let dwi = try #require(s1.series(suffix: "dwi", datatype: "dwi").first)
        #expect(dwi.bvalPath != nil && dwi.bvecPath != nil)
        let s2 = ds.subjects[1]
        #expect(s2.sessions == ["a", "b"])
        #expect(s2.series(suffix: "T2w", entities: ["acq": "ax"]).map(\.session) == ["a"])
        #expect(throws: CordIOError.self) { try SubjectInventory.read(root + "/sub-03") }
    }

    @Test func tsvRoundTripsAndRejectsRaggedRows() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var t = TSVTable(columns: ["level", "csa_mm2"])
        t.append(["C2", "71.65"]); t.append(["C3", ""])
        try t.write(to: dir + "/t.tsv")
        let back = try TSVTable.read(dir + "/t.tsv")
        #expect(back.rows == [["C2", "71.65"], ["C3", "n/a"]])
        try "a\tb\n1\t2\n3\n".write(toFile: dir + "/bad.tsv", atomically: true, encoding: .utf8)
        do { _ = try TSVTable.read(dir + "/bad.tsv"); Issue.record("no error") } catch {
            #expect("\(error)".contains("line 3 has 1 fields but the header has 2"))
        }
    }
}
