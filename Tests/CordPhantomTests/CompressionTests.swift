// Focal compression: AP reduced by the requested fraction at the level, far levels unchanged.
import Testing
import CordCore
import CordPhantom

@Suite struct CompressionTests {
    let healthy = Fixtures.healthy, compressed = Fixtures.compressed
    let request = Fixtures.compression

    /// AP diameter (mm) in the slice crossing arc length s: Σ cord fraction × voxel height
    /// along the AP voxel column through the centerline (RPI grids only: j is AP).
    func apDiameter(_ s: PhantomSubject, atArcLength target: Double) -> (ap: Double, area: Double) {
        let slices = s.centerline.slices.compactMap { $0 }
        guard let p = slices.min(by: { abs($0.arcLength - target) < abs($1.arcLength - target) }) else { return (0, 0) }
        let i = Int(p.voxel.x.rounded()), k = Int(p.voxel.z.rounded())
        var column = 0.0, slice = 0.0
        for j in 0..<s.grid.ny {
            column += Double(s.cordFraction[i, j, k])
            for ii in 0..<s.grid.nx { slice += Double(s.cordFraction[ii, j, k]) }
        }
        let sp = s.grid.spacing
        return (column * sp.y, slice * sp.x * sp.y)
    }

    @Test func truthFollowsTheRequest() throws {
        let t = try #require(compressed.truth.compression)
        #expect(t.level == .c5 && t.fraction == 0.4)
        // d_i = (1 − f)·healthy AP exactly (1e-12 relative), area by the same factor.
        #expect(abs(t.compressedAP / t.healthyAP - 0.6) < 1e-12)
        #expect(abs(t.compressedCSA / t.healthyCSA - 0.6) < 1e-12)
        #expect(t.referenceLevels == [.c4, .c6])
        // MSCC from the Fehlings formula with the reference diameters (1e-9).
        #expect(abs(t.msccPercent - (1 - t.compressedAP / ((t.apAbove + t.apBelow) / 2)) * 100) < 1e-9)
        #expect(healthy.truth.compression == nil)
        print("compression truth: AP \(t.healthyAP) → \(t.compressedAP) mm, MSCC \(t.msccPercent) %")
    }

    @Test func apReducedByTheRequestedFractionAtTheLevel() throws {
        let sc = try #require(compressed.truth.compression).arcLength
        let h = apDiameter(healthy, atArcLength: sc), c = apDiameter(compressed, atArcLength: sc)
        // Measured on 0.5 mm pixels, 1 mm slices: AP ratio 1 − f within 0.02, area ratio
        // within 0.02.
        #expect(abs(c.ap / h.ap - (1 - request.fraction)) < 0.02, "AP \(h.ap) → \(c.ap) mm")
        #expect(abs(c.area / h.area - (1 - request.fraction)) < 0.02, "area \(h.area) → \(c.area) mm²")
        print("compression measured: AP \(h.ap) → \(c.ap) mm (ratio \(c.ap / h.ap)), area ratio \(c.area / h.area)")
    }

    @Test func measuredMSCCMatchesTruth() throws {
        let t = try #require(compressed.truth.compression)
        let a = compressed.anatomy
        let di = apDiameter(compressed, atArcLength: t.arcLength).ap
        let da = apDiameter(compressed, atArcLength: a.centre(of: .c4)).ap
        let db = apDiameter(compressed, atArcLength: a.centre(of: .c6)).ap
        let mscc = (1 - di / ((da + db) / 2)) * 100
        // Within 3 percentage points of the truth.
        #expect(abs(mscc - t.msccPercent) < 3, "MSCC measured \(mscc) vs truth \(t.msccPercent)")
        print("MSCC measured \(mscc) % vs truth \(t.msccPercent) %")
    }

    @Test func farLevelsAreUnchanged() throws {
        let t = try #require(compressed.truth.compression)
        let g = healthy.grid
        var compared = 0, maxDiff: Float = 0, changedNear = 0
        for k in 0..<g.nz {
            guard let p = healthy.centerline.slices[k] else { continue }
            let far = abs(p.arcLength - t.arcLength) > t.length / 2 + 3
            for j in 0..<g.ny {
                for i in 0..<g.nx {
                    let d = abs(healthy.t2wNoiseFree[i, j, k] - compressed.t2wNoiseFree[i, j, k])
                    if far { maxDiff = max(maxDiff, d); compared += 1 } else if d > 0.01 { changedNear += 1 }
                }
            }
        }
        // Slices more than length/2 + 3 mm away are identical (tolerance 0: same arithmetic).
        #expect(compared > 40 * g.nx * g.ny)
        #expect(maxDiff == 0)
        #expect(changedNear > 100)
        // C3, C4 (beyond the narrowing), C6, C7 areas unchanged: truth per level within 1e-9.
        for level in [VertebralLevel.c3, .c7] {
            let a = healthy.truth.levels[level.rawValue - 1], b = compressed.truth.levels[level.rawValue - 1]
            #expect(abs(a.modelCSA - b.modelCSA) < 1e-9 && a.measuredCSA == b.measuredCSA)
        }
        // The compressed level loses area: model mean over C5 below the healthy mean by > 10 %.
        let c5 = compressed.truth.levels[VertebralLevel.c5.rawValue - 1]
        #expect(c5.modelCSA < 0.9 * c5.requestedCSA)
    }

    @Test func csfIsEffacedAtTheCompression() throws {
        let t = try #require(compressed.truth.compression)
        // Along the AP line through the centerline, CSF in front of + behind the cord shrinks
        // to the 0.5 mm rims (≤ 1.5 mm in total, on 0.5 mm pixels) from several mm.
        func csfAlongAP(_ s: PhantomSubject) -> Double {
            guard let p = s.centerline.slices.compactMap({ $0 }).min(by: { abs($0.arcLength - t.arcLength) < abs($1.arcLength - t.arcLength) }) else { return .nan }
            let i = Int(p.voxel.x.rounded()), k = Int(p.voxel.z.rounded())
            var n = 0.0
            for j in 0..<s.grid.ny { n += Double(s.composition.fraction(of: .csf, at: s.grid.index(i, j, k))) }
            return n * s.grid.spacing.y
        }
        let h = csfAlongAP(healthy), c = csfAlongAP(compressed)
        #expect(h > 4 && c < 1.5, "CSF along AP: healthy \(h) mm, compressed \(c) mm")
    }
}
