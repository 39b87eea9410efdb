// Tissue classes and the cord's cross-section template (grey-matter butterfly, named
// white-matter regions).

/// One tissue class of the phantom. The raw value is the label written in
/// `PhantomSubject.tissueLabels` and the row index of `TissueComposition` fractions.
///
/// "Left" and "right" are the patient's: left is world −x (RAS+). The white-matter regions
/// follow the PAM50 atlas's combined labels (De Leener et al. 2018 NeuroImage 165:170):
/// dorsal columns, lateral funiculi (here split into the lateral corticospinal tract and
/// the rest), ventral funiculi; grey matter is split like PAM50 into ventral horn,
/// intermediate zone and dorsal horn.
public enum TissueClass: Int32, CaseIterable, Sendable, Codable {
    case background = 0
    case dorsalColumnLeft = 1, dorsalColumnRight = 2
    case lateralCorticospinalLeft = 3, lateralCorticospinalRight = 4
    case lateralFuniculusLeft = 5, lateralFuniculusRight = 6
    case ventralFuniculusLeft = 7, ventralFuniculusRight = 8
    case ventralHornLeft = 9, ventralHornRight = 10
    case intermediateZoneLeft = 11, intermediateZoneRight = 12
    case dorsalHornLeft = 13, dorsalHornRight = 14
    case csf = 15
    case vertebralBody = 16
    case intervertebralDisc = 17

    public static let count = allCases.count

    /// The label value in label maps.
    public var label: Int32 { rawValue }

    public var name: String {
        switch self {
        case .background: "background"
        case .dorsalColumnLeft: "WM left dorsal column"
        case .dorsalColumnRight: "WM right dorsal column"
        case .lateralCorticospinalLeft: "WM left lateral corticospinal tract"
        case .lateralCorticospinalRight: "WM right lateral corticospinal tract"
        case .lateralFuniculusLeft: "WM left lateral funiculus (other tracts)"
        case .lateralFuniculusRight: "WM right lateral funiculus (other tracts)"
        case .ventralFuniculusLeft: "WM left ventral funiculus"
        case .ventralFuniculusRight: "WM right ventral funiculus"
        case .ventralHornLeft: "GM left ventral horn"
        case .ventralHornRight: "GM right ventral horn"
        case .intermediateZoneLeft: "GM left intermediate zone"
        case .intermediateZoneRight: "GM right intermediate zone"
        case .dorsalHornLeft: "GM left dorsal horn"
        case .dorsalHornRight: "GM right dorsal horn"
        case .csf: "CSF"
        case .vertebralBody: "vertebral body"
        case .intervertebralDisc: "intervertebral disc"
        }
    }

    public var isWhiteMatter: Bool { (1...8).contains(rawValue) }
    public var isGreyMatter: Bool { (9...14).contains(rawValue) }
    /// Part of the spinal cord (white or grey matter).
    public var isCord: Bool { (1...14).contains(rawValue) }
    /// −1 for the patient's left, +1 for the right, 0 for unsided classes.
    public var side: Int { isCord ? (rawValue % 2 == 1 ? -1 : 1) : 0 }

    /// Combined regions (the PAM50 atlas's "CombinedLabels" plus the sides), by name.
    public static let groups: [(name: String, members: [TissueClass])] = [
        ("spinal cord", allCases.filter(\.isCord)),
        ("white matter", allCases.filter(\.isWhiteMatter)),
        ("grey matter", allCases.filter(\.isGreyMatter)),
        ("dorsal columns", [.dorsalColumnLeft, .dorsalColumnRight]),
        ("lateral funiculi", [.lateralCorticospinalLeft, .lateralCorticospinalRight,
                              .lateralFuniculusLeft, .lateralFuniculusRight]),
        ("lateral corticospinal tracts", [.lateralCorticospinalLeft, .lateralCorticospinalRight]),
        ("ventral funiculi", [.ventralFuniculusLeft, .ventralFuniculusRight]),
        ("ventral horns", [.ventralHornLeft, .ventralHornRight]),
    ]

    /// Label value → name, for `LabelMap.names`.
    public static var labelNames: [Int32: String] {
        Dictionary(uniqueKeysWithValues: allCases.filter { $0 != .background }.map { ($0.rawValue, $0.name) })
    }
}

/// The cord's cross-section in normalised coordinates: with u, v the position (mm) in the
/// plane orthogonal to the centerline (u toward the patient's right, v anterior) and a, b
/// the ellipse's RL and AP semi-axes, the cord is x² + y² ≤ 1 with x = u/a, y = v/b.
///
/// Shapes (mirrored for the left side, |x| used), fitted to PAM50's grey matter (De Leener
/// et al. 2018 NeuroImage 165:170): every PAM50 axial slice C2–C7 (every 4th, 54 slices)
/// taken to this normalised frame by its cord's centre and second moments, the GM
/// probability averaged, and the 12 shape parameters fitted (Nelder–Mead) to the mean map's
/// ½ contour with the GM area fraction held at PAM50's 0.20 (binary Dice with that contour
/// 0.959; the earlier hand-drawn butterfly scored 0.719 and, placed in the real `mt1` cord,
/// overlapped SCT's GM mask with Dice 0.60 against 0.83 now — issue #25):
/// - grey matter: the union of an ellipse centred (0.303, 0.248) with semi-axes (0.218,
///   0.289) (ventral horn), a capsule of radius 0.088 around the segment (0.308, 0.0)–(0.456,
///   −0.456) (dorsal horn, reaching back and out toward the dorsolateral surface as in PAM50)
///   and an ellipse centred (0, 0.248) with semi-axes (0.395, 0.141) (the grey commissure
///   joining the ventral horns in front of the cord's centre); split by depth into ventral
///   horn (y ≥ 0.21), intermediate zone and dorsal horn (y < −0.10), PAM50's parts at C4;
/// - dorsal columns: white matter behind y = 0.10 and medial to the dorsal-horn axis line;
/// - ventral funiculus: white matter with y > 0 and |x| < 0.75·y;
/// - lateral corticospinal tract: ellipse centred (0.72, −0.18), semi-axes (0.20, 0.32),
///   inside the lateral funiculus; the rest of the lateral funiculus keeps its own label.
/// Area fractions of the cord (computed on a 1200² grid): GM 0.200 (ventral horns 0.084,
/// intermediate zone 0.067, dorsal horns 0.050; PAM50 at C4 0.084, 0.080, 0.049), dorsal columns 0.253, lateral
/// corticospinal tracts 0.128, other lateral funiculus 0.266, ventral funiculi 0.153 — close
/// to PAM50 at C4 (GM 0.21, DC 0.26, LCST 0.14, rest of LF 0.21, VF 0.16). The shapes scale
/// with the ellipse, so the fractions are the same at every level.
public enum CrossSectionTemplate {
    static let ventralHorn = (cx: 0.303, cy: 0.248, rx: 0.218, ry: 0.289)
    static let intermediate = (cx: 0.0, cy: 0.248, rx: 0.395, ry: 0.141)
    static let dorsalHorn = (x1: 0.308, y1: 0.0, x2: 0.456, y2: -0.456, r: 0.088)
    /// Depths (y) splitting the grey matter into ventral horn (y ≥ 0.21), intermediate zone and
    /// dorsal horn (y < −0.10): PAM50's part fractions at C4 (0.084, 0.080, 0.049 of the cord).
    static let partSplit = (ventral: 0.21, dorsal: -0.10)
    /// Front edge (y) of the dorsal columns: just behind the grey commissure.
    static let dorsalColumnTop = 0.10
    static let corticospinal = (cx: 0.72, cy: -0.18, rx: 0.20, ry: 0.32)
    static let ventralSlope = 0.75

    /// The class at normalised position (x, y) inside the unit disc (not checked).
    @inline(__always)
    static func classify(_ x: Double, _ y: Double) -> TissueClass {
        let ax = absolute(x), left = x < 0
        @inline(__always) func pick(_ l: TissueClass, _ r: TissueClass) -> TissueClass { left ? l : r }
        @inline(__always) func inEllipse(_ cx: Double, _ cy: Double, _ rx: Double, _ ry: Double) -> Bool {
            let p = (ax - cx) / rx, q = (y - cy) / ry
            return p * p + q * q <= 1
        }
        let vh = ventralHorn, iz = intermediate, dh = dorsalHorn, cs = corticospinal
        // Grey matter: the union of the three shapes, split into parts by depth (y) as PAM50's
        // ventral horn / intermediate zone / dorsal horn.
        let dx = dh.x2 - dh.x1, dy = dh.y2 - dh.y1
        let t = min(1, max(0, ((ax - dh.x1) * dx + (y - dh.y1) * dy) / (dx * dx + dy * dy)))
        let ex = ax - (dh.x1 + t * dx), ey = y - (dh.y1 + t * dy)
        if inEllipse(vh.cx, vh.cy, vh.rx, vh.ry) || ex * ex + ey * ey <= dh.r * dh.r || inEllipse(iz.cx, iz.cy, iz.rx, iz.ry) {
            if y >= partSplit.ventral { return pick(.ventralHornLeft, .ventralHornRight) }
            if y < partSplit.dorsal { return pick(.dorsalHornLeft, .dorsalHornRight) }
            return pick(.intermediateZoneLeft, .intermediateZoneRight)
        }
        // White matter. Medial to the dorsal-horn axis line: positive cross product.
        let medial = (ax - dh.x1) * dy - (y - dh.y1) * dx > 0
        if y < dorsalColumnTop && medial { return pick(.dorsalColumnLeft, .dorsalColumnRight) }
        if y > 0 && ax < ventralSlope * y { return pick(.ventralFuniculusLeft, .ventralFuniculusRight) }
        if inEllipse(cs.cx, cs.cy, cs.rx, cs.ry) { return pick(.lateralCorticospinalLeft, .lateralCorticospinalRight) }
        return pick(.lateralFuniculusLeft, .lateralFuniculusRight)
    }

    /// The class at normalised position (x, y), or nil outside the cord (x² + y² > 1).
    public static func tissue(x: Double, y: Double) -> TissueClass? {
        x * x + y * y <= 1 ? classify(x, y) : nil
    }

    /// Fraction of the cord's area taken by each class (indexed by raw value; non-cord
    /// classes 0), by the midpoint rule on an n × n grid over [−1, 1]².
    public static func areaFractions(resolution n: Int = 600) -> [Double] {
        var counts = [Int](repeating: 0, count: TissueClass.count)
        var total = 0
        for j in 0..<n {
            let y = (Double(j) + 0.5) / Double(n) * 2 - 1
            for i in 0..<n {
                let x = (Double(i) + 0.5) / Double(n) * 2 - 1
                guard x * x + y * y <= 1 else { continue }
                counts[Int(classify(x, y).rawValue)] += 1
                total += 1
            }
        }
        return counts.map { Double($0) / Double(max(total, 1)) }
    }
}

extension TissueClass {
    /// One value per tissue class (indexed by raw value) from a value per tissue kind: the
    /// shape every contrast's intensity table and every simulator's parameter table takes.
    public static func perClass(background: Double, csf: Double, vertebralBody: Double, disc: Double,
                                greyMatter: Double, whiteMatter: Double) -> [Double] {
        allCases.map { c in
            switch c {
            case .background: background
            case .csf: csf
            case .vertebralBody: vertebralBody
            case .intervertebralDisc: disc
            default: c.isGreyMatter ? greyMatter : whiteMatter
            }
        }
    }
}
