// Vertebral level names and level selections ("C2:C5", "3,4", "T1").

/// Vertebral level numbering of PAM50's `PAM50_levels` image: 1 = C1 … 7 = C7,
/// 8 = T1 … 19 = T12, 20 = L1 … 24 = L5.
public enum VertebralLevelName {
    /// "C1" … "C7", "T1" … "T12", "L1" … "L5"; "level n" beyond.
    public static func name(_ value: Int) -> String {
        switch value {
        case 1...7: "C\(value)"
        case 8...19: "T\(value - 7)"
        case 20...24: "L\(value - 19)"
        default: "level \(value)"
        }
    }
    /// Parses "C3", "t1", "L2" or a number ("5").
    public static func value(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: " ").uppercased()
        if let n = Int(t), n > 0 { return n }
        guard let first = t.first, let n = Int(t.dropFirst()) else { return nil }
        switch first {
        case "C" where (1...7).contains(n): return n
        case "T" where (1...12).contains(n): return n + 7
        case "L" where (1...5).contains(n): return n + 19
        default: return nil
        }
    }
    /// Parses a level selection: comma-separated levels or ranges ("C2:C5", "2:5", "C3,C5",
    /// "C7:T2"), in ascending order without repeats. Throws `AtlasError.unknownLevel`.
    public static func selection(_ text: String) throws -> [Int] {
        var out = Set<Int>()
        for part in text.split(separator: ",") {
            let ends = part.split(separator: ":", omittingEmptySubsequences: false)
            guard ends.count == 1 || ends.count == 2 else { throw AtlasError.unknownLevel(String(part)) }
            guard let a = value(String(ends[0])), let b = value(String(ends[ends.count - 1])), a <= b else {
                throw AtlasError.unknownLevel(String(part))
            }
            out.formUnion(a...b)
        }
        if out.isEmpty { throw AtlasError.unknownLevel(text) }
        return out.sorted()
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s.removeFirst() }
        while s.last == set { s.removeLast() }
        return String(s)
    }
}
