// Gathering masked voxels into contiguous signals and fanning per-voxel fits over cores.
import CordCore
#if canImport(Glibc)
import Glibc
#endif

/// The signals of the voxels inside a mask, one contiguous row of `frames` values per
/// voxel (voxel-major), so a fit reads one voxel's measurements from one cache line run.
public struct MaskedSignals: Sendable {
    public let grid: Grid
    /// Linear voxel indices (x fastest) of the masked voxels, ascending.
    public let voxels: [Int32]
    public let frames: Int
    /// `voxels.count × frames` values.
    public let values: [Double]

    /// Gathers every voxel where `mask` is non-zero (all voxels when nil). Throws when
    /// the mask is on another grid or selects no voxel.
    public init(_ image: Volume<Float>, mask: Mask?) throws {
        if let mask { try image.grid.requireCompatible(with: mask.grid, "diffusion series", "mask") }
        let nvox = image.grid.voxelCount
        var idx: [Int32] = []
        idx.reserveCapacity(nvox)
        if let mask {
            mask.data.withUnsafeBufferPointer { m in for n in 0..<nvox where m[n] != 0 { idx.append(Int32(n)) } }
        } else {
            for n in 0..<nvox { idx.append(Int32(n)) }
        }
        if idx.isEmpty { throw CordError.emptyMask(name: "mask") }
        let frames = image.frames, count = idx.count
        // Filled in place by the workers (each writes whole voxel rows): no zero-fill, no copy.
        let values = [Double](unsafeUninitializedCapacity: count * frames) { buffer, initialized in
            let out = UnsafeSendable(buffer.baseAddress!)
            image.data.withUnsafeBufferPointer { src in
                let s = UnsafeSendable(src.baseAddress!)
                idx.withUnsafeBufferPointer { ip in
                    let ips = UnsafeSendable(ip.baseAddress!)
                    // Blocks of voxels per worker (disjoint output rows, no false sharing); within a
                    // block, frame by frame so reads stay in one frame's cache lines.
                    let blocks = (count + 255) / 256
                    parallelChunks(blocks) { range, _ in
                        for blk in range {
                            let lo = blk * 256, hi = min(count, lo + 256)
                            for t in 0..<frames {
                                let base = s.pointer + t * nvox
                                for v in lo..<hi { (out.pointer + v * frames + t).initialize(to: Double(base[Int(ips.pointer[v])])) }
                            }
                        }
                    }
                }
            }
            initialized = count * frames
        }
        grid = image.grid; voxels = idx; self.frames = frames; self.values = values
    }

    public var count: Int { voxels.count }

    /// Scatters `count` values per voxel (`stride` apart, at `offset`) into a volume (0 outside the mask).
    public func volume(from values: [Double], stride: Int, offset: Int) -> Volume<Float> {
        var v = Volume<Float>(grid: grid, frames: 1, repeating: 0)
        for (n, i) in voxels.enumerated() { v.data[Int(i)] = Float(values[n * stride + offset]) }
        return v
    }
    /// Scatters three consecutive values per voxel into a 3-frame volume (vectors).
    public func vectorVolume(from values: [Double], stride: Int, offset: Int) -> Volume<Float> {
        var v = Volume<Float>(grid: grid, frames: 3, repeating: 0)
        let nvox = grid.voxelCount
        for (n, i) in voxels.enumerated() {
            for c in 0..<3 { v.data[Int(i) + c * nvox] = Float(values[n * stride + offset + c]) }
        }
        return v
    }
}

/// A raw pointer handed to workers that touch disjoint parts of it.
struct UnsafeSendable<T>: @unchecked Sendable {
    let pointer: T
    init(_ p: T) { pointer = p }
}

/// A per-voxel fitting routine with its own scratch buffers (one per worker).
protocol VoxelFitter: AnyObject, SendableMetatype {
    /// Fits one voxel's `signal` (one value per volume) and writes its outputs to `out`.
    func fit(_ signal: UnsafePointer<Double>, _ out: UnsafeMutablePointer<Double>)
    /// Fits `count` consecutive voxels (signal rows `frames` apart, output rows `outputs`
    /// apart); fitters with a multi-voxel (SIMD) path override it.
    func fitBlock(_ signals: UnsafePointer<Double>, frames: Int, count: Int, _ out: UnsafeMutablePointer<Double>, outputs: Int)
}

extension VoxelFitter {
    func fitBlock(_ signals: UnsafePointer<Double>, frames: Int, count: Int, _ out: UnsafeMutablePointer<Double>, outputs: Int) {
        for v in 0..<count { fit(signals + v * frames, out + v * outputs) }
    }
}

/// Runs a fitter over every voxel of `data` on all workers (each with its own fitter,
/// made once), writing `outputs` values per voxel. Deterministic: a voxel's result does
/// not depend on which worker fitted it.
func fitVoxels<F: VoxelFitter>(_ data: MaskedSignals, outputs: Int, progress: ProgressReporter? = nil,
                               make: () -> F) -> [Double] {
    let fitters = UnsafeSendable((0..<max(workerCount, 1)).map { _ in make() })
    let frames = data.frames
    // Workers pull blocks of 128 voxels from a shared counter, so they finish together
    // even when voxels cost different amounts (masked edges, refits).
    let blocks = (data.count + 127) / 128
    let next = BlockCounter()
    return [Double](unsafeUninitializedCapacity: data.count * outputs) { buffer, initialized in
        buffer.initialize(repeating: .nan)
        let out = UnsafeSendable(buffer.baseAddress!)
        data.values.withUnsafeBufferPointer { sp in
            let s = UnsafeSendable(sp.baseAddress!)
            parallelChunks(min(workerCount, blocks)) { _, worker in
                let f = fitters.pointer[worker]
                while true {
                    let b = next.take()
                    if b >= blocks { break }
                    let lo = b * 128, hi = min(data.count, lo + 128)
                    f.fitBlock(s.pointer + lo * frames, frames: frames, count: hi - lo, out.pointer + lo * outputs, outputs: outputs)
                    progress?.advance(by: hi - lo)
                }
            }
        }
        initialized = data.count * outputs
    }
}

/// A lock-protected block counter shared by workers.
final class BlockCounter: @unchecked Sendable {
    private var value = 0
    private var lock = pthread_mutex_t()
    init() { pthread_mutex_init(&lock, nil) }
    deinit { pthread_mutex_destroy(&lock) }
    /// Returns the next block index.
    func take() -> Int {
        pthread_mutex_lock(&lock); defer { pthread_mutex_unlock(&lock) }
        value += 1
        return value - 1
    }
}
