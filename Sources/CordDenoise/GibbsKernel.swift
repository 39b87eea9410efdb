// The per-slice work of Gibbs unringing: FFTW plans and tables shared by all workers, and
// per-worker buffers, so nothing is allocated or planned per slice or per line.
@preconcurrency import CFFTW
import CordCore

/// Memory from `fftw_malloc`, so every buffer has FFTW's SIMD alignment and plans made on
/// one worker's buffers can run on another's with the new-array execute functions.
private func fftwBuffer(_ count: Int) throws -> UnsafeMutablePointer<Double> {
    guard let raw = fftw_malloc(MemoryLayout<Double>.stride * max(count, 1)) else {
        throw CordError.invalidValue(what: "Gibbs unringing", detail: "could not allocate \(count) values for FFT buffers")
    }
    let p = raw.bindMemory(to: Double.self, capacity: max(count, 1))
    p.initialize(repeating: 0, count: max(count, 1))
    return p
}

/// A buffer of interleaved (real, imaginary) doubles seen as FFTW complex numbers.
@inline(__always) private func complex(_ p: UnsafeMutablePointer<Double>) -> UnsafeMutablePointer<fftw_complex> {
    UnsafeMutableRawPointer(p).assumingMemoryBound(to: fftw_complex.self)
}

/// One worker's buffers for an n0 × n1 slice; used by one thread at a time.
final class GibbsWorkspace: @unchecked Sendable {
    /// The slice (n0 × n1, first axis fastest) and its half spectrum (n1 × (n0/2 + 1) complex).
    let plane: UnsafeMutablePointer<Double>, spectrum: UnsafeMutablePointer<Double>
    /// The spectrum times one direction's weight (destroyed by the inverse FFT), that
    /// direction's image, and the sum of both unrung directions.
    let weighted: UnsafeMutablePointer<Double>, directional: UnsafeMutablePointer<Double>
    let result: UnsafeMutablePointer<Double>
    /// One line, its half spectrum, the shifted half spectra and the shifted lines.
    let line: UnsafeMutablePointer<Double>, lineSpectrum: UnsafeMutablePointer<Double>
    let shiftedSpectra: UnsafeMutablePointer<Double>, shifted: UnsafeMutablePointer<Double>
    /// |r_s(l) − r_s(l + 1)|, its window sums, and the best total variation and shift per voxel.
    let difference: UnsafeMutablePointer<Double>, window: UnsafeMutablePointer<Double>
    let bestTV: UnsafeMutablePointer<Double>
    let bestSlot: UnsafeMutablePointer<Int>
    private let owned: [UnsafeMutablePointer<Double>]

    init(n0: Int, n1: Int, slots: Int) throws {
        let n = max(n0, n1), h = n / 2 + 1, plane = n0 * n1, half = n1 * (n0 / 2 + 1)
        var made: [UnsafeMutablePointer<Double>] = []
        func make(_ count: Int) throws -> UnsafeMutablePointer<Double> {
            let p = try fftwBuffer(count); made.append(p); return p
        }
        do {
            self.plane = try make(plane); spectrum = try make(2 * half)
            weighted = try make(2 * half); directional = try make(plane); result = try make(plane)
            line = try make(n); lineSpectrum = try make(2 * h)
            shiftedSpectra = try make(2 * h * slots); shifted = try make(n * slots)
            difference = try make(n); window = try make(n); bestTV = try make(n)
        } catch {
            for p in made { fftw_free(p) }
            throw error
        }
        bestSlot = .allocate(capacity: n)
        bestSlot.initialize(repeating: 0, count: n)
        owned = made
    }

    deinit {
        for p in owned { fftw_free(p) }
        bestSlot.deallocate()
    }
}

/// Plans and tables for unringing lines of length n: a real-to-complex FFT of one line, a
/// batch of complex-to-real FFTs of all shifted spectra, and the phase ramps.
final class GibbsLineTables: @unchecked Sendable {
    let n: Int, half: Int, slots: Int
    let forward: OpaquePointer, inverse: OpaquePointer
    /// Slot q's shift in voxels: 0, +1/(2·nsh), …, +½, −1/(2·nsh), …, −½.
    let shift: [Double]
    /// e^{2πi k s/n}/n for slot q, bin k (interleaved complex, q-major); the 1/n makes the
    /// unnormalised inverse FFT exact. The Nyquist bin of even n is 0 for s ≠ 0.
    let ramps: [Double]

    init(n: Int, nsh: Int, workspace w: GibbsWorkspace) throws {
        self.n = n; half = n / 2 + 1; slots = 2 * nsh + 1
        var shift = [Double](repeating: 0, count: slots)
        for j in 1...nsh {
            shift[j] = Double(j) / Double(2 * nsh)
            shift[nsh + j] = -Double(j) / Double(2 * nsh)
        }
        var ramps = [Double](repeating: 0, count: 2 * half * slots)
        for q in 0..<slots {
            for k in 0..<half where q == 0 || n % 2 == 1 || k != n / 2 {
                let phase = 2 * Double.pi * Double(k) * shift[q] / Double(n)
                ramps[2 * (q * half + k)] = Double.cos(phase) / Double(n)
                ramps[2 * (q * half + k) + 1] = Double.sin(phase) / Double(n)
            }
        }
        self.shift = shift; self.ramps = ramps
        let flags = UInt32(FFTW_ESTIMATE)
        guard let f = fftw_plan_dft_r2c_1d(Int32(n), w.line, complex(w.lineSpectrum), flags) else {
            throw CordError.invalidValue(what: "Gibbs unringing", detail: "FFTW could not plan a \(n)-point transform")
        }
        var size = Int32(n)
        guard let b = fftw_plan_many_dft_c2r(1, &size, Int32(slots), complex(w.shiftedSpectra), nil, 1, Int32(half),
                                             w.shifted, nil, 1, Int32(n), flags) else {
            fftw_destroy_plan(f)
            throw CordError.invalidValue(what: "Gibbs unringing", detail: "FFTW could not plan \(slots) \(n)-point transforms")
        }
        forward = f; inverse = b
    }

    deinit { fftw_destroy_plan(forward); fftw_destroy_plan(inverse) }
}

/// Everything shared by the workers for one slice layout; read-only once built.
final class GibbsPlans: @unchecked Sendable {
    let layout: GibbsSliceLayout
    let minW: Int, maxW: Int
    let forward: OpaquePointer, inverse: OpaquePointer
    /// Line tables along the first and second in-plane axes.
    let lines0: GibbsLineTables, lines1: GibbsLineTables
    /// Gₓ (unring along the first axis) and G_y on the half spectrum, bin (q, p) at
    /// q·(n0/2 + 1) + p, each including the 1/(n0·n1) of the inverse FFT.
    let weight0: [Double], weight1: [Double]

    init(layout: GibbsSliceLayout, options: GibbsOptions, planningWith w: GibbsWorkspace) throws {
        self.layout = layout
        minW = options.minW; maxW = options.maxW
        let n0 = layout.n0, n1 = layout.n1, h0 = n0 / 2 + 1
        var w0 = [Double](repeating: 0, count: n1 * h0), w1 = w0
        let scale = 1 / Double(n0 * n1)
        for q in 0..<n1 {
            let c1 = 1 + Double.cos(2 * Double.pi * Double(q) / Double(n1))
            for p in 0..<h0 {
                let c0 = 1 + Double.cos(2 * Double.pi * Double(p) / Double(n0))
                let sum = c0 + c1
                // Both are 0/0 only at (π, π): that coefficient is dropped (see GibbsUnringing).
                guard sum > 1e-12 else { continue }
                w0[q * h0 + p] = c1 / sum * scale
                w1[q * h0 + p] = c0 / sum * scale
            }
        }
        weight0 = w0; weight1 = w1
        lines0 = try GibbsLineTables(n: n0, nsh: options.shifts, workspace: w)
        lines1 = try GibbsLineTables(n: n1, nsh: options.shifts, workspace: w)
        // FFTW is row-major (last index fastest): the slice is n1 rows of n0 voxels.
        let flags = UInt32(FFTW_ESTIMATE)
        guard let f = fftw_plan_dft_r2c_2d(Int32(n1), Int32(n0), w.plane, complex(w.spectrum), flags),
              let b = fftw_plan_dft_c2r_2d(Int32(n1), Int32(n0), complex(w.weighted), w.directional, flags) else {
            throw CordError.invalidValue(what: "Gibbs unringing", detail: "FFTW could not plan a \(n0)×\(n1) transform")
        }
        forward = f; inverse = b
    }

    deinit { fftw_destroy_plan(forward); fftw_destroy_plan(inverse) }

    /// Unrings the slice whose first voxel is at `data` (layout strides), in place.
    func unringSlice(_ data: UnsafeMutablePointer<Float>, workspace w: GibbsWorkspace) {
        let n0 = layout.n0, n1 = layout.n1, s0 = layout.stride0, s1 = layout.stride1
        for j in 0..<n1 { for i in 0..<n0 { w.plane[i + n0 * j] = Double(data[i * s0 + j * s1]) } }
        fftw_execute_dft_r2c(forward, w.plane, complex(w.spectrum))
        let bins = n1 * (n0 / 2 + 1)
        for axis in 0..<2 {
            (axis == 0 ? weight0 : weight1).withUnsafeBufferPointer { g in
                for b in 0..<bins {
                    w.weighted[2 * b] = w.spectrum[2 * b] * g[b]
                    w.weighted[2 * b + 1] = w.spectrum[2 * b + 1] * g[b]
                }
            }
            fftw_execute_dft_c2r(inverse, complex(w.weighted), w.directional)
            if axis == 0 {
                unringLines(lines0, count: n1, step: 1, lineStride: n0, accumulate: false, workspace: w)
            } else {
                unringLines(lines1, count: n0, step: n0, lineStride: 1, accumulate: true, workspace: w)
            }
        }
        for j in 0..<n1 { for i in 0..<n0 { data[i * s0 + j * s1] = Float(w.result[i + n0 * j]) } }
    }

    /// Unrings `count` lines of `w.directional` (neighbours `step` apart, lines `lineStride`
    /// apart) into `w.result`, replacing or adding.
    private func unringLines(_ t: GibbsLineTables, count: Int, step: Int, lineStride: Int,
                             accumulate: Bool, workspace w: GibbsWorkspace) {
        let n = t.n, half = t.half, slots = t.slots
        // TV⁺(l) is the window sum starting at l + minW; TV⁻(l) the one ending at l − minW − 1.
        let leftOffset = n - (minW + maxW + 1) % n
        t.ramps.withUnsafeBufferPointer { ramp in
            for m in 0..<count {
                let start = m * lineStride
                for l in 0..<n { w.line[l] = w.directional[start + l * step] }
                fftw_execute_dft_r2c(t.forward, w.line, complex(w.lineSpectrum))
                for q in 0..<slots {
                    let out = w.shiftedSpectra + 2 * q * half, r = 2 * q * half
                    for k in 0..<half {
                        let a = w.lineSpectrum[2 * k], b = w.lineSpectrum[2 * k + 1]
                        let c = ramp[r + 2 * k], d = ramp[r + 2 * k + 1]
                        out[2 * k] = a * c - b * d
                        out[2 * k + 1] = a * d + b * c
                    }
                }
                fftw_execute_dft_c2r(t.inverse, complex(w.shiftedSpectra), w.shifted)
                selectShifts(n: n, slots: slots, leftOffset: leftOffset, workspace: w)
                for l in 0..<n {
                    let q = w.bestSlot[l], s = t.shift[q], r = w.shifted + q * n
                    let v: Double
                    if s > 0 {
                        v = (1 - s) * r[l] + s * r[l == 0 ? n - 1 : l - 1]
                    } else {
                        v = (1 + s) * r[l] - s * r[l == n - 1 ? 0 : l + 1]
                    }
                    if accumulate { w.result[start + l * step] += v } else { w.result[start + l * step] = v }
                }
            }
        }
    }

    /// For each voxel l, the slot whose copy has the least one-sided total variation
    /// min(TV⁻, TV⁺) over minW…maxW; first slot wins ties.
    private func selectShifts(n: Int, slots: Int, leftOffset: Int, workspace w: GibbsWorkspace) {
        for l in 0..<n { w.bestTV[l] = .infinity; w.bestSlot[l] = 0 }
        for q in 0..<slots {
            let r = w.shifted + q * n
            for l in 0..<(n - 1) { w.difference[l] = abs(r[l] - r[l + 1]) }
            w.difference[n - 1] = abs(r[n - 1] - r[0])
            // window(l) = Σ_{t=minW…maxW} |r(l + t) − r(l + t + 1)| = TV⁺(l).
            for l in 0..<n {
                var sum = 0.0
                for t in minW...maxW {
                    let i = l + t
                    sum += w.difference[i < n ? i : i - n]
                }
                w.window[l] = sum
            }
            for l in 0..<n {
                let i = l + leftOffset
                let tv = min(w.window[i < n ? i : i - n], w.window[l])
                if tv < w.bestTV[l] { w.bestTV[l] = tv; w.bestSlot[l] = q }
            }
        }
    }
}
