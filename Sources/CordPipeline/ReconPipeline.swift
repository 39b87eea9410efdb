// `cordq info RAW` and `cordq recon RAW OUT.nii.gz`: raw k-space (Siemens twix, ISMRMRD) read
// once, reconstructed by CordRecon, written as NIfTI + BIDS sidecar (docs/raw-data.md).
import CordCore
import CordIO
import CordPhantom
import CordProtocol
import CordRecon
import CordReport
import Foundation

/// Reading raw files of any supported format.
public enum RawInput {
    /// The counter mapping shipped for Siemens EPI (`protocols/raw/siemens-ep2d.yaml`), looked
    /// up like protocol cards ($CORDQ_PROTOCOLS, the repository's protocols/, ./protocols).
    public static func siemensMapping(library: ProtocolLibrary = .standard) throws -> RawCounterMapping {
        for f in library.folders {
            let p = f + "/raw/siemens-ep2d.yaml"
            if TextFile.exists(p) { return try RawCounterMappingDecoder.decode(try TextFile.read(p), path: p) }
        }
        throw CordIOError.notFound(path: "raw/siemens-ep2d.yaml (the Siemens counter mapping; searched \(library.folders.joined(separator: ", ")))")
    }

    /// Whether `path` looks like a raw file (not NIfTI): twix `.dat` or ISMRMRD `.h5`.
    public static func isRaw(_ path: String) -> Bool {
        let l = path.lowercased()
        return l.hasSuffix(".dat") || l.hasSuffix(".h5") || l.hasSuffix(".hdf5") || l.hasSuffix(".mrd")
    }

    /// Reads a raw file: HDF5 → ISMRMRD, otherwise Siemens twix.
    public static func read(_ path: String, library: ProtocolLibrary = .standard) throws -> RawDataset {
        guard TextFile.exists(path) else { throw CordIOError.notFound(path: path) }
        let head = try BinaryFile.readPrefix(path, count: 8)
        if head.count >= 8, head[0] == 0x89, head[1] == 0x48, head[2] == 0x44, head[3] == 0x46 {
            return try ISMRMRDFile.read(path)
        }
        guard TwixFile.looksLikeTwix(head + [UInt8](repeating: 0, count: max(0, 8 - head.count))) || path.lowercased().hasSuffix(".dat") else {
            throw CordIOError.unsupported(path: path, reason: "not a raw file CordQ reads (Siemens twix .dat or ISMRMRD HDF5)")
        }
        return try TwixFile.read(path, mapping: try siemensMapping(library: library))
    }
}

/// `cordq info RAW`.
public enum RawInfo {
    public static func describe(_ path: String) throws -> String {
        let ds = try RawInput.read(path)
        return describe(ds, path: path)
    }

    public static func describe(_ ds: RawDataset, path: String) -> String {
        let h = ds.header
        var lines: [(String, String)] = []
        lines.append(("format", ds.source.rawValue))
        let seq = [h.sequenceName, h.protocolName.isEmpty ? "" : "protocol \(h.protocolName)"].filter { !$0.isEmpty }.joined(separator: ", ")
        lines.append(("sequence", (seq.isEmpty ? "unknown" : seq) + " → " + sequenceKind(ds)))
        if !h.systemVendor.isEmpty || !h.systemModel.isEmpty {
            lines.append(("scanner", "\(h.systemVendor) \(h.systemModel)" + (h.fieldStrengthTesla.map { String(format: ", %.2f T", $0) } ?? "")))
        }
        let e = h.encodedSpace, r = h.reconSpace
        lines.append(("encoded matrix", "\(e.matrix.x) × \(e.matrix.y) × \(e.matrix.z), FOV \(fmt(e.fieldOfView.x)) × \(fmt(e.fieldOfView.y)) × \(fmt(e.fieldOfView.z)) mm"))
        lines.append(("recon matrix", "\(r.matrix.x) × \(r.matrix.y) × \(r.matrix.z), FOV \(fmt(r.fieldOfView.x)) × \(fmt(r.fieldOfView.y)) × \(fmt(r.fieldOfView.z)) mm"))
        lines.append(("oversampling", "readout \(h.readoutOversampling)×, phase \(fmt(h.phaseOversampling))×"))
        let l = h.phaseLimit
        lines.append(("phase encoding", "lines \(l.minimum)…\(l.maximum), centre \(l.center); partial Fourier \(fmt(h.partialFourierPE)); in-plane acceleration R = \(h.accelerationFactorPE)"))
        if let t = h.epiTiming {
            lines.append(("readout", "ramp sampled (trajectory epi): \(t.numberOfSamples) samples, ramp up \(fmt(t.rampUp)) µs, flat top \(fmt(t.flatTop)) µs, ramp down \(fmt(t.rampDown)) µs, delay \(fmt(t.acquisitionDelay)) µs, dwell \(fmt(t.dwell)) µs"))
        } else {
            lines.append(("readout", "uniform (trajectory \(h.trajectory.rawValue))"))
        }
        var timing: [String] = []
        if let v = h.repetitionTimeMs { timing.append("TR \(fmt(v)) ms") }
        if let v = h.echoTimeMs { timing.append("TE \(fmt(v)) ms") }
        if let v = h.echoSpacingMs { timing.append("echo spacing \(fmt(v)) ms") }
        if !timing.isEmpty { lines.append(("timing", timing.joined(separator: ", "))) }
        lines.append(("coils", "\(h.receiverChannels)"))
        lines.append(("acquisitions", "\(ds.acquisitions.count) readouts"))
        let counters = ds.counterRanges.filter { $0.distinct > 1 || $0.maximum > 0 }
            .map { "\($0.name) \($0.minimum)…\($0.maximum) (\($0.distinct) values)" }
        lines.append(("counters", counters.isEmpty ? "all zero" : counters.joined(separator: "; ")))
        lines.append(("flags", ds.flagCounts.map { "\($0.name) ×\($0.count)" }.joined(separator: ", ")))
        if !ds.vendorFlags.isEmpty {
            lines.append(("vendor flags", ds.vendorFlags.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")))
        }
        if !ds.vendorCounters.isEmpty {
            lines.append(("vendor counters", ds.vendorCounters.sorted { $0.key < $1.key }.map { "\($0.key) non-zero on \($0.value)" }.joined(separator: ", ")))
        }
        if h.multibandFactor > 1 { lines.append(("multiband", "factor \(h.multibandFactor)")) }
        let up = h.userParameterLong.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            + h.userParameterDouble.sorted { $0.key < $1.key }.map { "\($0.key)=\(fmt($0.value))" }
        if !up.isEmpty { lines.append(("user parameters", up.joined(separator: ", "))) }
        if let a = ds.acquisitions.first {
            lines.append(("slice 0 geometry", "centre (\(fmt(a.position.x)), \(fmt(a.position.y)), \(fmt(a.position.z))) mm LPS; read \(vec(a.readDirection)), phase \(vec(a.phaseDirection)), slice \(vec(a.sliceDirection))"))
        }
        for n in ds.notes { lines.append(("note", n)) }
        let w = (lines.map { $0.0.count }.max() ?? 0) + 2
        return ([path] + lines.map { "  " + $0.0.padding(toLength: w, withPad: " ", startingAt: 0) + $0.1 }).joined(separator: "\n")
    }

    /// What `--sequence auto` makes of the data.
    public static func sequenceKind(_ ds: RawDataset) -> String {
        let name = (ds.header.sequenceName + " " + ds.header.protocolName).lowercased()
        if name.contains("resolve") || ds.acquisitions.contains(where: { $0.index.segment > 0 }) { return "resolve (readout-segmented EPI)" }
        let reflected = ds.acquisitions.contains { $0.flags.contains(.isReverse) }
        if name.contains("zoom") || ds.header.phaseOversampling > 1.001 && reflected { return "zoomit (reduced-FOV EPI)" }
        if ds.header.trajectory == .epi || reflected { return "epi (single-shot EPI)" }
        if ds.header.trajectory != .cartesian { return "unknown (trajectory \(ds.header.trajectory.rawValue))" }
        if ds.header.encodedSpace.matrix.z > 1 { return "unknown (3D encoding, \(ds.header.encodedSpace.matrix.z) partitions)" }
        return "cartesian (one line per readout)"
    }

    static func fmt(_ x: Double) -> String { formatSignificantCore(x) }
    static func vec(_ v: SIMD3<Double>) -> String { "(\(String(format: "%.4f", v.x)), \(String(format: "%.4f", v.y)), \(String(format: "%.4f", v.z)))" }
}

/// Inputs and options of `cordq recon`.
public struct ReconRequest: Sendable {
    public var input: String
    public var output: String
    public var options = EPIReconOptions()
    public var gfactorOutput: String?
    /// Also write a PNG of the first volume's middle slice here.
    public var pngOutput: String?
    /// RESOLVE: 2D-navigator phase correction (false: the uncorrected baseline) and the choice
    /// among re-acquired shots by navigator consistency.
    public var resolveNavigator = true
    public var resolveSelectShots = true
    /// SMS separation (used when the data carry MultibandFactor > 1) and where to write its
    /// JSON report (leakage, g-factor per slice).
    public var sms = SMSReconOptions()
    public var smsReportOutput: String?
    public init(input: String, output: String) { self.input = input; self.output = output }
}

/// What `cordq recon` did.
public struct ReconRunReport: Sendable {
    public var recon: EPIReconReport
    public var outputs: [String]
    /// Ghost-to-signal ratio of the middle slice of the first volume.
    public var ghostToSignal: Double
    /// RESOLVE: segments, navigator and the per-shot quality record (also in OUT_resolve.json).
    public var resolve: ResolveReconReport? = nil
    /// SMS separation report (multiband data only).
    public var sms: SMSReport? = nil
}

public enum ReconPipeline {
    public static func run(_ r: ReconRequest) throws -> ReconRunReport {
        guard r.output.hasSuffix(".nii") || r.output.hasSuffix(".nii.gz") else {
            throw CordIOError.writeFailed(path: r.output, reason: "the output is a NIfTI file: its name ends in .nii or .nii.gz")
        }
        try PipelineInputs.refuseOverwrite(r.output, inputs: [r.input])
        let ds = try RawInput.read(r.input)
        let kind = RawInfo.sequenceKind(ds)
        let resolve = r.options.sequence == .resolve || (r.options.sequence == .auto && kind.hasPrefix("resolve"))
        switch r.options.sequence {
        case .resolve: break
        case .auto:
            if kind.hasPrefix("unknown") {
                throw CordError.invalidValue(what: r.input, detail: "unknown sequence: \(kind); `cordq recon` reconstructs 2D Cartesian single-shot or reduced-FOV EPI (and one-line-per-readout Cartesian data)")
            }
        case .epi, .zoomit: break
        }
        var options = r.options
        options.gFactor = r.gfactorOutput != nil
        var result: EPIReconResult
        var resolveReport: ResolveReconReport?
        // Multiband data: slice separation first (SMSReconstruction, SliceGRAPPA.swift).
        var smsReport: SMSReport?
        if r.smsReportOutput != nil && ds.header.multibandFactor <= 1 {
            throw CordError.invalidValue(what: r.input, detail: "--sms-report needs multiband data (MultibandFactor > 1 in the header's userParameters); this file has none")
        }
        if resolve {
            (result, resolveReport) = try ResolveRecon.run(ds, options: options, request: r)
        } else if ds.header.multibandFactor > 1 {
            let s = try SMSReconstruction.reconstruct(ds, options: options, sms: r.sms)
            result = s.epi; smsReport = s.sms
        } else {
            result = try EPIReconstruction.reconstruct(ds, options: options)
        }
        result.report.sequence = kind + (smsReport.map { " + SMS MB \($0.multibandFactor) (\($0.method))" } ?? "")
        // Reader notes that matter for the output (no bvec for a built-in table, geometry mismatch).
        result.report.warnings += ds.notes.filter { $0.contains("no bval/bvec") || $0.hasPrefix("WARNING") }
        let mag = result.image.map { ($0.real * $0.real + $0.imaginary * $0.imaginary).squareRoot() }
        let g = result.image.grid
        let mid = g.nz / 2
        let slice = Array(mag.data[(mid * g.nx * g.ny)..<((mid + 1) * g.nx * g.ny)])
        let gsr = EPIQuality.ghostToSignalRatio(slice, nx: g.nx, ny: g.ny).gsr

        let files = OutputFiles()
        var outputs: [String] = []
        let description = "cordq recon \(result.report.sequence)"
        if r.options.complexOutput {
            try NIfTIFile.write(result.image, to: try files.stage(r.output), datatype: .complex64, description: description)
        } else {
            try NIfTIFile.write(mag, to: try files.stage(r.output), datatype: .float32, description: description)
        }
        outputs.append(r.output)
        let base = r.output.hasSuffix(".nii.gz") ? String(r.output.dropLast(7)) : String(r.output.dropLast(4))
        let sidecar = sidecarJSON(ds, result)
        try TextFile.write(sidecar, to: try files.stage(base + ".json"))
        outputs.append(base + ".json")
        // Diffusion: FSL bval/bvec beside the image (directions from the patient frame, LPS,
        // to RAS world, then to the image frame as FSL defines it).
        if let enc = result.diffusion {
            let table = GradientTable(enc.map { GradientEntry(b: $0.b, direction: SIMD3(-$0.directionLPS.x, -$0.directionLPS.y, $0.directionLPS.z)) })
            try GradientFiles.write(table, grid: g, bval: try files.stage(base + ".bval"), bvec: try files.stage(base + ".bvec"))
            outputs += [base + ".bval", base + ".bvec"]
        }
        if let rep = resolveReport {
            try TextFile.write(try ResolveRecon.qualityJSON(rep), to: try files.stage(base + "_resolve.json"))
            outputs.append(base + "_resolve.json")
        }
        if let gp = r.gfactorOutput, let gmap = result.gFactor {
            try NIfTIFile.write(gmap, to: try files.stage(gp), datatype: .float32,
                                description: smsReport != nil ? "SMS slice-GRAPPA g-factor (pseudo-replica)" : ds.header.accelerationFactorPE > 1 ? "GRAPPA g-factor (pseudo-replica)" : "g-factor (R = 1)")
            outputs.append(gp)
        }
        if let sp = r.smsReportOutput, let rep = smsReport {
            try JSONFile.write(rep, to: try files.stage(sp))
            outputs.append(sp)
        }
        if let png = r.pngOutput {
            try BinaryFile.write(try magnitudePNG(slice, nx: g.nx, ny: g.ny, scale: 4), to: try files.stage(png))
            outputs.append(png)
        }
        try files.commit()
        return ReconRunReport(recon: result.report, outputs: outputs, ghostToSignal: gsr, resolve: resolveReport, sms: smsReport)
    }

    /// A grey-scale PNG of one magnitude slice (x to the right, y upward), windowed to the
    /// 99.5th percentile, each pixel drawn `scale`× `scale`.
    public static func magnitudePNG(_ slice: [Float], nx: Int, ny: Int, scale: Int) throws -> [UInt8] {
        let sorted = slice.sorted()
        let top = Double(sorted[min(sorted.count - 1, sorted.count * 995 / 1000)])
        var img = RGBImage(width: nx * scale, height: ny * scale)
        for y in 0..<ny {
            for x in 0..<nx {
                let v = top > 0 ? min(1, Double(slice[y * nx + x]) / top) : 0
                let b = UInt8(CheckedNumber.clamped(v * 255, .toNearestOrAwayFromZero, to: 0...255))
                img.fillRect(x: x * scale, y: (ny - 1 - y) * scale, width: scale, height: scale, RGB(b, b, b))
            }
        }
        return try PNGCodec.encode(img)
    }

    /// BIDS sidecar of the reconstructed series (times in seconds).
    static func sidecarJSON(_ ds: RawDataset, _ res: EPIReconResult) -> String {
        let h = ds.header
        var o: [(String, String)] = []
        func num(_ x: Double) -> String { formatSignificantCore(x) }
        func str(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
        if !h.systemVendor.isEmpty { o.append(("Manufacturer", str(h.systemVendor))) }
        if !h.systemModel.isEmpty { o.append(("ManufacturersModelName", str(h.systemModel))) }
        if let b = h.fieldStrengthTesla { o.append(("MagneticFieldStrength", num(b))) }
        if !h.sequenceName.isEmpty { o.append(("SequenceName", str(h.sequenceName))) }
        if !h.protocolName.isEmpty { o.append(("ProtocolName", str(h.protocolName))) }
        if let te = h.echoTimeMs { o.append(("EchoTime", num(te / 1000))) }
        if let tr = h.repetitionTimeMs { o.append(("RepetitionTime", num(tr / 1000))) }
        let r = max(1, h.accelerationFactorPE)
        if let es = res.echoSpacingSeconds {
            let eff = es / Double(r)
            o.append(("EffectiveEchoSpacing", num(eff)))
            o.append(("TotalReadoutTime", num(eff * Double(res.reconPhaseLines - 1))))
        }
        o.append(("PhaseEncodingDirection", str(res.phaseEncodingSign >= 0 ? "j" : "j-")))
        o.append(("SliceTiming", "[" + res.sliceTiming.map(num).joined(separator: ", ") + "]"))
        o.append(("MultibandAccelerationFactor", "\(h.multibandFactor)"))
        o.append(("ParallelReductionFactorInPlane", "\(r)"))
        o.append(("PartialFourier", num(res.report.partialFourier)))
        o.append(("ReconstructionMethod", str("CordQ \(CordQVersion.string): \(res.report.sequence); ghost \(res.report.ghostPhases.first?.source ?? "none"); partial Fourier \(res.report.partialFourierMethod); coils \(res.report.coilCombination); pre-whitening \(res.report.noiseSource)")))
        o.append(("RawDataFormat", str(ds.source.rawValue)))
        return "{\n" + o.map { "  \"\($0.0)\": \($0.1)" }.joined(separator: ",\n") + "\n}\n"
    }
}

/// `cordq phantom kspace OUTDIR`: a simulated EPI acquisition written as ISMRMRD with its truth.
public enum KSpacePhantomExport {
    /// Writes OUTDIR/epi.h5 (ISMRMRD), OUTDIR/truth_combined.nii.gz (|ρ|·√(SᴴΨ⁻¹S), the
    /// SNR-optimal combined magnitude in whitened units), OUTDIR/truth_object.nii.gz (|ρ|) and,
    /// when accelerated, OUTDIR/truth_sense_gfactor.nii.gz; all at once or not at all.
    public static func write(_ s: EPISimulationSettings, to dir: String) throws -> [String] {
        let sim = try EPIKSpaceSimulator.simulate(s)
        let grid = Grid(nx: s.nx, ny: s.ny, nz: 1, spacing: SIMD3(s.fieldOfView / Double(s.nx), s.fieldOfView / Double(s.ny), 5))
        let truth = [("truth_combined", sim.combinedTruth), ("truth_object", sim.objectMagnitude)]
            + (s.acceleration > 1 ? [("truth_sense_gfactor", sim.senseGFactor)] : [])
        return try writeRawWithTruth(sim.raw, name: "epi.h5", truth: truth, grid: grid, to: dir, description: "cordq phantom kspace truth")
    }

    /// OUTDIR/`name` (ISMRMRD) and one float32 NIfTI per truth map on `grid`, staged and
    /// committed together: all at once or not at all. Returns the paths written.
    static func writeRawWithTruth(_ raw: RawDataset, name: String, truth: [(String, [Double])], grid: Grid, to dir: String,
                                  description: String) throws -> [String] {
        let files = OutputFiles()
        let h5 = dir + "/" + name
        try ISMRMRDFile.write(raw, to: try files.stage(h5))
        var out = [h5]
        for (map, values) in truth {
            let p = dir + "/" + map + ".nii.gz"
            try NIfTIFile.write(Volume<Float>(grid: grid, frames: 1, exactly: values.map(Float.init)), to: try files.stage(p),
                                datatype: .float32, description: description)
            out.append(p)
        }
        try files.commit()
        return out
    }
}
