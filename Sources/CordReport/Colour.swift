// Grey-scale windowing from robust percentiles, the overlay palette and the colour maps.
import CordCore

/// Display window of a grey-scale image: values at or below `low` are black, at or above
/// `high` white, linear between.
public struct Window: Sendable, Equatable {
    public var low: Double, high: Double
    public init(low: Double, high: Double) { self.low = low; self.high = high }

    /// The window from the `lower` and `upper` percentiles (0–100) of the finite values
    /// (robust to a few bright or dark voxels; 1 and 99.5 by default, as in SCT's QC).
    /// Values that are all equal give a window of width 1 around them.
    public static func percentiles<T: BinaryFloatingPoint>(_ values: [T], lower: Double = 1, upper: Double = 99.5) -> Window {
        let v = values.lazy.map(Double.init).filter(\.isFinite).sorted()
        guard let first = v.first, let last = v.last else { return Window(low: 0, high: 1) }
        func at(_ p: Double) -> Double { v[min(v.count - 1, max(0, CheckedNumber.clamped(p / 100 * Double(v.count - 1), .toNearestOrAwayFromZero)))] }
        var lo = at(lower), hi = at(upper)
        if hi <= lo { lo = first; hi = last }
        if hi <= lo { lo -= 0.5; hi += 0.5 }
        return Window(low: lo, high: hi)
    }

    /// Grey level 0–255 of a value.
    @inline(__always) public func grey(_ value: Double) -> UInt8 {
        guard value.isFinite else { return 0 }
        return UInt8(clamping: CheckedNumber.clamped((value - low) / (high - low) * 255, .toNearestOrAwayFromZero, to: 0...255))
    }
}

/// Overlay colours from Okabe & Ito (2008, "Color Universal Design"), distinguishable with
/// the common colour-vision deficiencies.
public enum Palette {
    public static let orange = RGB(230, 159, 0), skyBlue = RGB(86, 180, 233), green = RGB(0, 158, 115)
    public static let yellow = RGB(240, 228, 66), blue = RGB(0, 114, 178), vermillion = RGB(213, 94, 0)
    public static let purple = RGB(204, 121, 167)
    /// The colours in order, for label values 1, 2, … (cycled).
    public static let cycle: [RGB] = [orange, skyBlue, green, yellow, blue, vermillion, purple]
    /// The colour of label value `n` (≥ 1).
    public static func label(_ n: Int) -> RGB { cycle[(max(1, n) - 1) % cycle.count] }
}

/// A colour map for quantitative maps: `viridis` (van der Walt & Smith 2015, matplotlib;
/// perceptually uniform and readable with colour-vision deficiencies) between a fixed range.
public struct ColourMap: Sendable, Equatable {
    public var name: String
    /// Value shown at the bottom and the top of the scale, in the map's unit.
    public var low: Double, high: Double
    public var unit: String
    public init(name: String, low: Double, high: Double, unit: String) {
        self.name = name; self.low = low; self.high = high; self.unit = unit
    }

    /// Viridis sampled at 9 even stops (matplotlib's `_viridis_data`), interpolated linearly.
    static let stops: [(Double, Double, Double)] = [
        (68, 1, 84), (71, 45, 123), (59, 82, 139), (44, 114, 142), (33, 145, 140),
        (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37),
    ]

    /// The colour of a value (clamped to the range).
    public func colour(_ value: Double) -> RGB {
        guard value.isFinite else { return .black }
        let t = max(0, min(1, (value - low) / (high - low))) * Double(Self.stops.count - 1)
        let i = min(Self.stops.count - 2, Int(t)), f = t - Double(i)
        let a = Self.stops[i], b = Self.stops[i + 1]
        func mix(_ p: Double, _ q: Double) -> UInt8 { UInt8(clamping: CheckedNumber.clamped(p + (q - p) * f, .toNearestOrAwayFromZero)) }
        return RGB(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }

    /// Fixed ranges per metric, so that subjects compare at a glance: FA and μFA 0–1,
    /// MTR 0–60 p.u., MTsat 0–6 p.u., T1 0–3 s.
    public static let fa = ColourMap(name: "FA", low: 0, high: 1, unit: "")
    public static let microFA = ColourMap(name: "μFA", low: 0, high: 1, unit: "")
    public static let mtr = ColourMap(name: "MTR", low: 0, high: 60, unit: "p.u.")
    public static let mtsat = ColourMap(name: "MTsat", low: 0, high: 6, unit: "p.u.")
    public static let t1 = ColourMap(name: "T1", low: 0, high: 3, unit: "s")
}
