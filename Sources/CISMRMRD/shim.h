// libismrmrd 1.8 C API (Debian libismrmrd-dev): datasets, acquisitions, header XML.
// The acquisition data are C99 `float complex`, which Swift does not import: the helpers
// below expose them as interleaved floats.
#include <ismrmrd/ismrmrd.h>
#include <ismrmrd/dataset.h>

static inline float *cordq_ismrmrd_data(ISMRMRD_Acquisition *acq) { return (float *)acq->data; }
static inline float *cordq_ismrmrd_traj(ISMRMRD_Acquisition *acq) { return acq->traj; }
/// HDF5 prints its error stack on every failed call; CordQ reports errors itself.
static inline void cordq_ismrmrd_silence(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }
