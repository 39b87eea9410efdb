import CordCore
import Foundation
import CordPhantom
import Testing
@testable import CordSegmentation

@Suite struct MorphometryTests {
    /// Area per level of segmented phantoms within 3 % of the rasterised truth (issue 6).
    @Test(arguments: [PhantomContrast.t2w, .t2starw, .t1w])
    func areaPerLevelMatchesTruth(contrast: PhantomContrast) throws {
        let s = Fixtures.axial
        let seg = try CordSegmenter.segment(s.image(contrast, snr: 20, seed: 11))
        let levels = Morphometry.perLevel(try Morphometry.perSlice(seg.soft, levels: s.levels.volume))
        var checked = 0
        for t in s.truth.levels {
            guard let truth = t.measuredCSA, let m = levels.first(where: { $0.level == Int32(t.level.rawValue) }) else { continue }
            print("\(contrast.name) \(t.level): CSA \(formatFixed(m.csa, 2)) vs truth \(formatFixed(truth, 2)) mm² (\(formatFixed((m.csa / truth - 1) * 100, 2)) %)")
            #expect(abs(m.csa / truth - 1) < 0.03, "\(contrast.name) \(t.level) within 3 %")
            checked += 1
        }
        #expect(checked == 3)  // C3, C4, C5 lie inside the grid
    }

    /// With the boundary at the geometric 50 % level, areas are within 1 %, and the truth's
    /// own partial-volume map measures within 0.5 % (morphometry alone).
    @Test func geometricBoundaryAndTruthMap() throws {
        let s = Fixtures.axial
        var o = CordSegmentationOptions(); o.boundaryLevel = 0.5; o.contrast = .t2
        let seg = try CordSegmenter.segment(s.image(.t2w, snr: 20, seed: 11), options: o)
        let measured = Morphometry.perLevel(try Morphometry.perSlice(seg.soft, levels: s.levels.volume))
        let fromTruth = Morphometry.perLevel(try Morphometry.perSlice(s.cordFraction, levels: s.levels.volume))
        for t in s.truth.levels {
            guard let truth = t.measuredCSA, let m = measured.first(where: { $0.level == Int32(t.level.rawValue) }),
                  let f = fromTruth.first(where: { $0.level == Int32(t.level.rawValue) }) else { continue }
            #expect(abs(m.csa / truth - 1) < 0.01, "\(t.level): \(m.csa) vs \(truth)")
            #expect(abs(f.csa / truth - 1) < 0.005, "\(t.level) truth map: \(f.csa) vs \(truth)")
            #expect(abs(f.diameterAP / t.modelAP - 1) < 0.02 && abs(f.diameterRL / t.modelRL - 1) < 0.02)
        }
    }

    /// An ellipse tilted 20° about the RL axis: the angle correction recovers its area.
    @Test func tiltedEllipticCylinder() throws {
        let g = Grid(nx: 40, ny: 40, nz: 20, spacing: [0.5, 0.5, 1])
        let tilt = 20.0 * Double.pi / 180, a = 6.0, b = 4.0
        let shift = Foundation.tan(tilt), squeeze = Foundation.cos(tilt)
        var seg = Volume<Float>(grid: g)
        // Orthogonal section: ellipse a (x) × b; along y the axial section is b/cos(tilt).
        for k in 0..<g.nz { for j in 0..<g.ny { for i in 0..<g.nx {
            var inside = 0
            for q in 0..<16 {
                let fx: Double = (Double(q % 4) + 0.5) / 4 - 0.5, fy: Double = (Double(q / 4) + 0.5) / 4 - 0.5
                let x: Double = (Double(i) - 20 + fx) * 0.5
                let y: Double = (Double(j) - 20 + fy) * 0.5 - (Double(k) - 10) * shift
                let p: Double = x / a, r: Double = y * squeeze / b
                if p * p + r * r <= 1 { inside += 1 }
            }
            seg[i, j, k] = Float(inside) / 16
        } } }
        let slices = try Morphometry.perSlice(seg)
        let mid = slices[10]
        #expect(abs(mid.csa / (Double.pi * a * b) - 1) < 0.01, "CSA \(mid.csa)")
        #expect(abs(abs(mid.angleRL) - 20) < 0.5, "angle \(mid.angleRL)")
        #expect(abs(mid.diameterAP - 2 * b) < 0.1 && abs(mid.diameterRL - 2 * a) < 0.1, "AP \(mid.diameterAP), RL \(mid.diameterRL)")
        #expect(mid.solidity > 0.97 && mid.orientation < 1)
    }

    @Test func healthyNormsMatchTheCitedSummary() {
        #expect(HealthyNorms.levels.count == 8)
        #expect(abs((HealthyNorms.csa(level: 3)?.mean ?? 0) - 72.48) < 1e-9)
        #expect((HealthyNorms.csa(level: 5, sex: .male)?.mean ?? 0) > (HealthyNorms.csa(level: 5, sex: .female)?.mean ?? 0))
    }
}
