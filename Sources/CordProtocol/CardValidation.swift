// Card-level rules that span several series or maps (README §7), and valid-card warnings.

struct CardValidation {
    let reader: CardReader
    let card: ProtocolCard

    func fail(_ at: CardLocation, _ key: String, _ message: String) -> ProtocolCardError {
        ProtocolCardError(path: reader.path, line: at.line, column: at.column, key: key, message: message)
    }

    func validate() throws {
        var ids: [String: SeriesSpec] = [:]
        var patterns: [String: SeriesSpec] = [:]
        for s in card.series {
            if let other = ids[s.id] {
                throw fail(s.location, "id", "two series have the id '\(s.id)' (lines \(other.location.line) and \(s.location.line)); ids must be unique")
            }
            ids[s.id] = s
            if let other = patterns[s.filePattern] {
                throw fail(s.location, "entities", "series '\(s.id)' and '\(other.id)' both match \(s.filePattern) (same datatype, suffix and entities): matching would be ambiguous")
            }
            patterns[s.filePattern] = s
        }
        var mapIDs = Set<String>()
        for m in card.maps {
            if mapIDs.contains(m.id) { throw fail(m.location, "id", "two maps have the id '\(m.id)'; ids must be unique") }
            mapIDs.insert(m.id)
            try validate(map: m)
        }
    }

    /// Roles each map kind takes: required and optional (README §5).
    static func roles(_ m: MapSpec) -> (required: [String], optional: [String]) {
        let b1: [String] = m.b1 == .map ? ["b1map"] : []
        switch m.kind {
        case .morphometry: return (["image"], [])
        case .dti: return (["dwi"], [])
        case .mtr: return (["mt_on", "mt_off"], [])
        case .mtsat: return (["mt_on", "pd", "t1"] + b1, [])
        case .t1: return (["pd", "t1"] + b1, [])
        case .mufa:
            switch m.method ?? .gamma {
            case .gamma: return (["lte", "ste"], [])
            case .qti: return (["lte", "ste"], ["pte"])
            case .smt: return (["lte"], [])
            case .dde: return (["dde"], [])
            }
        }
    }

    func validate(map m: MapSpec) throws {
        let label = "map '\(m.id)' (\(m.kind.rawValue)\(m.method.map { ", method \($0.rawValue)" } ?? ""))"
        let (req, opt) = Self.roles(m)
        for r in req where m.inputs[r] == nil {
            throw fail(m.location, "inputs", "\(label) needs the input role '\(r)' (roles: \((req + opt).joined(separator: ", ")))")
        }
        for r in m.inputs.keys.sorted() where !req.contains(r) && !opt.contains(r) {
            let why = r == "b1map" && (m.kind == .mtsat || m.kind == .t1) ? " (only with b1: map)" : ""
            throw fail(m.location, "inputs", "\(label) does not take the input role '\(r)'\(why) (roles: \((req + opt).joined(separator: ", ")))")
        }
        for (role, id) in m.inputs.sorted(by: { $0.key < $1.key }) {
            guard let s = card.series(id) else {
                throw fail(m.location, "inputs", "\(label) names the series '\(id)' (role \(role)), which the card does not have")
            }
            func need(_ ok: Bool, _ what: String) throws {
                if !ok { throw fail(m.location, "inputs", "\(label): role \(role) needs \(what), but series '\(id)' is not") }
            }
            switch role {
            case "image", "mt_on", "mt_off", "pd", "t1": try need(s.datatype == .anat, "an anat series")
            case "b1map": try need(s.datatype == .fmap, "an fmap series")
            default: try need(s.datatype == .dwi && s.diffusion != nil, "a dwi series with a diffusion scheme")
            }
            let enc = s.diffusion?.encoding
            switch role {
            case "dwi", "lte": try need(enc == .linear, "linear encoding")
            case "ste": try need(enc == .spherical, "spherical encoding")
            case "pte": try need(enc == .planar, "planar encoding")
            case "dde": try need(enc == .dde, "dde encoding")
            case "mt_on": try need(s.mtPulse != false, "mt_pulse true (or unstated)")
            case "mt_off": try need(s.mtPulse != true, "mt_pulse false (or unstated)")
            default: break
            }
            if role == "pd" || role == "t1" {
                try need(s.flip != nil && s.tr != nil, "flip_deg and tr_s (MTsat and VFA T1 use them, Helms et al. 2008)")
            }
            if role == "lte" && m.method == .smt {
                let nonZero = s.diffusion?.shells.filter { $0.b.value > 0 }.count ?? 0
                try need(nonZero >= 2, "at least 2 non-zero shells for SMT (it has \(nonZero))")
            }
        }
    }

    /// Valid-card warnings: a dwi series whose multiband spec admits a factor ≥ 4.
    static func warnings(_ card: ProtocolCard) -> [String] {
        card.series.compactMap { s in
            guard s.datatype == .dwi, let mb = s.multiband, mb.upper >= 4 else { return nil }
            return "series '\(s.id)' admits multiband \(formatCardNumber(mb.upper)) (\(mb)): \(ProtocolCheck.multibandFinding)"
        }
    }
}
