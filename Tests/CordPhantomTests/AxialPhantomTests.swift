// The whole cord C1–T1 on an axial grid: areas, labels, levels, discs, contrast, noise.
import Foundation
import Testing
import CordCore
import CordPhantom

@Suite struct AxialPhantomTests {
    let s = Fixtures.axial

    @Test func areaPerLevelWithinTwoPercentOfRequested() {
        let means = levelMeans(sliceAreas(s))
        #expect(means.count == 8, "levels measured: \(means.keys.sorted())")
        var worst = 0.0, worstTruth = 0.0
        for l in HealthyCervicalCord.levels {
            guard let m = means[Int32(l.level.rawValue)] else { continue }
            let e = abs(m / l.csa - 1)
            worst = max(worst, e)
            // Slice-wise, angle-corrected area from the fractional map: 2 %.
            #expect(e < 0.02, "\(l.level): \(m) vs \(l.csa) mm²")
            // The phantom's own partial-volume volume/length: 0.5 %.
            let t = s.truth.levels[l.level.rawValue - 1]
            if let measured = t.measuredCSA {
                worstTruth = max(worstTruth, abs(measured / l.csa - 1))
                #expect(abs(measured / l.csa - 1) < 0.005, "\(l.level) truth measured \(measured)")
            } else {
                Issue.record("\(l.level) should lie inside the axial grid")
            }
        }
        print("axial: worst per-level CSA error (slices) \(worst * 100) %, (truth volume/length) \(worstTruth * 100) %")
    }

    @Test func labelsArePartitionAndMasksAgree() {
        let g = s.grid
        var worstSum: Float = 0
        var mismatches = 0
        for n in 0..<g.voxelCount {
            let f = s.composition.fractions(at: n)
            worstSum = max(worstSum, abs(f.reduce(0, +) - 1))
            let c = TissueClass(rawValue: s.tissueLabels.volume.data[n])
            let isCord = c?.isCord ?? false
            if isCord != (s.cordMask.data[n] == 1) || (s.cordFraction.data[n] >= 0.5) != isCord { mismatches += 1 }
            if (c?.isGreyMatter ?? false) != (s.gmMask.data[n] == 1) || (c == .csf) != (s.csfMask.data[n] == 1) { mismatches += 1 }
            if s.gmMask.data[n] == 1 && (s.cordMask.data[n] == 0 || s.csfMask.data[n] == 1) { mismatches += 1 }
        }
        // Fractions sum to 1 within Float rounding (1e-5); masks and labels agree exactly.
        #expect(worstSum < 1e-5)
        #expect(mismatches == 0)
        // Every named cord class and CSF, bone, disc appear.
        let present = Set(s.tissueLabels.presentLabels)
        #expect(present == Set(TissueClass.allCases.filter { $0 != .background }.map(\.rawValue)))
        #expect(s.tissueLabels.label(named: "WM left lateral corticospinal tract") == TissueClass.lateralCorticospinalLeft.rawValue)
    }

    @Test func truthEncodesToJSONAndBack() throws {
        let data = try JSONEncoder().encode(s.truth)
        let back = try JSONDecoder().decode(PhantomTruth.self, from: data)
        #expect(back.levels == s.truth.levels && back.parameters == s.parameters)
        #expect(back.regionAreaFractions.count == 14 && back.orientation == "RPI")
        // GM area = model CSA × GM fraction (0.200 ± 0.002 of the cord; 0.206 before issue #25).
        let c4 = s.truth.levels[3]
        #expect(abs(c4.gmArea / c4.modelCSA - 0.2003) < 0.002)
        // Level ranges tile C1–T1 with the PAM50 lengths (1e-9 mm).
        #expect(s.truth.levels.allSatisfy { abs(($0.arcLengthEnd - $0.arcLengthStart) - s.parameters.levels[$0.level.rawValue - 1].length) < 1e-9 })
        #expect(zip(s.truth.levels, s.truth.levels.dropFirst()).allSatisfy { $0.inferiorZ == $1.superiorZ && $0.superiorZ > $0.inferiorZ })
    }

    @Test func leftLabelsLieOnThePatientsLeft() {
        sidesAreCorrect(s)
    }

    @Test func levelsAreOrderedAlongTheCord() {
        levelsAreOrdered(s)
        // Level voxels are exactly the cord-mask voxels between the top of C1 and T1/T2.
        var outside = 0
        for n in 0..<s.grid.voxelCount where s.levels.volume.data[n] != 0 && s.cordMask.data[n] == 0 { outside += 1 }
        #expect(outside == 0)
        #expect(s.levels.names[1] == "C1" && s.levels.names[8] == "T1")
    }

    @Test func discsSitBetweenLevelsOnTheCenterline() {
        var discZ: [Int32: Double] = [:]
        for n in 0..<s.grid.voxelCount where s.discs.volume.data[n] != 0 {
            #expect(discZ[s.discs.volume.data[n]] == nil, "disc \(s.discs.volume.data[n]) labelled twice")
            discZ[s.discs.volume.data[n]] = worldOf(s.grid, n).z
        }
        // Discs 1…9 all inside this grid, one voxel each, z decreasing.
        #expect(discZ.keys.sorted() == Array(1...9))
        let z = (1...9).compactMap { discZ[Int32($0)] }
        #expect(zip(z, z.dropFirst()).allSatisfy { $0 > $1 }, "disc z \(z)")
        #expect(s.discs.names[3] == "C2/C3")
        // Disc n lies between the level-(n−1) and level-n voxels (mean z).
        let levelZ = meanZPerLevel(s)
        for n in 2...8 {
            guard let d = discZ[Int32(n)], let above = levelZ[Int32(n - 1)], let below = levelZ[Int32(n)] else {
                Issue.record("disc \(n) or its levels missing"); continue
            }
            #expect(above > d && d > below, "disc \(n) at z \(d) between \(above) and \(below)")
        }
    }

    @Test func t2wContrastPerTissue() {
        let c = s.parameters.contrast
        var seen = Set<Int32>()
        var worst = 0.0
        for n in 0..<s.grid.voxelCount {
            guard let t = s.composition.pureTissue(at: n) else { continue }
            let expected = c.intensities[Int(t.rawValue)]
            worst = max(worst, abs(Double(s.t2wNoiseFree.data[n]) - expected))
            seen.insert(t.rawValue)
        }
        // Pure voxels carry their tissue's intensity (Float rounding, 1e-6).
        #expect(worst < 1e-6)
        #expect(seen.contains(TissueClass.csf.rawValue) && seen.contains(TissueClass.background.rawValue))
        #expect(c.csf > c.greyMatter && c.greyMatter > c.whiteMatter && c.whiteMatter > c.background)
        // Without GM/WM contrast, GM takes the WM value.
        var flat = T2wContrast(); flat.greyWhiteContrast = false
        #expect(flat.intensities[Int(TissueClass.ventralHornLeft.rawValue)] == flat.whiteMatter)
    }

    @Test func ricianNoiseHasTheRequestedSigma() {
        // In pure CSF (signal 1, σ = 0.3/20 = 0.015, local SNR 67) Rician ≈ Gaussian: the
        // difference noisy − noise-free has SD σ within 4 %.
        var diffs: [Double] = []
        for n in 0..<s.grid.voxelCount where s.composition.pureTissue(at: n) == .csf {
            diffs.append(Double(s.t2w.data[n]) - Double(s.t2wNoiseFree.data[n]))
        }
        let sd = standardDeviation(diffs)
        #expect(diffs.count > 1000)
        #expect(abs(sd / 0.015 - 1) < 0.04, "σ measured \(sd) over \(diffs.count) voxels")
        #expect(abs(s.truth.noiseSigma - 0.015) < 1e-12)
        print("axial: noise SD in CSF \(sd) (σ 0.015), \(diffs.count) voxels")
    }
}

// MARK: - Checks shared with the sagittal and oblique grids

/// Left classes have their fraction-weighted centroid on the patient's left (u < −1 mm),
/// right classes on the right, and each pair has equal volume within 3 %.
func sidesAreCorrect(_ s: PhantomSubject, sourceLocation: SourceLocation = #_sourceLocation) {
    var sumU = [Double](repeating: 0, count: TissueClass.count)
    var volume = [Double](repeating: 0, count: TissueClass.count)
    for n in 0..<s.grid.voxelCount where s.cordFraction.data[n] > 0 {
        let u = s.anatomy.coordinates(ofWorld: worldOf(s.grid, n)).u
        let f = s.composition.fractions(at: n)
        for c in TissueClass.allCases where c.isCord {
            sumU[Int(c.rawValue)] += Double(f[Int(c.rawValue)]) * u
            volume[Int(c.rawValue)] += Double(f[Int(c.rawValue)])
        }
    }
    for c in TissueClass.allCases where c.isCord {
        let i = Int(c.rawValue)
        guard volume[i] > 0 else { Issue.record("\(c.name) missing", sourceLocation: sourceLocation); continue }
        let centroid = sumU[i] / volume[i]
        #expect(Double(c.side) * centroid > 1, "\(c.name) centroid u = \(centroid) mm", sourceLocation: sourceLocation)
        if c.side < 0, let right = TissueClass(rawValue: c.rawValue + 1) {
            let r = volume[Int(right.rawValue)]
            #expect(abs(volume[i] / r - 1) < 0.03, "\(c.name) vs right: \(volume[i]) / \(r)", sourceLocation: sourceLocation)
        }
    }
}

/// Mean world z of the voxels of each level.
func meanZPerLevel(_ s: PhantomSubject) -> [Int32: Double] {
    var sums: [Int32: (Double, Int)] = [:]
    for n in 0..<s.grid.voxelCount where s.levels.volume.data[n] != 0 {
        let e = sums[s.levels.volume.data[n]] ?? (0, 0)
        sums[s.levels.volume.data[n]] = (e.0 + worldOf(s.grid, n).z, e.1 + 1)
    }
    return sums.mapValues { $0.0 / Double($0.1) }
}

/// Present levels have strictly decreasing mean z in label order (C1 most superior), and
/// every level voxel is on the level of its foot point.
func levelsAreOrdered(_ s: PhantomSubject, sourceLocation: SourceLocation = #_sourceLocation) {
    let z = meanZPerLevel(s)
    let present = z.keys.sorted()
    #expect(present.count >= 3, "levels present \(present)", sourceLocation: sourceLocation)
    let ordered = present.compactMap { z[$0] }
    #expect(zip(ordered, ordered.dropFirst()).allSatisfy { $0 > $1 }, "mean z per level \(ordered)", sourceLocation: sourceLocation)
    var wrong = 0
    for n in 0..<s.grid.voxelCount where s.levels.volume.data[n] != 0 {
        let l = s.anatomy.level(atArcLength: s.anatomy.coordinates(ofWorld: worldOf(s.grid, n)).s)
        if l?.rawValue != Int(s.levels.volume.data[n]) { wrong += 1 }
    }
    #expect(wrong == 0, sourceLocation: sourceLocation)
}
