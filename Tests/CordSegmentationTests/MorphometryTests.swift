import CordCore
import CordPhantom
import Testing
@testable import CordSegmentation

@Suite struct MorphometryTests {
    @Test func areaPerLevelOfSegmentedPhantomMatchesTruth() throws {
        let s = Fixtures.axial
        for contrast in [PhantomContrast.t2w, .t2starw] {
            let seg = try CordSegmenter.segment(s.image(contrast, snr: 20, seed: 11))
            let levels = Morphometry.perLevel(try Morphometry.perSlice(seg.soft, levels: s.levels.volume))
            let truthLevels = Morphometry.perLevel(try Morphometry.perSlice(s.cordFraction, levels: s.levels.volume))
            for t in s.truth.levels {
                guard let truth = t.measuredCSA, let m = levels.first(where: { $0.level == Int32(t.level.rawValue) }) else { continue }
                let fromTruth = truthLevels.first { $0.level == Int32(t.level.rawValue) }?.csa ?? .nan
                print("\(contrast.name) \(t.level): CSA \(m.csa) (n=\(m.sliceCount)) vs truth \(truth), truth-mask morphometry \(fromTruth), AP \(m.diameterAP) vs \(t.modelAP), RL \(m.diameterRL) vs \(t.modelRL)")
                #expect(abs(m.csa / truth - 1) < 0.03, "\(contrast.name) \(t.level)")
            }
        }
    }
}
