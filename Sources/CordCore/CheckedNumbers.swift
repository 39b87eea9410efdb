// The one checked path from floating-point numbers to integers, and plausibility checks for
// numbers that come from outside (headers, tables, sidecars, cards).
//
// `Int(someDouble)` traps on NaN, ±∞ and magnitudes beyond ±9.2e18: one such value in a
// file used to kill the whole process with SIGILL and no message. Every conversion of a
// floating-point value in Sources goes through this file; a lint in the test suite
// (CordCoreTests, `RobustnessLintTests`) fails when a new unchecked one appears.

/// Checked conversions and plausibility checks, each failure naming the file and the field.
public enum CheckedNumber {
    /// Largest magnitude a floating-point value may have to become an `Int` (2^53: every
    /// integer below it is exact in a Double).
    public static let integerLimit = 9_007_199_254_740_992.0

    /// `x` as an `Int`, or a `CordError.invalidValue` naming `field` of `source` when `x` is
    /// NaN, infinite, outside `range`, or (with `integral`) not a whole number.
    /// - Parameters:
    ///   - rounding: how a fractional value is rounded when `integral` is false.
    public static func int(_ x: Double, field: String, in source: String, range: ClosedRange<Int>? = nil,
                           integral: Bool = false, rounding: FloatingPointRoundingRule = .towardZero) throws -> Int {
        let what = source.isEmpty ? field : "\(source): \(field)"
        guard x.isFinite else {
            throw CordError.invalidValue(what: what, detail: "is \(x.isNaN ? "NaN" : (x > 0 ? "+infinity" : "-infinity")), not a number CordQ can use")
        }
        if integral && x != x.rounded() {
            throw CordError.invalidValue(what: what, detail: "is \(x), not a whole number")
        }
        let r = x.rounded(rounding)
        guard abs(r) <= integerLimit else {
            throw CordError.invalidValue(what: what, detail: "is \(formatFixed(x, 3)), far outside any usable range")
        }
        let n = Int(exactly: r) ?? 0  // exact: |r| ≤ 2^53 and r is integral
        if let range, !range.contains(n) {
            throw CordError.invalidValue(what: what, detail: "is \(n); it must be \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }

    /// `x` as an `Int` when it is finite and within ±2^53 (after `rounding`), else nil: for
    /// values whose absence the caller handles (a parsed table cell, an optional field).
    public static func intOrNil(_ x: Double, rounding: FloatingPointRoundingRule = .towardZero) -> Int? {
        guard x.isFinite else { return nil }
        let r = x.rounded(rounding)
        guard abs(r) <= integerLimit else { return nil }
        return Int(exactly: r)
    }

    /// `x` rounded by `rule` and clamped to `bounds`; NaN gives `bounds.lowerBound`. For
    /// indices and sizes computed inside an algorithm from values already checked at the
    /// boundary (voxel sizes, coordinates inside a grid): it makes a bad value impossible to
    /// trap on, it does not make it right, so the inputs it derives from must be checked.
    @inlinable
    public static func clamped(_ x: Double, _ rule: FloatingPointRoundingRule = .towardZero,
                               to bounds: ClosedRange<Int> = -(1 << 52)...(1 << 52)) -> Int {
        guard !x.isNaN else { return bounds.lowerBound }
        let r = x.rounded(rule)
        if r <= Double(bounds.lowerBound) { return bounds.lowerBound }
        if r >= Double(bounds.upperBound) { return bounds.upperBound }
        return Int(exactly: r) ?? bounds.lowerBound  // r is integral and within ±2^52 here
    }

    /// A Float value (a label or level map voxel) as an integer label: nil unless it is a
    /// whole number within ±2^24 (every such integer is exact in a Float).
    @inlinable
    public static func label(_ v: Float) -> Int? {
        guard v.isFinite, v == v.rounded(), abs(v) <= 16_777_216 else { return nil }
        return Int(exactly: v)
    }

    /// `x` when finite and inside `range`, else a `CordError.invalidValue` naming the field,
    /// the value with its unit and the range accepted.
    @discardableResult
    public static func plausible(_ x: Double, field: String, in source: String, unit: String,
                                 range: ClosedRange<Double>, hint: String = "") throws -> Double {
        let what = source.isEmpty ? field : "\(source): \(field)"
        let u = unit.isEmpty ? "" : " " + unit
        guard x.isFinite else {
            throw CordError.invalidValue(what: what, detail: "is \(x.isNaN ? "NaN" : "infinite"); expected \(formatSignificantCore(range.lowerBound))–\(formatSignificantCore(range.upperBound))\(u)")
        }
        guard range.contains(x) else {
            throw CordError.invalidValue(what: what, detail: "is \(formatSignificantCore(x))\(u), outside the plausible range \(formatSignificantCore(range.lowerBound))–\(formatSignificantCore(range.upperBound))\(u)\(hint.isEmpty ? "" : "; " + hint)")
        }
        return x
    }
}

/// Up to six significant digits, plain for ordinary magnitudes and with an exponent
/// otherwise (messages about implausible values: 1e+30 must print, not trap).
public func formatSignificantCore(_ x: Double) -> String {
    guard x.isFinite else { return x.isNaN ? "nan" : (x > 0 ? "inf" : "-inf") }
    let a = abs(x)
    if a != 0 && (a >= 1e9 || a < 1e-4) { return formatScientific(x, 3) }
    let decimals = a >= 1000 ? 1 : a >= 100 ? 2 : a >= 1 ? 3 : a >= 0.01 ? 4 : 6
    var s = formatFixed(x, decimals)
    if s.contains(".") && !s.contains("e") { while s.hasSuffix("0") { s.removeLast() }; if s.hasSuffix(".") { s.removeLast() } }
    return s
}

/// `x` as mantissa and decimal exponent ("1.235e+30"), without Foundation.
public func formatScientific(_ x: Double, _ decimals: Int) -> String {
    guard x.isFinite else { return x.isNaN ? "nan" : (x > 0 ? "inf" : "-inf") }
    if x == 0 { return formatFixed(0, decimals) + "e+00" }
    var e = 0
    var m = abs(x)
    while m >= 10 { m /= 10; e += 1 }
    while m < 1 { m *= 10; e -= 1 }
    var text = formatFixed(m, decimals)
    if text.hasPrefix("10") { e += 1; text = formatFixed(m / 10, decimals) }  // 9.9996 rounded up
    let exp = (e < 0 ? "-" : "+") + (abs(e) < 10 ? "0" : "") + String(abs(e))
    return (x < 0 ? "-" : "") + text + "e" + exp
}
