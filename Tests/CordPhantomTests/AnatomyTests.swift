// The continuous anatomy: table, level profile, centerline frame, cross-section template.
import Foundation
import Testing
import CordCore
import CordPhantom

@Suite struct HealthyTableTests {
    @Test func levelsAreC1ToT1WithPAM50Lengths() {
        let t = HealthyCervicalCord.levels
        #expect(t.map(\.level) == VertebralLevel.allCases)
        // PAM50_levels: 46+31+37+37+33+31+34+43 slices of 0.5 mm = 146 mm (exact sum).
        #expect(abs(t.reduce(0) { $0 + $1.length } - 146) < 1e-9)
        #expect(t.map(\.length) == [23.0, 15.5, 18.5, 18.5, 16.5, 15.5, 17.0, 21.5])
        #expect(HealthyCervicalCord.citation.contains("Cohen-Adad et al. 2021 Sci Data 8:219"))
    }

    @Test func ellipseWithTableRatioMatchesTableDiameters() throws {
        // Scaling the AP/RL ellipse to the CSA changes the diameters by < 0.4 % (tolerance 0.5 %).
        let anatomy = try CordAnatomy(PhantomParameters())
        for l in HealthyCervicalCord.levels {
            let (a, b) = anatomy.semiAxes(atArcLength: anatomy.centre(of: l.level))
            #expect(abs(2 * a / l.rlDiameter - 1) < 0.005, "\(l.level) RL \(2 * a) vs \(l.rlDiameter)")
            #expect(abs(2 * b / l.apDiameter - 1) < 0.005, "\(l.level) AP \(2 * b) vs \(l.apDiameter)")
            // AP/RL ratio kept exactly (1e-12) in the level's plateau.
            #expect(abs(b / a - l.apDiameter / l.rlDiameter) < 1e-12)
        }
    }

    @Test func levelNamesAndDiscConvention() throws {
        #expect(VertebralLevel(name: "c3") == .c3 && VertebralLevel(name: "T1") == .t1 && VertebralLevel(name: "C8") == nil)
        #expect(VertebralLevel.c3.discAbove == 3 && VertebralLevel.discName(3) == "C2/C3")
        #expect(VertebralLevel.discName(1) == "top of C1" && VertebralLevel.discName(9) == "T1/T2")
        let json = try JSONEncoder().encode([VertebralLevel.c5])
        #expect(String(decoding: json, as: UTF8.self) == "[\"C5\"]")
        #expect(try JSONDecoder().decode([VertebralLevel].self, from: Data("[6, \"t1\"]".utf8)) == [.c6, .t1])
    }
}

@Suite struct AnatomyTests {
    @Test func meanAreaOverEachLevelEqualsRequestedCSA() throws {
        let anatomy = try CordAnatomy(PhantomParameters())
        var worst = 0.0
        for l in HealthyCervicalCord.levels {
            let e = abs(anatomy.meanCordArea(l.level) / l.csa - 1)
            worst = max(worst, e)
            // Plateaus solve the level means exactly; 1e-6 covers the 0.01 mm midpoint rule.
            #expect(e < 1e-6, "\(l.level): \(anatomy.meanCordArea(l.level)) vs \(l.csa) mm²")
        }
        print("model level-mean CSA worst relative error: \(worst)")
    }

    @Test func levelsRunFromC1AtTheTopToT1() throws {
        var p = PhantomParameters(); p.topOfC1 = 60; p.lordosisAmplitude = 8
        let anatomy = try CordAnatomy(p)
        // Disc 1 (top of C1) sits at world z = topOfC1 (1e-6 mm).
        #expect(abs(anatomy.centerlinePoint(atArcLength: 0).z - 60) < 1e-6)
        let z = VertebralLevel.allCases.map { anatomy.centerlinePoint(atArcLength: anatomy.centre(of: $0)).z }
        #expect(zip(z, z.dropFirst()).allSatisfy { $0 > $1 }, "level centres z \(z)")
        #expect(anatomy.level(atArcLength: -1) == nil && anatomy.level(atArcLength: 146.5) == nil)
        #expect(anatomy.level(atArcLength: 0) == .c1 && anatomy.level(atArcLength: 145.9) == .t1)
        // The lordosis bows anterior: mid-cord y ≈ amplitude (8 mm ± 0.05 mm).
        #expect(abs(anatomy.centerlinePoint(atArcLength: 73).y - 8) < 0.05)
    }

    @Test func cordCoordinatesReconstructWorldPoints() throws {
        var p = PhantomParameters(); p.lordosisAmplitude = 10; p.lateralAmplitude = 3
        let anatomy = try CordAnatomy(p)
        var rng = SeededRNG(seed: 11)
        var worst = 0.0, worstOrthogonality = 0.0
        for _ in 0..<500 {
            let q = SIMD3(60 * rng.uniform() - 30, 60 * rng.uniform() - 25, 200 * rng.uniform() - 100)
            let c = anatomy.coordinates(ofWorld: q)
            let foot = anatomy.centerlinePoint(atArcLength: c.s)
            let (eu, ev) = anatomy.crossSectionAxes(atArcLength: c.s)
            worst = max(worst, length(foot + c.u * eu + c.v * ev - q))
            worstOrthogonality = max(worstOrthogonality, abs(dot(q - foot, c.tangent)))
        }
        // Foot point to 1e-6 mm; the offset is orthogonal to the tangent to 1e-6 mm.
        #expect(worst < 1e-6, "reconstruction error \(worst) mm")
        #expect(worstOrthogonality < 1e-6, "along-tangent residual \(worstOrthogonality) mm")
    }

    @Test func crossSectionTemplateFractions() {
        let f = CrossSectionTemplate.areaFractions(resolution: 1200)
        func sum(_ cs: [TissueClass]) -> Double { cs.reduce(0) { $0 + f[Int($1.rawValue)] } }
        // Independent reference: the same shapes rasterised with numpy on a 1200² grid
        // (tolerance 0.002).
        let expected: [(String, [TissueClass], Double)] = [
            ("GM", TissueClass.allCases.filter(\.isGreyMatter), 0.2003),
            ("ventral horns", [.ventralHornLeft, .ventralHornRight], 0.0839),
            ("intermediate zone", [.intermediateZoneLeft, .intermediateZoneRight], 0.0668),
            ("dorsal horns", [.dorsalHornLeft, .dorsalHornRight], 0.0497),
            ("dorsal columns", [.dorsalColumnLeft, .dorsalColumnRight], 0.2525),
            ("other lateral funiculus", [.lateralFuniculusLeft, .lateralFuniculusRight], 0.2664),
            ("LCST", [.lateralCorticospinalLeft, .lateralCorticospinalRight], 0.1280),
            ("ventral funiculi", [.ventralFuniculusLeft, .ventralFuniculusRight], 0.1528),
        ]
        for (name, classes, value) in expected {
            #expect(abs(sum(classes) - value) < 0.002, "\(name): \(sum(classes)) vs \(value)")
        }
        // Cord classes partition the disc (sum 1 within 1e-12); left/right mirror within 1e-3.
        #expect(abs(sum(TissueClass.allCases.filter(\.isCord)) - 1) < 1e-12)
        for c in TissueClass.allCases where c.isCord && c.side < 0 {
            let right = TissueClass(rawValue: c.rawValue + 1)!
            #expect(abs(f[Int(c.rawValue)] - f[Int(right.rawValue)]) < 1e-3, "\(c.name)")
        }
        // Sides: left classes at x < 0, a ventral horn in front of a dorsal horn.
        #expect(CrossSectionTemplate.tissue(x: -0.36, y: 0.26) == .ventralHornLeft)
        #expect(CrossSectionTemplate.tissue(x: 0.37, y: -0.31) == .dorsalHornRight)
        #expect(CrossSectionTemplate.tissue(x: 0, y: -0.8) != nil && CrossSectionTemplate.tissue(x: 0.9, y: 0.9) == nil)
    }
}

@Suite struct ParameterTests {
    @Test func codableRoundTripAndPartialJSON() throws {
        var p = PhantomParameters()
        p.seed = 99; p.snr = nil; p.compression = CompressionParameters(level: .c6, fraction: 0.3)
        let back = try JSONDecoder().decode(PhantomParameters.self, from: JSONEncoder().encode(p))
        #expect(back == p)
        let partial = try JSONDecoder().decode(PhantomParameters.self, from: Data(
            #"{"seed": 5, "compression": {"level": "C4", "fraction": 0.25}, "contrast": {"greyWhiteContrast": false}}"#.utf8))
        #expect(partial.seed == 5 && partial.snr == 20 && partial.compression?.length == 12)
        #expect(partial.compression?.level == .c4 && partial.contrast.greyWhiteContrast == false)
        #expect(partial.contrast.csf == 1 && partial.levels == HealthyCervicalCord.levels)
        let noNoise = try JSONDecoder().decode(PhantomParameters.self, from: Data(#"{"snr": null}"#.utf8))
        #expect(noNoise.snr == nil)
    }

    @Test func invalidParametersAreRejectedWithTheirName() {
        var p = PhantomParameters()
        p.compression = CompressionParameters(level: .c5, fraction: 1.2)
        #expect(throws: CordError.self) { try CordAnatomy(p) }
        p = PhantomParameters(); p.csfSacAPDiameter = 8
        do { _ = try CordAnatomy(p); Issue.record("a sac narrower than the cord was accepted") } catch {
            #expect("\(error)".contains("CSF sac"))
        }
        p = PhantomParameters(); p.levels.removeLast()
        #expect(throws: CordError.self) { try CordAnatomy(p) }
    }
}
