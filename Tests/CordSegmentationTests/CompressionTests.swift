import CordCore
import CordPhantom
import Testing
@testable import CordSegmentation

@Suite struct CompressionMetricTests {
    /// C4–C6 at 0.5 × 0.5 × 1 mm (partial coverage), T2w at SNR 20.
    static let grid = PhantomGrid.axial(inPlane: 0.5, sliceThickness: 1, fieldOfView: 22,
                                        inferior: -36, superior: 18, centre: [0, 3])

    @Test(arguments: [0.2, 0.4, 0.6])
    func msccOfSegmentedPhantomMatchesTruth(fraction: Double) throws {
        var p = PhantomParameters()
        p.compression = CompressionParameters(level: .c5, fraction: fraction, length: 12)
        let s = Fixtures.make(p, Self.grid)
        let truth = try #require(s.truth.compression)
        var o = CordSegmentationOptions(); o.contrast = .t2
        let seg = try CordSegmenter.segment(s.image(.t2w, snr: 20, seed: 5), options: o)
        let slices = try Morphometry.perSlice(seg.soft, levels: s.levels.volume)
        let r = try CompressionMetrics.measure(slices, level: 5)
        print("compression \(fraction): MSCC \(r.mscc) vs truth \(truth.msccPercent); d_i \(r.compressed) vs \(truth.compressedAP), d_a \(r.above ?? .nan) vs \(truth.apAbove), d_b \(r.below ?? .nan) vs \(truth.apBelow), ratio \(r.compressionRatio), CSA ratio \(r.csaRatio ?? .nan)")
        #expect(abs(r.mscc - truth.msccPercent) < 3, "MSCC within 3 points")
        #expect(r.referenceLevels == [4, 6])
    }
}
