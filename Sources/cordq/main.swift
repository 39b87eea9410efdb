import CordCLI
#if canImport(Glibc)
import Glibc

// OpenBLAS starts its worker threads when the library loads, before any Swift code runs,
// and they spin on the cores for about 0.1 s; CordQ parallelises over voxels itself and
// keeps BLAS single-threaded (NumericLibraries). Without OPENBLAS_NUM_THREADS the process
// sets it and re-executes itself once, so those threads are never created.
if getenv("OPENBLAS_NUM_THREADS") == nil {
    setenv("OPENBLAS_NUM_THREADS", "1", 1)
    execv("/proc/self/exe", CommandLine.unsafeArgv)  // returns only on failure: carry on
}
#endif

CordQCommand.main()
