// Contrast, polarity and the errors of cord segmentation.
import CordCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether the cord is darker or brighter than the CSF around it.
public enum CordPolarity: String, Sendable, Codable, CaseIterable {
    /// Cord darker than CSF: T2w, T2*w, MT-on gradient echo.
    case darkCord = "dark"
    /// Cord brighter than CSF: T1w, mean DWI, MTR/MTsat maps.
    case brightCord = "bright"

    /// +1 when the cord is dark (intensity rises from cord to CSF), −1 otherwise.
    var sign: Float { self == .darkCord ? 1 : -1 }
}

/// The image contrast of a cord scan, which fixes the cord/CSF polarity and tells whether
/// grey matter is visible.
public enum SegmentationContrast: String, Sendable, Codable, CaseIterable {
    case t2, t1, t2s, dwi, mt

    /// The polarity this contrast has. MT means the MT-on/MT-off gradient-echo images,
    /// where CSF is bright as on T2*w (the Spinal Cord Toolbox runs PropSeg with `-c t2` on
    /// its `mt1` test scan); for MTR or MTsat maps, where the cord is bright, use `t1`.
    public var polarity: CordPolarity {
        switch self {
        case .t2, .t2s, .mt: .darkCord
        case .t1, .dwi: .brightCord
        }
    }
    /// Whether grey and white matter differ enough on this contrast for `GreyMatterSegmenter`.
    public var showsGreyMatter: Bool { self == .t2s || self == .mt }
}

/// Why a segmentation failed, worded for the person running the tool.
public enum SegmentationError: Error, Equatable, Sendable, CustomStringConvertible {
    case noCordFound(detail: String)
    case centerlineLeavesImage(slice: Int, detail: String)
    case invalidInput(String)
    case tooFewSlices(found: Int)

    public var description: String {
        switch self {
        case let .noCordFound(detail):
            return "no spinal cord found: \(detail). Check the contrast (--contrast) or give a hint (a point in the cord)."
        case let .centerlineLeavesImage(slice, detail):
            return "the cord leaves the image at axial slice \(slice) (RPI order): \(detail). Crop less, or segment only the slices where the cord is inside the field of view."
        case let .invalidInput(text):
            return text
        case let .tooFewSlices(found):
            return "the cord was found on \(found) axial slice\(found == 1 ? "" : "s"); at least 2 are needed"
        }
    }
}

/// A 3D point hint: continuous voxel coordinates (i, j, k) on the input image's own grid
/// where the cord's centre lies.
public struct CenterlineHint: Sendable, Equatable {
    public var voxel: SIMD3<Double>
    public init(voxel: SIMD3<Double>) { self.voxel = voxel }
}
