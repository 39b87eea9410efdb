// Kinks in the detected centreline (a slice whose centre steps aside and back) are found by
// the neighbours' prediction, while a cord bending as a real one does is left alone.
import CordCore
import CordPhantom
import Testing
@testable import CordSegmentation

@Suite struct KinkTests {
    /// Centres (pixels) of a cord bending in the sagittal plane with radius `radius` mm, on
    /// slices `dz` mm apart, pixel 0.8 mm, starting at pixel (20, 20).
    static func bending(slices: Int, dz: Double, radius: Double) -> [SIMD2<Double>?] {
        (0..<slices).map { k in
            let z = (Double(k) - Double(slices - 1) / 2) * dz
            return SIMD2(20, 20 + (radius - (radius * radius - z * z).squareRoot()) / 0.8)
        }
    }

    static func stack(dz: Double, slices: Int) -> AxialStack {
        let g = PhantomGrid.axial(inPlane: 0.8, sliceThickness: dz, fieldOfView: 32, inferior: 0, superior: dz * Double(slices))
        return AxialStack(Volume<Float>(grid: g, repeating: 0))
    }

    /// A lordosis-like bend (radius 80 mm, tighter than the cervical curve) is not a kink, at
    /// 17 mm slices (the MT test scan's) and at 5 mm slices; the allowance is 3 mm plus the
    /// bend's sagitta (5.4 mm interior at 17 mm, 3.2 mm at 5 mm).
    @Test(arguments: [(17.0, 5), (5.0, 20)])
    func realBendIsNotAKink(dz: Double, slices: Int) {
        let s = Self.stack(dz: dz, slices: slices)
        #expect(s.nz == slices)
        let c = Self.bending(slices: slices, dz: dz, radius: 80)
        #expect(CenterlineDetector.worstKink(c, stack: s, ends: true) == nil)
        #expect(abs(CenterlineDetector.maximumKink(dz: 17, end: false) - 5.408) < 0.01)
    }

    /// One slice stepped 8 mm aside (the MT-off test scan's middle slice went about that far
    /// to a dark band beside the cord) is found, with the point its neighbours predict within
    /// 1.5 mm of where the cord is; a stepped end slice is judged only with `ends`.
    @Test func steppedSliceIsFound() throws {
        let s = Self.stack(dz: 17, slices: 5)
        let truth = Self.bending(slices: 5, dz: 17, radius: 120)
        var c = truth
        c[2] = truth[2]! + SIMD2(-8 / 0.8, -3 / 0.8)
        let (k, predicted, excess) = try #require(CenterlineDetector.worstKink(c, stack: s, ends: false))
        #expect(k == 2)
        #expect(excess > 2)
        let miss = (predicted - truth[2]!) * 0.8
        #expect((miss * miss).sum().squareRoot() < 1.5)

        var e = truth
        e[4] = truth[4]! + SIMD2(9 / 0.8, 0)
        #expect(CenterlineDetector.worstKink(e, stack: s, ends: false) == nil)
        #expect(CenterlineDetector.worstKink(e, stack: s, ends: true)?.0 == 4)
        // A slice without cord breaks the run: its neighbours are not judged across the gap.
        e[3] = nil
        #expect(CenterlineDetector.worstKink(e, stack: s, ends: true) == nil)
    }
}
