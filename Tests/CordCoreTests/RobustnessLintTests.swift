import Foundation
import Testing
import CordTestSupport
@testable import CordCore

/// Issue #23: no `Int(someDouble)` on unchecked values. Every floating-point → integer
/// conversion in Sources goes through `CheckedNumber` (CordCore/CheckedNumbers.swift).
///
/// What the lint recognises (grep cannot know types): an integer initialiser
/// (`Int(`, `Int32(`, `UInt8(`, …, without an `exactly:`/`clamping:`/`truncatingIfNeeded:`/
/// `bitPattern:` label) whose argument contains `.rounded(`, a floating-point literal, or a
/// NIfTI header float field, or is a name the same file declares as `Double`/`Float`.
enum ConversionLint {
    static let headerFloatFields = ["vox_offset", "pixdim", "scl_slope", "scl_inter", "srow_", "quatern_", "toffset",
                                    "cal_min", "cal_max", "slice_duration", "intent_p"]

    /// `file:line: text` for every suspicious conversion in `source`.
    static func findings(in text: String, file: String) -> [String] {
        let doubles = floatingNames(text)
        let ns = text as NSString
        var out: [String] = []
        let head = regex(#"(?<![A-Za-z0-9_.])U?Int(8|16|32|64)?\("#)
        for m in head.matches(in: text, range: NSRange(location: 0, length: ns.length)) {
            let open = m.range.location + m.range.length - 1
            guard let close = matchingParen(ns, open) else { continue }
            let arg = ns.substring(with: NSRange(location: open + 1, length: close - open - 1))
            if arg.range(of: #"^\s*(exactly|clamping|truncatingIfNeeded|bitPattern|littleEndian|bigEndian):"#, options: .regularExpression) != nil { continue }
            var why: String?
            if arg.contains(".rounded(") { why = "rounded floating-point value" }
            else if arg.range(of: #"(?<![A-Za-z0-9_])[0-9]+\.[0-9]+|[0-9]e[-+]?[0-9]"#, options: .regularExpression) != nil { why = "floating-point literal" }
            else if let f = headerFloatFields.first(where: { arg.contains($0) }) { why = "NIfTI header float field \(f)" }
            else if doubles.contains(arg.trimmingCharacters(in: .whitespaces)) { why = "name declared Double/Float in this file" }
            if let why {
                let line = ns.substring(to: m.range.location).filter { $0 == "\n" }.count + 1
                out.append("\(file):\(line): \(why): \(ns.substring(with: NSRange(location: m.range.location, length: close - m.range.location + 1)))")
            }
        }
        return out
    }

    /// Names declared in `text` as Double/Float (annotation, or a Double(/Float( or float-literal initialiser).
    static func floatingNames(_ text: String) -> Set<String> {
        var names = Set<String>()
        let ns = text as NSString
        for r in [regex(#"(?:let|var)\s+([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(?:Double|Float|CGFloat)\b"#),
                  regex(#"(?:let|var)\s+([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?:Double\(|Float\(|-?[0-9]+\.[0-9]+)"#)] {
            for m in r.matches(in: text, range: NSRange(location: 0, length: ns.length)) { names.insert(ns.substring(with: m.range(at: 1))) }
        }
        return names
    }

    static func regex(_ pattern: String) -> NSRegularExpression {
        // The patterns are constants of this file: a typo is a programming error.
        do { return try NSRegularExpression(pattern: pattern) } catch { fatalError("lint pattern \(pattern): \(error)") }
    }

    static func matchingParen(_ s: NSString, _ open: Int) -> Int? {
        var depth = 0
        for i in open..<s.length {
            let c = s.character(at: i)
            if c == 40 { depth += 1 } else if c == 41 { depth -= 1; if depth == 0 { return i } }
        }
        return nil
    }
}

@Suite struct RobustnessLintTests {
    @Test func theLintRecognisesUncheckedConversions() {
        // The patterns that crashed (issue #23) are found; checked ones are not.
        let bad = """
        let voxOffset = Int(hdr.vox_offset)
        let ip = Int(r / p.rounded())
        let n = Int((extent / spacing).rounded(.up))
        let w = Int(1e4 * x)
        let cx: Double = 3
        let i = Int(cx)
        """
        let found = ConversionLint.findings(in: bad, file: "bad.swift")
        #expect(found.count == 5, "\(found)")
        let good = """
        let a = Int(exactly: x)
        let b = CheckedNumber.clamped(x.rounded(), .down)
        let c = Int(n.ndim)
        let d = Int(counts.count)
        let e = Int32(clamping: k)
        """
        #expect(ConversionLint.findings(in: good, file: "good.swift").isEmpty)
    }

    @Test func sourcesConvertFloatingPointOnlyThroughCheckedNumber() throws {
        let root = Support.packageRoot + "/Sources"
        let files = (FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? [])
            .filter { $0.hasSuffix(".swift") && !$0.hasSuffix("CordCore/CheckedNumbers.swift") }
        #expect(files.count > 100, "found only \(files.count) source files under \(root)")
        var findings: [String] = []
        for f in files {
            let text = try String(contentsOfFile: root + "/" + f, encoding: .utf8)
            findings += ConversionLint.findings(in: text, file: f)
        }
        #expect(findings.isEmpty, "unchecked floating-point → integer conversions (use CheckedNumber):\n\(findings.joined(separator: "\n"))")
    }

    // MARK: - The helper itself

    @Test func checkedConversionNamesTheFieldAndNeverTraps() throws {
        #expect(try CheckedNumber.int(352, field: "vox_offset", in: "a.nii") == 352)
        for bad in [Double.nan, .infinity, -.infinity, 1e20, -1e300] {
            #expect(throws: CordError.self) { try CheckedNumber.int(bad, field: "vox_offset", in: "a.nii") }
            do { _ = try CheckedNumber.int(bad, field: "vox_offset", in: "a.nii") } catch {
                #expect("\(error)".contains("a.nii") && "\(error)".contains("vox_offset"))
            }
        }
        #expect(throws: CordError.self) { try CheckedNumber.int(2.5, field: "level", in: "l.nii", integral: true) }
        #expect(throws: CordError.self) { try CheckedNumber.int(7, field: "n", in: "", range: 0...5) }
        #expect(CheckedNumber.intOrNil(.nan) == nil && CheckedNumber.intOrNil(1e30) == nil && CheckedNumber.intOrNil(-3.7) == -3)
        #expect(CheckedNumber.clamped(.nan, to: 0...10) == 0)
        #expect(CheckedNumber.clamped(1e300, to: 0...10) == 10 && CheckedNumber.clamped(-.infinity, to: 0...10) == 0)
        #expect(CheckedNumber.clamped(2.5, .toNearestOrAwayFromZero) == 3 && CheckedNumber.clamped(-2.7) == -2)
        #expect(CheckedNumber.label(3) == 3 && CheckedNumber.label(2.5) == nil && CheckedNumber.label(.nan) == nil && CheckedNumber.label(1e30) == nil)
    }

    @Test func hugeAndNonFiniteNumbersFormatWithoutTrapping() {
        // `cordq info` on an image with one voxel of 1e30 used to die here (SIGILL).
        #expect(formatFixed(1e30, 3) == "1.000e+30")
        #expect(formatFixed(-1.5e300, 2) == "-1.500e+300")
        #expect(formatFixed(9.2e18, 4) == "9.2000e+18")
        #expect(formatFixed(.nan, 3) == "nan" && formatFixed(-.infinity, 1) == "-inf")
        #expect(formatFixed(123.4567, 2) == "123.46" && formatFixed(-0.004, 2) == "0.00")
        #expect(formatSignificantCore(1e-7) == "1.000e-07" && formatSignificantCore(81.25) == "81.25")
        #expect(formatScientific(9.9996, 3) == "1.000e+01")
    }

    @Test func plausibilityMessagesNameFieldValueAndUnit() {
        do {
            try CheckedNumber.plausible(1.7, field: "height", in: "p.tsv line 2", unit: "cm", range: 40...250, hint: "metres given?")
            Issue.record("1.7 cm accepted")
        } catch {
            let m = "\(error)"
            #expect(m.contains("p.tsv line 2") && m.contains("height") && m.contains("1.7 cm") && m.contains("40–250 cm") && m.contains("metres"))
        }
    }
}
