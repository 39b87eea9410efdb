// Gathering masked voxels into contiguous signals and fanning per-voxel fits over cores.
import CordCore

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
        for n in 0..<nvox where mask.map({ $0.data[n] != 0 }) ?? true { idx.append(Int32(n)) }
        if idx.isEmpty { throw CordError.emptyMask(name: "mask") }
        let frames = image.frames, count = idx.count
        let out = SharedBuffer<Double>(repeating: 0, count: count * frames)
        image.data.withUnsafeBufferPointer { src in
            let s = UnsafeSendable(src.baseAddress!)
            idx.withUnsafeBufferPointer { ip in
                let ips = UnsafeSendable(ip.baseAddress!)
                parallelChunks(frames) { range, _ in
                    for t in range {
                        let base = s.pointer + t * nvox
                        for v in 0..<count { out.pointer[v * frames + t] = Double(base[Int(ips.pointer[v])]) }
                    }
                }
            }
        }
        grid = image.grid; voxels = idx; self.frames = frames; values = out.array
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
protocol VoxelFitter: AnyObject {
    /// Fits one voxel's `signal` (one value per volume) and writes its outputs to `out`.
    func fit(_ signal: UnsafePointer<Double>, _ out: UnsafeMutablePointer<Double>)
}

/// Runs a fitter over every voxel of `data` on all workers (each with its own fitter,
/// made once), writing `outputs` values per voxel. Deterministic: a voxel's result does
/// not depend on which worker fitted it.
func fitVoxels<F: VoxelFitter>(_ data: MaskedSignals, outputs: Int, progress: ProgressReporter? = nil,
                               make: () -> F) -> [Double] {
    let fitters = UnsafeSendable((0..<max(workerCount, 1)).map { _ in make() })
    let out = SharedBuffer<Double>(repeating: .nan, count: data.count * outputs)
    let frames = data.frames
    data.values.withUnsafeBufferPointer { sp in
        let s = UnsafeSendable(sp.baseAddress!)
        parallelChunks(data.count, minimumChunk: 64) { range, worker in
            let f = fitters.pointer[worker]
            for v in range { f.fit(s.pointer + v * frames, out.pointer.baseAddress! + v * outputs) }
            progress?.advance(by: range.count)
        }
    }
    return out.array
}
