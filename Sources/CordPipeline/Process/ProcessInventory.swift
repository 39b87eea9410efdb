// What a subject folder holds for `cordq process`: the anatomical images, the DWI series,
// the MT set, and labels or segmentations other tools left under `derivatives/`.
import CordCore
import CordIO
import CordRegistration

/// One image the run uses, with the BIDS stem its outputs are named after.
struct SubjectImage: Sendable {
    var path: String
    var stem: String
    var sidecar: String?
    var bval: String?, bvec: String?
    /// `axial` when the slices are the grid axis closest to S–I.
    var axial: Bool
}

/// The MT set: MT-on and MT-off (same flip and TR), and the T1-weighted image for MTsat.
struct MTSet: Sendable {
    var on: SubjectImage, off: SubjectImage
    var t1w: SubjectImage?
}

/// Everything `cordq process` found for one subject (and session).
struct ProcessInventory: Sendable {
    var participant: String
    var session: String?
    var root: String
    /// T2w images, the one for morphometry first (axial before sagittal, then the highest run).
    var anatomy: [SubjectImage]
    /// The anatomical contrast of `anatomy` (T2w; T1w or T2*w only when there is no T2w).
    var anatomyContrast: (suffix: String, contrast: SegmentationContrastName)
    var dwi: [SubjectImage]
    /// Reverse phase-encoding pairs (fmap/*_epi with IntendedFor, or dwi dir-AP/dir-PA) by
    /// DWI image path: the distortion correction runs for these series.
    var distortionPairs: [String: ReversePhaseEncodingPair] = [:]
    var mt: MTSet?
    /// Label images found under `derivatives/labels/` for an anatomical image: (image, labels, kind).
    var derivativeLabels: [(image: SubjectImage, labels: String, kind: LabelKind)]
    /// External cord segmentations under `derivatives/labels/` keyed by image path.
    var derivativeSegmentations: [String: String]
    /// What is absent, worded for the log.
    var missing: [String]
    /// The whole subject as read (series, sidecars, headers, gradients, labels), restricted
    /// to the chosen session: what the protocol check and later steps take.
    var subject: SubjectInventory
}

/// Segmentation contrast names as `SegmentationContrast` raw values (kept as text here so
/// the inventory does not depend on the segmentation module).
typealias SegmentationContrastName = String

enum ProcessInventoryReader {
    /// Reads the subject folder once (`SubjectInventory.read`). Throws when it is not a BIDS
    /// subject, when it has several sessions and none is chosen, when it holds no image
    /// CordQ can process, or when an image it uses cannot be read.
    static func read(_ path: String, session wanted: String?) throws -> ProcessInventory {
        let whole = try SubjectInventory.read(path)
        var session: String?
        if !whole.sessions.isEmpty {
            if let w = wanted {
                guard whole.sessions.contains(w) else {
                    throw CordError.invalidValue(what: "--session \(w)", detail: "\(path) has sessions \(whole.sessions.map { "ses-" + $0 }.joined(separator: ", "))")
                }
                session = w
            } else if whole.sessions.count == 1 {
                session = whole.sessions[0]
            } else {
                throw CordError.invalidValue(what: path, detail: "has \(whole.sessions.count) sessions (\(whole.sessions.map { "ses-" + $0 }.joined(separator: ", "))); choose one with --session")
            }
        }
        let subject = session.map { whole.session($0) } ?? whole
        let images = subject.images
        /// The image's header was read with the inventory; an unreadable one stops the run.
        func make(_ s: SubjectSeries) throws -> SubjectImage {
            guard let path = s.imagePath, let h = s.header else {
                throw s.imageError ?? CordIOError.notFound(path: s.imagePath ?? s.folder + "/" + s.stem)
            }
            let code = h.grid.orientation.letters
            let axial = (code.firstIndex { $0.worldAxis == 2 } ?? 2) == 2
            return SubjectImage(path: path, stem: s.stem, sidecar: s.sidecarPath, bval: s.bvalPath, bvec: s.bvecPath, axial: axial)
        }
        /// Highest run of each series (same entities but `run`).
        func latest(_ list: [SubjectSeries]) -> [SubjectSeries] {
            var best: [String: SubjectSeries] = [:]
            for s in list {
                let key = s.name.entities.filter { $0.key != "run" }.map { "\($0.key)-\($0.value)" }.joined(separator: "_") + s.suffix
                if let b = best[key], b.run >= s.run { continue }
                best[key] = s
            }
            return best.values.sorted { ($0.imagePath ?? "") < ($1.imagePath ?? "") }
        }
        var missing: [String] = []
        var anatomy: [SubjectImage] = []
        var contrast = ("T2w", "t2")
        for (suffix, c) in [("T2w", "t2"), ("T1w", "t1"), ("T2starw", "t2s")] {
            let found = try latest(images.filter { $0.datatype == "anat" && $0.suffix == suffix }).map(make)
            if !found.isEmpty { anatomy = found.sorted { $0.axial && !$1.axial }; contrast = (suffix, c); break }
        }
        if anatomy.isEmpty {
            missing.append("anatomy: no anat/*_T2w (nor T1w or T2starw) image, so no cord morphometry and no vertebral levels")
        } else if contrast.0 != "T2w" {
            missing.append("anatomy: no T2w image; the \(contrast.0) image is used for the cord and levels")
        }
        // A dwi series that only serves as the reverse phase-encoding partner of a longer one
        // (dir-PA b = 0 volumes for a dir-AP series) is not processed on its own.
        var dwiSeries = latest(images.filter { $0.datatype == "dwi" && $0.suffix == "dwi" })
        var pairs: [String: ReversePhaseEncodingPair] = [:], partnersOnly = Set<String>()
        for s in dwiSeries {
            guard let image = s.imagePath, let pair = subject.reversePhaseEncodingPair(for: s) else { continue }
            pairs[image] = pair
            if pair.reverse.datatype == "dwi", let r = pair.reverse.imagePath,
               (pair.reverse.header?.frames ?? 1) < (s.header?.frames ?? 1) { partnersOnly.insert(r) }
        }
        dwiSeries = dwiSeries.filter { !partnersOnly.contains($0.imagePath ?? "") }
        for p in partnersOnly { pairs[p] = nil }
        let dwi = try dwiSeries.map(make)
        if dwi.isEmpty { missing.append("diffusion: no dwi/*_dwi image, so no DTI or μFA") }
        let mt = try mtSet(latest(images.filter { $0.datatype == "anat" && $0.suffix == "MTS" }), make, &missing)

        var labels: [(SubjectImage, String, LabelKind)] = [], segs: [String: String] = [:]
        for im in anatomy {
            for found in subject.derivativeLabels(for: im.path) {
                switch found.kind {
                case .disc: labels.append((im, found.path, .disc))
                case .vertebralBody: labels.append((im, found.path, .vertebralBody))
                case .cordSegmentation: if segs[im.path] == nil { segs[im.path] = found.path }
                }
            }
        }
        guard !anatomy.isEmpty || !dwi.isEmpty || mt != nil else {
            throw CordError.invalidValue(what: path, detail: "holds no image CordQ processes (anat/*_T2w, T1w or T2starw; dwi/*_dwi; anat/*_MTS)")
        }
        return ProcessInventory(participant: subject.id, session: session, root: subject.root, anatomy: anatomy,
                                anatomyContrast: (contrast.0, contrast.1), dwi: dwi, distortionPairs: pairs, mt: mt,
                                derivativeLabels: labels.map { ($0.0, $0.1, $0.2) }, derivativeSegmentations: segs, missing: missing,
                                subject: subject)
    }

    /// The MT set by BIDS qMRI names (`flip-1_mt-on`, `flip-1_mt-off`, `flip-2_mt-off`, suffix
    /// MTS) or spine-generic's older `acq-MTon`, `acq-MToff`, `acq-T1w`.
    static func mtSet(_ list: [SubjectSeries], _ make: (SubjectSeries) throws -> SubjectImage,
                      _ missing: inout [String]) throws -> MTSet? {
        func find(_ mt: String, _ flip: String, _ acq: String) -> SubjectSeries? {
            list.first { ($0.entity("mt") == mt && ($0.entity("flip") ?? "1") == flip) || $0.entity("acq")?.lowercased() == acq.lowercased() }
        }
        let on = find("on", "1", "MTon"), off = find("off", "1", "MToff"), t1 = find("off", "2", "T1w")
        guard let on, let off else {
            if list.isEmpty { missing.append("MT: no anat/*_MTS images, so no MTR or MTsat") }
            else { missing.append("MT: the MT-on/MT-off pair is incomplete (\(on == nil ? "no MT-on" : "no MT-off")), so no MTR or MTsat") }
            return nil
        }
        if t1 == nil { missing.append("MT: no T1-weighted MTS image (flip-2_mt-off), so MTR only, no MTsat or T1") }
        return MTSet(on: try make(on), off: try make(off), t1w: try t1.map(make))
    }
}
