// ISMRMRD HDF5 through libismrmrd 1.8: the simulator's data set written and read back, its
// XML header checked by `ismrmrd_test_xml` and xmllint against ismrmrd.xsd, and Debian's
// Shepp–Logan file reconstructed as `ismrmrd_recon_cartesian_2d` does.
import CordCore
import CordIO
import CordPhantom
import CordRecon
import CordTestSupport
import Foundation
import Testing

func tool(_ name: String) -> String? {
    for dir in ["/usr/bin", "/usr/local/bin"] where FileManager.default.isExecutableFile(atPath: dir + "/" + name) { return dir + "/" + name }
    return nil
}

@discardableResult
func runTool(_ path: String, _ args: [String], in dir: String) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    p.currentDirectoryURL = URL(fileURLWithPath: dir)
    let pipe = Pipe()
    p.standardOutput = pipe; p.standardError = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

@Suite struct ISMRMRDRoundTripTests {
    @Test func simulatedEPIRoundTripsThroughLibismrmrd() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var s = EPISimulationSettings(); s.nx = 16; s.ny = 16; s.coils = 2; s.partialFourier = 0.75
        let sim = try EPIKSpaceSimulator.simulate(s)
        try ISMRMRDFile.write(sim.raw, to: dir + "/epi.h5")
        let back = try ISMRMRDFile.read(dir + "/epi.h5")
        #expect(back.acquisitions.count == sim.raw.acquisitions.count)
        #expect(back.header.encodedSpace == sim.raw.header.encodedSpace && back.header.reconSpace == sim.raw.header.reconSpace)
        #expect(back.header.trajectory == .epi && back.header.epiTiming?.numberOfSamples == 32)
        let t0 = try #require(sim.raw.header.epiTiming), t1 = try #require(back.header.epiTiming)
        #expect(t0.rampUp == t1.rampUp && t0.flatTop == t1.flatTop && t0.acquisitionDelay == t1.acquisitionDelay)
        #expect(t0.dwell == t1.dwell)   // written as the shortest exact decimal
        #expect(back.header.phaseLimit == sim.raw.header.phaseLimit)
        for (a, b) in zip(sim.raw.acquisitions, back.acquisitions) {
            #expect(a.flags == b.flags && a.index == b.index && a.channels == b.channels && a.samples == b.samples)
            #expect(a.data == b.data)                          // float32 stored exactly
        }
        // The XML header passes libismrmrd's own parser (ismrmrd_test_xml) and the 1.8 schema.
        let xml = ISMRMRDHeaderXML.serialise(sim.raw.header)
        try xml.write(toFile: dir + "/header.xml", atomically: true, encoding: .utf8)
        let testXML = try #require(tool("ismrmrd_test_xml"), "ismrmrd-tools is not installed (scripts/install-deps.sh installs it)")
        let r = try runTool(testXML, [dir + "/header.xml"], in: dir)
        #expect(r.status == 0, "ismrmrd_test_xml: \(r.output)")
        let xmllint = try #require(tool("xmllint"), "libxml2-utils is not installed (scripts/install-deps.sh installs it)")
        let v = try runTool(xmllint, ["--noout", "--schema", "/usr/share/ismrmrd/schema/ismrmrd.xsd", dir + "/header.xml"], in: dir)
        #expect(v.status == 0, "xmllint: \(v.output)")
        // What was written reconstructs like the in-memory data set (same numbers, same NRMSE).
        var o = EPIReconOptions(); o.quiet = true
        let a = try EPIReconstruction.reconstruct(sim.raw, options: o), b = try EPIReconstruction.reconstruct(back, options: o)
        let diff = zip(a.image.data, b.image.data).map { Double(($0 - $1).length) }.max() ?? 1
        let peak = a.image.data.map { Double($0.length) }.max() ?? 1
        #expect(diff <= 1e-4 * peak, "max difference \(diff) of peak \(peak)")
    }

    @Test func truncatedHDF5IsRefused() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        var s = EPISimulationSettings(); s.nx = 16; s.ny = 16; s.coils = 2
        try ISMRMRDFile.write(try EPIKSpaceSimulator.simulate(s).raw, to: dir + "/epi.h5")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/epi.h5"))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: dir + "/cut.h5"))
        #expect(throws: CordIOError.self) { try ISMRMRDFile.read(dir + "/cut.h5") }
    }

    @Test func headerWithoutEncodingOrRampTimingIsRefused() throws {
        var h = RawHeader(encodedSpace: RawEncodingSpace(matrix: SIMD3(64, 32, 1), fieldOfView: SIMD3(200, 100, 5)),
                          reconSpace: RawEncodingSpace(matrix: SIMD3(32, 32, 1), fieldOfView: SIMD3(100, 100, 5)))
        h.trajectory = .epi
        h.epiTiming = EPIReadoutTiming(numberOfSamples: 64, rampUp: 50, flatTop: 200, rampDown: 50, acquisitionDelay: 10, dwell: 4.375)
        let good = ISMRMRDHeaderXML.serialise(h)
        #expect(try ISMRMRDHeaderXML.parse(good, path: "h.xml").epiTiming == h.epiTiming)
        let noRamp = good.replacingOccurrences(of: "<userParameterLong><name>rampUpTime</name><value>50</value></userParameterLong>", with: "")
        #expect(throws: CordIOError.self) { try ISMRMRDHeaderXML.parse(noRamp, path: "h.xml") }
        let noRecon = good.replacingOccurrences(of: "reconSpace", with: "otherSpace")
        #expect(throws: CordIOError.self) { try ISMRMRDHeaderXML.parse(noRecon, path: "h.xml") }
        #expect(throws: CordIOError.self) { try ISMRMRDHeaderXML.parse("<ismrmrdHeader><encoding>", path: "h.xml") }
    }
}

@Suite(.enabled(if: tool("ismrmrd_generate_cartesian_shepp_logan") != nil && tool("ismrmrd_recon_cartesian_2d") != nil,
                "ismrmrd-tools is absent: the Shepp–Logan comparison is skipped (scripts/install-deps.sh installs it)"))
struct SheppLoganTests {
    @Test func debianSheppLoganMatchesIsmrmrdReconCartesian2D() throws {
        let dir = try Support.temporaryDirectory(); defer { Support.remove(dir) }
        let gen = try runTool(tool("ismrmrd_generate_cartesian_shepp_logan")!, ["-m", "64", "-c", "4", "-o", "sl.h5"], in: dir)
        #expect(gen.status == 0)
        let raw = try ISMRMRDFile.read(dir + "/sl.h5")
        let rec = try runTool(tool("ismrmrd_recon_cartesian_2d")!, ["sl.h5"], in: dir)
        #expect(rec.status == 0)
        let (ref, matrix) = try ISMRMRDFile.readImage(dir + "/sl.h5", variable: "cpp")
        #expect(matrix == [64, 64, 1])
        var o = EPIReconOptions(); o.quiet = true; o.coilCombination = .sos; o.prewhiten = false
        let ours = try EPIReconstruction.reconstruct(raw, options: o)
        let mag = ours.image.data.map { Double($0.length) }
        // ismrmrd_recon_cartesian_2d uses unnormalised FFTs: its image is √(128·64) = 90.51 × ours.
        let scale = (0..<mag.count).reduce(0.0) { $0 + mag[$1] * Double(ref[$1]) } / mag.reduce(0.0) { $0 + $1 * $1 }
        #expect(abs(scale - (128.0 * 64).squareRoot()) < 1e-3 * scale, "scale \(scale)")
        let nrmse = EPIQuality.nrmse(mag.map { $0 * scale }, ref.map(Double.init), mask: [Bool](repeating: true, count: ref.count))
        #expect(nrmse < 1e-5, "NRMSE vs ismrmrd_recon_cartesian_2d \(nrmse)")   // measured 6.6e-8 (float32 storage)
    }
}
