import CordTestSupport
import Foundation
import Testing
@testable import CordAtlas
@testable import CordCore
@testable import CordIO
@testable import CordPhantom
@testable import CordRegistration

@Suite struct TemplateRegistrationPhantomTests {
    /// Registers the CordQ atlas onto a phantom with labels at C3 and C5; returns Dice,
    /// level agreement and the round-trip error.
    static func run(_ ph: PhantomSubject) throws -> (dice: Double, levels: Double, roundTrip: Double) {
        let atlas = try Fixtures.atlas(Fixtures.cordQAtlasPath)
        let labels = try VertebralLabelling.fromLabels(Fixtures.bodyLabels(ph, levels: [3, 5]), kind: .vertebralBody, segmentation: ph.cordMask)
        let r = try TemplateRegistration.register(subject: ph.t2w, segmentation: ph.cordMask, labels: labels, atlas: atlas)
        let warped = try r.atlasInSubjectSpace()
        let dice = Fixtures.dice(try #require(warped.cord), ph.cordMask)
        var same = 0, total = 0
        let lm = try labels.levelMap(on: ph.grid, segmentation: ph.cordMask, reference: r.reference)
        for n in 0..<lm.volume.data.count where ph.cordMask.data[n] != 0 && (2...6).contains(ph.levels.volume.data[n]) {
            total += 1; if lm.volume.data[n] == ph.levels.volume.data[n] { same += 1 }
        }
        return (dice, Double(same) / Double(max(total, 1)), Fixtures.roundTripError(r, mask: ph.cordMask))
    }

    @Test func atlasCordOverlapsPhantomTruth() throws {
        let (dice, levels, roundTrip) = try Self.run(try Fixtures.phantom())
        print("phantom (default anatomy): Dice \(dice), level agreement \(levels), round trip \(roundTrip) mm")
        #expect(dice >= 0.90)          // issue 7
        #expect(levels >= 0.90)        // fraction of C2…C6 cord voxels given their true level
        #expect(roundTrip < 0.6)       // mm: within one 0.6 mm voxel
    }

    @Test func differentLordosisAndCompression() throws {
        let ph = try Fixtures.phantom { p in
            p.lordosisAmplitude = 9; p.lateralAmplitude = 3; p.topOfC1 = 78
            p.compression = CompressionParameters(level: .c4, fraction: 0.4, length: 12)
        }
        let (dice, levels, roundTrip) = try Self.run(ph)
        print("phantom (lordosis 9 mm, lateral 3 mm, C4 compressed 40%): Dice \(dice), level agreement \(levels), round trip \(roundTrip) mm")
        #expect(dice >= 0.90)
        #expect(levels >= 0.85)        // looser: discs of a shifted, more curved spine
        #expect(roundTrip < 0.6)
    }

    @Test func singleLabelIsRefusedSayingWhatIsNeeded() throws {
        let ph = try Fixtures.phantom()
        let atlas = try Fixtures.atlas(Fixtures.cordQAtlasPath)
        let labels = try VertebralLabelling.fromLabels(Fixtures.bodyLabels(ph, levels: [3]), kind: .vertebralBody, segmentation: ph.cordMask)
        #expect(throws: RegistrationError.tooFewLabels(found: [3], needed: 2)) {
            try TemplateRegistration.register(subject: ph.t2w, segmentation: ph.cordMask, labels: labels, atlas: atlas)
        }
        let text = RegistrationError.tooFewLabels(found: [3], needed: 2).description
        #expect(text.contains("at least 2") && text.contains("C3"))
    }

    @Test func labelOutsideCordIsRefused() throws {
        let ph = try Fixtures.phantom()
        var labels = Fixtures.bodyLabels(ph, levels: [5])
        labels[2, 2, 20] = 3   // image corner, far from the cord
        #expect {
            try VertebralLabelling.fromLabels(labels, kind: .vertebralBody, segmentation: ph.cordMask)
        } throws: { e in
            guard case RegistrationError.labelOutsideCord(value: 3, _, let d) = e else { return false }
            return d > 5 && "\(e)".contains("inside the cord")
        }
    }

    @Test func gridMismatchIsRefused() throws {
        let ph = try Fixtures.phantom()
        let other = Mask(grid: Grid(nx: 10, ny: 10, nz: 10, spacing: [1, 1, 1]), repeating: 1)
        #expect(throws: CordError.self) {
            try VertebralLabelling.fromLabels(Fixtures.bodyLabels(ph, levels: [3, 5]), kind: .vertebralBody, segmentation: other)
        }
    }

    @Test func labelsInWrongOrderAreRefused() throws {
        let ph = try Fixtures.phantom()
        var labels = Fixtures.bodyLabels(ph, levels: [3, 5])
        for n in 0..<labels.data.count where labels.data[n] != 0 { labels.data[n] = labels.data[n] == 3 ? 5 : 3 }
        #expect(throws: RegistrationError.self) {
            try VertebralLabelling.fromLabels(labels, kind: .vertebralBody, segmentation: ph.cordMask)
        }
    }
}

@Suite(.enabled(if: Support.hasSharedData, "needs ../shared/data (sct_testing_data/t2 and PAM50)"))
struct TemplateRegistrationRealDataTests {
    static func register(_ atlasPath: String, levels: [Int]?) throws -> (TemplateRegistration, Mask, Double) {
        let (img, seg, labelImage) = try Fixtures.realT2()
        var atlas: Atlas?
        let loading = try Fixtures.seconds { atlas = try Fixtures.atlas(atlasPath, levels: levels) }
        let labels = try VertebralLabelling.fromLabels(labelImage, kind: .vertebralBody, segmentation: seg)
        var reg: TemplateRegistration?
        let t = try Fixtures.seconds { reg = try TemplateRegistration.register(subject: img, segmentation: seg, labels: labels, atlas: try #require(atlas)) }
        print("\(atlasPath): atlas load \(loading) s, registration \(t) s")
        return (try #require(reg), seg, t)
    }

    @Test func realT2ToPAM50() throws {
        let (r, seg, _) = try Self.register(Fixtures.pam50Path, levels: Array(1...7))
        let warped = try r.atlasInSubjectSpace()
        let dice = Fixtures.dice(try #require(warped.cord), seg)
        let roundTrip = Fixtures.roundTripError(r, mask: seg)
        print("t2 → PAM50: Dice \(dice), round trip max \(roundTrip) mm")
        #expect(dice >= 0.90)          // issue 7
        #expect(roundTrip < 1.0)       // mm: one 1 mm subject voxel
    }

    @Test func realT2ToCordQAtlas() throws {
        let (r, seg, _) = try Self.register(Fixtures.cordQAtlasPath, levels: nil)
        let warped = try r.atlasInSubjectSpace()
        let dice = Fixtures.dice(try #require(warped.cord), seg)
        print("t2 → CordQ atlas: Dice \(dice), round trip max \(Fixtures.roundTripError(r, mask: seg)) mm")
        #expect(dice >= 0.90)
        #expect(Fixtures.roundTripError(r, mask: seg) < 1.0)   // mm
    }

    /// The level map puts each label's own level at the label, and C4 between C3 and C5.
    /// The data's `t2_seg-manual_labeled.nii.gz` disagrees with `labels.nii.gz` by about one
    /// level (its C2 holds label 3, its C4 label 5), so agreement with it is printed, not asserted.
    @Test func realLevelMapFollowsTheLabels() throws {
        let (_, seg, labelImage) = try Fixtures.realT2()
        let labels = try VertebralLabelling.fromLabels(labelImage, kind: .vertebralBody, segmentation: seg)
        let map = try labels.levelMap(on: seg.grid, segmentation: seg)
        let g = seg.grid
        for p in labels.points {
            // Nearest cord voxel of the label.
            let n = (0..<seg.data.count).filter { seg.data[$0] != 0 }.min { length(g.world(g.coordinates(of: $0)) - p.world) < length(g.world(g.coordinates(of: $1)) - p.world) }
            #expect(map.volume.data[try #require(n)] == Int32(p.level))   // exact: the label's own level
        }
        let z3 = labels.points.first { $0.level == 3 }?.world.z ?? 0, z5 = labels.points.first { $0.level == 5 }?.world.z ?? 0
        for n in 0..<seg.data.count where map.volume.data[n] == 4 {
            let z = g.world(g.coordinates(of: n)).z
            #expect(z < z3 && z > z5)    // C4 strictly between the C3 and C5 labels
        }
        let sct = try NIfTIFile.read(Fixtures.t2Path + "/t2_seg-manual_labeled.nii.gz", as: Int32.self).0
        var same = 0, shifted = 0, total = 0
        for n in 0..<seg.data.count where sct.data[n] > 0 && seg.data[n] != 0 {
            total += 1
            if map.volume.data[n] == sct.data[n] { same += 1 }
            if map.volume.data[n] == sct.data[n] + 1 { shifted += 1 }
        }
        print("t2 level map vs t2_seg-manual_labeled: equal \(Double(same) / Double(total)), one level lower there \(Double(shifted) / Double(total)) of \(total) voxels")
    }
}
