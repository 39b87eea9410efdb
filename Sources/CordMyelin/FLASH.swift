// The spoiled gradient-echo (FLASH) signal model and its inversions.
#if canImport(Glibc)
import Glibc
#endif

/// Timing of one FLASH acquisition: nominal flip angle (degrees) and repetition time (s).
public struct FLASHTiming: Sendable, Equatable {
    public var flipAngleDegrees: Double
    public var repetitionTime: Double
    public init(flipAngleDegrees: Double, repetitionTime: Double) {
        self.flipAngleDegrees = flipAngleDegrees; self.repetitionTime = repetitionTime
    }
    public var flipAngle: Double { flipAngleDegrees * .pi / 180 }
}

/// Steady-state FLASH signals (Ernst), with an optional magnetization-transfer saturation δ
/// applied to the longitudinal magnetization once per TR before excitation (Helms et al.
/// 2008, MRM 60:1396):
///
///     S = A·(1−δ)·sin α·(1−E₁) / (1 − (1−δ)·cos α·E₁),   E₁ = exp(−R₁·TR)
///
/// For small α, R₁·TR and δ this becomes Helms' S = A·α·R₁TR / (R₁TR + α²/2 + δ).
public enum FLASHSignal {
    /// Exact steady-state signal for effective flip `alpha` (radians).
    public static func exact(a: Double, r1: Double, tr: Double, alpha: Double, delta: Double = 0) -> Double {
        let e1 = exp(-r1 * tr)
        return a * (1 - delta) * sin(alpha) * (1 - e1) / (1 - (1 - delta) * cos(alpha) * e1)
    }
    /// Helms' small-angle approximation.
    public static func smallAngle(a: Double, r1: Double, tr: Double, alpha: Double, delta: Double = 0) -> Double {
        a * alpha * r1 * tr / (r1 * tr + alpha * alpha / 2 + delta)
    }
}

/// How the FLASH equations are inverted.
public enum FLASHForm: String, Sendable, CaseIterable {
    /// Helms 2008 with the 2010 erratum (MRM 64:1856): small flip angles, R₁·TR ≪ 1.
    case smallAngle = "small-angle"
    /// The small-angle equations with α replaced by 2·tan(α/2), which removes the flip-angle
    /// part of the bias (the R₁·TR linearisation remains).
    case tangent
    /// No approximation: the steady-state equations above solved exactly (R₁ by a
    /// bracketed root search on the signal ratio, then A and δ in closed form).
    case exact
}

/// R₁, A and δ from a PD-weighted, a T1-weighted and an MT-weighted FLASH signal.
public struct FLASHInversion: Sendable {
    public var form: FLASHForm
    public init(form: FLASHForm) { self.form = form }

    /// Effective angle used by the approximate forms.
    @inline(__always) func angle(_ alpha: Double) -> Double { form == .tangent ? 2 * tan(alpha / 2) : alpha }

    /// R₁ (s⁻¹) and A (signal units) from two FLASH signals with effective flips (radians).
    /// nil when the signals admit no positive solution.
    public func r1AndA(sPD: Double, alphaPD: Double, trPD: Double,
                       sT1: Double, alphaT1: Double, trT1: Double) -> (r1: Double, a: Double)? {
        guard sPD > 0, sT1 > 0 else { return nil }
        switch form {
        case .smallAngle, .tangent:
            let aP = angle(alphaPD), aT = angle(alphaT1)
            let den = sPD / aP - sT1 / aT
            let r1 = 0.5 * (sT1 * aT / trT1 - sPD * aP / trPD) / den
            let aDen = sT1 * trPD * aT - sPD * trT1 * aP
            let a = sPD * sT1 * (trPD * aT / aP - trT1 * aP / aT) / aDen
            guard r1.isFinite, a.isFinite, r1 > 0, a > 0 else { return nil }
            return (r1, a)
        case .exact:
            return exactR1AndA(sPD: sPD, alphaPD: alphaPD, trPD: trPD, sT1: sT1, alphaT1: alphaT1, trT1: trT1)
        }
    }

    /// δ (fraction, not percent) from the MT-weighted signal given R₁ and A.
    public func delta(sMT: Double, alphaMT: Double, trMT: Double, r1: Double, a: Double) -> Double? {
        guard sMT > 0, r1 > 0, a > 0 else { return nil }
        switch form {
        case .smallAngle, .tangent:
            let al = angle(alphaMT)
            let d = (a * al / sMT - 1) * r1 * trMT - al * al / 2
            return d.isFinite ? d : nil
        case .exact:
            // S = u·s·A(1−E) / (1 − u·c·E) with u = 1−δ  ⇒  u = S / (s·A(1−E) + S·c·E).
            let e1 = exp(-r1 * trMT)
            let u = sMT / (sin(alphaMT) * a * (1 - e1) + sMT * cos(alphaMT) * e1)
            return u.isFinite ? 1 - u : nil
        }
    }

    /// Exact VFA: the ratio S_PD/S_T1 depends on R₁ only; it is monotone over the physical
    /// range when the two acquisitions differ in α/TR, so a bracketed bisection on
    /// log R₁ ∈ [0.01, 100] s⁻¹ (T1 from 10 ms to 100 s) converges to machine precision.
    func exactR1AndA(sPD: Double, alphaPD: Double, trPD: Double,
                     sT1: Double, alphaT1: Double, trT1: Double) -> (r1: Double, a: Double)? {
        @inline(__always) func g(_ r1: Double, _ alpha: Double, _ tr: Double) -> Double {
            FLASHSignal.exact(a: 1, r1: r1, tr: tr, alpha: alpha)
        }
        let target = sPD / sT1
        @inline(__always) func f(_ logR1: Double) -> Double {
            let r1 = exp(logR1)
            return g(r1, alphaPD, trPD) / g(r1, alphaT1, trT1) - target
        }
        var lo = log(0.01), hi = log(100.0)
        var flo = f(lo)
        let fhi = f(hi)
        guard flo.isFinite, fhi.isFinite, flo * fhi <= 0 else { return nil }
        for _ in 0..<80 {
            let mid = 0.5 * (lo + hi)
            let fm = f(mid)
            if (fm <= 0) == (flo <= 0) { lo = mid; flo = fm } else { hi = mid }
            if hi - lo < 1e-13 { break }
        }
        let r1 = exp(0.5 * (lo + hi))
        let a = sPD / g(r1, alphaPD, trPD)
        guard r1.isFinite, a.isFinite, a > 0 else { return nil }
        return (r1, a)
    }
}
