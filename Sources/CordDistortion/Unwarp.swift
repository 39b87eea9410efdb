// Unwarping any series read out like the pair (the DWI) with an estimated field.
import CordCore

/// An unwarped series and the Jacobian of its warp.
public struct UnwarpResult: Sendable {
    public var corrected: Volume<Float>
    /// Jacobian 1 + ∂d of the unwarp (d in voxels along +axis); the intensities are
    /// multiplied by it (clamped at 0) unless modulation was switched off.
    public var jacobian: Volume<Float>
    public var minimumJacobian: Double
    /// Largest displacement (voxels, absolute).
    public var maximumDisplacement: Double
}

public enum Unwarp {
    /// Unwarps every frame of `image` with `fieldHz` (Hz, same grid): out(x) = I(x + d(x)) ·
    /// (1 + ∂d(x)), d = field × TotalReadoutTime voxels towards the positive end of the
    /// image's phase-encoding direction (`EPIReadout`). Linear interpolation along the
    /// phase-encoding lines; the Jacobian modulation (mass conservation, Chang & Fitzpatrick
    /// 1992 IEEE TMI 11:319) is left out with `modulate: false` (for masks and labels).
    public static func apply(_ image: EPIImage, fieldHz: Volume<Float>, fieldName: String = "field",
                             modulate: Bool = true) throws -> UnwarpResult {
        let grid = image.image.grid
        try grid.requireCompatible(with: fieldHz.grid, image.name, fieldName)
        try fieldHz.requireFinite(fieldName)
        _ = try EPIReadout.checked(phaseEncoding: image.readout.phaseEncoding, totalReadoutTime: image.readout.totalReadoutTime, name: image.name)
        let lines = AxisLines(grid, axis: image.readout.phaseEncoding.axis)
        guard lines.length >= 2 else {
            throw DistortionError.tooFewVoxels(name: image.name, axis: image.readout.phaseEncoding.description, count: lines.length)
        }
        let perHz = image.readout.voxelsPerHz
        let d = (0..<grid.voxelCount).map { Double(fieldHz.data[$0]) * perHz }
        let jac = LineOps.derivative(d, lines).map { 1 + $0 }
        let n = grid.voxelCount
        var out = [Float](repeating: 0, count: n * image.image.frames)
        for t in 0..<image.image.frames {
            let frame = (0..<n).map { Double(image.image.data[t * n + $0]) }
            let (w, _) = FieldEstimation.warpLines(frame, d, lines, sign: 1)
            for i in 0..<n {
                // warpLines modulates; undo it where modulation is off (a label keeps its values).
                let raw: Double
                if modulate { raw = w[i] } else {
                    raw = jac[i] > 1e-9 ? w[i] / jac[i] : unmodulatedSample(frame, d, lines, i)
                }
                out[t * n + i] = Float(raw)
            }
        }
        return UnwarpResult(corrected: Volume(grid: grid, frames: image.image.frames, exactly: out),
                            jacobian: Volume(grid: grid, frames: 1, exactly: jac.map { Float($0) }),
                            minimumJacobian: jac.min() ?? 1, maximumDisplacement: d.reduce(0) { max($0, abs($1)) })
    }

    /// I(x + d(x)) at voxel `index` without modulation (where the Jacobian is 0).
    static func unmodulatedSample(_ frame: [Double], _ d: [Double], _ lines: AxisLines, _ index: Int) -> Double {
        let s = lines.stride, n = lines.length
        let k = (index / s) % n
        let o = index - k * s
        return frame.withUnsafeBufferPointer { LineOps.sample($0, o, s, n, Double(k) + d[index]) }
    }
}
