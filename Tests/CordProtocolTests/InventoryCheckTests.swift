import CordCore
import CordProtocol
import Testing

/// CordProtocol on its own: a card decoded from text checked against a subject inventory
/// built in memory (no files), as `cordq process` will hand over the one it read.
@Suite struct InventoryCheckTests {
    static let card = """
        format: 1
        name: inline
        title: Inline test card
        series:
          - id: dwi
            datatype: dwi
            suffix: dwi
            required: true
            multiband: {value: 2, tolerance: 1}
            tr_s: {value: 3, tolerance: 0.5}
            diffusion:
              encoding: linear
              shells:
                - b_s_per_mm2: {value: 0, tolerance: 20}
                  volumes: 1
                - b_s_per_mm2: {value: 1000, tolerance: 50}
                  volumes: 2
                  directions: 2
        """

    /// sub-01 with an axial DWI (4×4×4 voxels of 2×2×4 mm, 3 volumes) and a T1w known only
    /// by its sidecar; `dwiFields` replaces the DWI sidecar.
    func inventory(dwiFields: [String: JSONValue]? = nil, problems: [String] = []) throws -> SubjectInventory {
        let fields = dwiFields ?? ["RepetitionTime": .number(3), "SliceTiming": .array([0, 0.5, 0, 0.5].map(JSONValue.number))]
        let dir = "/data/sub-01/dwi"
        let dwi = SubjectSeries(name: try #require(BIDSName("sub-01_dwi.nii.gz")), datatype: "dwi", session: nil, folder: dir,
                                imagePath: dir + "/sub-01_dwi.nii.gz", sidecarPath: dir + "/sub-01_dwi.json",
                                bvalPath: dir + "/sub-01_dwi.bval", bvecPath: dir + "/sub-01_dwi.bvec",
                                sidecar: try BIDSSidecar(path: dir + "/sub-01_dwi.json", fields: fields),
                                header: NIfTIHeader(grid: Grid(nx: 4, ny: 4, nz: 4, spacing: [2, 2, 4]), frames: 3, datatype: .float32),
                                gradients: RawGradients(bValues: [0, 1000, 1000], vectors: [[0, 0, 0], [1, 0, 0], [0, 1, 0]]),
                                problems: problems)
        let t1 = SubjectSeries(name: try #require(BIDSName("sub-01_T1w.json")), datatype: "anat", session: nil, folder: "/data/sub-01/anat",
                               sidecarPath: "/data/sub-01/anat/sub-01_T1w.json")
        return SubjectInventory(label: "01", path: "/data/sub-01", root: "/data", sessions: [], series: [dwi, t1])
    }

    func decodedCard() throws -> ProtocolCard { try ProtocolCard.decode(Self.card, path: "cards/inline.yaml") }

    @Test func aMatchingInventoryPassesWithValuesFromItsSidecarHeaderAndGradients() throws {
        let r = ProtocolCheck.run(inventory: try inventory(), card: try decodedCard())
        #expect(r.canProceed && r.deviations.isEmpty, "\(r.text)")
        #expect(r.subjectPath == "/data/sub-01")
        let f = try #require(r.series("dwi")?.chosen)
        #expect(f.file.displayName == "dwi/sub-01_dwi")
        #expect(f.findings.first { $0.key == "multiband" }?.found == "2")
        #expect(f.findings.first { $0.key == "multiband" }?.source == "SliceTiming (slices sharing one time)")
        #expect(f.findings.first { $0.key == "b=1000 directions" }?.found == "2")
        #expect(r.notInCard.map(\.stem) == ["sub-01_T1w"])
        // Derived values read from the header when the sidecar is silent.
        #expect(f.file.plane.value == .axial && f.file.sliceThickness.value == 4 && f.file.inPlaneSpacing.value == [2, 2])
        #expect(f.file.sliceCount.found.value == 4 && f.file.sliceCount.note == nil)
    }

    @Test func multibandFourAndUnreadableFilesDeviate() throws {
        let r = ProtocolCheck.run(inventory: try inventory(dwiFields: ["RepetitionTime": .number(3), "MultibandAccelerationFactor": .number(4)]),
                                  card: try decodedCard())
        #expect(r.deviations.map(\.finding.key) == ["multiband"])
        #expect(r.warnings == ["dwi/sub-01_dwi: multiband factor 4 (MultibandAccelerationFactor): \(ProtocolCheck.multibandFinding)"])
        #expect(r.blockers == ["required series 'dwi' deviates (multiband)"])
        let broken = ProtocolCheck.run(inventory: try inventory(problems: ["gradients unusable: x"]), card: try decodedCard())
        #expect(broken.deviations.map { "\($0.finding.key) \($0.finding.found)" } == ["files gradients unusable: x"])
    }
}
