// The same anatomy on a sagittal (permuted, flipped) grid and on an oblique, flipped grid.
import Testing
import CordCore
import CordPhantom

@Suite struct GridOrientationTests {
    @Test func sagittalGridIsAPermutationWithFlips() {
        let g = Fixtures.sagittalGrid
        #expect(g.orientationCode == "ASL")
        let l = g.affine.linear
        // Each column has exactly one non-zero entry (a permutation of world axes).
        for c in 0..<3 { #expect((0..<3).filter { l[$0, c] != 0 }.count == 1) }
        #expect(Fixtures.sagittal.centerline.sliceAxis == 1)
    }

    @Test func sagittalAreaPerLevelWithinTwoPercent() {
        checkAreas(Fixtures.sagittal, name: "sagittal", expectedLevels: [.c2, .c3, .c4, .c5])
    }

    @Test func sagittalSidesAndLevels() {
        sidesAreCorrect(Fixtures.sagittal)
        levelsAreOrdered(Fixtures.sagittal)
    }

    @Test func obliqueGridIsRotatedAndFlipped() {
        let g = Fixtures.obliqueGrid
        let r = g.rotation
        // Not axis-aligned: an off-diagonal direction cosine above sin 5° (0.087). The RPI
        // base grid has a left-handed rotation part (det −1); reversing i makes it det +1.
        var offAxis = 0.0
        for a in 0..<3 { for b in 0..<3 where a != b { offAxis = max(offAxis, abs(r[a, b])) } }
        #expect(offAxis > 0.087)
        #expect(g.rotation.determinant > 0 && PhantomGrid.isotropic().rotation.determinant < 0)
    }

    @Test func obliqueAreaPerLevelWithinTwoPercent() {
        checkAreas(Fixtures.oblique, name: "oblique", expectedLevels: [.c4, .c5])
    }

    @Test func obliqueSidesAndLevels() {
        sidesAreCorrect(Fixtures.oblique)
        levelsAreOrdered(Fixtures.oblique)
    }

    @Test func sameAnatomyOnEveryGrid() {
        // The cord volume between the top of C3 and the bottom of C4 agrees between the
        // axial, sagittal and oblique phantoms (truth volume/length, 1 %).
        for s in [Fixtures.sagittal, Fixtures.oblique] {
            for level in [VertebralLevel.c4] {
                let a = Fixtures.axial.truth.levels[level.rawValue - 1].measuredCSA
                let b = s.truth.levels[level.rawValue - 1].measuredCSA
                if let a, let b {
                    #expect(abs(a / b - 1) < 0.01, "\(level): axial \(a) vs \(s.grid) \(b)")
                } else {
                    Issue.record("\(level) not covered on \(s.grid)")
                }
            }
        }
    }
}

/// Slice-wise, angle-corrected per-level means within 2 % of the table for every level
/// fully inside the grid; `expectedLevels` must be among them.
func checkAreas(_ s: PhantomSubject, name: String, expectedLevels: [VertebralLevel],
                sourceLocation: SourceLocation = #_sourceLocation) {
    let covered = s.truth.levels.filter { $0.measuredCSA != nil }.map(\.level)
    #expect(Set(expectedLevels).isSubset(of: covered), "covered \(covered)", sourceLocation: sourceLocation)
    let means = levelMeans(sliceAreas(s))
    var worst = 0.0, worstTruth = 0.0
    for level in covered {
        let t = s.truth.levels[level.rawValue - 1]
        guard let m = means[Int32(level.rawValue)] else {
            Issue.record("no slices measured for \(level)", sourceLocation: sourceLocation); continue
        }
        worst = max(worst, abs(m / t.requestedCSA - 1))
        #expect(abs(m / t.requestedCSA - 1) < 0.02, "\(level): \(m) vs \(t.requestedCSA) mm²", sourceLocation: sourceLocation)
        if let measured = t.measuredCSA {
            worstTruth = max(worstTruth, abs(measured / t.requestedCSA - 1))
            #expect(abs(measured / t.requestedCSA - 1) < 0.005, "\(level) truth \(measured)", sourceLocation: sourceLocation)
        }
    }
    print("\(name): levels \(covered), worst per-level CSA error (slices) \(worst * 100) %, (truth) \(worstTruth * 100) %")
}
