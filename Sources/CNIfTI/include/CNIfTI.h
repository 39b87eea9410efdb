// Umbrella header for Debian's nifticlib (NIfTI-1 and NIfTI-2 through nifti2_io), zlib, and
// libdeflate (whole-buffer gzip, faster than zlib for complete files).
#ifndef CNIFTI_H
#define CNIFTI_H
#include <nifti/nifti2_io.h>
#include <zlib.h>
#include <libdeflate.h>
#endif
