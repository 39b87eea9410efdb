// Rigid transforms of world space (mm): rotation + translation, with the exponential and
// logarithm of SE(3) so that transforms can be halved and averaged without privileging one.
import CordCore

/// p ↦ R p + t in world coordinates (mm, RAS+). `rotation` is a proper rotation matrix.
public struct RigidTransform: Sendable, Equatable {
    public var rotation: Mat3
    public var translation: SIMD3<Double>
    public init(rotation: Mat3, translation: SIMD3<Double>) { self.rotation = rotation; self.translation = translation }
    public static let identity = RigidTransform(rotation: .identity, translation: .zero)

    public func apply(_ p: SIMD3<Double>) -> SIMD3<Double> { rotation * p + translation }
    /// The inverse transform: p ↦ Rᵀ (p − t).
    public var inverse: RigidTransform {
        let rt = rotation.transposed
        return RigidTransform(rotation: rt, translation: -(rt * translation))
    }
    /// `self ∘ other`: first `other`, then `self`.
    public func after(_ other: RigidTransform) -> RigidTransform {
        RigidTransform(rotation: rotation * other.rotation, translation: rotation * other.translation + translation)
    }
    /// A rotation by `angles` (rotation vector, radians) about `centre`, then a translation `shift`.
    public static func about(_ centre: SIMD3<Double>, rotationVector angles: SIMD3<Double>, shift: SIMD3<Double> = .zero) -> RigidTransform {
        let r = rodrigues(angles)
        return RigidTransform(rotation: r, translation: centre - r * centre + shift)
    }
    /// Rotation angle (degrees) of the transform, whatever its axis.
    public var angleDegrees: Double { length(Self.rotationVector(rotation)) * 180 / .pi }
    /// The rotation vector (radians; axis × angle) of the rotation part.
    public var rotationVector: SIMD3<Double> { Self.rotationVector(rotation) }

    // MARK: - SO(3) and SE(3)

    static func cross(_ w: SIMD3<Double>) -> Mat3 {
        Mat3(rows: [0, -w.z, w.y], [w.z, 0, -w.x], [-w.y, w.x, 0])
    }

    /// Rotation matrix of the rotation vector ω (Rodrigues' formula).
    public static func rodrigues(_ w: SIMD3<Double>) -> Mat3 {
        let theta = length(w)
        let k = cross(w)
        let a: Double, b: Double
        if theta < 1e-6 { a = 1 - theta * theta / 6; b = 0.5 - theta * theta / 24 } else {
            a = sin(theta) / theta; b = (1 - cos(theta)) / (theta * theta)
        }
        return Mat3.identity + a * k + b * (k * k)
    }

    /// The rotation vector of a rotation matrix (angles below π).
    public static func rotationVector(_ r: Mat3) -> SIMD3<Double> {
        let c = max(-1, min(1, (r.trace - 1) / 2))
        let theta = acos(c)
        let v = SIMD3(r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1])
        if theta < 1e-6 { return 0.5 * v }
        return theta / (2 * sin(theta)) * v
    }

    /// The SE(3) logarithm (ω, u) in coordinates centred on `centre` (p − centre): the
    /// transform is exp of the twist. `exp(log/2)` is the transform's exact square root.
    public func log(centre: SIMD3<Double>) -> (omega: SIMD3<Double>, u: SIMD3<Double>) {
        let w = Self.rotationVector(rotation)
        let tc = rotation * centre + translation - centre
        let theta = length(w), k = Self.cross(w)
        let coef: Double
        if theta < 1e-4 { coef = 1.0 / 12 + theta * theta / 720 } else {
            coef = (1 - theta * sin(theta) / (2 * (1 - cos(theta)))) / (theta * theta)
        }
        let vinv = Mat3.identity - 0.5 * k + coef * (k * k)
        return (w, vinv * tc)
    }

    /// The SE(3) exponential of the twist (ω, u) given in coordinates centred on `centre`.
    public static func exp(omega w: SIMD3<Double>, u: SIMD3<Double>, centre: SIMD3<Double>) -> RigidTransform {
        let theta = length(w), k = cross(w)
        let b: Double, c: Double
        if theta < 1e-4 { b = 0.5 - theta * theta / 24; c = 1.0 / 6 - theta * theta / 120 } else {
            b = (1 - cos(theta)) / (theta * theta); c = (theta - sin(theta)) / (theta * theta * theta)
        }
        let r = rodrigues(w)
        let tc = (Mat3.identity + b * k + c * (k * k)) * u
        // Centred: q' = R q + tc with q = p − centre.
        return RigidTransform(rotation: r, translation: tc + centre - r * centre)
    }
}

#if canImport(Glibc)
import Glibc
#endif
