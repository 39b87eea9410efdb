// The `cordq` command tree. Each command parses its arguments, calls one library function
// and reports; no algorithm lives here.
import ArgumentParser
import CordCore
import CordIO
import CordPipeline

/// `cordq <group> <command>`: quantitative MRI of the spinal cord.
public struct CordQCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cordq",
        abstract: "Quantitative MRI of the spinal cord: per-level, per-tract FA, MD, μFA, MTR, MTsat and cord area.",
        discussion: """
        Units throughout: b-values in s/mm², diffusivities in µm²/ms, MTR/MTsat in percent units \
        (p.u.), T1 in seconds, lengths in mm, areas in mm². Orientation codes follow the Spinal Cord \
        Toolbox convention (letters say where each voxel axis starts; RPI = i from right to left, \
        j from posterior to anterior, k from inferior to superior).
        """,
        version: CordQVersion.string,
        subcommands: [
            InfoCommand.self,
            PhantomGroupCommand.self,
            LongitudinalGroupCommand.self,
            ProtocolCommand.self,
            MTCommand.self,
            DenoiseCommand.self,
            DWICommand.self,
            EPICommand.self,
            SegCommand.self,
            RegCommand.self,
            AtlasCommand.self,
            MetricsCommand.self,
            DbCommand.self,
            BiomarkersCommand.self,
            ProcessCommand.self,
            BatchCommand.self,
            QCGroupCommand.self,
            ReconCommand.self,
        ]
    )
    public init() {}

    /// `main()` inside one `InputGuard` scope: every file the command reads is an input it
    /// must never replace (issue #23), whatever output path it is given.
    public static func mainGuarded() {
        InputGuard.scope { main() }
    }
}

/// `cordq info FILE…`
public struct InfoCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Describe NIfTI images: grid, voxel size, orientation, datatype and scaling, transform, values, gradients, sidecar.",
        discussion: """
        Like mrinfo or fslhd, but readable. The voxel→world transform is the sform when its code \
        is set, else the qform (NIfTI-1 methods 3 and 2). bval/bvec beside a 4D image (dwi.bval, or \
        bvals.txt in SCT folders) are read in either layout (3×N or N×3) and summarised per shell; \
        a BIDS JSON sidecar beside the image is summarised in ms and degrees.
        """)
    @Argument(help: "NIfTI files (.nii or .nii.gz), or raw k-space files (Siemens twix .dat: sequence, matrix, coils, counters, flags seen).")
    public var files: [String]

    public init() {}
    public func run() throws {
        var failed = 0
        for (n, f) in files.enumerated() {
            do {
                print((n > 0 ? "\n" : "") + (try RawInput.isRaw(f) ? RawInfo.describe(f) : ImageInfo.describe(f)))
            } catch {
                writeStandardError("cordq info: \(error)\n")
                failed += 1
            }
        }
        if failed > 0 { throw ExitCode(1) }
    }
}
