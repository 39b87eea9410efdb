import CordTestSupport
import Foundation
import Testing
@testable import CordAtlas
@testable import CordCore
@testable import CordIO
@testable import CordPhantom
@testable import CordRegistration

/// The radial in-plane refinement: exact inverse, and Dice of the warped template cord
/// against the segmentation with and without it.
@Suite struct RadialRefinementPhantomTests {
    /// Dice (and round trip, mm) without and with the refinement.
    /// Dice of the cord (which drives the registration) and of the grey matter (which does
    /// not: the atlas's GM against the phantom's truth) without and with the refinement,
    /// and the round trip (mm).
    static func compare(_ ph: PhantomSubject, atlas: Atlas) throws -> (before: Double, after: Double, gmBefore: Double, gmAfter: Double, roundTrip: Double) {
        let labels = try VertebralLabelling.fromLabels(Fixtures.bodyLabels(ph, levels: [3, 5]), kind: .vertebralBody, segmentation: ph.cordMask)
        var on = TemplateRegistrationOptions(); on.radialRefinement = true
        let a = try TemplateRegistration.register(subject: ph.t2w, segmentation: ph.cordMask, labels: labels, atlas: atlas)
        let b = try TemplateRegistration.register(subject: ph.t2w, segmentation: ph.cordMask, labels: labels, atlas: atlas, options: on)
        let wa = try a.atlasInSubjectSpace(), wb = try b.atlasInSubjectSpace()
        let before = Fixtures.dice(try #require(wa.cord), ph.cordMask)
        let after = Fixtures.dice(try #require(wb.cord), ph.cordMask)
        let gmBefore = Fixtures.dice(try #require(wa.greyMatter), ph.gmMask)
        let gmAfter = Fixtures.dice(try #require(wb.greyMatter), ph.gmMask)
        return (before, after, gmBefore, gmAfter, Fixtures.roundTripError(b, mask: ph.cordMask))
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
            print("phantom (\(name)): cord Dice affine \(String(format: "%.4f", r.before)) → radial \(String(format: "%.4f", r.after)); GM Dice \(String(format: "%.4f", r.gmBefore)) → \(String(format: "%.4f", r.gmAfter)); round trip \(String(format: "%.3f", r.roundTrip)) mm")
            #expect(r.after >= r.before + 0.01)     // the outline is matched: at least 1 point better
            #expect(r.gmAfter >= r.gmBefore - 0.01)  // the inside is not clearly worse (0–0.6 points lower; the taper p = 1 lost 0.6–0.9)
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
        var on = TemplateRegistrationOptions(); on.radialRefinement = true
        let a = try TemplateRegistration.register(subject: img, segmentation: seg, labels: labels, atlas: atlas)
        var reg: TemplateRegistration?
        let t = try Fixtures.seconds { reg = try TemplateRegistration.register(subject: img, segmentation: seg, labels: labels, atlas: atlas, options: on) }
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

extension RadialRefinementRealDataTests {
    /// The MT-on scan of the same subject (axial, 0.84 mm pixels, 17 mm slices) with its cord
    /// and grey-matter segmentations; levels from the t2 scan's labels (same session, same
    /// scanner coordinates: C3 and C5 mid-body world z). The grey matter does not drive the
    /// registration, so its Dice is an independent check of the inside of the cord.
    @Test func realMT1ToPAM50GreyMatterBeforeAndAfter() throws {
        var on = TemplateRegistrationOptions(); on.radialRefinement = true
        let (cord, grey, _) = try Fixtures.realMT1OffAndOn(atlas: try Fixtures.atlas(Fixtures.pam50Path, levels: Array(1...8)), options: on)
        print("mt1 → PAM50: cord Dice affine \(String(format: "%.4f", cord.0)) → radial \(String(format: "%.4f", cord.1)); GM Dice \(String(format: "%.4f", grey.0)) → \(String(format: "%.4f", grey.1))")
        #expect(cord.1 >= cord.0 + 0.005)
        #expect(grey.1 >= grey.0 - 0.005)   // the taper p = 1 lost 1.1 points here
    }
}
