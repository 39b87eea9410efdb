// Per-slice, per-level and per-region values of a metric map over an atlas on the same grid,
// as long-form table rows.
import CordAtlas
import CordCore

/// What to extract from a metric map.
public struct ExtractionRequest: Sendable {
    /// Metric name with its unit, as the table's `metric` column (`fa`, `mtr_pu`, …).
    public var metric: String
    public var subject: String
    public var session: String = ""
    /// Region names (`Atlas.region(named:)`): tracts, combined regions, tissue groups.
    public var regions: [String]
    /// Vertebral levels (1 = C1 …); nil = every slice together, reported as level `all`.
    public var levels: [Int]?
    public var method: ExtractionMethod = .wa
    /// One row per slice (level column `slice K (C3)`) instead of one per level.
    public var perSlice = false

    public init(metric: String, subject: String, regions: [String], levels: [Int]? = nil,
                method: ExtractionMethod = .wa, perSlice: Bool = false) {
        self.metric = metric; self.subject = subject; self.regions = regions
        self.levels = levels; self.method = method; self.perSlice = perSlice
    }
}

/// Rows and the warnings that go with them (empty regions, absent levels, skipped voxels).
public struct ExtractionResult: Sendable {
    public var table: LongFormTable
    public var warnings: [String]
    /// Per row of `table`, in order: what SCT's `sct_extract_metric` CSV also reports.
    public var details: [RowDetail] = []

    /// The slices a row covers, the region's size and the spread of the values in it.
    public struct RowDetail: Sendable, Equatable {
        /// Slice indices (the grid's third axis) the row's value was computed over.
        public var slices: [Int]
        /// The level (1 = C1 …) of those slices, nil without levels.
        public var level: Int?
        /// Σ of the region's probability over its voxels (SCT's "Size [vox]").
        public var size: Double
        /// Probability-weighted standard deviation of the metric over the region's voxels
        /// (SCT's STD()); nil without voxels.
        public var sd: Double?
    }
}

/// Extracts a metric over atlas regions (SCT `sct_extract_metric`; ML/MAP after Lévy et al.
/// 2015 NeuroImage 119:262).
///
/// Slices are the grid's third voxel axis (axial for an atlas resampled onto an axial
/// subject grid, or the template itself). A slice belongs to the level most of its level-map
/// voxels carry (ties: the upper level). A level's value uses every voxel of its slices at
/// once (for ml/map: one joint fit per level). Voxels whose metric value is not finite are
/// left out. A region with no voxel in a slice group gives a row with a missing value (NaN,
/// written `n/a` in TSV tables) and count 0, and a warning: never a value of 0.
public enum MetricExtractor {
    public static func extract(map: Volume<Float>, atlas: Atlas, request r: ExtractionRequest) throws -> ExtractionResult {
        try atlas.grid.requireCompatible(with: map.grid, "atlas \(atlas.source)", "metric map")
        guard !r.regions.isEmpty else { throw CordError.invalidValue(what: "regions", detail: "name at least one region; known: \(atlas.regionNames.joined(separator: ", "))") }
        guard !atlas.tracts.isEmpty else { throw AtlasError.missingPart(atlas: atlas.source, part: "tract maps") }
        let regions = try r.regions.map { try atlas.region(named: $0) }
        let g = atlas.grid
        var warnings: [String] = []

        // MARK: Slice groups
        // Per slice without a level map: rows named `slice K` only.
        let sliceLevels = try levelOfSlices(atlas, needed: r.levels != nil)
        var groups: [(label: String, slices: [Int], level: Int?)] = []
        if let wanted = r.levels {
            for l in wanted {
                let slices = (0..<g.nz).filter { sliceLevels[$0] == l }
                if slices.isEmpty { warnings.append("level \(VertebralLevelName.name(l)) is not covered by the atlas on this grid") }
                if r.perSlice {
                    groups += slices.map { ("slice \($0) (\(VertebralLevelName.name(l)))", [$0], l) }
                } else {
                    groups.append((VertebralLevelName.name(l), slices, l))
                }
            }
        } else if r.perSlice {
            groups = (0..<g.nz).map { k in ("slice \(k)" + (sliceLevels[k] > 0 ? " (\(VertebralLevelName.name(sliceLevels[k])))" : ""), [k],
                                            sliceLevels[k] > 0 ? sliceLevels[k] : nil) }
        } else {
            groups = [("all", Array(0..<g.nz), nil)]
        }

        // MARK: Values
        var rows: [MetricRow] = []
        var details: [ExtractionResult.RowDetail] = []
        var skipped = 0
        let kinds = atlas.tracts.map(\.kind)
        for group in groups {
            let (set, bad) = voxels(map, atlas, slices: group.slices)
            skipped += bad
            var estimate: TractEstimate?
            if r.method == .ml { estimate = PartialVolumeModel.ml(set) }
            if r.method == .map { estimate = PartialVolumeModel.map(set, kinds: kinds) }
            for region in regions {
                let present = (0..<set.count).filter { set.weight($0, region.tractIndices) > 0 }.count
                var result: (value: Double, count: Int)?
                switch r.method {
                case .wa: result = DirectEstimator.weightedAverage(set, region.tractIndices)
                case .bin: result = DirectEstimator.binary(set, region.tractIndices)
                case .median: result = DirectEstimator.weightedMedian(set, region.tractIndices)
                case .ml, .map: result = estimate?.region(region.tractIndices).map { ($0, present) }
                }
                if let v = result, !v.value.isFinite { result = nil }
                if result == nil {
                    warnings.append("\(region.name) has no voxel\(r.method == .bin ? " with probability ≥ 0.5" : "") at \(group.label): reported as n/a with count 0")
                }
                rows.append(MetricRow(subject: r.subject, session: r.session, level: group.label, region: region.name,
                                      metric: r.metric, value: result?.value ?? .nan, method: r.method.rawValue, count: result?.count ?? 0))
                let spread = DirectEstimator.weightedSpread(set, region.tractIndices)
                details.append(.init(slices: group.slices, level: group.level, size: spread.size, sd: spread.sd))
            }
        }
        if skipped > 0 { warnings.append("\(skipped) voxel(s) with a NaN or infinite metric value were left out") }
        return ExtractionResult(table: LongFormTable(rows), warnings: warnings, details: details)
    }

    /// Level (1 = C1 …) of each slice: the most frequent non-zero level-map value in it
    /// (ties go to the lower value, i.e. the upper level); 0 for slices without one.
    static func levelOfSlices(_ atlas: Atlas, needed: Bool) throws -> [Int] {
        let g = atlas.grid
        guard let levels = atlas.levels else {
            if needed { throw AtlasError.missingPart(atlas: atlas.source, part: "vertebral level map (needed for --levels)") }
            return [Int](repeating: 0, count: g.nz)
        }
        return (0..<g.nz).map { k in
            var counts: [Int32: Int] = [:]
            for j in 0..<g.ny { for i in 0..<g.nx {
                let v = levels.volume.data[g.index(i, j, k)]
                if v > 0 { counts[v, default: 0] += 1 }
            } }
            return Int(counts.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }?.key ?? Int32(0))
        }
    }

    /// Voxels of `slices` where any tract has weight, with finite metric values.
    static func voxels(_ map: Volume<Float>, _ atlas: Atlas, slices: [Int]) -> (VoxelSet, skipped: Int) {
        let g = atlas.grid, T = atlas.tracts.count
        var set = VoxelSet(tractCount: T)
        var skipped = 0
        for k in slices { for j in 0..<g.ny { for i in 0..<g.nx {
            let n = g.index(i, j, k)
            var any = false
            for t in 0..<T where atlas.tractMaps[t].data[n] > 0 { any = true; break }
            guard any else { continue }
            let x = map.data[n]
            guard x.isFinite else { skipped += 1; continue }
            set.values.append(Double(x))
            for t in 0..<T { set.probabilities.append(Double(max(0, atlas.tractMaps[t].data[n]))) }
        } } }
        return (set, skipped)
    }
}
