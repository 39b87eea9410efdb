import Foundation
import Testing
import CordTestSupport
@testable import CordCore
@testable import CordIO
@testable import CordLongitudinal
@testable import CordPhantom
@testable import CordPipeline

/// Change maps written by `cordq longitudinal` and read back from the files: a phantom subject
/// scanned twice a year apart (moved and turned between visits) with demyelination planted in
/// the dorsal columns (MT saturation × 0.7, radial diffusivity × 1.3), DWI and MT at each
/// visit, processed by `process`. Truth: the simulator's FA and MTR maps and tissue labels of
/// each session, sampled through the same halfway-space mappings. (The simulator and CordQ's
/// DTI/MTR share the signal equations; what this checks is the between-session path: halfway
/// resampling, masks and the written files.)
@Suite struct ChangeMapFileTests {
    @Test func plantedDorsalColumnChangeIsInTheWrittenFAAndMTRMaps() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let root = dir + "/bids"
        var sessions = PhantomSessions(count: 2, intervalDays: 365)
        sessions.diffusionAndMT = true
        sessions.dorsalDemyelinationPerYear = 0.3
        sessions.rotationRange = 1.5
        _ = try PhantomCohortExport.write(PhantomCohort(healthy: 1, compressed: 0, seed: 7), to: root, fieldOfView: 24, sessions: sessions)
        let summary = try LongitudinalPipeline.run(LongitudinalRequest(subject: root + "/sub-hc01", output: dir + "/out"))
        let maps = try TSVTable.read(dir + "/out/sub-hc01_changemaps.tsv").records
        #expect(Set(maps.compactMap { $0["map"] }) == ["FA", "MD", "MTR"])
        let dorsal: Set<Int32> = [1, 2], otherWhite: Set<Int32> = [3, 4, 5, 6, 7, 8]
        for (name, truthMap, tissues) in [("FA", "dwi/sub-hc01_ses-%@_desc-truthFA_dwimap", "dwi/sub-hc01_ses-%@_desc-tissues_dseg"),
                                          ("MTR", "anat/sub-hc01_ses-%@_mt_desc-truthMTR_map", "anat/sub-hc01_ses-%@_mt_desc-tissues_dseg")] {
            let row = try #require(maps.first { $0["map"] == name })
            let (diff, _) = try NIfTIFile.read(dir + "/out/" + (row["file"] ?? ""))
            let floor = try #require(Double(row["noise_floor"] ?? ""))
            func truth(_ ses: String) throws -> (Volume<Float>, Volume<Float>) {
                let t = root + "/derivatives/truth/sub-hc01/ses-\(ses)/"
                return (try NIfTIFile.read(t + String(format: truthMap, ses) + ".nii.gz").0, try NIfTIFile.read(t + String(format: tissues, ses) + ".nii.gz").0)
            }
            let (t1, l1) = try truth("01"), (t2, l2) = try truth("02")
            var measured: [Set<Int32>: [Double]] = [:], planted: [Set<Int32>: [Double]] = [:]
            let g = diff.grid
            for n in 0..<g.voxelCount where diff.data[n].isFinite {
                let h = g.world(g.coordinates(of: n))
                let p1 = summary.halfway.toSession(h, 0), p2 = summary.halfway.toSession(h, 1)
                let a = Int32(l1.nearest(world: p1, outside: 0)), b = Int32(l2.nearest(world: p2, outside: 0))
                for region in [dorsal, otherWhite] where region.contains(a) && region.contains(b) {
                    measured[region, default: []].append(Double(diff.data[n]))
                    planted[region, default: []].append(Double(t2.nearest(world: p2, outside: .nan) - t1.nearest(world: p1, outside: .nan)))
                }
            }
            func mean(_ x: [Double]?) -> Double { let v = (x ?? []).filter(\.isFinite); return v.reduce(0, +) / Double(max(v.count, 1)) }
            let md = mean(measured[dorsal]), pd = mean(planted[dorsal]), mo = mean(measured[otherWhite]), po = mean(planted[otherWhite])
            print("\(name) change map: dorsal columns measured \(formatFixed(md, 4)) vs planted \(formatFixed(pd, 4)) (\(measured[dorsal]?.count ?? 0) voxels); other white matter measured \(formatFixed(mo, 4)) vs planted \(formatFixed(po, 4)) (\(measured[otherWhite]?.count ?? 0) voxels); noise floor \(formatFixed(floor, 4))")
            #expect((measured[dorsal]?.count ?? 0) >= 20 && (measured[otherWhite]?.count ?? 0) >= 50)
            // Tolerance: the dorsal columns' mean change within 40 % of the planted one (1 mm voxels
            // over tracts ≈ 3 mm wide: partial volume with unchanged neighbours and CSF), of the
            // right sign and beyond 3 standard errors of the noise floor; unchanged white matter's
            // mean change below a third of the planted one.
            #expect(pd < 0)
            #expect(abs(md - pd) < 0.4 * abs(pd))
            #expect(md < -3 * floor / Double(max(measured[dorsal]?.count ?? 1, 1)).squareRoot())
            #expect(abs(mo - po) < abs(pd) / 3)
        }
    }
}
