// The slice-wise engine (SliceRegistration, SliceTransform, SliceRegistrationOptions) moved
// down to CordAlign so multiband motion correction and distortion correction can share it
// without importing CordRegistration. Re-exported so code that imports CordRegistration
// keeps seeing it unchanged.
@_exported import CordAlign
