// `cordq dwi` on the SCT tutorial diffusion series (real anatomy); skipped without ../shared/data.
import Foundation
import Testing
import CordTestSupport
@testable import CordCLI
@testable import CordCore
@testable import CordIO

@Suite struct DiffusionRealDataTests {
    static let series = Support.sharedData + "/sct_tutorial_data/dmri/dmri.nii.gz"

    @Test(.enabled(if: Support.hasSharedData, "needs ../shared/data/sct_tutorial_data/dmri; skipped without it"))
    func dtiOnTheTutorialSeriesGivesCordLikeValues() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var cmd = try CordQCommand.parseAsRoot(["dwi", "dti", "--dwi", Self.series, "-o", dir + "/dti"])
        try cmd.run()
        let (fa, _) = try NIfTIFile.read(dir + "/dti/FA.nii.gz"), (md, _) = try NIfTIFile.read(dir + "/dti/MD.nii.gz")
        let (dwi, _) = try NIfTIFile.read(Self.series)
        // Cord region as in Benchmarks/diffusion/compare_mrtrix.py: the mean b = 800 image is bright in
        // the cord and dark in CSF; voxels above 50 % of its 99.5th percentile (bright vessels at the
        // field edge are excluded by keeping the central third in x).
        let n = dwi.grid.voxelCount
        let bvals = try TextFile.read(Support.sharedData + "/sct_tutorial_data/dmri/bvals.txt").split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { Double($0) }
        var mean = [Double](repeating: 0, count: n)
        let dw = bvals.enumerated().filter { $0.element > 50 }.map(\.offset)
        for t in dw { for i in 0..<n { mean[i] += Double(dwi.data[t * n + i]) / Double(dw.count) } }
        let threshold = 0.5 * mean.sorted()[Int(0.995 * Double(n))]
        var faIn: [Double] = [], mdIn: [Double] = []
        for i in 0..<n where mean[i] > threshold {
            let x = dwi.grid.coordinates(of: i).x
            guard x > dwi.grid.nx / 3 && x < 2 * dwi.grid.nx / 3 else { continue }
            faIn.append(Double(fa.data[i])); mdIn.append(Double(md.data[i]))
        }
        let faMedian = faIn.sorted()[faIn.count / 2], mdMedian = mdIn.sorted()[mdIn.count / 2]
        print("tutorial series: \(faIn.count) cord voxels, median FA \(faMedian), median MD \(mdMedian) µm²/ms")
        #expect(faIn.count > 800)                     // ≈ 100 voxels per slice × 15 slices
        #expect(faMedian > 0.6 && faMedian < 0.85)     // cervical cord WM FA 0.65–0.8 at 3 T (METHODS.md)
        #expect(mdMedian > 0.6 && mdMedian < 1.1)      // µm²/ms, healthy cord
        // One shell of linear encoding supports DTI only: μFA is refused with what it would need.
        var mufa = try CordQCommand.parseAsRoot(["dwi", "microfa", "--dwi", Self.series, "-o", dir + "/mufa"])
        do { try mufa.run(); Issue.record("μFA accepted a single-shell series") } catch {
            #expect("\(error)".contains("single linear shell supports DTI only"))
        }
    }
}
