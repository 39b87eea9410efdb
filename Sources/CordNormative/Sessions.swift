// Sessions of the normative database's subjects: age at scan per session, and test–retest
// pairs (two sessions of one subject between which nothing is expected to change).
import CordCore

/// One scan session of a stored subject.
public struct SessionRecord: Sendable, Equatable {
    /// The session label as the subject's long-form rows spell it (`01` or `ses-01`).
    public var session: String
    /// Age at this scan (years), nil when unknown.
    public var ageYears: Double?
    /// Acquisition date or time as given (`acq_time`, ISO 8601), empty when unknown.
    public var acquired: String
    public init(session: String, ageYears: Double? = nil, acquired: String = "") {
        self.session = session; self.ageYears = ageYears; self.acquired = acquired
    }
}

/// Two sessions of one subject scanned as a test–retest pair.
public struct RetestPair: Sendable, Equatable, Hashable {
    public var participant: String, first: String, second: String
    public init(participant: String, first: String, second: String) {
        self.participant = participant; self.first = first; self.second = second
    }
}

public enum SessionTables {
    /// `ses-01` and `01` name the same session.
    public static func normalised(_ s: String) -> String { s.hasPrefix("ses-") ? String(s.dropFirst(4)) : s }

    static func column(_ columns: [String], _ names: [String]) -> Int? {
        columns.firstIndex { names.contains($0.lowercased()) }
    }

    /// Parses a sessions table: `participant_id`, `session_id` (or `session`), `age` (or
    /// `age_years`, `age_at_scan`; years) and optionally `acq_time`. Ages outside 0–120 years,
    /// unreadable numbers and repeated sessions are refused with the file and line.
    public static func parseSessions(columns: [String], rows: [[String]], source: String) throws -> [String: [SessionRecord]] {
        guard let p = column(columns, ["participant_id"]), let s = column(columns, ["session_id", "session"]) else {
            throw CordError.invalidValue(what: source, detail: "needs the columns participant_id and session_id (found \(columns.joined(separator: ", ")))")
        }
        let a = column(columns, ["age", "age_years", "age_at_scan"]), t = column(columns, ["acq_time"])
        guard a != nil || t != nil else {
            throw CordError.invalidValue(what: source, detail: "has neither an age (age, age_years, age_at_scan) nor an acq_time column: nothing to store per session")
        }
        var out: [String: [SessionRecord]] = [:], seen = Set<String>()
        for (n, r) in rows.enumerated() {
            let line = "\(source) line \(n + 2)"
            guard r.count > max(p, s), !r[p].isEmpty, !r[s].isEmpty else { throw CordError.invalidValue(what: line, detail: "lacks participant_id or session_id") }
            let id = r[p], session = r[s]
            guard seen.insert(id + "\u{1}" + normalised(session)).inserted else {
                throw CordError.invalidValue(what: line, detail: "repeats \(id) \(session)")
            }
            var age: Double?
            if let a, a < r.count, !r[a].isEmpty, r[a] != "n/a" {
                guard let v = Double(r[a]), v.isFinite else { throw CordError.invalidValue(what: line, detail: "age \"\(r[a])\" is not a number of years") }
                try CheckedNumber.plausible(v, field: "age at scan", in: "\(id) \(session) (\(source))", unit: "years", range: Participant.plausibleAge,
                                            hint: v > 120 ? "ages are in years (months or days given?)" : "")
                age = v
            }
            let acquired = t.flatMap { $0 < r.count && r[$0] != "n/a" ? r[$0] : nil } ?? ""
            out[id, default: []].append(SessionRecord(session: session, ageYears: age, acquired: acquired))
        }
        return out
    }

    /// Parses a test–retest pairs table: `participant_id`, `session_a`, `session_b` (also
    /// `session_1`/`session_2`, `test`/`retest`). A pair of a session with itself is refused.
    public static func parsePairs(columns: [String], rows: [[String]], source: String) throws -> [RetestPair] {
        guard let p = column(columns, ["participant_id"]), let a = column(columns, ["session_a", "session_1", "test"]),
              let b = column(columns, ["session_b", "session_2", "retest"]) else {
            throw CordError.invalidValue(what: source, detail: "needs the columns participant_id, session_a and session_b (found \(columns.joined(separator: ", ")))")
        }
        var out: [RetestPair] = []
        for (n, r) in rows.enumerated() {
            let line = "\(source) line \(n + 2)"
            guard r.count > max(p, a, b), !r[p].isEmpty, !r[a].isEmpty, !r[b].isEmpty else {
                throw CordError.invalidValue(what: line, detail: "lacks participant_id, session_a or session_b")
            }
            guard normalised(r[a]) != normalised(r[b]) else { throw CordError.invalidValue(what: line, detail: "pairs session \(r[a]) with itself") }
            let pair = RetestPair(participant: r[p], first: r[a], second: r[b])
            guard !out.contains(pair) else { throw CordError.invalidValue(what: line, detail: "repeats the pair \(r[a])–\(r[b]) of \(r[p])") }
            out.append(pair)
        }
        guard !out.isEmpty else { throw CordError.invalidValue(what: source, detail: "lists no test–retest pair") }
        return out
    }
}
