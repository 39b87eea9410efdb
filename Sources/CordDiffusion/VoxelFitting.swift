// Gathering masked voxels into contiguous signals and fanning per-voxel fits over cores.
import CordCore
#if canImport(Glibc)
import Glibc
#endif

/// The signals of the voxels inside a mask. The image's samples are shared, not copied:
/// each worker gathers the block of voxels it fits into its own scratch buffer (one row of
/// `frames` values per voxel, or one row of voxels per frame), so nothing of the size of the
/// series is allocated twice.
public struct MaskedSignals: Sendable {
    public let grid: Grid
    /// Linear voxel indices (x fastest) of the masked voxels, ascending.
    public let voxels: [Int32]
    public let frames: Int
    /// The series' samples (x fastest, then y, z, frame).
    let samples: [Float]

    /// Selects every voxel where `mask` is non-zero (all voxels when nil). Throws when the
    /// mask is on another grid or selects no voxel.
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
        grid = image.grid; voxels = idx; frames = image.frames; samples = image.data
    }

    public var count: Int { voxels.count }

    /// The signal of masked voxel `n` (one value per frame).
    public func signal(_ n: Int) -> [Double] {
        let nvox = grid.voxelCount, i = Int(voxels[n])
        return (0..<frames).map { Double(samples[$0 * nvox + i]) }
    }

    /// Copies voxels `range` into `out` as rows of `frames` values (voxel-major).
    func gatherRows(_ range: Range<Int>, into out: UnsafeMutablePointer<Double>) {
        let nvox = grid.voxelCount, frames = frames
        samples.withUnsafeBufferPointer { src in
            voxels.withUnsafeBufferPointer { idx in
                for t in 0..<frames {  // frame by frame: reads stay in one frame's cache lines
                    let base = src.baseAddress! + t * nvox
                    var o = out + t
                    for v in range { o.pointee = Double(base[Int(idx[v])]); o += frames }
                }
            }
        }
    }

    /// Copies voxels `range` into `out` as one row per frame: out[t·stride + v − range.lowerBound].
    func gatherColumns(_ range: Range<Int>, into out: UnsafeMutablePointer<Double>, stride: Int) {
        let nvox = grid.voxelCount
        samples.withUnsafeBufferPointer { src in
            voxels.withUnsafeBufferPointer { idx in
                for t in 0..<frames {
                    let base = src.baseAddress! + t * nvox, o = out + t * stride - range.lowerBound
                    for v in range { o[v] = Double(base[Int(idx[v])]) }
                }
            }
        }
    }

    /// Scatters `count` values per voxel (`stride` apart, at `offset`) into a volume (0 outside the mask).
    public func volume(from values: [Double], stride: Int, offset: Int) -> Volume<Float> {
        var v = Volume<Float>(grid: grid, frames: 1, repeating: 0)
        v.data.withUnsafeMutableBufferPointer { d in
            values.withUnsafeBufferPointer { src in
                for (n, i) in voxels.enumerated() { d[Int(i)] = Float(src[n * stride + offset]) }
            }
        }
        return v
    }
    /// Scatters three consecutive values per voxel into a 3-frame volume (vectors).
    public func vectorVolume(from values: [Double], stride: Int, offset: Int) -> Volume<Float> {
        var v = Volume<Float>(grid: grid, frames: 3, repeating: 0)
        let nvox = grid.voxelCount
        v.data.withUnsafeMutableBufferPointer { d in
            values.withUnsafeBufferPointer { src in
                for (n, i) in voxels.enumerated() {
                    for c in 0..<3 { d[Int(i) + c * nvox] = Float(src[n * stride + offset + c]) }
                }
            }
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
    /// Fits the masked voxels `range` of `data`, writing output rows `outputs` apart from
    /// `out` (the first voxel's row). `scratch` holds `range.count × data.frames` values.
    /// Fitters with a multi-voxel path override it.
    func fitBlock(_ data: MaskedSignals, _ range: Range<Int>, scratch: UnsafeMutablePointer<Double>,
                  _ out: UnsafeMutablePointer<Double>, outputs: Int)
}

extension VoxelFitter {
    func fitBlock(_ data: MaskedSignals, _ range: Range<Int>, scratch: UnsafeMutablePointer<Double>,
                  _ out: UnsafeMutablePointer<Double>, outputs: Int) {
        data.gatherRows(range, into: scratch)
        for v in 0..<range.count { fit(scratch + v * data.frames, out + v * outputs) }
    }
}

/// Runs a fitter over every voxel of `data` on all workers (each with its own fitter,
/// made once), writing `outputs` values per voxel. Deterministic: a voxel's result does
/// not depend on which worker fitted it (blocks are fixed ranges of voxels).
func fitVoxels<F: VoxelFitter>(_ data: MaskedSignals, outputs: Int, blockSize: Int = 128,
                               progress: ProgressReporter? = nil, make: () -> F) -> [Double] {
    let workers = max(1, min(workerCount, (data.count + blockSize - 1) / blockSize))
    let fitters = UnsafeSendable((0..<workers).map { _ in make() })
    let frames = data.frames
    let scratch = UnsafeSendable(UnsafeMutablePointer<Double>.allocate(capacity: workers * blockSize * frames))
    defer { scratch.pointer.deallocate() }
    // Workers pull blocks from a shared counter, so they finish together even when voxels
    // cost different amounts (masked edges, refits).
    let blocks = (data.count + blockSize - 1) / blockSize
    let next = BlockCounter()
    return [Double](unsafeUninitializedCapacity: data.count * outputs) { buffer, initialized in
        buffer.initialize(repeating: .nan)
        let out = UnsafeSendable(buffer.baseAddress!)
        parallelChunks(workers) { _, worker in
            let f = fitters.pointer[worker], own = scratch.pointer + worker * blockSize * frames
            while true {
                let b = next.take()
                if b >= blocks { break }
                let lo = b * blockSize, hi = min(data.count, lo + blockSize)
                f.fitBlock(data, lo..<hi, scratch: own, out.pointer + lo * outputs, outputs: outputs)
                progress?.advance(by: hi - lo)
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
