import CordCLI
import CordCore

// OpenBLAS single-threaded and its load-time worker threads stopped before anything runs
// (they would spin on a core for about 0.1 s; see NumericLibraries).
NumericLibraries.configure()
CordQCommand.mainGuarded()
