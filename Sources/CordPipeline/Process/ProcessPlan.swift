// What `cordq process` does to each series, decided from the protocol card's `processing:`
// block and map methods, with command-line options overriding the card.
import CordCore
import CordDiffusion
import CordIO

/// One decision and why it was taken, for the log and the provenance record.
struct Decision<Value: Sendable>: Sendable {
    var value: Value
    /// "--denoise off", "card clinical-minimal, series dwi: processing.denoise = mppca", …
    var source: String
}

/// The steps one DWI series gets.
struct DiffusionPlan: Sendable {
    var denoise: Decision<Bool>
    var unring: Decision<Bool>
    var motionCorrection: Decision<ProcessingSpec.MotionCorrection>
    var multibandCorrection: Decision<Bool>
    var microFA: Decision<MicroFAMethod>
    /// Susceptibility distortion correction; `asked` when a card or option said so (not the default).
    var distortion: Decision<ProcessingSpec.DistortionCorrection>
    var distortionAsked: Bool

    var json: JSONValue {
        func d<T>(_ x: Decision<T>, _ v: String) -> JSONValue { .object(["value": .string(v), "source": .string(x.source)]) }
        return .object([
            "denoise": d(denoise, denoise.value ? "mppca" : "none"), "unring": d(unring, "\(unring.value)"),
            "motion_correction": d(motionCorrection, motionCorrection.value.rawValue),
            "multiband_correction": d(multibandCorrection, "\(multibandCorrection.value)"),
            "microfa_method": d(microFA, microFA.value.rawValue),
            "distortion_correction": d(distortion, distortion.value.rawValue),
        ])
    }
}

/// The card that drives a run (given with --protocol or inferred), and what it says of a series.
struct CardGuidance: Sendable {
    var report: ProtocolReport?

    /// The card series a file was matched to.
    func series(for path: String) -> SeriesSpec? {
        guard let report else { return nil }
        let target = TextFile.canonicalPath(path)
        return report.series.first { s in s.files.contains { f in f.imagePath.map(TextFile.canonicalPath) == target } }?.spec
    }

    /// The plan of a DWI series: the request's options first, then the card, then the defaults.
    func diffusionPlan(for path: String, frames: Int, request r: ProcessRequest) -> DiffusionPlan {
        let spec = series(for: path)
        let where_ = report.map { "card \($0.card.name), series \(spec?.id ?? "?")" } ?? ""
        let minimum = r.denoiseOptions.minimumVolumes
        let denoise: Decision<Bool>
        if let d = r.denoise {
            denoise = Decision(value: d, source: "--denoise \(d ? "on" : "off")")
        } else if let spec {
            denoise = Decision(value: spec.processing.denoise == .mppca, source: "\(where_): processing.denoise = \(spec.processing.denoise.rawValue)")
        } else {
            denoise = Decision(value: frames >= minimum, source: "default (no card series for this file): MP-PCA when the series has ≥ \(minimum) volumes")
        }
        let unring: Decision<Bool>
        if let u = r.unring {
            unring = Decision(value: u, source: "--unring \(u ? "on" : "off")")
        } else if let spec {
            unring = Decision(value: spec.processing.unring, source: "\(where_): processing.unring = \(spec.processing.unring)")
        } else {
            unring = Decision(value: false, source: "default (no card series for this file): off")
        }
        let motion = spec.map { Decision(value: $0.processing.motionCorrection, source: "\(where_): processing.motion_correction = \($0.processing.motionCorrection.rawValue)") }
            ?? Decision(value: .none, source: "default (no card series for this file): none")
        let multiband = spec.map { Decision(value: $0.processing.multibandCorrection, source: "\(where_): processing.multiband_correction = \($0.processing.multibandCorrection)") }
            ?? Decision(value: false, source: "default (no card series for this file): off")
        let microFA: Decision<MicroFAMethod>
        if let m = r.microFAMethod {
            microFA = Decision(value: m, source: "--microfa \(m.rawValue)")
        } else if let report, let spec,
                  let map = report.card.maps.first(where: { $0.kind == .mufa && $0.inputs.values.contains(spec.id) }),
                  let method = map.method, let m = MicroFAMethod(rawValue: method.rawValue) {
            microFA = Decision(value: m, source: "card \(report.card.name), map \(map.id): method = \(method.rawValue)")
        } else {
            microFA = Decision(value: .auto, source: "default: auto (the route the encodings support)")
        }
        let distortion: Decision<ProcessingSpec.DistortionCorrection>
        var asked = true
        if let c = r.distortionCorrection {
            distortion = Decision(value: c, source: "--distortion-correction \(c.rawValue)")
        } else if let spec, let c = spec.processing.distortionCorrection {
            distortion = Decision(value: c, source: "\(where_): processing.distortion_correction = \(c.rawValue)")
        } else {
            distortion = Decision(value: .reversePE, source: "default: the reverse phase-encoding pair when the subject has one")
            asked = false
        }
        return DiffusionPlan(denoise: denoise, unring: unring, motionCorrection: motion, multibandCorrection: multiband, microFA: microFA,
                             distortion: distortion, distortionAsked: asked)
    }
}

extension CardGuidance {
    /// The b-tensor shape of a series without an encoding TSV: the card series'
    /// `diffusion.encoding` (linear, planar, spherical), else linear. DDE needs the TSV.
    func encoding(for path: String) -> Decision<EncodingSource> {
        guard let report, let spec = series(for: path), let d = spec.diffusion else {
            return Decision(value: .shape(.linear), source: "default: linear (no encoding TSV and no card series for this file)")
        }
        let source = "card \(report.card.name), series \(spec.id): diffusion.encoding = \(d.encoding.rawValue)"
        switch d.encoding {
        case .linear: return Decision(value: .shape(.linear), source: source)
        case .planar: return Decision(value: .shape(.planar), source: source)
        case .spherical: return Decision(value: .shape(.spherical), source: source)
        case .dde: return Decision(value: .shape(.linear), source: source + ", but DDE needs the second block's directions from an encoding TSV: read as linear")
        }
    }

    /// The B1 map MTsat uses: the card's `mtsat` map with `b1: map` names its `b1map` series;
    /// the value is that series' file, nil when the card says `none` (or there is no card) or
    /// when the file is missing (`missing` then says so).
    func b1Map() -> (path: String?, source: String, missing: Bool) {
        guard let report, let map = report.card.maps.first(where: { $0.kind == .mtsat }) else {
            return (nil, "default: nominal flip angles (no card map for MTsat)", false)
        }
        let source = "card \(report.card.name), map \(map.id): b1 = \(map.b1.rawValue)"
        guard map.b1 == .map else { return (nil, source, false) }
        guard let id = map.inputs["b1map"], let file = report.series.first(where: { $0.spec.id == id })?.chosen?.imagePath else {
            return (nil, source + ", but its b1map series '\(map.inputs["b1map"] ?? "?")' has no image", true)
        }
        return (file, source + " (series \(id))", false)
    }

    /// Whether the card has a map of `kind` fed by the series of `path`.
    func hasMap(_ kind: MapSpec.Kind, for path: String) -> Bool {
        guard let report, let id = series(for: path)?.id else { return false }
        return report.card.maps.contains { $0.kind == kind && $0.inputs.values.contains(id) }
    }

    /// μFA maps of the card that combine several DWI series (e.g. `lte` + `ste`), as lists of
    /// the subject's files in the card's input order; only maps whose every input was found.
    func microFAGroups(_ dwi: [SubjectImage]) -> [(map: MapSpec, series: [SubjectImage])] {
        guard let report else { return [] }
        return report.card.maps.filter { $0.kind == .mufa && $0.inputs.count > 1 }.compactMap { map in
            let images = map.inputs.sorted { $0.key < $1.key }.compactMap { _, id in dwi.first { series(for: $0.path)?.id == id } }
            return images.count == map.inputs.count ? (map, images) : nil
        }
    }
}

extension FileCheck {
    /// The image path of the matched file, when it has one.
    var imagePath: String? { file.imagePath }
}
