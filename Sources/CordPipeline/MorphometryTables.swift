// `cordq seg morphometry` and `cordq seg compression`: tables from a segmentation file.
import CordCore
import CordIO
import CordSegmentation

/// Morphometry and compression tables (TSV, units in column names).
public enum MorphometryTables {
    /// Per-slice or per-level shape metrics of the segmentation in `segPath` (soft or
    /// binary, any tool's), with levels from `levelsPath` (a vertebral-level image such as a
    /// labelled segmentation: 1 = C1 … 8 = T1).
    /// `greyMatterPath`: a GM fraction map on the same grid (e.g. `cordq seg gm`'s `_soft`
    /// output, or a registered atlas GM map) adds `gm_csa_mm2`, `wm_csa_mm2` and `gm_source`
    /// (`greyMatterSource`, default "segmentation") to each row. With `sctCSV`, also writes
    /// `sct_process_segmentation`'s CSV there (`SCTTables`).
    public static func morphometry(segmentation segPath: String, levels levelsPath: String? = nil,
                                   perLevel: Bool, greyMatter greyMatterPath: String? = nil,
                                   greyMatterSource: String = "segmentation", sctCSV: String? = nil) throws -> TSVTable {
        if let c = sctCSV {
            try PipelineInputs.refuseOverwrite(c, inputs: [segPath] + [levelsPath, greyMatterPath].compactMap { $0 })
            guard c.hasSuffix(".csv") else { throw CordIOError.writeFailed(path: c, reason: "the SCT-style table is comma-separated: name it .csv") }
        }
        if perLevel && levelsPath == nil {
            throw CordError.invalidValue(what: "--per-level", detail: "needs a vertebral level image (--levels)")
        }
        let slices = try Self.slices(segPath, levelsPath)
        var tissue: [Int: (gm: Double, wm: Double)]?
        if let g = greyMatterPath {
            let (gm, _) = try NIfTIFile.read(g)
            let (seg, _) = try NIfTIFile.read(segPath)
            try seg.grid.requireCompatible(with: gm.grid, segPath, g)
            tissue = try Morphometry.greyWhiteAreas(slices, greyMatter: gm)
        }
        if let c = sctCSV { try TextFile.write(SCTTables.processSegmentation(slices, perLevel: perLevel, filename: segPath), to: c) }
        if perLevel {
            var columns = ["level", "n_slices", "csa_mm2", "csa_sd_mm2", "diameter_ap_mm", "diameter_rl_mm",
                           "eccentricity", "solidity", "orientation_deg", "length_mm"]
            if tissue != nil { columns += ["gm_csa_mm2", "wm_csa_mm2", "gm_source"] }
            var t = TSVTable(columns: columns)
            let perLevelTissue = tissue.map { Morphometry.greyWhiteAreasPerLevel(slices, $0) }
            for l in Morphometry.perLevel(slices) {
                var row = [HealthyNorms.name(of: l.level), String(l.sliceCount), f(l.csa), f(l.csaSD), f(l.diameterAP),
                           f(l.diameterRL), f(l.eccentricity, 4), f(l.solidity, 4), f(l.orientation, 2), f(l.length)]
                if let pl = perLevelTissue {
                    let a = pl[l.level]
                    row += [a.map { f($0.gm) } ?? "n/a", a.map { f($0.wm) } ?? "n/a", greyMatterSource]
                }
                t.append(row)
            }
            return t
        }
        return perSliceTable(slices, tissue: tissue, source: greyMatterSource)
    }

    /// One row per slice: position, level, CSA and axial area (mm²), diameters (mm), shape,
    /// orientation and angles (degrees), slice length along the cord (mm).
    /// With `tissue` (GM/WM CSA per slice, `Morphometry.greyWhiteAreas`), the columns
    /// `gm_csa_mm2`, `wm_csa_mm2` and `gm_source` (where the GM came from) follow.
    static func perSliceTable(_ slices: [SliceShape], tissue: [Int: (gm: Double, wm: Double)]? = nil, source: String = "") -> TSVTable {
        var columns = ["slice", "z_mm", "level", "csa_mm2", "area_axial_mm2", "diameter_ap_mm", "diameter_rl_mm",
                       "eccentricity", "solidity", "orientation_deg", "angle_ap_deg", "angle_rl_deg", "length_mm"]
        if tissue != nil { columns += ["gm_csa_mm2", "wm_csa_mm2", "gm_source"] }
        var t = TSVTable(columns: columns)
        for s in slices {
            var row = [String(s.slice), f(s.z), s.level.map { HealthyNorms.name(of: $0) } ?? "", f(s.csa), f(s.axialArea),
                       f(s.diameterAP), f(s.diameterRL), f(s.eccentricity, 4), f(s.solidity, 4), f(s.orientation, 2),
                       f(s.angleAP, 2), f(s.angleRL, 2), f(s.length)]
            if let tissue {
                let a = tissue[s.slice]
                row += [a.map { f($0.gm) } ?? "n/a", a.map { f($0.wm) } ?? "n/a", source]
            }
            t.append(row)
        }
        return t
    }

    /// Compression metrics at `level` (name such as "C5").
    public static func compression(segmentation segPath: String, levels levelsPath: String, level: String,
                                   measure: CompressionMeasure, sex: Sex?) throws -> TSVTable {
        guard let norm = HealthyNorms.levels.first(where: { $0.name == level.uppercased() }) else {
            throw CordError.invalidValue(what: "--level \(level)", detail: "use C1…C7 or T1")
        }
        let r = try CompressionMetrics.measure(try Self.slices(segPath, levelsPath), level: norm.level, measure: measure, sex: sex)
        let unit = measure == .apDiameter ? "mm" : "mm2"
        let name = measure == .apDiameter ? "diameter_ap" : "csa"
        var t = TSVTable(columns: ["level", "slice", "z_mm", "\(name)_compressed_\(unit)", "\(name)_above_\(unit)",
                                   "\(name)_below_\(unit)", "mscc_percent", "compression_ratio_ap_rl", "csa_mm2",
                                   "healthy_csa_mm2", "healthy_csa_sd_mm2", "csa_ratio", "csa_z"])
        let above: String = r.above.map { f($0) } ?? "", below: String = r.below.map { f($0) } ?? ""
        let healthyMean: String = r.healthyCSA.map { f($0.mean) } ?? "", healthySD: String = r.healthyCSA.map { f($0.sd) } ?? ""
        let ratio: String = r.csaRatio.map { f($0, 4) } ?? "", z: String = r.csaZ.map { f($0, 2) } ?? ""
        var row: [String] = [norm.name, String(r.slice), f(r.z), f(r.compressed), above, below]
        row += [f(r.mscc, 2), f(r.compressionRatio, 4), f(r.csa), healthyMean, healthySD, ratio, z]
        t.append(row)
        return t
    }

    static func slices(_ segPath: String, _ levelsPath: String?) throws -> [SliceShape] {
        let (seg, _) = try NIfTIFile.read(segPath)
        let levels = try levelsPath.map { try NIfTIFile.readLabels($0).0 }
        if let l = levels { try seg.grid.requireCompatible(with: l.grid, segPath, levelsPath ?? "") }
        return try Morphometry.perSlice(seg, levels: levels)
    }

    static func f(_ x: Double, _ digits: Int = 3) -> String { x.isFinite ? formatFixed(x, digits) : "n/a" }
}
