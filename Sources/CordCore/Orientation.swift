// Orientation codes and reorientation between voxel orders.
//
// Codes follow the Spinal Cord Toolbox convention used throughout CordQ: each letter says
// where an axis comes FROM. The canonical "RPI" therefore means i runs R→L, j runs P→A and
// k runs I→S (nibabel would call the same layout "LAS").

/// One anatomical direction: where a voxel axis starts.
public enum AxisLetter: Character, Sendable, CaseIterable {
    case R = "R", L = "L", A = "A", P = "P", S = "S", I = "I"
    public var opposite: AxisLetter {
        switch self { case .R: .L; case .L: .R; case .A: .P; case .P: .A; case .S: .I; case .I: .S }
    }
    /// World axis (0 = x/RL, 1 = y/AP, 2 = z/SI) this letter lies on.
    public var worldAxis: Int {
        switch self { case .R, .L: 0; case .A, .P: 1; case .S, .I: 2 }
    }
}

/// A three-letter orientation code such as "RPI" (SCT convention: letters name the start).
public struct OrientationCode: Equatable, Hashable, Sendable, CustomStringConvertible {
    public let letters: [AxisLetter]
    public static let canonical = OrientationCode(uncheckedLetters: [.R, .P, .I])

    init(uncheckedLetters: [AxisLetter]) { letters = uncheckedLetters }
    /// Parses a code; throws for anything that is not one of R/L, A/P, S/I each.
    public init(_ code: String) throws {
        let ls = code.uppercased().compactMap { AxisLetter(rawValue: $0) }
        guard ls.count == 3, code.count == 3, Set(ls.map(\.worldAxis)) == [0, 1, 2] else {
            throw CordError.invalidOrientation(code)
        }
        letters = ls
    }
    public var description: String { String(letters.map(\.rawValue)) }
    /// The same layout named the nibabel way (letters name where each axis points to).
    public var towardCode: String { String(letters.map(\.opposite.rawValue)) }
}

extension Grid {
    /// The orientation of the voxel axes (SCT convention), from the dominant world component
    /// of each affine column. RAS+ world: a column pointing to −x runs R→L, so its letter is R.
    public var orientation: OrientationCode {
        let l = affine.linear
        var used = Set<Int>()
        var letters: [AxisLetter] = []
        for c in 0..<3 {
            let col = l.column(c)
            // Pick the largest world component not already claimed by an earlier column.
            var best = -1
            var bestValue = -1.0
            for w in 0..<3 where !used.contains(w) && abs(col[w]) > bestValue { best = w; bestValue = abs(col[w]) }
            used.insert(best)
            let positive = col[best] >= 0
            switch best {
            case 0: letters.append(positive ? .L : .R)  // runs toward +x (R) means it starts at L
            case 1: letters.append(positive ? .P : .A)
            default: letters.append(positive ? .I : .S)
            }
        }
        return OrientationCode(uncheckedLetters: letters)
    }
    public var orientationCode: String { orientation.description }
}

/// A change of voxel order: axis permutation plus flips. Exact (no interpolation).
public struct Reorientation: Sendable, Equatable {
    /// The grid before reorientation.
    public let source: Grid
    /// The grid after reorientation.
    public let target: Grid
    /// For each target axis, the source axis it reads from.
    public let sourceAxis: [Int]
    /// For each target axis, whether its direction is reversed.
    public let flipped: [Bool]

    /// The reorientation taking `grid` to `code`.
    public init(from grid: Grid, to code: OrientationCode) {
        let current = grid.orientation.letters
        var axis = [0, 0, 0], flip = [false, false, false]
        for a in 0..<3 {
            let want = code.letters[a]
            // Exactly one source axis lies on the same world axis.
            let b = current.firstIndex { $0.worldAxis == want.worldAxis } ?? a
            axis[a] = b
            flip[a] = current[b] != want
        }
        let n = [grid.nx, grid.ny, grid.nz]
        var m = Mat3.zero
        var offset = SIMD3<Double>.zero
        for a in 0..<3 {
            let b = axis[a]
            m[b, a] = flip[a] ? -1 : 1
            if flip[a] { offset[b] = Double(n[b] - 1) }
        }
        let newAffine = grid.affine * Mat4(linear: m, translation: offset)
        source = grid
        target = Grid(nx: n[axis[0]], ny: n[axis[1]], nz: n[axis[2]], affine: newAffine)
        sourceAxis = axis
        flipped = flip
    }
    public var isIdentity: Bool { sourceAxis == [0, 1, 2] && flipped == [false, false, false] }

    /// Reorders `volume` (on `source`) onto `target`.
    public func apply<T>(_ volume: Volume<T>) -> Volume<T> {
        precondition(volume.grid.isCompatible(with: source), "volume is not on the reorientation's source grid")
        if isIdentity { return volume }
        return reorder(volume, to: target, reading: self)
    }
    /// Reorders `volume` (on `target`) back onto `source`, restoring its exact grid.
    public func invert<T>(_ volume: Volume<T>) -> Volume<T> {
        precondition(volume.grid.isCompatible(with: target), "volume is not on the reorientation's target grid")
        if isIdentity { var v = volume; v.grid = source; return v }
        let back = Reorientation(from: target, to: source.orientation)
        var out = reorder(volume, to: source, reading: back)
        out.grid = source
        return out
    }
}

private func reorder<T>(_ volume: Volume<T>, to grid: Grid, reading r: Reorientation) -> Volume<T> {
    let src = r.source
    let srcStride = [1, src.nx, src.nx * src.ny]
    let srcDims = [src.nx, src.ny, src.nz]
    var stride = [0, 0, 0]
    var base = 0
    for a in 0..<3 {
        let b = r.sourceAxis[a]
        stride[a] = r.flipped[a] ? -srcStride[b] : srcStride[b]
        if r.flipped[a] { base += (srcDims[b] - 1) * srcStride[b] }
    }
    let nvox = grid.voxelCount
    var out = volume.data
    volume.data.withUnsafeBufferPointer { inp in
        out.withUnsafeMutableBufferPointer { o in
            for t in 0..<volume.frames {
                let off = t * nvox
                var n = off
                for k in 0..<grid.nz {
                    for j in 0..<grid.ny {
                        var s = off + base + k * stride[2] + j * stride[1]
                        for _ in 0..<grid.nx { o[n] = inp[s]; n += 1; s += stride[0] }
                    }
                }
            }
        }
    }
    // Count is unchanged: voxels × frames.
    return Volume(grid: grid, frames: volume.frames, exactly: out)
}

extension Volume {
    /// This image in another voxel order (exact permutation/flip), with the reorientation
    /// that restores it.
    public func reoriented(to code: OrientationCode = .canonical) -> (Volume<Scalar>, Reorientation) {
        let r = Reorientation(from: grid, to: code)
        return (r.apply(self), r)
    }
}
