// Shared phantoms and overlap measures for the CordSegmentation tests.
import CordCore
import CordPhantom
@testable import CordSegmentation

/// Small phantoms, built once (static lets initialise lazily).
enum Fixtures {
    /// C3–C5 on axial 0.5 × 0.5 × 2 mm slices, 24 mm field of view: partial coverage.
    static let axialGrid = PhantomGrid.axial(inPlane: 0.5, sliceThickness: 2, fieldOfView: 24,
                                             inferior: -20, superior: 36, centre: [0, 3])
    static let axial: PhantomSubject = make(PhantomParameters(), axialGrid)

    static func make(_ p: PhantomParameters, _ g: Grid) -> PhantomSubject {
        let start = ContinuousClock.now
        do {
            let s = try PhantomSubject(p, on: g)
            print("phantom on \(g): \(ContinuousClock.now - start)")
            return s
        } catch {
            fatalError("phantom failed: \(error)")
        }
    }
}

/// Dice coefficient 2|A∩B|/(|A|+|B|) of two masks (non-zero = inside) on the same grid.
func dice(_ a: Mask, _ b: Mask) -> Double {
    var both = 0, na = 0, nb = 0
    for n in 0..<a.data.count {
        let x = a.data[n] != 0, y = b.data[n] != 0
        if x { na += 1 }
        if y { nb += 1 }
        if x && y { both += 1 }
    }
    return na + nb == 0 ? 1 : 2 * Double(both) / Double(na + nb)
}

/// The same mask restricted to RPI slices `slices` (other slices cleared).
func restricted(_ m: Mask, toSlicesOf seg: CordSegmentation) -> Mask {
    let (rpi, r) = m.reoriented(to: .canonical)
    var out = rpi
    let per = rpi.grid.nx * rpi.grid.ny
    for k in 0..<rpi.grid.nz where !seg.slices.contains(k) {
        for n in (per * k)..<(per * (k + 1)) { out.data[n] = 0 }
    }
    return r.invert(out)
}
