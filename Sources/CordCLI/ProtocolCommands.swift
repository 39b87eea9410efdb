// `cordq protocol list | show | check`: acquisition protocol cards (protocols/README.md).
import ArgumentParser
import CordCore
import CordPipeline

private let lookupHelp = """
Cards are YAML files (format: protocols/README.md). A NAME is looked up as NAME.yaml in: \
$CORDQ_PROTOCOLS when set; the first protocols/ folder found walking up from the cordq \
executable; ./protocols. A value containing '/' or ending in .yaml is read as a file path.
"""

/// `cordq protocol …`
public struct ProtocolCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "protocol",
        abstract: "Acquisition protocol cards: list them, show one, check a subject against one.",
        discussion: lookupHelp,
        subcommands: [ProtocolListCommand.self, ProtocolShowCommand.self, ProtocolCheckCommand.self])
    public init() {}
}

/// `cordq protocol list`
public struct ProtocolListCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the protocol cards found, one line each (invalid cards with their error; exit status 2 if any).",
        discussion: lookupHelp)
    public init() {}
    public func run() throws {
        let (text, allValid) = try ProtocolLibrary.standard.list()
        print(text)
        if !allValid { throw ExitCode(2) }
    }
}

/// `cordq protocol show NAME`
public struct ProtocolShowCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Validate a card and print exactly what it checks: series, parameters with value ± tolerance, shells, processing, maps.",
        discussion: """
        Units are in the card keys: tr_s/te_s/ti_s/duration_s in seconds, voxel_mm in mm, flip_deg in \
        degrees, b_s_per_mm2 in s/mm², field_t in tesla. A parameter written value ± tolerance matches a \
        found x when |x − value| <= tolerance (absolute, in the key's unit); a bare number means tolerance 0. \
        An invalid card prints file:line:column and the key at fault, exit status 2.

        \(lookupHelp)
        """)
    @Argument(help: "Card NAME (e.g. spine-generic-siemens) or path to a .yaml file.")
    public var name: String
    public init() {}
    public func run() throws {
        do { print(try ProtocolLibrary.standard.show(name)) } catch {
            writeStandardError("cordq protocol show: \(error)\n")
            throw ExitCode(2)
        }
    }
}

/// `cordq protocol check SUBJECT_DIR --protocol NAME_OR_FILE`
public struct ProtocolCheckCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a BIDS subject folder against a card: series by series, found vs expected, missing, not in card, verdict.",
        discussion: """
        Reads the subject's sidecars (with BIDS inheritance), NIfTI headers and bval/bvec; a folder of \
        sidecars without images is checked too (header-only values are then reported unknown). A found \
        value x matches value ± tolerance when |x − value| <= tolerance, in the unit of the card key \
        (_s seconds, _mm mm, _deg degrees, b in s/mm², _t tesla). Unknown values (no sidecar key holds \
        them) are reported, never deviations. Diffusion series with multiband >= 4 get a warning: the \
        seed research found cord DWI image quality breaks down there.

        Exit status: 0 = processing can go ahead (every required series present and matched, \
        manufacturer and field strength as carded; warnings allowed); 1 = blocked (the report says why); \
        2 = the card is invalid or the subject folder cannot be read.

        \(lookupHelp)
        """)
    @Argument(help: "The subject folder (sub-<label>, with or without ses-* levels).")
    public var subject: String
    @Option(name: .customLong("protocol"), help: "Card NAME or path to a .yaml file.")
    public var protocolName: String
    public init() {}
    public func run() throws {
        let report: ProtocolReport
        do { report = try ProtocolLibrary.standard.check(subject: subject, protocol: protocolName) } catch {
            writeStandardError("cordq protocol check: \(error)\n")
            throw ExitCode(2)
        }
        print(report.text)
        if !report.canProceed { throw ExitCode(1) }
    }
}
