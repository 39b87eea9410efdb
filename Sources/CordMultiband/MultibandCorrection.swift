// Multiband slice correction of a cord DWI series: slice-group motion, outlier groups,
// banding, and the quality numbers that go with them.
import CordAlign
import CordCore
#if canImport(Glibc)
import Glibc
#endif

/// Slice-group-aware correction of a multiband diffusion series.
///
/// 1. **Motion** (per volume and slice group, in-plane rigid, shared by the group's slices):
///    targets as SCT's `sct_dmri_moco` builds them — the b = 0 mean for b = 0 volumes, the
///    shell mean for diffusion-weighted ones — then, when the tensor is over-determined, a
///    second pass against each volume's tensor prediction from the first pass's aligned data
///    (FSL eddy's model-based targets, Andersson & Sotiropoulos 2016, NeuroImage 125:1063), so
///    contrast does not drive the alignment. Metric: normalised correlation pooled over the
///    group's slices in the cord region. Parameters regularised over the acquisition sequence
///    (`MultibandCorrectionOptions.temporalRegularisation`); one bilinear resampling of the input.
/// 2. **Outliers** per (volume, group): the robust z-score of ln(observed/predicted), the
///    median over the cord region of the group's slices, against a tensor fitted with that
///    group left out (iterated, as eddy `--ol_type gw --repol`, Andersson et al. 2016,
///    NeuroImage 141:556); all slices of a group are judged together.
/// 3. **Banding**: per-volume group gains (median observed/predicted, outliers excluded)
///    divided out, then static group gains of the b = 0 mean against a quadratic profile
///    along z (multiband 2 or more only).
/// b-vectors are turned by each volume's mean rotation (FSL's convention, Leemans & Jones
/// 2009, MRM 61:1336).
public enum MultibandCorrection {
    public static func correct(_ image: Volume<Float>, table: GradientTable, groups: SliceGroups, mask: Mask? = nil,
                               name: String, options o: MultibandCorrectionOptions = MultibandCorrectionOptions()) throws -> MultibandCorrectionResult {
        guard image.frames >= 2 else { throw MultibandError.notASeries(name: name, frames: image.frames) }
        try table.requireCount(matching: image.frames, image: name, table: "its gradient table")
        let inputGrid = image.grid
        guard groups.sliceCount == inputGrid.nz, Set(groups.groups.joined()) == Set(0..<inputGrid.nz) else {
            throw MultibandError.inconsistentTiming(name: name, detail: "the slice groups cover \(groups.sliceCount) slices but the image has \(inputGrid.nz)")
        }
        let reo = Reorientation(from: inputGrid, to: .canonical)
        guard reo.sourceAxis[2] == 2 else {
            throw MultibandError.sliceAxis(name: name, detail: "its slices (voxel axis k) are not axial (orientation \(inputGrid.orientationCode)); slice-group correction needs axial slices along k")
        }
        try image.requireFinite(name)
        if let m = mask {
            try inputGrid.requireCompatible(with: m.grid, name, "mask")
            try m.requireNonEmpty("mask")
        }
        guard table.entries.contains(where: { $0.b <= 50 }) else {
            throw CordError.invalidValue(what: name, detail: "has no b = 0 volume (b ≤ 50 s/mm²): the b = 0 target and the banding profile need one")
        }
        let (data0, _) = image.reoriented()
        let cg = data0.grid, nz = cg.nz, perSlice = cg.nx * cg.ny, n = cg.voxelCount, nb = image.frames
        let cgroups = groups.groups.map { $0.map { reo.flipped[2] ? nz - 1 - $0 : $0 } }
        let ng = cgroups.count
        let b0s = (0..<nb).filter { table.entries[$0].b <= 50 }
        let dwis = (0..<nb).filter { table.entries[$0].b > 50 }
        var warnings: [String] = groups.warning.map { [$0] } ?? []
        var steps: [String] = ["slice groups: \(groups.source)"]
        if groups.factor >= 4 {
            warnings.append("\(name) was acquired with multiband factor \(groups.factor): MB ≥ 4 degraded cord DWI in the seed research (MB 2–3 acceptable); check the outlier and banding numbers")
        }

        // Voxels with signal (mean b = 0 above 5 % of its 99th percentile) and the cord region.
        let meanB0 = meanFrames(data0.data, frames: b0s, perFrame: n)
        let signal = aboveFraction(meanB0, fraction: 0.05)
        let signalVoxels = (0..<n).filter { signal[$0] }
        let floor = Double(percentile(meanB0, 0.99)) * 1e-3 + 1e-6
        let region: Mask
        if let m = mask { region = reo.apply(m.frames == 1 ? m : m.frame(0)) } else {
            let meanDW = dwis.isEmpty ? meanB0 : meanFrames(data0.data, frames: dwis, perFrame: n)
            region = cordBox(meanDW, grid: cg, radius: o.cordBoxRadius)
            steps.append("cord region: automatic box of ±\(formatShort(o.cordBoxRadius)) mm around the brightest cord-sized spot of the mean DWI per slice (median along z)")
        }
        let regionVolume = Volume(grid: cg, frames: 1, exactly: region.data)
        func voxels(of slices: [Int], inRegion: Bool) -> [Int] {
            var list: [Int] = []
            for k in slices { for i in (k * perSlice)..<((k + 1) * perSlice) where signal[i] && (!inRegion || region.data[i] != 0) { list.append(i) } }
            return list
        }
        var groupVoxels: [[Int]] = cgroups.map { voxels(of: $0, inRegion: true) }
        if groupVoxels.allSatisfy({ $0.isEmpty }) {
            groupVoxels = cgroups.map { voxels(of: $0, inRegion: false) }
            warnings.append("\(name): the cord region holds no voxel with signal; the quality numbers use every voxel with signal")
        }
        let regionVoxels = groupVoxels.reduce(0) { $0 + $1.count }
        let centres = cgroups.map { regionCentre(region, grid: cg, slices: $0) }
        let predictor = TensorPredictor(table)
        let ones = [Double](repeating: 1, count: nb * nz)

        // MARK: Motion
        let frames0 = (0..<nb).map { Volume(grid: cg, frames: 1, exactly: Array(data0.data[($0 * n)..<(($0 + 1) * n)])) }
        var corrections = [[SliceTransform]](repeating: [SliceTransform](repeating: .identity, count: ng), count: nb)
        var scores = [[Double?]](repeating: [Double?](repeating: nil, count: ng), count: nb)
        var current = data0.data
        if o.motion {
            let passes = predictor.canPredict ? 3 : 2
            let bar = ProgressReporter("multiband motion", total: nb * ng * passes, forceQuiet: !o.progress)
            let rawTargets = shellMeans(data0.data, table: table, grid: cg)
            (corrections, scores) = register(frames0, targets: { rawTargets[$0] }, groups: cgroups, region: regionVolume, centres: centres,
                                             start: nil, options: o.registration, bar: bar)
            // Pass 1b: the shell means of the aligned volumes are sharper targets (each volume
            // weighs less in a mean it no longer blurs); refine against them.
            var refine = o.registration; refine.gridSearch = false
            let shellTargets = shellMeans(apply(frames0, corrections, groups: cgroups), table: table, grid: cg)
            (corrections, scores) = register(frames0, targets: { shellTargets[$0] }, groups: cgroups, region: regionVolume, centres: centres,
                                             start: corrections, options: refine, bar: bar)
            var how = "pass 1 against the b = 0 mean and the shell means, refined against the means of the aligned volumes"
            // Each shell's frame onto the b = 0 frame: its aligned mean registered to the aligned
            // b = 0 mean by mutual information over all slices (the contrasts differ), as eddy's
            // post-alignment of shells.
            let b0Target = shellTargets[b0s[0]]
            var done: Set<Int> = []
            let allSlices = Array(0..<nz), middle = regionCentre(region, grid: cg, slices: allSlices)
            var shellOffsets: [String] = []
            for v in dwis where !done.contains(v) {
                let members = dwis.filter { abs(table.entries[$0].b - table.entries[v].b) <= 50 }
                done.formUnion(members)
                guard let t = StackMutualInformation.align(moving: shellTargets[v], fixed: b0Target, slices: allSlices, mask: regionVolume,
                                                           centre: middle, options: o.registration) else { continue }
                for u in members { for g in 0..<ng { corrections[u][g] = t.composed(after: corrections[u][g]) } }
                shellOffsets.append("b \(Int(table.entries[v].b)): \(formatShort(t.shift.x)), \(formatShort(t.shift.y)) mm, \(formatShort(t.rotation * 180 / .pi))°")
            }
            if !shellOffsets.isEmpty { how += ", shell frames onto the b = 0 frame by mutual information (\(shellOffsets.joined(separator: "; ")))" }
            if predictor.canPredict {
                let aligned = apply(frames0, corrections, groups: cgroups)
                let pred = predictor.predict(aligned, perFrame: n, perSlice: perSlice, voxels: signalVoxels, weight: ones, slices: nz, floor: floor)
                let targets = (0..<nb).map { v in Volume(grid: cg, frames: 1, exactly: Array(pred[(v * n)..<((v + 1) * n)])) }
                (corrections, scores) = register(frames0, targets: { targets[$0] }, groups: cgroups, region: regionVolume, centres: centres,
                                                 start: corrections, options: refine, bar: bar)
                how += ", pass 2 against each volume's tensor prediction"
            } else {
                warnings.append("\(name) has \(nb) volumes: too few for a tensor prediction (10 needed), so motion is estimated against the b = 0 and shell means only, and outliers and per-volume banding are not assessed")
            }
            bar.finish()
            // Output frame: the series' mean position (mean correction over every volume and
            // group taken out), so no single volume or contrast sets the frame.
            let all = corrections.flatMap { $0 }
            let meanShift = all.reduce(SIMD2<Double>.zero) { $0 + $1.shift } / Double(all.count)
            let meanRotation = all.reduce(0.0) { $0 + $1.rotation } / Double(all.count)
            corrections = corrections.map { $0.map { SliceTransform(shift: $0.shift - meanShift, rotation: $0.rotation - meanRotation, centre: $0.centre, score: $0.score) } }
            how += ", mean position as the output frame"
            if o.temporalRegularisation > 0 {
                corrections = regularise(corrections, scores: scores, lambda: o.temporalRegularisation)
                how += ", regularised over time (λ \(o.temporalRegularisation))"
            }
            current = apply(frames0, corrections, groups: cgroups)
            // Kept only when it lowers the tensor residual in the cord region: resampling blurs,
            // so a still series is better left as acquired (as `keepOnlyIfBetter` in CordAlign).
            if o.keepMotionOnlyIfBetter && predictor.canPredict,
               let before = residual(data0.data, predictor: predictor, weight: ones, voxels: groupVoxels, groups: cgroups, signalVoxels: signalVoxels,
                                     perFrame: n, perSlice: perSlice, slices: nz, floor: floor, dwis: dwis),
               let after = residual(current, predictor: predictor, weight: ones, voxels: groupVoxels, groups: cgroups, signalVoxels: signalVoxels,
                                    perFrame: n, perSlice: perSlice, slices: nz, floor: floor, dwis: dwis),
               !(after < before) {
                current = data0.data
                corrections = corrections.map { $0.map { SliceTransform(shift: .zero, rotation: 0, centre: $0.centre, score: $0.score) } }
                warnings.append("\(name): motion correction did not lower the tensor residual in the cord (\(formatShort(100 * before)) % → \(formatShort(100 * after)) %); the series is kept as acquired")
                how += "; not kept (tensor residual \(formatShort(100 * before)) % → \(formatShort(100 * after)) %)"
            }
            steps.append("motion: \(o.registration.rigid ? "rigid" : "translation") per volume and slice group, \(how)")
        } else {
            steps.append("motion: off")
        }

        // MARK: Outliers and banding
        var isOutlier = [[Bool]](repeating: [Bool](repeating: false, count: ng), count: nb)
        var ratio = [[Double]](repeating: [Double](repeating: 1, count: ng), count: nb)
        var zScore = [[Double]](repeating: [Double](repeating: 0, count: ng), count: nb)
        var weight = ones
        var prediction: [Float]?
        let assess = predictor.canPredict && (o.outliers || o.banding)
        if assess {
            for _ in 0..<4 {
                let pred = predictor.predict(current, perFrame: n, perSlice: perSlice, voxels: signalVoxels, weight: weight, slices: nz, floor: floor)
                prediction = pred
                ratio = groupRatios(current, pred, groups: groupVoxels, frames: nb, perFrame: n, floor: floor)
                guard o.outliers else { break }
                zScore = robustZ(ratio, volumes: dwis)
                var next = isOutlier
                for v in dwis { for g in 0..<ng { next[v][g] = zScore[v][g] < -o.outlierThreshold && ratio[v][g] < 1 - o.minimumSignalLoss } }
                if next == isOutlier { break }
                isOutlier = next
                weight = ones
                for v in 0..<nb { for g in 0..<ng where isOutlier[v][g] { for k in cgroups[g] { weight[v * nz + k] = 0 } } }
            }
            steps.append(o.outliers ? "outliers: robust z of ln(observed/predicted) per (volume, group) < −\(formatShort(o.outlierThreshold)) and ≥ \(Int(o.minimumSignalLoss * 100)) % signal lost, \(o.replaceOutliers ? "replaced by the tensor prediction" : "reported only")" : "outliers: off")
        } else {
            steps.append(o.outliers || o.banding ? "outliers and per-volume banding: not assessed (too few volumes for a tensor prediction)" : "outliers: off")
        }
        let outlierCount = dwis.reduce(0) { c, v in c + isOutlier[v].filter { $0 }.count }

        var gains = [[Double]](repeating: [Double](repeating: 1, count: ng), count: nb)
        var output = current
        if o.banding && assess {
            for v in 0..<nb { for g in 0..<ng where !isOutlier[v][g] && ratio[v][g] > 0.05 { gains[v][g] = ratio[v][g] } }
        }
        if o.outliers && o.replaceOutliers, let pred = prediction {
            for v in 0..<nb { for g in 0..<ng where isOutlier[v][g] {
                for k in cgroups[g] { for i in (k * perSlice)..<((k + 1) * perSlice) where signal[i] { output[v * n + i] = pred[v * n + i] } }
            } }
        }
        for v in 0..<nb { for g in 0..<ng where gains[v][g] != 1 {
            let f = Float(1 / gains[v][g])
            for k in cgroups[g] { for i in (k * perSlice)..<((k + 1) * perSlice) { output[v * n + i] *= f } }
        } }
        var staticGains = [Double](repeating: 1, count: ng)
        if o.banding && groups.factor >= 2 && ng >= 3 {
            staticGains = staticBanding(output, b0s: b0s, groups: cgroups, voxels: groupVoxels, perFrame: n, perSlice: perSlice, slices: nz)
            for v in 0..<nb { for g in 0..<ng {
                let f = Float(1 / staticGains[g])
                for k in cgroups[g] { for i in (k * perSlice)..<((k + 1) * perSlice) { output[v * n + i] *= f } }
                gains[v][g] *= staticGains[g]
            } }
            steps.append("banding: per-volume group gains against the tensor prediction, then static group gains of the b = 0 mean against a quadratic z profile")
        } else if o.banding {
            steps.append(assess ? "banding: per-volume group gains against the tensor prediction (static gains need multiband ≥ 2 and ≥ 3 groups)" : "banding: not assessed")
        } else {
            steps.append("banding: off")
        }

        // MARK: Quality
        var bandingIndex: Double?, residualBanding: Double?
        if o.banding || assess {
            var sum = 0.0, count = 0
            for v in 0..<nb { for g in 0..<ng where !isOutlier[v][g] {
                let l = log(max(ratio[v][g] * staticGains[g], 1e-6)); sum += l * l; count += 1
            } }
            if count > 0 && (assess || groups.factor >= 2) { bandingIndex = 100 * (sum / Double(count)).squareRoot() }
            if groups.factor >= 2 && ng >= 3 {
                let left = staticBanding(output, b0s: b0s, groups: cgroups, voxels: groupVoxels, perFrame: n, perSlice: perSlice, slices: nz)
                residualBanding = 100 * (left.reduce(0) { $0 + log($1) * log($1) } / Double(ng)).squareRoot()
            }
        }
        var residualBefore: Double?, residualAfter: Double?
        if predictor.canPredict {
            residualBefore = residual(data0.data, predictor: predictor, weight: weight, voxels: groupVoxels, groups: cgroups,
                                      signalVoxels: signalVoxels, perFrame: n, perSlice: perSlice, slices: nz, floor: floor, dwis: dwis)
            residualAfter = residual(output, predictor: predictor, weight: weight, voxels: groupVoxels, groups: cgroups,
                                     signalVoxels: signalVoxels, perFrame: n, perSlice: perSlice, slices: nz, floor: floor, dwis: dwis)
        }
        let tsnrBefore = b0s.count >= 3 ? tSNR(data0.data, b0s: b0s, voxels: groupVoxels, perFrame: n) : nil
        let tsnrAfter = b0s.count >= 3 ? tSNR(output, b0s: b0s, voxels: groupVoxels, perFrame: n) : nil

        var motionRows: [MotionRow] = []
        var displacement = [Double](repeating: 0, count: nb)
        var maxRot = 0.0
        for v in 0..<nb {
            var total = 0.0
            for g in 0..<ng {
                let m = corrections[v][g].inverse
                let d = (m.shift * m.shift).sum().squareRoot()
                total += d * Double(cgroups[g].count)
                maxRot = max(maxRot, abs(m.rotation) * 180 / .pi)
                motionRows.append(MotionRow(volume: v, group: g, slices: groups.groups[g], tx: m.shift.x, ty: m.shift.y,
                                            rz: m.rotation * 180 / .pi, score: scores[v][g], correction: corrections[v][g]))
            }
            displacement[v] = total / Double(nz)
        }
        var outlierRows: [OutlierRow] = []
        if assess && o.outliers {
            for v in dwis { for g in 0..<ng {
                outlierRows.append(OutlierRow(volume: v, group: g, slices: groups.groups[g], score: zScore[v][g], ratio: ratio[v][g],
                                              outlier: isOutlier[v][g], replaced: isOutlier[v][g] && o.replaceOutliers))
            } }
        }
        let scored = assess && o.outliers ? dwis.count * ng : 0
        if scored > 0 && Double(outlierCount) > o.outlierWarningFraction * Double(scored) {
            warnings.append("\(name): \(outlierCount) of \(scored) diffusion-weighted slice groups (\(formatShort(100 * Double(outlierCount) / Double(scored))) %) are outliers, more than \(formatShort(100 * o.outlierWarningFraction)) %: check the series for motion or multiband artefacts")
        }
        let quality = MultibandQuality(
            factor: groups.factor, groups: ng, groupSource: groups.source, b0TSNRBefore: tsnrBefore, b0TSNRAfter: tsnrAfter,
            bandingIndexPercent: bandingIndex, residualBandingPercent: residualBanding,
            meanDisplacementPerVolume: displacement, meanDisplacement: displacement.reduce(0, +) / Double(nb),
            maxDisplacement: displacement.max() ?? 0, maxRotationDegrees: maxRot, outliers: outlierCount, scoredGroups: scored,
            residualBefore: residualBefore, residualAfter: residualAfter, regionVoxels: regionVoxels, warnings: warnings)
        let corrected = reo.invert(Volume(grid: cg, frames: nb, exactly: output))
        let rotated = rotate(table, corrections: corrections, scores: scores, grid: cg)
        return MultibandCorrectionResult(corrected: corrected, table: rotated, groups: groups, motion: motionRows, outliers: outlierRows,
                                         gains: gains, region: reo.invert(region), quality: quality, steps: steps)
    }
}

// MARK: - Pieces

extension MultibandCorrection {
    /// Registers every (volume, group) of `frames` to `targets(volume)` on both cores.
    static func register(_ frames: [Volume<Float>], targets: @Sendable (Int) -> Volume<Float>, groups: [[Int]], region: Mask,
                         centres: [SIMD2<Double>], start: [[SliceTransform]]?, options: SliceGroupRegistrationOptions,
                         bar: ProgressReporter) -> ([[SliceTransform]], [[Double?]]) {
        let ng = groups.count, nb = frames.count
        let out = SharedBuffer<SliceTransform>(repeating: .identity, count: nb * ng)
        let score = SharedBuffer<Double>(repeating: .nan, count: nb * ng)
        parallelChunks(nb * ng) { range, _ in
            for task in range {
                let v = task / ng, g = task % ng
                let t = SliceGroupRegistration.align(moving: frames[v], fixed: targets(v), slices: groups[g], mask: region,
                                                     centre: centres[g], start: start?[v][g], options: options)
                if let t { out[task] = t; score[task] = t.score ?? .nan }
                else { out[task] = SliceTransform(shift: .zero, rotation: 0, centre: centres[g], score: nil) }
                bar.advance()
            }
        }
        let t = out.array, s = score.array
        return ((0..<nb).map { v in Array(t[(v * ng)..<((v + 1) * ng)]) },
                (0..<nb).map { v in (0..<ng).map { g in s[v * ng + g].isFinite ? s[v * ng + g] : nil } })
    }

    /// The frames resampled with their group corrections, as one canonical 4D buffer.
    static func apply(_ frames: [Volume<Float>], _ corrections: [[SliceTransform]], groups: [[Int]]) -> [Float] {
        let n = frames[0].grid.voxelCount
        let out = SharedBuffer<Float>(repeating: 0, count: n * frames.count)
        parallelChunks(frames.count) { range, _ in
            for v in range {
                var moved = frames[v]
                for (g, ks) in groups.enumerated() {
                    for k in ks { SliceGroupRegistration.resample(frames[v], into: &moved, k: k, transform: corrections[v][g]) }
                }
                moved.data.withUnsafeBufferPointer { src in
                    for i in 0..<n { out[v * n + i] = src[i] }
                }
            }
        }
        return out.array
    }

    /// Penalised least squares over the acquisition sequence (volume-major, groups in
    /// acquisition order) per parameter: (W + λDᵀD)x = Wy, W the squared correlations.
    static func regularise(_ t: [[SliceTransform]], scores: [[Double?]], lambda: Double) -> [[SliceTransform]] {
        let ng = t.first?.count ?? 0, m = t.count * ng
        guard m >= 3 else { return t }
        let flat = t.flatMap { $0 }
        let w = scores.flatMap { $0 }.map { s -> Double in max(s ?? 0, 0) * max(s ?? 0, 0) + 1e-6 }
        func smooth(_ y: [Double]) -> [Double] {
            // Tridiagonal system solved by the Thomas algorithm.
            var a = [Double](repeating: 0, count: m), b = [Double](repeating: 0, count: m), c = [Double](repeating: 0, count: m)
            var d = [Double](repeating: 0, count: m)
            for i in 0..<m {
                let left = i > 0 ? lambda : 0, right = i < m - 1 ? lambda : 0
                a[i] = -left; c[i] = -right; b[i] = w[i] + left + right; d[i] = w[i] * y[i]
            }
            for i in 1..<m {
                let f = a[i] / b[i - 1]
                b[i] -= f * c[i - 1]; d[i] -= f * d[i - 1]
            }
            var x = [Double](repeating: 0, count: m)
            x[m - 1] = d[m - 1] / b[m - 1]
            for i in stride(from: m - 2, through: 0, by: -1) { x[i] = (d[i] - c[i] * x[i + 1]) / b[i] }
            return x
        }
        let sx = smooth(flat.map(\.shift.x)), sy = smooth(flat.map(\.shift.y)), r = smooth(flat.map(\.rotation))
        return (0..<t.count).map { v in (0..<ng).map { g in
            let i = v * ng + g
            return SliceTransform(shift: SIMD2(sx[i], sy[i]), rotation: r[i], centre: flat[i].centre, score: flat[i].score)
        } }
    }

    /// Median observed/predicted per (volume, group) over the group's cord-region voxels.
    static func groupRatios(_ data: [Float], _ pred: [Float], groups: [[Int]], frames: Int, perFrame n: Int, floor: Double) -> [[Double]] {
        let ng = groups.count
        let out = SharedBuffer<Double>(repeating: 1, count: frames * ng)
        parallelChunks(frames * ng) { range, _ in
            var values: [Double] = []
            for task in range {
                let v = task / ng, g = task % ng
                values.removeAll(keepingCapacity: true)
                for i in groups[g] {
                    let p = Double(pred[v * n + i])
                    if p > floor { values.append(Double(data[v * n + i]) / p) }
                }
                if let m = median(&values) { out[task] = m }
            }
        }
        let r = out.array
        return (0..<frames).map { v in Array(r[(v * ng)..<((v + 1) * ng)]) }
    }

    /// Robust z-scores of ln(ratio) over the diffusion-weighted (volume, group) pairs.
    static func robustZ(_ ratio: [[Double]], volumes: [Int]) -> [[Double]] {
        var logs = volumes.flatMap { v in ratio[v].map { log(max($0, 1e-6)) } }
        guard let med = median(&logs) else { return ratio.map { $0.map { _ in 0 } } }
        var dev = logs.map { abs($0 - med) }
        let mad = 1.4826 * (median(&dev) ?? 0)
        let scale = max(mad, 0.005)   // ½ % floor: noise-free phantoms would otherwise divide by 0
        var z = ratio.map { $0.map { _ in 0.0 } }
        for v in volumes { for g in ratio[v].indices { z[v][g] = (log(max(ratio[v][g], 1e-6)) - med) / scale } }
        return z
    }

    /// Static group gains: the b = 0 mean's cord-region mean per slice against a weighted
    /// quadratic in z; a group's gain is the median of its slices' ratios, normalised to a
    /// geometric mean of 1.
    static func staticBanding(_ data: [Float], b0s: [Int], groups: [[Int]], voxels: [[Int]], perFrame n: Int, perSlice: Int, slices nz: Int) -> [Double] {
        var sliceMean = [Double](repeating: .nan, count: nz), sliceCount = [Double](repeating: 0, count: nz)
        var sums = [Double](repeating: 0, count: nz)
        for list in voxels { for i in list {
            let k = i / perSlice
            var s = 0.0
            for v in b0s { s += Double(data[v * n + i]) }
            sums[k] += s / Double(b0s.count); sliceCount[k] += 1
        } }
        for k in 0..<nz where sliceCount[k] > 0 { sliceMean[k] = sums[k] / sliceCount[k] }
        let ks = (0..<nz).filter { sliceMean[$0].isFinite && sliceMean[$0] > 0 }
        guard ks.count >= 4 else { return groups.map { _ in 1 } }
        let xs = ks.map { 2 * Double($0) / Double(max(nz - 1, 1)) - 1 }
        let coef = quadraticFit(x: xs, y: ks.map { sliceMean[$0] }, w: ks.map { sliceCount[$0] })
        var gains = groups.map { slicesOfGroup -> Double in
            var r = slicesOfGroup.compactMap { k -> Double? in
                guard sliceMean[k].isFinite, sliceMean[k] > 0 else { return nil }
                let x = 2 * Double(k) / Double(max(nz - 1, 1)) - 1
                let f = coef[0] + coef[1] * x + coef[2] * x * x
                return f > 0 ? sliceMean[k] / f : nil
            }
            return median(&r) ?? 1
        }
        let logMean = gains.reduce(0) { $0 + log(max($1, 1e-6)) } / Double(gains.count)
        gains = gains.map { $0 / exp(logMean) }
        return gains
    }

    /// Normalised RMS residual of the tensor fit over the cord region: RMS(observed −
    /// predicted) / mean predicted, diffusion-weighted volumes (weights as given, so outlier
    /// groups are left out of both the fit and the sums).
    static func residual(_ data: [Float], predictor: TensorPredictor, weight: [Double], voxels: [[Int]], groups: [[Int]], signalVoxels: [Int],
                         perFrame n: Int, perSlice: Int, slices nz: Int, floor: Double, dwis: [Int]) -> Double? {
        let region = Array(Set(voxels.joined())).sorted()
        guard !region.isEmpty else { return nil }
        let pred = predictor.predict(data, perFrame: n, perSlice: perSlice, voxels: region, weight: weight, slices: nz, floor: floor)
        var sum = 0.0, total = 0.0, count = 0.0
        for v in dwis { for i in region where weight[v * nz + i / perSlice] > 0 {
            let p = Double(pred[v * n + i])
            guard p > floor else { continue }
            let r = Double(data[v * n + i]) - p
            sum += r * r; total += p; count += 1
        } }
        return count > 0 && total > 0 ? (sum / count).squareRoot() / (total / count) : nil
    }

    /// tSNR of the b = 0 volumes per group (mean/SD over volumes, averaged over the region).
    static func tSNR(_ data: [Float], b0s: [Int], voxels: [[Int]], perFrame n: Int) -> [Double] {
        voxels.map { list in
            var total = 0.0, count = 0.0
            for i in list {
                var s = 0.0, ss = 0.0
                for v in b0s { let x = Double(data[v * n + i]); s += x; ss += x * x }
                let m = s / Double(b0s.count), variance = max(ss / Double(b0s.count) - m * m, 0) * Double(b0s.count) / Double(b0s.count - 1)
                if variance > 0 { total += m / variance.squareRoot(); count += 1 }
            }
            return count > 0 ? total / count : 0
        }
    }

    /// Directions turned by each volume's mean correction rotation (weights: squared scores),
    /// the in-plane rotation of the canonical voxel frame expressed in world space.
    static func rotate(_ table: GradientTable, corrections: [[SliceTransform]], scores: [[Double?]], grid: Grid) -> GradientTable {
        let u = (0..<3).map { a in normalized(grid.affine.linear.column(a)) }
        func turn(_ d: SIMD3<Double>, _ theta: Double) -> SIMD3<Double> {
            guard length(d) > 0, theta != 0 else { return d }
            let a = SIMD3(dot(d, u[0]), dot(d, u[1]), dot(d, u[2]))
            let c = cos(theta), s = sin(theta)
            let b = SIMD3(c * a.x - s * a.y, s * a.x + c * a.y, a.z)
            return normalized(b.x * u[0] + b.y * u[1] + b.z * u[2])
        }
        var entries = table.entries
        for v in entries.indices {
            var sw = 0.0, st = 0.0
            for (g, t) in corrections[v].enumerated() {
                let w = max(scores[v][g] ?? 0, 0) * max(scores[v][g] ?? 0, 0)
                sw += w; st += w * t.rotation
            }
            let theta = sw > 0 ? st / sw : 0
            entries[v].direction = turn(entries[v].direction, theta)
            if case let .doubleDiffusion(second) = entries[v].shape { entries[v].shape = .doubleDiffusion(second: turn(second, theta)) }
        }
        return GradientTable(entries)
    }
}

// MARK: - Small helpers

/// Mean of the given frames of a 4D buffer.
func meanFrames(_ data: [Float], frames: [Int], perFrame n: Int) -> [Float] {
    var m = [Float](repeating: 0, count: n)
    guard !frames.isEmpty else { return m }
    let f = 1 / Float(frames.count)
    data.withUnsafeBufferPointer { src in
        m.withUnsafeMutableBufferPointer { dst in
            for v in frames { for i in 0..<n { dst[i] += src[v * n + i] * f } }
        }
    }
    return m
}

/// Per frame, the mean of the frames of its shell (b within 50 s/mm²; b = 0 volumes together).
func shellMeans(_ data: [Float], table: GradientTable, grid: Grid) -> [Volume<Float>] {
    let n = grid.voxelCount
    var out: [Volume<Float>] = []
    var cache: [Int: Volume<Float>] = [:]
    for e in table.entries {
        let key = e.b <= 50 ? 0 : Int((e.b / 50).rounded())
        if let v = cache[key] { out.append(v); continue }
        let members = table.entries.indices.filter { let b = table.entries[$0].b; return key == 0 ? b <= 50 : (b > 50 && Int((b / 50).rounded()) == key) }
        let v = Volume(grid: grid, frames: 1, exactly: meanFrames(data, frames: members, perFrame: n))
        cache[key] = v; out.append(v)
    }
    return out
}

func percentile(_ values: [Float], _ p: Double) -> Float {
    guard !values.isEmpty else { return 0 }
    var v = values
    let k = min(v.count - 1, max(0, Int(p * Double(v.count))))
    // Partial selection is not needed at these sizes; a sort keeps it simple and exact.
    v.sort()
    return v[k]
}

func aboveFraction(_ values: [Float], fraction: Double) -> [Bool] {
    let t = Float(fraction) * percentile(values, 0.99)
    return values.map { $0 > t }
}

/// Median of `v` (reordered in place); nil when empty.
func median(_ v: inout [Double]) -> Double? {
    guard !v.isEmpty else { return nil }
    v.sort()
    let m = v.count / 2
    return v.count % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2
}

/// Weighted least-squares c₀ + c₁x + c₂x² (3×3 normal equations, Cramer's rule).
func quadraticFit(x: [Double], y: [Double], w: [Double]) -> [Double] {
    var s = [Double](repeating: 0, count: 5), t = [Double](repeating: 0, count: 3)
    for i in x.indices {
        var p = 1.0
        for j in 0..<5 { s[j] += w[i] * p; if j < 3 { t[j] += w[i] * p * y[i] }; p *= x[i] }
    }
    let m = Mat3(rows: SIMD3(s[0], s[1], s[2]), SIMD3(s[1], s[2], s[3]), SIMD3(s[2], s[3], s[4]))
    guard let inv = m.inverse else {
        let mean = zip(y, w).reduce(0) { $0 + $1.0 * $1.1 } / max(w.reduce(0, +), 1e-12)
        return [mean, 0, 0]
    }
    let c = inv * SIMD3(t[0], t[1], t[2])
    return [c.x, c.y, c.z]
}

/// Centre (mm, canonical in-plane frame) of the region's bounding box over `slices`, the
/// grid centre when the region misses them.
func regionCentre(_ region: Mask, grid: Grid, slices: [Int]) -> SIMD2<Double> {
    let nx = grid.nx, ny = grid.ny
    var sum = SIMD2<Double>.zero, count = 0.0
    for k in slices {
        var lo = SIMD2(Int.max, Int.max), hi = SIMD2(Int.min, Int.min), found = false
        for j in 0..<ny { for i in 0..<nx where region.data[i + nx * (j + ny * k)] != 0 {
            found = true; lo = pointwiseMin(lo, SIMD2(i, j)); hi = pointwiseMax(hi, SIMD2(i, j))
        } }
        if found { sum += SIMD2(Double(lo.x + hi.x) / 2 * grid.spacing.x, Double(lo.y + hi.y) / 2 * grid.spacing.y); count += 1 }
    }
    return count > 0 ? sum / count : SIMD2(Double(nx - 1) / 2 * grid.spacing.x, Double(ny - 1) / 2 * grid.spacing.y)
}

/// The automatic cord region: per slice, the brightest spot of the mean DWI after a 5 mm box
/// filter (the cord is the brightest structure of a fat-suppressed cord DWI at b ≈ 800), in the
/// central 80 % of the field of view, its positions median-filtered over 5 slices, and a
/// square of ±`radius` mm around each.
func cordBox(_ mean: [Float], grid: Grid, radius: Double) -> Mask {
    let nx = grid.nx, ny = grid.ny, nz = grid.nz, sp = grid.spacing
    let hx = max(1, Int((2.5 / sp.x).rounded())), hy = max(1, Int((2.5 / sp.y).rounded()))
    var centres: [SIMD2<Double>] = []
    for k in 0..<nz {
        var best = -Double.infinity, at = SIMD2(Double(nx - 1) / 2, Double(ny - 1) / 2)
        let i0 = nx / 10, i1 = nx - 1 - nx / 10, j0 = ny / 10, j1 = ny - 1 - ny / 10
        for j in j0...max(j0, j1) { for i in i0...max(i0, i1) {
            var s = 0.0
            for jj in max(0, j - hy)...min(ny - 1, j + hy) { for ii in max(0, i - hx)...min(nx - 1, i + hx) {
                s += Double(mean[ii + nx * (jj + ny * k)])
            } }
            if s > best { best = s; at = SIMD2(Double(i), Double(j)) }
        } }
        centres.append(at)
    }
    var mask = Mask(grid: grid, frames: 1, repeating: 0)
    let rx = Int((radius / sp.x).rounded()), ry = Int((radius / sp.y).rounded())
    for k in 0..<nz {
        var xs = (max(0, k - 2)...min(nz - 1, k + 2)).map { centres[$0].x }, ys = (max(0, k - 2)...min(nz - 1, k + 2)).map { centres[$0].y }
        let cx = Int((median(&xs) ?? 0).rounded()), cy = Int((median(&ys) ?? 0).rounded())
        for j in max(0, cy - ry)...min(ny - 1, cy + ry) { for i in max(0, cx - rx)...min(nx - 1, cx + rx) {
            mask.data[i + nx * (j + ny * k)] = 1
        } }
    }
    return mask
}

/// A number with at most two decimals, trailing zeros dropped (messages and step lines).
func formatShort(_ v: Double) -> String {
    let r = (v * 100).rounded() / 100
    return r == r.rounded() ? String(Int(r)) : String(r)
}
