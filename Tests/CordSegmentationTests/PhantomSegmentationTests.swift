import CordCore
import CordPhantom
import Testing
@testable import CordSegmentation

@Suite struct PhantomSegmentationTests {
    @Test func diceOnEveryContrastAtSNR20() throws {
        let s = Fixtures.axial
        for contrast in PhantomContrast.all {
            let img = s.image(contrast, snr: 20, seed: 3)
            let start = ContinuousClock.now
            let seg = try CordSegmenter.segment(img)
            let d = dice(seg.binary, s.cordMask)
            print("\(contrast.name): Dice \(d), polarity \(seg.polarity), slices \(seg.slices), \(ContinuousClock.now - start)")
            #expect(d >= 0.95, "\(contrast.name)")
        }
    }
}
