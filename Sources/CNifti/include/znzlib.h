// Forwarder: nifti2_io.h includes <znzlib.h> with angle brackets; the header lives in
// /usr/include/nifti, which no pkg-config file puts on the search path (PLATFORM-NOTES §1a).
#include <nifti/znzlib.h>
