import CordTestSupport
import Foundation
import Testing
@testable import CordAtlas
@testable import CordCore
@testable import CordIO
@testable import CordPhantom
@testable import CordRegistration

/// The image-driven in-plane refinement: recovery of a known deformation, inverse and
/// Jacobian, and Dice with and without it.
@Suite struct ImageRefinementTests {
    /// The CordQ atlas with its template contrasts (T1w, T2w), cropped to `levels`.
    static func atlasWithContrasts(_ path: String, levels: [Int]? = nil) throws -> Atlas {
        var o = AtlasLoadOptions(); o.contrasts = true; o.levels = levels; o.tractIDs = []
        return try Atlas(folder: AtlasFolder.load(path, options: o), source: path)
    }

    /// A known smooth in-plane deformation (mm): a Gaussian bump of displacement.
    static func truth(_ x: Double, _ y: Double) -> SIMD2<Double> {
        let r2 = (x - 1) * (x - 1) + (y - 0.5) * (y - 0.5)
        let g = exp(-r2 / (2 * 4.0 * 4.0))
        return SIMD2(0.9 * g, -0.6 * g)
    }

    /// Template T2w slices (0.5 mm lattice, 8 slices 2 mm apart in mid C4) as the moving stack;
    /// the fixed stack is the same template deformed by `truth` (or not).
    static func stacks(deformed: Bool) throws -> (SliceLattice, fixed: [Float], moving: [Float], weight: [Float]) {
        let atlas = try atlasWithContrasts(Fixtures.cordQAtlasPath, levels: [4])
        let t2 = try #require(atlas.contrasts["T2w"]), cord = try #require(atlas.cord)
        let g = atlas.grid
        let zMid = g.world(SIMD3(g.nx / 2, g.ny / 2, g.nz / 2)).z
        let lattice = SliceLattice(nx: 64, ny: 64, origin: SIMD2(-16, -16), spacing: 0.5, z: (0..<8).map { zMid - 7 + 2 * Double($0) })
        var fixed = [Float](repeating: 0, count: lattice.perSlice * lattice.count), moving = fixed, mask = fixed
        for k in 0..<lattice.count { for j in 0..<lattice.ny { for i in 0..<lattice.nx {
            let n = k * lattice.perSlice + i + lattice.nx * j
            let x = -16 + 0.5 * Double(i), y = -16 + 0.5 * Double(j), z = lattice.z[k]
            moving[n] = t2.trilinear(world: SIMD3(x, y, z))
            let d = deformed ? truth(x, y) : .zero
            fixed[n] = t2.trilinear(world: SIMD3(x + d.x, y + d.y, z))
            mask[n] = cord.trilinear(world: SIMD3(x, y, z)) >= 0.5 ? 1 : 0
        } } }
        return (lattice, fixed, moving, ImageRefinement.weights(mask, lattice: lattice, margin: 3, ramp: 3))
    }

    @Test func recoversAKnownDeformationAndStaysStillOnIdentity() throws {
        let (lattice, fixed, moving, weight) = try Self.stacks(deformed: true)
        do {
            let u = InPlaneDemons.register(fixed: fixed, moving: moving, weight: weight, lattice: lattice, parameters: DemonsParameters())
        var sum = 0.0, worst = 0.0, count = 0.0, truthSum = 0.0
        for k in 0..<lattice.count { for j in 0..<lattice.ny { for i in 0..<lattice.nx {
            let n = k * lattice.perSlice + i + lattice.nx * j
            guard weight[n] >= 1 else { continue }   // the region (cord + 3 mm)
            let t = Self.truth(-16 + 0.5 * Double(i), -16 + 0.5 * Double(j))
            let e = SIMD2(Double(u.ux[n]), Double(u.uy[n])) - t
            sum += (e * e).sum(); worst = max(worst, (e * e).sum().squareRoot()); count += 1; truthSum += (t * t).sum()
        } } }
        let rms = (sum / count).squareRoot(), truthRMS = (truthSum / count).squareRoot()
        print("demons recovery (60 iterations, σ 1.5 mm) in the ROI: RMS error \(rms) mm (true displacement RMS \(truthRMS) mm), max \(worst) mm")
        // Converged (150 and 300 iterations gave the same 0.168 mm): the rest is the aperture
        // problem — tangential motion along the cord outline and inside uniform white matter.
        #expect(rms < 0.35 * truthRMS)   // RMS error under 35% of the true displacement's RMS
        #expect(worst < 0.5)             // mm: under one 0.5 mm lattice pixel everywhere in the ROI
        }

        let (l0, f0, m0, w0) = try Self.stacks(deformed: false)
        let still = InPlaneDemons.register(fixed: f0, moving: m0, weight: w0, lattice: l0, parameters: DemonsParameters())
        let largest = zip(still.ux, still.uy).map { Double($0 * $0 + $1 * $1).squareRoot() }.max() ?? 0
        print("demons on identical stacks: max |u| \(largest) mm")
        #expect(largest < 0.01)   // mm
    }

    /// Registers the CordQ atlas (with contrasts) onto a phantom, with the refinement off and on.
    static func compare(_ ph: PhantomSubject, atlas: Atlas) throws -> (off: TemplateRegistration, on: TemplateRegistration, labels: VertebralLabels) {
        let labels = try VertebralLabelling.fromLabels(Fixtures.bodyLabels(ph, levels: [3, 5]), kind: .vertebralBody, segmentation: ph.cordMask)
        var on = TemplateRegistrationOptions(); on.imageRefinement = true; on.imageRefinementMaximumDiceLoss = nil   // the refinement itself, unguarded
        let a = try TemplateRegistration.register(subject: ph.t2w, segmentation: ph.cordMask, labels: labels, atlas: atlas)
        let b = try TemplateRegistration.register(subject: ph.t2w, segmentation: ph.cordMask, labels: labels, atlas: atlas, options: on)
        return (a, b, labels)
    }

    @Test func phantomCordAndGreyMatterDiceOffAndOn() throws {
        let atlas = try Self.atlasWithContrasts(Fixtures.cordQAtlasPath)
        let cases: [(String, (inout PhantomParameters) -> Void)] = [
            ("default anatomy", { _ in }),
            ("lordosis 9 mm, lateral 3 mm, C4 compressed 40%", { p in
                p.lordosisAmplitude = 9; p.lateralAmplitude = 3; p.topOfC1 = 78
                p.compression = CompressionParameters(level: .c4, fraction: 0.4, length: 12)
            }),
        ]
        for (name, edit) in cases {
            let ph = try Fixtures.phantom(edit)
            let (a, b, _) = try Self.compare(ph, atlas: atlas)
            let wa = try a.atlasInSubjectSpace(), wb = try b.atlasInSubjectSpace()
            let cord = (Fixtures.dice(try #require(wa.cord), ph.cordMask), Fixtures.dice(try #require(wb.cord), ph.cordMask))
            let grey = (Fixtures.dice(try #require(wa.greyMatter), ph.gmMask), Fixtures.dice(try #require(wb.greyMatter), ph.gmMask))
            let roundTrip = Fixtures.roundTripError(b, mask: ph.cordMask)
            print("phantom (\(name)), contrast \(b.imageContrast ?? "-"): cord Dice off \(String(format: "%.4f", cord.0)) → on \(String(format: "%.4f", cord.1)); GM Dice \(String(format: "%.4f", grey.0)) → \(String(format: "%.4f", grey.1)); round trip \(String(format: "%.3f", roundTrip)) mm")
            #expect(b.imageContrast == "T2w")     // exact: the phantom is T2w, the atlas has T1w and T2w
            #expect(cord.1 >= 0.90)                // issue 7's must-show, with the option on
            #expect(cord.1 >= cord.0)              // not worse than off (measured +1.6 points, default anatomy)
            #expect(grey.1 >= grey.0 - 0.01)
            #expect(roundTrip < 0.6)               // mm: within one 0.6 mm voxel, as without the option
        }
    }

    /// forward∘inverse = identity to 10⁻⁶ mm near the cord, and det(I + ∇u) > 0 on the lattice.
    @Test func invertibleWithPositiveJacobian() throws {
        let atlas = try Self.atlasWithContrasts(Fixtures.cordQAtlasPath)
        let ph = try Fixtures.phantom { $0.compression = CompressionParameters(level: .c5, fraction: 0.4, length: 12) }
        let (_, _, labels) = try Self.compare(ph, atlas: atlas)
        let subject = try CordProfile(ph.cordMask.map { Float($0) }, smoothing: 1.5)
        let cord = try #require(atlas.cord)
        let template = try CordProfile(cord.map { $0 >= 0.5 ? $0 : 0 })
        let map = CordMap(labels: labels, reference: try LevelReference(atlas: atlas), subject: subject, template: template)
        var options = TemplateRegistrationOptions(); options.imageRefinement = true
        let image = try ImageRefinement(map: map, subject: ph.t2w, segmentation: ph.cordMask.map { Float($0) }, atlas: atlas, options: options)
        print("image refinement: largest displacement \(image.maximumDisplacement) mm")
        #expect(image.maximumDisplacement > 0.05)   // mm: it is not the identity
        var worst = 0.0
        let g = ph.grid
        for n in 0..<ph.cordMask.data.count where ph.cordMask.data[n] != 0 {
            let p = g.world(g.coordinates(of: n))
            worst = max(worst, length(image.inverse(image.forward(p)) - p), length(image.forward(image.inverse(p)) - p))
        }
        print("image refinement: forward∘inverse max error \(worst) mm in the cord")
        #expect(worst < 1e-6)   // mm
        let l = image.lattice, h = l.spacing
        var smallest = Double.infinity
        for k in 0..<l.count { for j in 0..<(l.ny - 1) { for i in 0..<(l.nx - 1) {
            let n = k * l.perSlice + i + l.nx * j
            let a = Double(image.ux[n + 1] - image.ux[n]) / h, b = Double(image.ux[n + l.nx] - image.ux[n]) / h
            let c = Double(image.uy[n + 1] - image.uy[n]) / h, d = Double(image.uy[n + l.nx] - image.uy[n]) / h
            smallest = min(smallest, (1 + a) * (1 + d) - b * c)
        } } }
        print("image refinement: smallest det(I + ∇u) \(smallest)")
        #expect(smallest >= 0.16)   // the bound ‖∇u‖_F ≤ 0.6 guarantees (1 − 0.6)²
    }
}

@Suite(.enabled(if: Support.hasSharedData, "needs ../shared/data (sct_testing_data/t2 and PAM50)"))
struct ImageRefinementRealDataTests {
    /// Real T2w → PAM50 (no T1/T2 template in the shared copy: the T2w-like image comes from the
    /// tissue maps) with the two labels; Dice with the option on stays ≥ 0.90.
    @Test func realT2ToPAM50WithImageRefinement() throws {
        let (img, seg, labelImage) = try Fixtures.realT2()
        let atlas = try ImageRefinementTests.atlasWithContrasts(Fixtures.pam50Path, levels: Array(1...7))
        let labels = try VertebralLabelling.fromLabels(labelImage, kind: .vertebralBody, segmentation: seg)
        var on = TemplateRegistrationOptions(); on.imageRefinement = true; on.imageRefinementMaximumDiceLoss = nil   // the refinement itself, unguarded
        var a: TemplateRegistration?, b: TemplateRegistration?
        let tOff = try Fixtures.seconds { a = try TemplateRegistration.register(subject: img, segmentation: seg, labels: labels, atlas: atlas) }
        let tOn = try Fixtures.seconds { b = try TemplateRegistration.register(subject: img, segmentation: seg, labels: labels, atlas: atlas, options: on) }
        let ra = try #require(a), rb = try #require(b)
        let off = Fixtures.dice(try #require(try ra.atlasInSubjectSpace().cord), seg)
        let onDice = Fixtures.dice(try #require(try rb.atlasInSubjectSpace().cord), seg)
        let roundTrip = Fixtures.roundTripError(rb, mask: seg)
        print("t2 → PAM50 (\(rb.imageContrast ?? "-")): cord Dice off \(String(format: "%.4f", off)) → on \(String(format: "%.4f", onDice)); round trip \(String(format: "%.3f", roundTrip)) mm; registration \(String(format: "%.2f", tOff)) s → \(String(format: "%.2f", tOn)) s (debug build)")
        #expect(onDice >= 0.90)        // issue 7
        #expect(onDice >= off - 0.03)  // measured 0.985 → 0.968: the loss stays under 3 points
        #expect(roundTrip < 1.0)       // mm: one subject voxel, as without the option
    }

    /// The MT-on scan (grey-matter segmentation available) with the t2 scan's labels: cord and
    /// GM Dice off and on; the must-show cord Dice ≥ 0.90 with the option on.
    @Test func realMT1ToPAM50GreyMatterOffAndOn() throws {
        var on = TemplateRegistrationOptions(); on.imageRefinement = true; on.imageRefinementMaximumDiceLoss = nil   // the refinement itself, unguarded
        let (cord, grey, b) = try Fixtures.realMT1OffAndOn(
            atlas: try ImageRefinementTests.atlasWithContrasts(Fixtures.pam50Path, levels: Array(1...8)), options: on)
        print("mt1 → PAM50 (\(b.imageContrast ?? "-")): cord Dice off \(String(format: "%.4f", cord.0)) → on \(String(format: "%.4f", cord.1)); GM Dice \(String(format: "%.4f", grey.0)) → \(String(format: "%.4f", grey.1))")
        #expect(cord.1 >= 0.90)   // issue 7
    }
}
