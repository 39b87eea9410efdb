// DTI weighted least squares on four voxels at once (SIMD lanes), for the common case.
import CordCore
#if canImport(Glibc)
import Glibc
#endif

typealias Lanes = SIMD4<Double>

/// e^x on four lanes, as `fastExp`.
@inline(__always)
func fastExp(_ x: Lanes) -> Lanes {
    let xc = x.clamped(lowerBound: Lanes(repeating: -700), upperBound: Lanes(repeating: 700))
    let n = (xc * 1.4426950408889634).rounded(.toNearestOrEven)
    let r = xc - n * 0.6931471805599453
    var p = Lanes(repeating: 1.0 / 362880)
    p = p * r + 1.0 / 40320; p = p * r + 1.0 / 5040; p = p * r + 1.0 / 720; p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24; p = p * r + 1.0 / 6; p = p * r + 0.5; p = p * r + 1; p = p * r + 1
    // n to integer lanes by the 1.5·2⁵² trick (exact for |n| < 2⁵¹), then 2ⁿ from the exponent bits.
    let magic = Lanes(repeating: 6755399441055744.0)
    let ni = unsafeBitCast(n + magic, to: SIMD4<Int64>.self) &- unsafeBitCast(magic, to: SIMD4<Int64>.self)
    return p * unsafeBitCast((ni &+ 1023) &<< 52, to: Lanes.self)
}

/// The ordinary + weighted passes of `DTIFitter` (no robust or non-linear step) for four
/// voxels in SIMD lanes: same arithmetic as the scalar path, lane by lane. A lane whose
/// signal has a value ≤ 0 or whose normal matrix is singular is left to the scalar fitter.
final class DTIBatchFitter {
    let m: Int, passes: Int
    let x: UnsafeMutablePointer<Double>        // m × 7, row-major
    let pairs: UnsafeMutablePointer<Double>    // 28 × m (products of design columns)
    let olsFactor: UnsafeMutablePointer<Double>
    let y, w: UnsafeMutablePointer<Lanes>
    let ata: UnsafeMutablePointer<Lanes>       // 7 × 7
    let aty, beta: UnsafeMutablePointer<Lanes>

    init(_ model: DTIModel, passes: Int) {
        m = model.scheme.count; self.passes = passes
        x = .allocate(capacity: m * 7); x.initialize(from: model.design, count: m * 7)
        pairs = .allocate(capacity: 28 * m)
        var k = 0
        for i in 0..<7 { for j in 0...i { for r in 0..<m { (pairs + k * m + r).initialize(to: x[r * 7 + i] * x[r * 7 + j]) }; k += 1 } }
        olsFactor = .allocate(capacity: 49); olsFactor.initialize(from: model.olsFactor, count: 49)
        y = .allocate(capacity: m); y.initialize(repeating: .zero, count: m)
        w = .allocate(capacity: m); w.initialize(repeating: .zero, count: m)
        ata = .allocate(capacity: 49); ata.initialize(repeating: .zero, count: 49)
        aty = .allocate(capacity: 7); aty.initialize(repeating: .zero, count: 7)
        beta = .allocate(capacity: 7); beta.initialize(repeating: .zero, count: 7)
    }
    deinit { x.deallocate(); pairs.deallocate(); olsFactor.deallocate(); y.deallocate(); w.deallocate(); ata.deallocate(); aty.deallocate(); beta.deallocate() }

    /// L Lᵀ b = rhs with a scalar factor (shared by the lanes), in place.
    @inline(__always) func substitute(_ l: UnsafePointer<Double>, _ b: UnsafeMutablePointer<Lanes>) {
        for i in 0..<7 {
            var s = b[i]
            for k in 0..<i { s -= l[i * 7 + k] * b[k] }
            b[i] = s / l[i * 8]
        }
        for i in stride(from: 6, through: 0, by: -1) {
            var s = b[i]
            for k in (i + 1)..<7 { s -= l[k * 7 + i] * b[k] }
            b[i] = s / l[i * 8]
        }
    }

    /// Fits voxels `signals[0..<4]` (rows of m values); writes `DTIOutput` rows to `outs`.
    /// Returns a mask of the lanes it could not fit (to be fitted by the scalar path).
    func fit(_ signals: (UnsafePointer<Double>, UnsafePointer<Double>, UnsafePointer<Double>, UnsafePointer<Double>),
             _ outs: (UnsafeMutablePointer<Double>, UnsafeMutablePointer<Double>, UnsafeMutablePointer<Double>, UnsafeMutablePointer<Double>)) -> SIMDMask<SIMD4<Int64>> {
        var bad = SIMDMask<SIMD4<Int64>>(repeating: false)
        var smax = Lanes.zero
        for r in 0..<m { smax = pointwiseMax(smax, Lanes(signals.0[r], signals.1[r], signals.2[r], signals.3[r])) }
        let floor0 = smax * 1e-6
        for r in 0..<m {
            let s = Lanes(signals.0[r], signals.1[r], signals.2[r], signals.3[r])
            bad .|= s .<= 0
            let safe = pointwiseMax(s, floor0).replacing(with: 1, where: s .<= 0)
            y[r] = Lanes(Double(logf(Float(safe[0]))), Double(logf(Float(safe[1]))), Double(logf(Float(safe[2]))), Double(logf(Float(safe[3]))))
        }
        // Ordinary pass with the precomputed factor of XᵀX.
        for j in 0..<7 { beta[j] = .zero }
        for r in 0..<m { let yr = y[r]; for j in 0..<7 { beta[j] += x[r * 7 + j] * yr } }
        substitute(olsFactor, beta)
        for _ in 0..<passes {
            for r in 0..<m {
                var v = Lanes.zero
                for j in 0..<7 { v += x[r * 7 + j] * beta[j] }
                let p = fastExp(v)
                w[r] = p * p
            }
            var k = 0
            for i in 0..<7 {
                for j in 0...i {
                    var acc = Lanes.zero
                    let pk = pairs + k * m
                    for r in 0..<m { acc += pk[r] * w[r] }
                    ata[i * 7 + j] = acc; ata[j * 7 + i] = acc
                    k += 1
                }
                var acc = Lanes.zero
                for r in 0..<m { acc += x[r * 7 + i] * w[r] * y[r] }
                aty[i] = acc
            }
            // Cholesky on the lanes; a lane with a non-positive pivot is marked bad.
            var maxDiag = Lanes.zero
            for i in 0..<7 { maxDiag = pointwiseMax(maxDiag, ata[i * 8]) }
            let floor = maxDiag * 1e-13
            for j in 0..<7 {
                var d = ata[j * 8]
                for k in 0..<j { d -= ata[j * 7 + k] * ata[j * 7 + k] }
                bad .|= d .<= floor
                let l = d.replacing(with: 1, where: d .<= floor).squareRoot()
                ata[j * 8] = l
                for i in (j + 1)..<7 {
                    var s = ata[i * 7 + j]
                    for k in 0..<j { s -= ata[i * 7 + k] * ata[j * 7 + k] }
                    ata[i * 7 + j] = s / l
                }
            }
            for i in 0..<7 {
                var s = aty[i]
                for k in 0..<i { s -= ata[i * 7 + k] * aty[k] }
                aty[i] = s / ata[i * 8]
            }
            for i in stride(from: 6, through: 0, by: -1) {
                var s = aty[i]
                for k in (i + 1)..<7 { s -= ata[k * 7 + i] * aty[k] }
                aty[i] = s / ata[i * 8]
            }
            for j in 0..<7 { beta[j] = aty[j] }
        }
        for lane in 0..<4 where !bad[lane] {
            let out = lane == 0 ? outs.0 : lane == 1 ? outs.1 : lane == 2 ? outs.2 : outs.3
            let (l1, l2, l3, v) = symmetricEigen3(beta[1][lane], beta[2][lane], beta[3][lane], beta[4][lane], beta[5][lane], beta[6][lane])
            let inv = TensorInvariants(eigenvalues: SIMD3(l1, l2, l3))
            out[0] = exp(beta[0][lane])
            for j in 1..<7 { out[j] = beta[j][lane] }
            out[7] = inv.fa; out[8] = inv.md; out[9] = inv.ad; out[10] = inv.rd
            out[11] = v.x; out[12] = v.y; out[13] = v.z; out[14] = 0
        }
        return bad
    }
}
