// Checking a subject against a card (README §8 matching, §9 checking).
import CordCore

/// Checks subjects against protocol cards.
public enum ProtocolCheck {
    /// The seed research's finding behind the multiband warning.
    public static let multibandFinding =
        "the seed research found image quality breaks down at multiband >= 4 for cord diffusion (2-3 acceptable)"

    /// Checks a subject already read (every session it holds; filter with
    /// `SubjectInventory.session(_:)` first to check one).
    public static func run(inventory: SubjectInventory, card: ProtocolCard) -> ProtocolReport {
        let found = inventory.series
        var series: [SeriesCheck] = []
        var used = Set<Int>()
        for spec in card.series {
            var files: [FileCheck] = []
            for (n, a) in found.enumerated() where matches(a, spec) {
                used.insert(n)
                files.append(check(a, against: spec))
            }
            files.sort { ($0.file.session ?? "", $0.file.run) < ($1.file.session ?? "", $1.file.run) }
            series.append(SeriesCheck(spec: spec, files: files))
        }
        let notInCard = found.indices.filter { !used.contains($0) }.map { found[$0] }
        let matched = series.flatMap { $0.files.map(\.file) }
        let scanner = scannerFindings(card, matched)
        var warnings: [String] = []
        for a in found {
            if let m = a.harmfulMultiband {
                warnings.append("\(a.displayName): multiband factor \(m) (\(a.multiband.source)): \(multibandFinding)")
            }
        }
        let maps = card.maps.map { m -> MapPlan in
            let bad = m.inputs.sorted { $0.key < $1.key }.compactMap { role, id -> String? in
                guard let s = series.first(where: { $0.spec.id == id }) else { return "\(role) '\(id)' not in card" }
                switch s.status {
                case .matched: return nil
                case .missing: return "\(role) series '\(id)' is missing"
                case .deviating: return "\(role) series '\(id)' deviates"
                }
            }
            return MapPlan(map: m, computed: bad.isEmpty, reason: bad.joined(separator: "; "))
        }
        var blockers: [String] = []
        for f in scanner where f.outcome == .deviation {
            blockers.append("\(f.key) is \(f.found), the card expects \(f.expected)")
        }
        for s in series where s.spec.required {
            switch s.status {
            case .missing: blockers.append("required series '\(s.spec.id)' is missing (no \(s.spec.filePattern))")
            case .deviating:
                let keys = s.chosen?.deviations.map(\.key).joined(separator: ", ") ?? ""
                blockers.append("required series '\(s.spec.id)' deviates (\(keys))")
            case .matched: break
            }
        }
        return ProtocolReport(card: card, subjectPath: inventory.path, scanner: scanner, series: series, notInCard: notInCard,
                              warnings: warnings, maps: maps, blockers: blockers)
    }

    /// A file matches a series when its folder is the datatype, its suffix is the suffix and
    /// its entities other than sub, ses and run are exactly the series' entities.
    public static func matches(_ a: SubjectSeries, _ s: SeriesSpec) -> Bool {
        a.datatype == s.datatype.rawValue && a.suffix == s.suffix && a.seriesEntities == s.entities
    }

    // MARK: - Scanner

    static func scannerFindings(_ card: ProtocolCard, _ files: [SubjectSeries]) -> [Finding] {
        var out: [Finding] = []
        if let m = card.manufacturer {
            let found = files.compactMap { $0.sidecar?.manufacturer }
            let distinct = Array(Set(found)).sorted()
            if distinct.isEmpty {
                out.append(Finding(key: "manufacturer", found: "—", expected: m, outcome: .unknown, source: "no Manufacturer in the sidecars"))
            } else {
                let ok = distinct.allSatisfy(card.manufacturerMatches)
                out.append(Finding(key: "manufacturer", found: distinct.joined(separator: ", "), expected: m,
                                   outcome: ok ? .match : .deviation, source: "Manufacturer (\(found.count) sidecars)"))
            }
        }
        if let f = card.field {
            let found = files.compactMap { $0.sidecar?.magneticFieldStrength }
            let distinct = Array(Set(found)).sorted()
            if distinct.isEmpty {
                out.append(Finding(key: "field_t", found: "—", expected: "\(f) T", outcome: .unknown, source: "no MagneticFieldStrength in the sidecars"))
            } else {
                out.append(Finding(key: "field_t", found: distinct.map { "\(formatCardNumber($0)) T" }.joined(separator: ", "), expected: "\(f) T",
                                   outcome: distinct.allSatisfy(f.admits) ? .match : .deviation, source: "MagneticFieldStrength (\(found.count) sidecars)"))
            }
        }
        return out
    }

    // MARK: - One file against one series

    static func check(_ a: SubjectSeries, against s: SeriesSpec) -> FileCheck {
        var f: [Finding] = []
        var notes: [String] = []
        for p in a.problems { f.append(Finding(key: "files", found: p, expected: "readable files", outcome: .deviation, source: "")) }
        if let fams = s.sequence {
            let e = a.sequenceFamily
            let expected = fams.map(\.rawValue).joined(separator: " or ")
            f.append(e.value.map { Finding(key: "sequence", found: $0.rawValue, expected: expected, outcome: fams.contains($0) ? .match : .deviation, source: e.source) }
                     ?? Finding(key: "sequence", found: "—", expected: expected, outcome: .unknown, source: e.source))
        }
        if let o = s.orientation {
            let e = a.plane
            f.append(e.value.map { Finding(key: "orientation", found: $0.rawValue, expected: o.rawValue, outcome: $0 == o ? .match : .deviation, source: e.source) }
                     ?? Finding(key: "orientation", found: "—", expected: o.rawValue, outcome: .unknown, source: e.source))
        }
        if let spec = s.voxelInPlane {
            let e = a.inPlaneSpacing
            if let v = e.value {
                f.append(Finding(key: "voxel_mm.in_plane", found: v.map { formatCardNumber(rounded($0)) }.joined(separator: " × ") + " mm",
                                 expected: "\(spec) mm", outcome: v.allSatisfy(spec.admits) ? .match : .deviation, source: e.source))
            } else {
                f.append(Finding(key: "voxel_mm.in_plane", found: "—", expected: "\(spec) mm", outcome: .unknown, source: e.source))
            }
        }
        f.append(contentsOf: [numeric("voxel_mm.slice", s.voxelSlice, a.sliceThickness, " mm")].compactMap { $0 })
        let (count, countNote) = a.sliceCount
        if let n = countNote { notes.append(n) }
        f.append(contentsOf: [
            numeric("slices", s.slices, Found(count.value.map(Double.init), count.source), ""),
            numeric("multiband", s.multiband, Found(a.multiband.value.map(Double.init), a.multiband.source), ""),
            numeric("tr_s", s.tr, Found(a.sidecar?.repetitionTime, "RepetitionTime"), " s"),
            numeric("te_s", s.te, Found(a.sidecar?.echoTime, "EchoTime"), " s"),
            numeric("ti_s", s.ti, Found(a.sidecar?.inversionTime, "InversionTime"), " s"),
            numeric("flip_deg", s.flip, Found(a.sidecar?.flipAngle, "FlipAngle"), "°"),
            numeric("duration_s", s.duration, Found(a.sidecar?.fields["AcquisitionDuration"].flatMap { if case let .number(d) = $0 { d } else { nil } },
                                                   "AcquisitionDuration"), " s"),
        ].compactMap { $0 })
        if let mt = s.mtPulse {
            let e = a.mtPulse
            let word = { (b: Bool) in b ? "on" : "off" }
            f.append(e.value.map { Finding(key: "mt_pulse", found: word($0), expected: word(mt), outcome: $0 == mt ? .match : .deviation, source: e.source) }
                     ?? Finding(key: "mt_pulse", found: "—", expected: word(mt), outcome: .unknown, source: e.source))
        }
        if let d = s.diffusion {
            let (df, dn) = diffusionFindings(a, d)
            f += df; notes += dn
        }
        return FileCheck(file: a, findings: f, notes: notes)
    }

    static func rounded(_ x: Double) -> Double { (x * 1e6).rounded() / 1e6 }

    /// A numeric spec against a found value (nil when the card does not state the key).
    static func numeric(_ key: String, _ spec: Spec?, _ found: Found<Double>, _ unit: String) -> Finding? {
        guard let spec else { return nil }
        let expected = "\(spec)\(unit)"
        guard let v = found.value else {
            return Finding(key: key, found: "—", expected: expected, outcome: .unknown, source: found.source == "" ? "absent" : "\(found.source) absent")
        }
        return Finding(key: key, found: formatCardNumber(rounded(v)) + unit, expected: expected, outcome: spec.admits(v) ? .match : .deviation, source: found.source)
    }

    /// Shell volume and direction counts, b-values that fit no shell (deviations), and
    /// b-vector sanity (notes).
    static func diffusionFindings(_ a: SubjectSeries, _ d: DiffusionSpec) -> ([Finding], [String]) {
        let shellsText = d.shells.map { "b \($0.b)" }.joined(separator: ", ")
        guard let g = a.gradients else {
            return ([Finding(key: "diffusion", found: "no .bval/.bvec", expected: "\(d.encoding.rawValue) encoding, shells \(shellsText)",
                             outcome: .deviation, source: "bval/bvec")], [])
        }
        var f: [Finding] = []
        var notes: [String] = []
        let n = g.bValues.count
        if let h = a.header, h.frames != n {
            f.append(Finding(key: "diffusion volumes", found: "\(n) in .bval", expected: "\(h.frames) (the image's volumes)", outcome: .deviation, source: "bval vs NIfTI"))
        }
        var members = Array(repeating: [Int](), count: d.shells.count)
        var stray: [Int] = []
        for (i, b) in g.bValues.enumerated() {
            if let s = d.shellIndex(for: b) { members[s].append(i) } else { stray.append(i) }
        }
        if !stray.isEmpty {
            let list = stray.prefix(8).map { "b \(formatCardNumber(g.bValues[$0])) (volume \($0))" }.joined(separator: ", ") + (stray.count > 8 ? ", …" : "")
            f.append(Finding(key: "diffusion b-values", found: "\(stray.count) volume\(stray.count == 1 ? " fits" : "s fit") no shell: \(list)",
                             expected: "every b within a shell: \(shellsText)", outcome: .deviation, source: ".bval"))
        }
        for (s, shell) in d.shells.enumerated() {
            let label = "b=\(formatCardNumber(shell.b.value))"
            let idx = members[s]
            if let v = numeric("\(label) volumes", shell.volumes, Found(Double(idx.count), ".bval"), "") { f.append(v) }
            let units = idx.map { normalized(g.vectors[$0]) }.filter { length($0) > 0.5 }
            var distinct: [SIMD3<Double>] = []
            for u in units where !distinct.contains(where: { abs(dot($0, u)) > 0.9999 }) { distinct.append(u) }
            if let v = numeric("\(label) directions", shell.directions, Found(Double(distinct.count), ".bvec (u and -u count once)"), "") { f.append(v) }
            let isZero = shell.b.value == 0
            for i in idx {
                let len = length(g.vectors[i])
                if isZero && len > 1e-2 { notes.append("volume \(i) (b \(formatCardNumber(g.bValues[i]))) has a non-zero b-vector (length \(formatCardNumber(rounded(len))))") }
                if !isZero && abs(len - 1) > 1e-2 { notes.append("volume \(i) (b \(formatCardNumber(g.bValues[i]))) has a b-vector of length \(formatCardNumber(rounded(len))), not 1") }
            }
        }
        return (f, notes)
    }
}
