// CordIO's readers return CordCore's data types (volumes, grids, NIfTI headers, BIDS
// sidecars, subject inventories, `CordIOError`): re-exported so a module that reads files
// through CordIO sees them without importing CordCore too.
@_exported import CordCore
