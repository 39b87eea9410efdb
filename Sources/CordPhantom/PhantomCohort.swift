// A cohort of phantom subjects with natural between-subject variation: healthy volunteers
// and patients with focal compressions of known severity.
import CordCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How healthy cervical cords differ between adults, as numbers a generator can draw from.
///
/// Fitted by us on the spine-generic per-level table (203 adults, 43 sites; Cohen-Adad et
/// al. 2021, Sci Data 8:219; `../shared/data/normative`): on the log scale, each subject's
/// per-level CSA deviates from the level mean by a part shared by all levels (SD 0.094;
/// between-level correlations 0.7–0.95) and a level-specific part (SD 0.03–0.06). The shared
/// part regressed on sex, height and age gives β_male = 0.018, β_height = 0.00296 per cm
/// (≈ 0.22 mm² per cm) and β_age = 0.001 per year (not distinguishable from zero; METHODS.md:
/// no age effect over 19–52 years, so the generator uses none), residual SD 0.088. With men
/// 13.9 cm taller on average the sex difference is ≈ 0.059 on the log scale, ≈ 4.4 mm² (METHODS.md:
/// ≈ 5 mm²). The AP/RL ratio varies the same way (shared SD 0.069, level-specific
/// 0.04–0.06). Heights: men 179.3 ± 7.7 cm, women 165.4 ± 6.1 cm; ages 28.7 ± 5.6 years
/// (19–52) in the same table.
public struct CohortVariation: Codable, Sendable, Equatable {
    /// Shared log-CSA offset of men (added to the height effect).
    public var maleLogEffect = 0.018
    /// Shared log-CSA change per cm of height, around `referenceHeight`.
    public var heightLogPerCm = 0.00296
    /// Height (cm) at which the height effect is zero: the mean of the men's and women's means.
    public var referenceHeight = 172.4
    /// SD of the shared log-CSA part not explained by sex and height.
    public var commonLogSD = 0.088
    /// SD of the level-specific log-CSA part, C1…T1 (T1 not in the table: 0.05 assumed).
    public var levelLogSD = [0.044, 0.034, 0.038, 0.036, 0.029, 0.043, 0.064, 0.05]
    /// SDs of the shared and level-specific log AP/RL ratio parts (T1: 0.05 assumed).
    public var ratioCommonLogSD = 0.069
    public var ratioLevelLogSD = [0.061, 0.050, 0.036, 0.037, 0.042, 0.039, 0.055, 0.05]
    /// Height (cm) mean and SD of men and women.
    public var heightMale = [179.3, 7.7], heightFemale = [165.4, 6.1]
    /// Age (years) mean and SD of healthy volunteers (clipped to 19…60) and of patients
    /// (degenerative cervical myelopathy is a disease of later life; clipped to 35…80).
    public var ageHealthy = [28.7, 5.6], agePatient = [56.0, 10.0]
    /// Level lengths: PAM50's scaled by (height / `referenceHeight`), a shared factor
    /// exp(N(0, `lengthCommonLogSD`)) and a per-level factor exp(N(0, `lengthLevelLogSD`)).
    public var lengthCommonLogSD = 0.04, lengthLevelLogSD = 0.05
    /// Draws of every normal variate are clipped to ±`clip` SD (no absurd anatomy).
    public var clip = 3.0

    public init() {}
}

/// A cohort member's group, as written in `participants.tsv`.
public enum CohortGroup: String, Codable, Sendable { case healthy, patient }

/// One subject of a phantom cohort: demographics and the phantom that goes with them.
public struct CohortSubject: Sendable {
    /// BIDS participant id (`sub-…`).
    public var id: String
    public var group: CohortGroup
    /// "M" or "F"; age in years; height in cm.
    public var sex: String, age: Double, height: Double
    /// The subject's phantom (levels, lengths, centerline, compression, noise seed).
    public var parameters: PhantomParameters
    /// BIDS label (the id without `sub-`).
    public var label: String { String(id.dropFirst(4)) }
}

/// A reproducible cohort of phantom subjects: `healthy` volunteers then `compressed` patients,
/// each with demographics and a cord drawn from `variation` around the spine-generic level
/// means (`HealthyCervicalCord.levels`). Patients are drawn from the same healthy population
/// and then given one compression at a level of `compressionLevels` with an AP reduction
/// (`CompressionParameters.fraction`) uniform in `severity` over a length uniform in
/// `compressionLength` mm. The same seed gives the same cohort; subject n uses its own
/// random stream, so adding subjects does not change the earlier ones.
public struct PhantomCohort: Sendable {
    public var healthy = 20, compressed = 5
    public var seed: UInt64 = 1
    public var variation = CohortVariation()
    public var compressionLevels: [VertebralLevel] = [.c4, .c5, .c6]
    public var severity: ClosedRange<Double> = 0.3...0.6
    public var compressionLength: ClosedRange<Double> = 10...14
    /// SNR of every subject's images (nil: noise-free).
    public var snr: Double? = 20
    /// Put before the `hc`/`dcm` labels (letters and digits), e.g. to tell cohorts apart.
    public var idPrefix = ""

    public init(healthy: Int = 20, compressed: Int = 5, seed: UInt64 = 1) {
        self.healthy = healthy; self.compressed = compressed; self.seed = seed
    }

    /// Throws `CordError.invalidValue` naming the first setting out of range.
    public func validate() throws {
        func fail(_ what: String, _ detail: String) -> CordError { .invalidValue(what: "phantom cohort \(what)", detail: detail) }
        guard healthy >= 0, compressed >= 0, healthy + compressed > 0, healthy + compressed <= 9999 else {
            throw fail("size", "\(healthy) healthy and \(compressed) compressed: need 1…9999 subjects in all")
        }
        guard severity.lowerBound > 0, severity.upperBound <= 0.8 else {
            throw fail("severity", "\(severity) must lie within (0, 0.8]")
        }
        guard compressionLength.lowerBound >= 2, compressionLength.upperBound <= 24 else {
            throw fail("compression length", "\(compressionLength) mm must lie within 2…24 mm")
        }
        guard compressed == 0 || !compressionLevels.isEmpty else { throw fail("levels", "name at least one compression level") }
        guard idPrefix.allSatisfy({ $0.isLetter || $0.isNumber }) else {
            throw fail("id prefix \"\(idPrefix)\"", "BIDS labels are letters and digits only")
        }
        let v = variation
        guard v.levelLogSD.count == 8, v.ratioLevelLogSD.count == 8, v.heightMale.count == 2, v.heightFemale.count == 2,
              v.ageHealthy.count == 2, v.agePatient.count == 2 else {
            throw fail("variation", "needs 8 level SDs (C1…T1) and a mean and SD for heights and ages")
        }
    }

    /// Every subject, healthy ones first.
    public func subjects() throws -> [CohortSubject] {
        try validate()
        let digits = max(2, String(max(healthy, compressed)).count)
        func label(_ stem: String, _ n: Int) -> String {
            let number = String(n)
            return "sub-" + idPrefix + stem + String(repeating: "0", count: max(0, digits - number.count)) + number
        }
        var out: [CohortSubject] = []
        for n in 0..<(healthy + compressed) {
            let patient = n >= healthy
            var rng = SeededRNG(seed: seed, stream: UInt64(n))
            var s = try draw(&rng, patient: patient, noiseSeed: seed &* 1_000_003 &+ UInt64(n) &+ 1)
            s.id = patient ? label("dcm", n - healthy + 1) : label("hc", n + 1)
            if patient {
                let levels = compressionLevels
                let level = levels[min(levels.count - 1, Int(rng.uniform() * Double(levels.count)))]
                let fraction = severity.lowerBound + rng.uniform() * (severity.upperBound - severity.lowerBound)
                let length = compressionLength.lowerBound + rng.uniform() * (compressionLength.upperBound - compressionLength.lowerBound)
                s.parameters.compression = CompressionParameters(level: level, fraction: (fraction * 1000).rounded() / 1000,
                                                                 length: (length * 10).rounded() / 10)
                try s.parameters.validate()
            }
            out.append(s)
        }
        return out
    }

    /// One subject's demographics and healthy anatomy.
    func draw(_ rng: inout SeededRNG, patient: Bool, noiseSeed: UInt64) throws -> CohortSubject {
        let v = variation
        func normal() -> Double { min(v.clip, max(-v.clip, rng.normal())) }
        let male = rng.uniform() < 0.5
        let h = male ? v.heightMale : v.heightFemale
        let height = ((h[0] + h[1] * normal()) * 10).rounded() / 10
        let a = patient ? v.agePatient : v.ageHealthy
        let age = min(patient ? 80 : 60, max(patient ? 35 : 19, (a[0] + a[1] * normal()).rounded()))

        // Shared log-size: sex and height effects plus the unexplained part; the mean of
        // exp(·) over the population is kept at the tabulated level mean (lognormal correction).
        let heightVar = 0.25 * pow(v.heightMale[0] - v.heightFemale[0], 2) + (pow(v.heightMale[1], 2) + pow(v.heightFemale[1], 2)) / 2
        let sexMean = 0.5 * (v.heightMale[0] + v.heightFemale[0]) - v.referenceHeight
        let common = v.maleLogEffect * ((male ? 1 : 0) - 0.5) + v.heightLogPerCm * (height - v.referenceHeight)
            + v.commonLogSD * normal()
        let sharedVar = pow(v.maleLogEffect, 2) * 0.25 + pow(v.heightLogPerCm, 2) * heightVar + pow(v.commonLogSD, 2)
        let sharedMean = v.heightLogPerCm * sexMean
        let ratioCommon = v.ratioCommonLogSD * normal()
        let lengthScale = height / v.referenceHeight * exp(v.lengthCommonLogSD * normal())

        var p = PhantomParameters()
        p.seed = noiseSeed
        // 2³ sub-samples per boundary voxel: CSA within 0.01 mm² of 3³ at 2.3× the speed.
        p.supersampling = 2
        p.snr = snr
        p.levels = HealthyCervicalCord.levels.enumerated().map { i, l in
            let sd = v.levelLogSD[i]
            let csa = l.csa * exp(common - sharedMean + sd * normal() - (sharedVar + sd * sd) / 2)
            let ratio = l.apDiameter / l.rlDiameter * exp(ratioCommon + v.ratioLevelLogSD[i] * normal())
            // Diameters of the ellipse with this area and ratio (the phantom uses area and ratio).
            let rl = 2 * (csa / (Double.pi * ratio)).squareRoot()
            let length = max(2 * p.levelTransition + 4, l.length * lengthScale * exp(v.lengthLevelLogSD * normal()))
            return LevelMorphometry(level: l.level, csa: (csa * 100).rounded() / 100, apDiameter: (ratio * rl * 1000).rounded() / 1000,
                                    rlDiameter: (rl * 1000).rounded() / 1000, length: (length * 100).rounded() / 100)
        }
        p.lordosisAmplitude = ((4 + 1.5 * normal()) * 10).rounded() / 10
        p.lateralAmplitude = (normal() * 10).rounded() / 10
        // C1–T1 centred on world z = 0.
        p.topOfC1 = (p.levels.reduce(0) { $0 + $1.length } / 2 * 100).rounded() / 100
        // A large cord in the default dural sac would leave no CSF: widen the sac to keep ≥ 1.5 mm.
        let rl = p.levels.map { p.semiAxes(of: $0).rl }.max() ?? 0, ap = p.levels.map { p.semiAxes(of: $0).ap }.max() ?? 0
        p.csfSacRLDiameter = max(p.csfSacRLDiameter, ((2 * (rl + 1.5)) * 10).rounded(.up) / 10)
        p.csfSacAPDiameter = max(p.csfSacAPDiameter, ((2 * (ap + 1.5)) * 10).rounded(.up) / 10)
        try p.validate()
        return CohortSubject(id: "", group: patient ? .patient : .healthy, sex: male ? "M" : "F", age: age,
                             height: height, parameters: p)
    }
}
