import Foundation
import Testing
@testable import CordCore
@testable import CordLongitudinal
@testable import CordPhantom
@testable import CordPipeline

/// Between-session alignment on a phantom T2w read out twice from one subject, the second
/// time moved by a known translation.
@Suite struct HalfwayAlignmentTests {
    @Test func knownTranslationIsRecovered() throws {
        let p = try PhantomCohort(healthy: 1, compressed: 0, seed: 5).subjects()[0].parameters
        let grid = PhantomCohortExport.grid(for: p, fieldOfView: 24, margin: 6)
        let phantom = try PhantomSubject(p, on: PhantomCohortExport.grid(for: p, fieldOfView: 40, margin: 24))
        let t = SIMD3<Double>(0.8, -0.6, 4.0)
        func session(_ shift: SIMD3<Double>, _ label: String) -> SessionAnatomy {
            var v = Volume<Float>(grid: grid, repeating: 0), m = Mask(grid: grid, repeating: 0)
            for n in 0..<grid.voxelCount {
                let q = grid.world(grid.coordinates(of: n)) - shift
                v.data[n] = phantom.t2w.trilinear(world: q); m.data[n] = phantom.cordMask.nearest(world: q, outside: 0)
            }
            return SessionAnatomy(label: label, image: v, cord: m)
        }
        let (found, ncc) = try HalfwaySpace.align(fixed: session(.zero, "a"), moving: session(t, "b"))
        print("translation: found \(found) mm for \(t) mm, NCC \(ncc)")
        // Tolerance: 0.3 mm per axis (0.5 × 0.5 × 3 mm voxels; the images are interpolated).
        #expect(abs(found.x - t.x) < 0.3 && abs(found.y - t.y) < 0.3 && abs(found.z - t.z) < 0.3)
    }
}
