// The C target exists only so that its include/ directory (module map, umbrella header and
// the znzlib.h forwarder) is put on the search path of every target that depends on it.
#include "CNIfTI.h"
int cnifti_compiled_with_zlib(void) { return nifti_compiled_with_zlib(); }
