// swift-tools-version: 6.0
// CordQ: quantitative MRI of the spinal cord. Layout and allowed imports follow DESIGN.md.
import PackageDescription

/// Step modules that only need the core (and the C math shims).
func step(_ name: String, _ extra: [Target.Dependency] = []) -> Target {
    .target(name: name, dependencies: ["CordCore"] + extra)
}

let package = Package(
    name: "CordQ",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "cordq", targets: ["cordq"]),
        .library(name: "CordQ", targets: ["CordPipeline"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
        // Protocol cards (YAML) are decoded with Yams' Node API, which keeps line/column marks.
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        // The normative database is one SQLite file; GRDB (over Debian's libsqlite3) gives
        // transactions, WAL and migrations. Its first debug build takes about 30 s here.
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
    ],
    targets: [
        // MARK: - C shims over Debian's libraries
        // nifticlib has no pkg-config file and its header includes <znzlib.h> from a
        // directory that is not on the search path: a C target's include/ fixes both.
        // libdeflate (whole-buffer gzip) rides along: CordIO, the only module that reads
        // files, may import this shim.
        .target(
            name: "CNIfTI",
            linkerSettings: [.linkedLibrary("nifti2"), .linkedLibrary("znz"),
                             .linkedLibrary("z"), .linkedLibrary("deflate"), .linkedLibrary("m")]),
        .systemLibrary(name: "CFFTW", pkgConfig: "fftw3",
                       providers: [.apt(["libfftw3-dev"])]),
        .systemLibrary(name: "CGSL", pkgConfig: "gsl",
                       providers: [.apt(["libgsl-dev"])]),
        .systemLibrary(name: "CLAPACK", pkgConfig: "lapacke",
                       providers: [.apt(["liblapacke-dev", "libopenblas-dev"])]),
        // Raw k-space in ISMRMRD HDF5 through libismrmrd 1.8's C API (its dataset.h needs hdf5.h).
        .systemLibrary(name: "CISMRMRD", pkgConfig: "hdf5",
                       providers: [.apt(["libismrmrd-dev", "libhdf5-dev"])]),
        // QC pictures are PNG; libpng's simplified API writes a whole RGB buffer to memory.
        .systemLibrary(name: "CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),

        // MARK: - Foundation
        .target(name: "CordCore",
                dependencies: ["CLAPACK", "CFFTW", "CGSL", .product(name: "Numerics", package: "swift-numerics")]),
        .target(name: "CordIO", dependencies: ["CordCore", "CNIfTI", "CISMRMRD"]),
        .target(name: "CordAtlas", dependencies: ["CordCore"]),
        .target(name: "CordPhantom", dependencies: ["CordCore", "CordAtlas"]),
        // Image similarity, slice-wise and rigid alignment, resampling: the engine shared by
        // registration, MT alignment and multiband motion correction.
        .target(name: "CordAlign", dependencies: ["CordCore"]),

        // MARK: - Processing steps
        step("CordRecon", ["CFFTW"]),
        step("CordDenoise", ["CLAPACK", "CFFTW"]),
        step("CordMultiband", ["CordAlign"]),
        step("CordDistortion", ["CordAlign"]),
        step("CordDiffusion", ["CLAPACK"]),
        step("CordMyelin"),
        step("CordSegmentation"),
        .target(name: "CordRegistration", dependencies: ["CordCore", "CordAtlas", "CordAlign", "CordSegmentation"]),
        .target(name: "CordMetrics", dependencies: ["CordCore", "CordAtlas"]),
        .target(name: "CordNormative", dependencies: ["CordCore", "CordMetrics", .product(name: "GRDB", package: "GRDB.swift")]),
        .target(name: "CordBiomarkers",
                dependencies: ["CordCore", "CordMetrics", "CordNormative", "CordSegmentation"]),
        // Sessions of one subject: halfway space, shared labels, change tables, reliable change (#21).
        .target(name: "CordLongitudinal",
                dependencies: ["CordCore", "CordAlign", "CordRegistration", "CordMetrics", "CordNormative"]),
        .testTarget(name: "CordLongitudinalTests",
                    dependencies: ["CordTestSupport", "CordLongitudinal", "CordPipeline", "CordPhantom", "CordIO", "CordCore",
                                   "CordMetrics", "CordRegistration", "CordNormative"]),
        // Protocol cards: decoding (the only Yams user) and checking an in-memory subject inventory.
        // QC rendering (mosaics, overlays, colour maps, SVG plots, HTML) as bytes; CordIO writes them.
        .target(name: "CordReport", dependencies: ["CordCore", "CPNG"]),
        .target(name: "CordProtocol",
                dependencies: ["CordCore", .product(name: "Yams", package: "Yams")]),
        .target(name: "CordPipeline",
                dependencies: ["CordCore", "CordIO", "CordProtocol", "CordAtlas", "CordPhantom", "CordRecon",
                               "CordDenoise", "CordMultiband", "CordDistortion", "CordDiffusion", "CordMyelin",
                               "CordSegmentation", "CordRegistration", "CordMetrics",
                               "CordNormative", "CordBiomarkers", "CordReport", "CordLongitudinal"]),

        // MARK: - Command line
        .target(name: "CordCLI",
                dependencies: ["CordPipeline", "CordCore", "CordIO", "CordSegmentation", "CordNormative", "CordDiffusion", "CordMultiband", "CordDistortion",
                               "CordAtlas", "CordRegistration",
                               .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(name: "cordq", dependencies: ["CordCLI", "CordCore"]),

        // MARK: - Tests
        .target(name: "CordTestSupport", path: "Tests/CordTestSupport"),
        .testTarget(name: "CordCoreTests", dependencies: ["CordTestSupport", "CordCore"]),
        .testTarget(name: "CordIOTests", dependencies: ["CordTestSupport", "CordIO", "CordCore"]),
        .testTarget(name: "CordAlignTests", dependencies: ["CordTestSupport", "CordAlign", "CordPhantom", "CordCore"]),
        .testTarget(name: "CordMultibandTests", dependencies: ["CordTestSupport", "CordMultiband", "CordAlign", "CordPhantom", "CordCore", "CordDiffusion"]),
        .testTarget(name: "CordDistortionTests", dependencies: ["CordTestSupport", "CordDistortion", "CordPhantom", "CordCore"]),
        .testTarget(name: "CordPhantomTests", dependencies: ["CordTestSupport", "CordPhantom", "CordCore"]),
        .testTarget(name: "CordDenoiseTests", dependencies: ["CordTestSupport", "CordDenoise", "CordPhantom", "CordCore"]),
        .testTarget(name: "CordMyelinTests", dependencies: ["CordTestSupport", "CordMyelin", "CordPhantom", "CordCore"]),
        .testTarget(name: "CordRegistrationTests", dependencies: ["CordTestSupport", "CordRegistration", "CordPhantom", "CordCore", "CordAtlas", "CordIO", "CordSegmentation"]),
        .testTarget(name: "CordReportTests", dependencies: ["CordTestSupport", "CordReport", "CordCore", "CordPhantom"]),
        .testTarget(name: "CordProtocolTests", dependencies: ["CordProtocol", "CordCore"]),
        .testTarget(name: "CordPipelineTests", dependencies: ["CordTestSupport", "CordPipeline", "CordIO", "CordCore", "CordMyelin", "CordPhantom",
                                                              "CordRegistration"]),
        .testTarget(name: "CordSegmentationTests", dependencies: ["CordTestSupport", "CordSegmentation", "CordPhantom", "CordIO", "CordCore"]),
        .testTarget(name: "CordMetricsTests", dependencies: ["CordTestSupport", "CordMetrics", "CordAtlas", "CordPhantom", "CordCore"]),
        .testTarget(name: "CordAtlasTests", dependencies: ["CordTestSupport", "CordAtlas", "CordIO", "CordPhantom", "CordCore"]),
        .testTarget(name: "CordNormativeTests", dependencies: ["CordTestSupport", "CordNormative", "CordMetrics", "CordIO", "CordCore",
                                                               .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "CordDiffusionTests", dependencies: ["CordTestSupport", "CordDiffusion", "CordPhantom", "CordCore"]),
        .testTarget(name: "CordReconTests", dependencies: ["CordTestSupport", "CordRecon", "CordIO", "CordCore", "CordPhantom", "CordProtocol", "CordPipeline"]),
        .testTarget(name: "CordCLITests", dependencies: ["CordTestSupport", "CordCLI", "CordPipeline", "CordIO", "CordCore", "CordPhantom", "CordAtlas", "CordMetrics", "CordMultiband", "CordReport",
                                                         "CordNormative"]),
    ]
)
