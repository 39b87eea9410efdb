// Files other tools left for a subject under `derivatives/` (manual labels, segmentations).
import Foundation

/// Lookup of a subject's files in a BIDS derivatives pipeline folder, e.g. spine-generic's
/// manual labels `derivatives/labels/sub-01/anat/sub-01_T2w_labels-disc-manual.nii.gz`.
public enum BIDSDerivatives {
    /// The dataset root of a subject folder (its parent, which holds `derivatives/`).
    public static func datasetRoot(ofSubject subject: BIDSSubject) -> String {
        URL(fileURLWithPath: subject.path).deletingLastPathComponent().path
    }

    /// NIfTI files in `<root>/derivatives/<pipeline>/<sub>/[ses-<session>/]<datatype>/` whose
    /// name starts with `stem + "_"`, sorted by name; empty when the folder is absent.
    public static func images(root: String, pipeline: String, subject: String, session: String?,
                              datatype: String, stem: String) -> [String] {
        var dir = root + "/derivatives/" + pipeline + "/" + subject
        if let s = session { dir += "/ses-" + s }
        dir += "/" + datatype
        guard TextFile.isDirectory(dir), let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        return names.filter { $0.hasPrefix(stem + "_") && ($0.hasSuffix(".nii") || $0.hasSuffix(".nii.gz")) }
            .sorted().map { dir + "/" + $0 }
    }
}
