import CordTestSupport
import Foundation
import Testing
@testable import CordAtlas
@testable import CordCore
@testable import CordPhantom
@testable import CordRegistration

/// The radial in-plane refinement: exact inverse, and Dice of the warped template cord
/// against the segmentation with and without it.
@Suite struct RadialRefinementPhantomTests {
    /// Dice (and round trip, mm) without and with the refinement.
    static func compare(_ ph: PhantomSubject, atlas: Atlas) throws -> (before: Double, after: Double, roundTrip: Double) {
        let labels = try VertebralLabelling.fromLabels(Fixtures.bodyLabels(ph, levels: [3, 5]), kind: .vertebralBody, segmentation: ph.cordMask)
        var off = TemplateRegistrationOptions(); off.radialRefinement = false
        let a = try TemplateRegistration.register(subject: ph.t2w, segmentation: ph.cordMask, labels: labels, atlas: atlas, options: off)
        let b = try TemplateRegistration.register(subject: ph.t2w, segmentation: ph.cordMask, labels: labels, atlas: atlas)
        let cordA = try a.atlasInSubjectSpace().cord, cordB = try b.atlasInSubjectSpace().cord
        let before = Fixtures.dice(try #require(cordA), ph.cordMask)
        let after = Fixtures.dice(try #require(cordB), ph.cordMask)
        return (before, after, Fixtures.roundTripError(b, mask: ph.cordMask))
    }

    @Test func phantomDiceBeforeAndAfter() throws {
        let atlas = try Fixtures.atlas(Fixtures.cordQAtlasPath)
        let cases: [(String, (inout PhantomParameters) -> Void)] = [
            ("default anatomy", { _ in }),
            ("C5 compressed 40%", { $0.compression = CompressionParameters(level: .c5, fraction: 0.4, length: 12) }),
            ("lordosis 9 mm, lateral 3 mm, C4 compressed 40%", { p in
                p.lordosisAmplitude = 9; p.lateralAmplitude = 3; p.topOfC1 = 78
                p.compression = CompressionParameters(level: .c4, fraction: 0.4, length: 12)
            }),
        ]
        for (name, edit) in cases {
            let r = try Self.compare(try Fixtures.phantom(edit), atlas: atlas)
            print("phantom (\(name)): Dice affine \(String(format: "%.4f", r.before)) → radial \(String(format: "%.4f", r.after)), round trip \(String(format: "%.3f", r.roundTrip)) mm")
            #expect(r.after >= r.before - 0.002)   // never clearly worse
            #expect(r.roundTrip < 0.6)             // mm: within one 0.6 mm voxel
        }
    }

    /// forward∘inverse and inverse∘forward are the identity (exact up to rounding).
    @Test func stretchIsExactlyInvertible() throws {
        let ph = try Fixtures.phantom { $0.compression = CompressionParameters(level: .c5, fraction: 0.4, length: 12) }
        let atlas = try Fixtures.atlas(Fixtures.cordQAtlasPath)
        let labels = try VertebralLabelling.fromLabels(Fixtures.bodyLabels(ph, levels: [3, 5]), kind: .vertebralBody, segmentation: ph.cordMask)
        let subject = try CordProfile(ph.cordMask.map { Float($0) }, smoothing: 1.5)
        let cord = try #require(atlas.cord)
        let template = try CordProfile(cord.map { $0 >= 0.5 ? $0 : 0 })
        let map = CordMap(labels: labels, reference: try LevelReference(atlas: atlas), subject: subject, template: template)
        let radial = try #require(RadialRefinement(map: map, segmentation: ph.cordMask.map { Float($0) }, templateCord: cord))
        #expect(radial.k.contains { abs($0 - 1) > 0.01 })   // the stretch is not the identity
        var rng = SeededRNG(seed: 5)
        var worst = 0.0
        for _ in 0..<2000 {
            let p = SIMD3(6 * rng.normal(), 3 + 6 * rng.normal(), 40 * rng.normal())
            let c = subject.at(z: p.z).centre
            worst = max(worst, length(radial.inverse(radial.forward(p, centre: c), centre: c) - p),
                        length(radial.forward(radial.inverse(p, centre: c), centre: c) - p))
        }
        #expect(worst < 1e-9)   // mm
    }
}

@Suite(.enabled(if: Support.hasSharedData, "needs ../shared/data (sct_testing_data/t2 and PAM50)"))
struct RadialRefinementRealDataTests {
    @Test func realT2ToPAM50DiceBeforeAndAfter() throws {
        let (img, seg, labelImage) = try Fixtures.realT2()
        let atlas = try Fixtures.atlas(Fixtures.pam50Path, levels: Array(1...7))
        let labels = try VertebralLabelling.fromLabels(labelImage, kind: .vertebralBody, segmentation: seg)
        var off = TemplateRegistrationOptions(); off.radialRefinement = false
        let a = try TemplateRegistration.register(subject: img, segmentation: seg, labels: labels, atlas: atlas, options: off)
        var reg: TemplateRegistration?
        let t = try Fixtures.seconds { reg = try TemplateRegistration.register(subject: img, segmentation: seg, labels: labels, atlas: atlas) }
        let b = try #require(reg)
        let cordA = try a.atlasInSubjectSpace().cord, cordB = try b.atlasInSubjectSpace().cord
        let before = Fixtures.dice(try #require(cordA), seg)
        let after = Fixtures.dice(try #require(cordB), seg)
        let roundTrip = Fixtures.roundTripError(b, mask: seg)
        print("t2 → PAM50: Dice affine \(String(format: "%.4f", before)) → radial \(String(format: "%.4f", after)), round trip \(String(format: "%.3f", roundTrip)) mm, registration \(String(format: "%.2f", t)) s")
        #expect(after >= before - 0.002)
        #expect(roundTrip < 1.0)   // mm: one subject voxel
    }
}
