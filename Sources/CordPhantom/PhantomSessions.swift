// Repeat visits of a phantom subject: known atrophy per level and year, the subject
// repositioned in the scanner between visits, fresh noise at every visit.
import CordCore

/// Atrophy planted at one level: the fraction of its cross-sectional area lost per year.
public struct PlantedAtrophy: Sendable, Equatable, Codable {
    public var level: VertebralLevel
    /// Fraction of the baseline CSA lost per year (0.08 = 8 %/year), linear in time.
    public var fractionPerYear: Double
    public init(level: VertebralLevel, fractionPerYear: Double) { self.level = level; self.fractionPerYear = fractionPerYear }

    /// Parses `C5:0.08/y` (also `C5:0.08`); nil for anything else.
    public init?(text: String) {
        let parts = text.split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, let level = VertebralLevel(name: parts[0]) else { return nil }
        var rate = parts[1]
        if rate.hasSuffix("/y") { rate.removeLast(2) }
        guard let r = Double(rate), r.isFinite else { return nil }
        self.init(level: level, fractionPerYear: r)
    }
}

/// Sessions of a phantom subject.
///
/// Session n (0-based) is acquired `days[n]` days after the first. Its anatomy is the
/// baseline one with each planted level's CSA multiplied by (1 − rate × years), the AP and
/// RL diameters by the square root of that factor (shape kept); the level lengths do not
/// change. Between sessions the subject is repositioned: the whole cord moves by a
/// translation drawn per session (x, y: normal with SD `inPlaneShiftSD` mm; z: uniform in
/// ±`longitudinalShift` mm), the first session included, and turns about the grid centre by
/// a rotation drawn per session (about R–L uniform in ±`rotationRange`°, about A–P and S–I in
/// ±`rotationRange`/2°; none by default); the image grid stays where the scanner put it.
/// Each session has its own noise seed.
public struct PhantomSessions: Sendable, Equatable {
    /// Number of sessions (≥ 1).
    public var count: Int
    /// Days from the first session; default 0, 91, 182, … (every 3 months).
    public var days: [Double]
    public var atrophy: [PlantedAtrophy]
    /// SD (mm) of the in-plane shift and half-range (mm) of the S–I shift of each session.
    public var inPlaneShiftSD = 1.0, longitudinalShift = 6.0
    /// Half-range (degrees) of the head's rotation about R–L between sessions (A–P, S–I: half of it).
    public var rotationRange = 0.0
    /// Also acquire a single-shell DWI and the MT set (MT-on, MT-off, T1w FLASH) at every visit.
    public var diffusionAndMT = false
    /// Demyelination planted in the dorsal columns (both sides): at day t their MT saturation
    /// is × (1 − rate · t/365.25) and their radial diffusivity × (1 + rate · t/365.25), so MTR
    /// and FA fall there while every other tissue stays.
    public var dorsalDemyelinationPerYear = 0.0
    /// Calendar day (days since 1970-01-01) of the first session: 2026-01-05.
    public var firstDay = 20458

    public init(count: Int, intervalDays: Double = 91, atrophy: [PlantedAtrophy] = []) {
        self.count = count
        days = (0..<max(count, 0)).map { Double($0) * intervalDays }
        self.atrophy = atrophy
    }

    /// Throws `CordError.invalidValue` naming the first setting out of range.
    public func validate() throws {
        func fail(_ what: String, _ detail: String) -> CordError { .invalidValue(what: "phantom sessions \(what)", detail: detail) }
        guard (1...12).contains(count) else { throw fail("count", "\(count): use 1…12 sessions") }
        guard days.count == count, days.first == 0, zip(days, days.dropFirst()).allSatisfy({ $0 < $1 }), days.allSatisfy({ $0.isFinite && $0 <= 3650 }) else {
            throw fail("days", "\(days): need one increasing day per session, the first 0, within 10 years")
        }
        for a in atrophy {
            let years = (days.last ?? 0) / 365.25
            guard a.fractionPerYear >= -0.5, a.fractionPerYear <= 0.5, 1 - a.fractionPerYear * years >= 0.3 else {
                throw fail("atrophy \(a.level.name):\(a.fractionPerYear)/y", "rates must lie within ±0.5 per year and leave at least 30 % of the area by the last session (\(formatFixed(years, 2)) years)")
            }
        }
        guard Set(atrophy.map(\.level)).count == atrophy.count else { throw fail("atrophy", "a level is listed twice") }
        guard inPlaneShiftSD >= 0, inPlaneShiftSD <= 3, longitudinalShift >= 0, longitudinalShift <= 15 else {
            throw fail("repositioning", "in-plane SD \(inPlaneShiftSD) mm (0…3) and S–I range ±\(longitudinalShift) mm (0…15)")
        }
        guard dorsalDemyelinationPerYear >= 0, dorsalDemyelinationPerYear * (days.last ?? 0) / 365.25 <= 0.7 else {
            throw fail("dorsal demyelination", "\(dorsalDemyelinationPerYear)/y: use a rate ≥ 0 that leaves at least 30 % of the MT saturation by the last session")
        }
        guard rotationRange >= 0, rotationRange <= 10 else {
            throw fail("rotation", "±\(rotationRange)°: use 0…10 degrees")
        }
    }

    /// The planted CSA factor of `level` at session `n` (1 where nothing is planted).
    public func factor(_ level: VertebralLevel, session n: Int) -> Double {
        guard let a = atrophy.first(where: { $0.level == level }) else { return 1 }
        return 1 - a.fractionPerYear * days[n] / 365.25
    }

    /// The session's translation of the whole cord (mm), drawn from `seed` and the session.
    public func shift(session n: Int, seed: UInt64) -> SIMD3<Double> {
        var rng = SeededRNG(seed: seed &* 7919 &+ 17, stream: UInt64(n) &+ 1000)
        let x = min(3, max(-3, rng.normal())) * inPlaneShiftSD, y = min(3, max(-3, rng.normal())) * inPlaneShiftSD
        let z = (2 * rng.uniform() - 1) * longitudinalShift
        return SIMD3((x * 100).rounded() / 100, (y * 100).rounded() / 100, (z * 100).rounded() / 100)
    }

    /// The fraction of dorsal-column MT saturation lost (and of radial diffusivity gained) at session `n`.
    public func demyelination(session n: Int) -> Double { dorsalDemyelinationPerYear * days[n] / 365.25 }

    /// The session's head rotation (rotation vector, degrees: about R–L, A–P, S–I), drawn from
    /// `seed` and the session; zero when `rotationRange` is 0.
    public func rotation(session n: Int, seed: UInt64) -> SIMD3<Double> {
        guard rotationRange > 0 else { return .zero }
        var rng = SeededRNG(seed: seed &* 104729 &+ 3, stream: UInt64(n) &+ 2000)
        let x = (2 * rng.uniform() - 1) * rotationRange, y = (2 * rng.uniform() - 1) * rotationRange / 2
        let z = (2 * rng.uniform() - 1) * rotationRange / 2
        return SIMD3((x * 100).rounded() / 100, (y * 100).rounded() / 100, (z * 100).rounded() / 100)
    }

    /// The grid on which to sample the phantom so that, written with `grid`'s own affine, the
    /// subject appears turned by `degrees` (rotation vector) about `grid`'s centre: voxel v of
    /// the image shows subject point c + Rᵀ(A v − c).
    public static func rotatedSamplingGrid(_ grid: Grid, degrees: SIMD3<Double>) -> Grid {
        guard degrees != .zero else { return grid }
        let w = degrees * (.pi / 180), theta = (w * w).sum().squareRoot()
        let k = Mat3(rows: [0, -w.z, w.y], [w.z, 0, -w.x], [-w.y, w.x, 0])
        let r = Mat3.identity + (sin(theta) / theta) * k + ((1 - cos(theta)) / (theta * theta)) * (k * k)
        let rt = r.transposed
        let c = grid.world(Double(grid.nx - 1) / 2, Double(grid.ny - 1) / 2, Double(grid.nz - 1) / 2)
        let a = grid.affine
        return Grid(nx: grid.nx, ny: grid.ny, nz: grid.nz, affine: Mat4(linear: rt * a.linear, translation: c + rt * (a.translation - c)))
    }

    /// The parameters of session `n` of a subject whose first-visit anatomy is `base`.
    public func parameters(_ base: PhantomParameters, session n: Int) throws -> PhantomParameters {
        var p = base
        p.levels = base.levels.map { l in
            let f = factor(l.level, session: n)
            return LevelMorphometry(level: l.level, csa: l.csa * f, apDiameter: l.apDiameter * f.squareRoot(),
                                    rlDiameter: l.rlDiameter * f.squareRoot(), length: l.length)
        }
        let s = shift(session: n, seed: base.seed)
        p.centerlineX += s.x; p.centerlineY += s.y; p.topOfC1 += s.z
        p.seed = base.seed &* 31 &+ UInt64(n) &+ 1
        try p.validate()
        return p
    }

    /// `ses-01`, `ses-02`, … labels (without `ses-`).
    public func label(_ n: Int) -> String { n + 1 < 10 ? "0\(n + 1)" : "\(n + 1)" }
}

#if canImport(Glibc)
import Glibc
#endif
