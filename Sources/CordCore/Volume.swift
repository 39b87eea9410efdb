// Images: a grid, a frame count and one contiguous buffer.

/// An image on a `Grid` with `frames` volumes, stored in one contiguous buffer with x
/// fastest, then y, z and frame (the NIfTI order).
///
/// A value type: copies share storage until written (Array copy-on-write). Hot loops should
/// work through `withUnsafeBufferPointer` / `withUnsafeMutableBufferPointer`.
public struct Volume<Scalar: Sendable>: Sendable {
    public var grid: Grid
    public private(set) var frames: Int
    public var data: [Scalar]

    public init(grid: Grid, frames: Int = 1, repeating value: Scalar) {
        precondition(frames >= 1, "a volume has at least one frame")
        self.grid = grid; self.frames = frames
        data = Array(repeating: value, count: grid.voxelCount * frames)
    }
    /// Wraps an existing buffer; its count must be voxels × frames.
    public init(grid: Grid, frames: Int = 1, data: [Scalar]) throws {
        guard data.count == grid.voxelCount * frames, frames >= 1 else {
            throw CordError.countMismatch(what: "image buffer", expected: grid.voxelCount * max(frames, 1),
                                          found: data.count, detail: "\(grid.shortDescription), \(frames) frame(s)")
        }
        self.grid = grid; self.frames = frames; self.data = data
    }

    /// Wraps a buffer whose count is voxels × frames by construction (a step's own output):
    /// a wrong count is a programming error, checked by precondition, not an input error.
    public init(grid: Grid, frames: Int = 1, exactly data: [Scalar]) {
        precondition(frames >= 1 && data.count == grid.voxelCount * frames,
                     "image buffer of \(data.count) values for \(grid.shortDescription) × \(frames) frame(s)")
        self.grid = grid; self.frames = frames; self.data = data
    }

    public var voxelsPerFrame: Int { grid.voxelCount }

    @inline(__always) public subscript(i: Int, j: Int, k: Int) -> Scalar {
        get { data[grid.index(i, j, k)] }
        set { data[grid.index(i, j, k)] = newValue }
    }
    @inline(__always) public subscript(i: Int, j: Int, k: Int, t: Int) -> Scalar {
        get { data[grid.index(i, j, k) + t * grid.voxelCount] }
        set { data[grid.index(i, j, k) + t * grid.voxelCount] = newValue }
    }

    /// One frame as a 3D volume.
    public func frame(_ t: Int) -> Volume<Scalar> {
        precondition(t >= 0 && t < frames, "frame \(t) out of range 0..<\(frames)")
        let n = grid.voxelCount
        return Volume(grid: grid, frames: 1, exactly: Array(data[(t * n)..<((t + 1) * n)]))
    }
    /// Stacks 3D volumes on the same grid into one 4D volume.
    public static func stacking(_ volumes: [Volume<Scalar>]) throws -> Volume<Scalar> {
        guard let first = volumes.first else {
            throw CordError.invalidValue(what: "stack", detail: "no volumes to stack")
        }
        var out: [Scalar] = []
        out.reserveCapacity(first.grid.voxelCount * volumes.reduce(0) { $0 + $1.frames })
        for (n, v) in volumes.enumerated() {
            try first.grid.requireCompatible(with: v.grid, "volume 1", "volume \(n + 1)")
            out.append(contentsOf: v.data)
        }
        return try Volume(grid: first.grid, frames: out.count / first.grid.voxelCount, data: out)
    }
    /// Applies `transform` to every value, keeping grid and frames.
    public func map<T: Sendable>(_ transform: (Scalar) throws -> T) rethrows -> Volume<T> {
        Volume<T>(grid: grid, frames: frames, exactly: try data.map(transform))
    }
}

extension Volume where Scalar: BinaryFloatingPoint {
    public init(grid: Grid, frames: Int = 1) { self.init(grid: grid, frames: frames, repeating: 0) }

    /// Throws `CordError.nonFinite` when any value is NaN or infinite.
    public func requireFinite(_ name: String) throws {
        var bad = 0
        for v in data where !v.isFinite { bad += 1 }
        if bad > 0 { throw CordError.nonFinite(name: name, count: bad) }
    }
    public var minimum: Scalar { data.min() ?? 0 }
    public var maximum: Scalar { data.max() ?? 0 }
}

/// A binary region on a grid (1 inside, 0 outside).
public typealias Mask = Volume<UInt8>

extension Volume where Scalar == UInt8 {
    /// Number of voxels inside the mask (first frame).
    public var count: Int {
        var n = 0
        for t in 0..<grid.voxelCount where data[t] != 0 { n += 1 }
        return n
    }
    /// Throws `CordError.emptyMask` when no voxel is set.
    public func requireNonEmpty(_ name: String) throws {
        if count == 0 { throw CordError.emptyMask(name: name) }
    }
    /// Voxels where `volume` (first frame) exceeds `threshold`.
    public static func threshold<T: BinaryFloatingPoint>(_ volume: Volume<T>, above threshold: T) -> Mask {
        var m = Mask(grid: volume.grid, frames: 1, repeating: 0)
        for n in 0..<volume.grid.voxelCount where volume.data[n] > threshold { m.data[n] = 1 }
        return m
    }
}

/// An integer label image with a name for each label value.
public struct LabelMap: Sendable {
    public var volume: Volume<Int32>
    /// Label value → human-readable name (e.g. 2 → "grey matter").
    public var names: [Int32: String]

    public init(volume: Volume<Int32>, names: [Int32: String] = [:]) {
        self.volume = volume; self.names = names
    }
    public var grid: Grid { volume.grid }
    /// Label values present in the image (0 excluded), ascending.
    public var presentLabels: [Int32] { Set(volume.data).subtracting([0]).sorted() }
    /// The mask of voxels carrying any of `labels`.
    public func mask(_ labels: Set<Int32>) -> Mask {
        var m = Mask(grid: grid, frames: 1, repeating: 0)
        for n in 0..<grid.voxelCount where labels.contains(volume.data[n]) { m.data[n] = 1 }
        return m
    }
    /// Looks a label up by name (case-insensitive).
    public func label(named name: String) -> Int32? {
        names.first { $0.value.lowercased() == name.lowercased() }?.key
    }
}
