// Protocol cards (CordProtocol) are part of the pipeline's vocabulary: `cordq process` is
// driven by them and reports their checks. Re-exported so the CLI and tests that import
// CordPipeline see ProtocolCard, ProtocolReport and the rest without a new import.
@_exported import CordProtocol
