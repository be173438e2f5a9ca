// CNifti — libnifti2 (reads NIfTI-1 and NIfTI-2) and zlib for Swift.
//
// The helpers below exist only where Swift cannot reach a C construct comfortably (nested
// fixed-size matrices, a byte-swapped header union). They hold no policy: every check and
// every error message lives in Core/IO.
#ifndef CNIFTI_H
#define CNIFTI_H

#include <stdint.h>
#include <nifti/nifti2_io.h>
#include <zlib.h>

/// The fields of a NIfTI-1 or NIfTI-2 header that the reader validates before trusting
/// libnifti with it, already converted to the machine's byte order.
typedef struct {
    int version;          ///< 1 or 2; 0 when the bytes are not a single-file NIfTI header
    int swapped;          ///< 1 when the file is in the other byte order than this machine
    int64_t dim[8];       ///< dim[0] = rank, dim[1...7] = sizes, as written (not "fixed")
    int datatype;         ///< NIFTI_TYPE_* / DT_* code
    int bitpix;
    double pixdim[4];     ///< pixdim[0] = qfac, pixdim[1...3] = voxel sizes, as written
    double vox_offset;    ///< byte offset of the voxel data in the (decompressed) file
    double scl_slope;
    double scl_inter;
    int qform_code;       ///< NIFTI_XFORM_* code as written (libnifti maps codes <= 0 to 0)
    int sform_code;       ///< NIFTI_XFORM_* code as written
    int header_size;      ///< 348 or 540
    char magic[8];        ///< "n+1", "ni1", "n+2", ... (NUL terminated)
} cnifti_raw_header;

/// Parses the first `nbytes` bytes of a file as a NIfTI-1 or NIfTI-2 header without
/// validating it. Returns 0 on success, -1 when the bytes are too short or the size field
/// matches neither version in either byte order.
int cnifti_parse_raw_header(const void *bytes, int64_t nbytes, cnifti_raw_header *out);

/// Builds a header-only `nifti_image` (no data) from the same bytes through libnifti's own
/// converter, which computes the qform/sform matrices. NULL when libnifti refuses the header.
nifti_image *cnifti_image_from_header(const void *bytes, int64_t nbytes, const char *filename);

/// Row-major copies of the 4×4 qto_xyz / sto_xyz matrices (16 doubles).
void cnifti_get_qto_xyz(const nifti_image *nim, double out[16]);
void cnifti_get_sto_xyz(const nifti_image *nim, double out[16]);
/// Sets sto_xyz (and its inverse) from 16 row-major doubles.
void cnifti_set_sto_xyz(nifti_image *nim, const double in[16]);
/// Recomputes qto_xyz (and its inverse) from the quaternion fields, pixdim and qfac.
void cnifti_update_qto_xyz(nifti_image *nim);
/// Orientation codes (NIFTI_L2R ...) of the three voxel axes for a row-major 4×4 matrix.
void cnifti_orientation(const double matrix[16], int codes[3]);

#endif
