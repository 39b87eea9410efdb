// Tables in the Spinal Cord Toolbox's CSV layouts, beside CordQ's long form, so scripts written
// for `sct_extract_metric` and `sct_process_segmentation` outputs read CordQ's unchanged.
import CordCore
import CordMetrics
import CordSegmentation
import Foundation

/// SCT-style CSV text: SCT's column names and conventions (slices numbered inferior →
/// superior as `Slice (I->S)`, `first:last` for a range; vertebral levels as numbers, 1 = C1 …
/// 8 = T1; `DistancePMJ` empty: CordQ does not measure from the pontomedullary junction).
/// `SCT Version` says `cordq <version>` so a reader can tell the files apart.
public enum SCTTables {
    /// Columns of `sct_process_segmentation`'s CSV (SCT 5–6 layout).
    public static let processSegmentationColumns = [
        "Timestamp", "SCT Version", "Filename", "Slice (I->S)", "VertLevel", "DistancePMJ",
        "MEAN(area)", "STD(area)", "MEAN(angle_AP)", "STD(angle_AP)", "MEAN(angle_RL)", "STD(angle_RL)",
        "MEAN(diameter_AP)", "STD(diameter_AP)", "MEAN(diameter_RL)", "STD(diameter_RL)",
        "MEAN(eccentricity)", "STD(eccentricity)", "MEAN(orientation)", "STD(orientation)",
        "MEAN(solidity)", "STD(solidity)", "SUM(length)",
    ]

    /// Columns of `sct_extract_metric`'s CSV for `method` (the value column is the method's
    /// name in capitals with `()`, as SCT writes `WA()`, `BIN()`, `ML()`, `MAP()`, `MEDIAN()`).
    public static func extractMetricColumns(method: ExtractionMethod) -> [String] {
        ["Timestamp", "SCT Version", "Filename", "Slice (I->S)", "VertLevel", "DistancePMJ", "Label", "Size [vox]",
         method.rawValue.uppercased() + "()", "STD()"]
    }

    /// `sct_process_segmentation`'s CSV from CordQ's slice shapes (slices already in RPI
    /// order): one row per level (`-perlevel 1`: mean and SD over the level's slices, total
    /// length), ordered inferior → superior as SCT orders them, or one row per slice.
    public static func processSegmentation(_ slices: [SliceShape], perLevel: Bool, filename: String, date: Date = Date()) -> String {
        var rows: [[String]] = []
        let stamp = timestamp(date)
        if perLevel {
            let groups = Dictionary(grouping: slices.filter { $0.level != nil }, by: { $0.level! })
            let ordered = groups.values.sorted { ($0.map(\.slice).min() ?? 0) < ($1.map(\.slice).min() ?? 0) }
            for g in ordered {
                let ks = g.map(\.slice)
                var row = [stamp, version, filename, "\(ks.min() ?? 0):\(ks.max() ?? 0)", String(g[0].level ?? 0), ""]
                for k: KeyPath<SliceShape, Double> in [\.csa, \.angleAP, \.angleRL, \.diameterAP, \.diameterRL, \.eccentricity, \.orientation, \.solidity] {
                    let (m, sd) = meanSD(g.map { $0[keyPath: k] })
                    row += [number(m), number(sd)]
                }
                row.append(number(g.reduce(0) { $0 + $1.length }))
                rows.append(row)
            }
        } else {
            for s in slices.sorted(by: { $0.slice < $1.slice }) {
                var row = [stamp, version, filename, String(s.slice), s.level.map { String($0) } ?? "", ""]
                for v in [s.csa, s.angleAP, s.angleRL, s.diameterAP, s.diameterRL, s.eccentricity, s.orientation, s.solidity] {
                    row += [number(v), number(0)]
                }
                row.append(number(s.length))
                rows.append(row)
            }
        }
        return csv(processSegmentationColumns, rows)
    }

    /// `sct_extract_metric`'s CSV from an extraction: one row per table row, with the slice
    /// range, level, region size (Σ probability) and weighted SD. `slice` maps an extraction
    /// slice index to its I→S number on the map's grid (it undoes a crop and a S→I axis).
    public static func extractMetric(_ result: ExtractionResult, method: ExtractionMethod, filename: String,
                                     slice: (Int) -> Int, date: Date = Date()) -> String {
        let stamp = timestamp(date)
        var rows: [[String]] = []
        for (row, detail) in zip(result.table.rows, result.details) {
            let ks = detail.slices.map(slice)
            let range = ks.isEmpty ? "" : ks.count == 1 ? String(ks[0]) : "\(ks.min() ?? 0):\(ks.max() ?? 0)"
            rows.append([stamp, version, filename, range, detail.level.map(String.init) ?? "", "", row.region,
                         number(detail.size), row.value.isFinite ? number(row.value) : "", detail.sd.map(number) ?? ""])
        }
        return csv(extractMetricColumns(method: method), rows)
    }

    /// The I→S slice number of slice `k` of `grid` (its third axis), given the crop that kept
    /// slices from `offset` on: `offset + k` when the axis runs inferior → superior, counted
    /// from the other end when it runs superior → inferior.
    public static func sliceNumber(_ k: Int, offset: Int, grid full: Grid) -> Int {
        let kk = offset + k
        return full.orientation.letters[2] == .S ? full.nz - 1 - kk : kk
    }

    static var version: String { "cordq \(CordQVersion.string)" }

    static func timestamp(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX"); f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return f.string(from: date)
    }

    /// Mean and population SD (divided by n, as SCT's aggregation computes it).
    static func meanSD(_ v: [Double]) -> (Double, Double) {
        guard !v.isEmpty else { return (.nan, .nan) }
        let m = v.reduce(0, +) / Double(v.count)
        return (m, (v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(v.count)).squareRoot())
    }

    /// Full precision, as pandas writes floats; empty for a value that is not finite.
    static func number(_ x: Double) -> String { x.isFinite ? String(x) : "" }

    /// Comma-separated, a field quoted (doubled quotes inside) only when it holds a comma,
    /// a quote or a line break; `\n` line ends.
    static func csv(_ columns: [String], _ rows: [[String]]) -> String {
        func field(_ s: String) -> String {
            s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        return ([columns] + rows).map { $0.map(field).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }
}
