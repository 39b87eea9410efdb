// DTI weighted least squares on a block of voxels at once: the products with the design
// matrix are matrix–matrix products (BLAS dgemm), the 7×7 solves run on four voxels per
// SIMD step.
import CLAPACK
import CordCore
#if canImport(Glibc)
import Glibc
#endif

/// The ordinary + weighted passes of `DTIFitter` (no robust or non-linear step) for a block
/// of up to `capacity` voxels, with the same estimator as the one-voxel path: an ordinary
/// least-squares fit of ln S (weights 1 where S > 0, 0 elsewhere), then `passes` fits
/// weighted by the squared predicted signal (Salvador et al. 2005, Hum Brain Mapp 24:144).
///
/// Matrices are column-major with the voxel index fastest (leading dimension `capacity`),
/// so for a block of V voxels and m volumes: predictions V×m = β (V×7) · Xᵀ, the normal
/// matrices' 28 lower-triangle entries V×28 = W (V×m) · Q (m×28) with Q[r, (i,j)] = xᵣᵢxᵣⱼ,
/// and XᵀWy as V×7 = (W∘Y) · X. A voxel whose signals are all ≤ 0 gets zeros; one whose
/// normal matrix is singular is left to the one-voxel path.
final class DTIBlockFitter {
    let m: Int, passes: Int, capacity: Int
    let design: UnsafeMutablePointer<Double>      // X, m × 7
    let olsMap: UnsafeMutablePointer<Double>      // X(XᵀX)⁻¹, m × 7: β = Y · X(XᵀX)⁻¹
    let pairs: UnsafeMutablePointer<Double>       // Q, m × 28
    let s, y, w, wy: UnsafeMutablePointer<Double> // capacity × m
    let beta: UnsafeMutablePointer<Double>        // capacity × 7
    let gram: UnsafeMutablePointer<Double>        // capacity × 28
    let aty: UnsafeMutablePointer<Double>         // capacity × 7
    let state: UnsafeMutablePointer<UInt8>        // per voxel: 0 fit, 1 no signal, 2 singular
    let l: UnsafeMutablePointer<Lanes>            // 7 × 7 factor of one group of four voxels
    let rhs: UnsafeMutablePointer<Lanes>          // 7

    init(_ model: DTIModel, passes: Int, capacity: Int) {
        m = model.scheme.count; self.passes = passes
        self.capacity = (capacity + 3) / 4 * 4
        func buf(_ n: Int) -> UnsafeMutablePointer<Double> {
            let p = UnsafeMutablePointer<Double>.allocate(capacity: max(n, 1)); p.initialize(repeating: 0, count: max(n, 1)); return p
        }
        design = buf(m * 7); olsMap = buf(m * 7); pairs = buf(m * 28)
        let x = model.design
        for r in 0..<m {
            for j in 0..<7 { design[r + j * m] = x[r * 7 + j] }
            var k = 0
            for i in 0..<7 { for j in 0...i { pairs[r + k * m] = x[r * 7 + i] * x[r * 7 + j]; k += 1 } }
            // Row r of X(XᵀX)⁻¹ solves (XᵀX) z = xᵣ with the model's Cholesky factor.
            var z = (0..<7).map { x[r * 7 + $0] }
            model.olsFactor.withUnsafeBufferPointer { f in z.withUnsafeMutableBufferPointer { choleskySubstitute(f.baseAddress!, $0.baseAddress!, 7) } }
            for j in 0..<7 { olsMap[r + j * m] = z[j] }
        }
        let c = self.capacity
        s = buf(c * m); y = buf(c * m); w = buf(c * m); wy = buf(c * m)
        beta = buf(c * 7); gram = buf(c * 28); aty = buf(c * 7)
        state = .allocate(capacity: c); state.initialize(repeating: 0, count: c)
        l = .allocate(capacity: 49); l.initialize(repeating: .zero, count: 49)
        rhs = .allocate(capacity: 7); rhs.initialize(repeating: .zero, count: 7)
    }
    deinit {
        for p in [design, olsMap, pairs, s, y, w, wy, beta, gram, aty] { p.deallocate() }
        state.deallocate(); l.deallocate(); rhs.deallocate()
    }

    /// C (capacity × n) = A (capacity × k) · op(B), B stored with leading dimension ldb.
    @inline(__always) private func multiply(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, transposeB: Bool,
                                            n: Int, k: Int, ldb: Int, into c: UnsafeMutablePointer<Double>) {
        var rows = Int32(capacity), cols = Int32(n), inner = Int32(k), lda = Int32(capacity), ldbb = Int32(ldb), ldc = Int32(capacity)
        var one = 1.0, zero = 0.0
        var ta = CChar(UInt8(ascii: "N")), tb = CChar(UInt8(ascii: transposeB ? "T" : "N"))
        dgemm_(&ta, &tb, &rows, &cols, &inner, &one, a, &lda, b, &ldbb, &zero, c, &ldc)
    }

    /// Fits masked voxels `range` of `data`; writes `DTIOutput` rows (`outputs` apart) from
    /// `out`, and returns through `state` which voxels still need the one-voxel path (2).
    func fit(_ data: MaskedSignals, _ range: Range<Int>, eigensystem: Bool,
             _ out: UnsafeMutablePointer<Double>, outputs: Int) {
        let count = range.count, c = capacity
        precondition(count <= c)
        data.gatherColumns(range, into: s, stride: c)
        // ln S (floored at 10⁻⁶ of the voxel's maximum, as the one-voxel path) and first
        // weights (1 where S > 0). Values ≤ 0 are stored as −floor: weight 0, ln finite.
        // Loops run along rows (voxels contiguous), four voxels per step.
        for v in 0..<c { state[v] = v < count ? 0 : 1 }
        for r in 0..<m { for v in count..<c { s[v + r * c] = 1 } }
        @inline(__always) func row(_ p: UnsafeMutablePointer<Double>, _ r: Int, _ v: Int) -> UnsafeMutableRawPointer {
            UnsafeMutableRawPointer(p + r * c + v)
        }
        var allPositive = true
        for v in Swift.stride(from: 0, to: c, by: 4) {
            var smax = Lanes.zero, positive = SIMDMask<SIMD4<Int64>>(repeating: true)
            for r in 0..<m {
                let x = row(s, r, v).loadUnaligned(as: Lanes.self)
                smax.replace(with: x, where: x .> smax)
                positive .&= x .> 0
            }
            if any(.!positive) { allPositive = false }
            for lane in 0..<4 where smax[lane] <= 0 { state[v + lane] = 1 }
            let floor = (smax * 1e-6).replacing(with: 1, where: smax .<= 0)
            for r in 0..<m {
                let x = row(s, r, v).loadUnaligned(as: Lanes.self)
                let kept = x.replacing(with: floor, where: x .< floor).replacing(with: -floor, where: x .<= 0)
                row(s, r, v).storeBytes(of: kept, as: Lanes.self)
                row(y, r, v).storeBytes(of: fastLog(kept.replacing(with: floor, where: x .<= 0)), as: Lanes.self)
                row(w, r, v).storeBytes(of: Lanes.zero.replacing(with: 1, where: x .> 0), as: Lanes.self)
            }
        }
        if allPositive {
            multiply(y, olsMap, transposeB: false, n: 7, k: m, ldb: m, into: beta)
        } else {
            solvePass()
        }
        for _ in 0..<passes {
            multiply(beta, design, transposeB: true, n: m, k: 7, ldb: m, into: w)   // ln Ŝ
            for i in Swift.stride(from: 0, to: c * m, by: 4) {
                let p = weightExp(UnsafeRawPointer(w + i).loadUnaligned(as: Lanes.self))
                let x = UnsafeRawPointer(s + i).loadUnaligned(as: Lanes.self)
                (UnsafeMutableRawPointer(w + i)).storeBytes(of: (p * p).replacing(with: 0, where: x .<= 0), as: Lanes.self)
            }
            solvePass()
        }
        for v in 0..<count where state[v] != 2 {
            let o = out + v * outputs
            if state[v] == 1 { for k in 0..<DTIOutput.count { o[k] = 0 }; continue }
            DTIFitter.writeOutputs(beta[v], beta[v + c], beta[v + 2 * c], beta[v + 3 * c], beta[v + 4 * c],
                                   beta[v + 5 * c], beta[v + 6 * c], outliers: 0, eigensystem: eigensystem, o)
        }
    }

    /// One weighted pass with the weights in `w`: normal equations for every voxel by two
    /// matrix products, then Cholesky on four voxels at a time.
    private func solvePass() {
        let c = capacity
        for i in Swift.stride(from: 0, to: c * m, by: 4) {
            let a = UnsafeRawPointer(w + i).loadUnaligned(as: Lanes.self), b = UnsafeRawPointer(y + i).loadUnaligned(as: Lanes.self)
            (UnsafeMutableRawPointer(wy + i)).storeBytes(of: a * b, as: Lanes.self)
        }
        multiply(w, pairs, transposeB: false, n: 28, k: m, ldb: m, into: gram)
        multiply(wy, design, transposeB: false, n: 7, k: m, ldb: m, into: aty)
        @inline(__always) func load(_ p: UnsafeMutablePointer<Double>, _ k: Int, _ v: Int) -> Lanes {
            UnsafeRawPointer(p + k * c + v).loadUnaligned(as: Lanes.self)
        }
        for v in Swift.stride(from: 0, to: c, by: 4) {
            var k = 0, maxDiag = Lanes.zero
            for i in 0..<7 {
                for j in 0...i { let g = load(gram, k, v); l[i * 7 + j] = g; k += 1 }
                maxDiag = pointwiseMax(maxDiag, l[i * 8])
                rhs[i] = load(aty, i, v)
            }
            let floor = maxDiag * 1e-13
            var bad = maxDiag .<= 0
            for j in 0..<7 {
                var d = l[j * 8]
                for k in 0..<j { d -= l[j * 7 + k] * l[j * 7 + k] }
                bad .|= d .<= floor
                let root = d.replacing(with: 1, where: d .<= floor).squareRoot()
                l[j * 8] = root
                for i in (j + 1)..<7 {
                    var t = l[i * 7 + j]
                    for k in 0..<j { t -= l[i * 7 + k] * l[j * 7 + k] }
                    l[i * 7 + j] = t / root
                }
            }
            for i in 0..<7 {
                var t = rhs[i]
                for k in 0..<i { t -= l[i * 7 + k] * rhs[k] }
                rhs[i] = t / l[i * 8]
            }
            for i in Swift.stride(from: 6, through: 0, by: -1) {
                var t = rhs[i]
                for k in (i + 1)..<7 { t -= l[k * 7 + i] * rhs[k] }
                rhs[i] = t / l[i * 8]
            }
            for j in 0..<7 { (UnsafeMutableRawPointer(beta + j * c + v)).storeBytes(of: rhs[j], as: Lanes.self) }
            for lane in 0..<4 where bad[lane] && state[v + lane] == 0 { state[v + lane] = 2 }
        }
    }
}
