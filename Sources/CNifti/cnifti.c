#include "CNifti.h"
#include <string.h>

/// The fields `cnifti_raw_header` keeps, from either header version (same names, other widths).
#define COPY_VALIDATED_FIELDS(h, out) do {                                  \
        for (int i = 0; i < 8; i++) (out)->dim[i] = (h).dim[i];              \
        (out)->datatype = (h).datatype;                                      \
        (out)->bitpix = (h).bitpix;                                          \
        for (int i = 0; i < 4; i++) (out)->pixdim[i] = (h).pixdim[i];        \
        (out)->vox_offset = (double)(h).vox_offset;                          \
        (out)->scl_slope = (h).scl_slope;                                    \
        (out)->scl_inter = (h).scl_inter;                                    \
        (out)->qform_code = (h).qform_code;                                  \
        (out)->sform_code = (h).sform_code;                                  \
        memcpy((out)->magic, (h).magic, 4);                                  \
        (out)->magic[4] = 0;                                                 \
    } while (0)

static int64_t byteswap32(int32_t v) { return (int32_t)__builtin_bswap32((uint32_t)v); }

int cnifti_parse_raw_header(const void *bytes, int64_t nbytes, cnifti_raw_header *out) {
    memset(out, 0, sizeof(*out));
    if (nbytes < 348) return -1;
    int32_t size;
    memcpy(&size, bytes, 4);
    int32_t swapped_size = (int32_t)byteswap32(size);
    if (size == 348 || swapped_size == 348) {
        nifti_1_header h;
        memcpy(&h, bytes, sizeof h);
        out->swapped = (size != 348);
        if (out->swapped) swap_nifti_header(&h, 1);
        out->version = 1;
        out->header_size = 348;
        COPY_VALIDATED_FIELDS(h, out);
        return 0;
    }
    if ((size == 540 || swapped_size == 540) && nbytes >= 540) {
        nifti_2_header h;
        memcpy(&h, bytes, sizeof h);
        out->swapped = (size != 540);
        if (out->swapped) swap_nifti_header(&h, 2);
        out->version = 2;
        out->header_size = 540;
        COPY_VALIDATED_FIELDS(h, out);
        return 0;
    }
    return -1;
}

nifti_image *cnifti_image_from_header(const void *bytes, int64_t nbytes, const char *filename) {
    cnifti_raw_header raw;
    if (cnifti_parse_raw_header(bytes, nbytes, &raw) != 0) return NULL;
    if (raw.version == 1) {
        nifti_1_header h;
        memcpy(&h, bytes, sizeof h);
        return nifti_convert_n1hdr2nim(h, filename);
    }
    nifti_2_header h;
    memcpy(&h, bytes, sizeof h);
    return nifti_convert_n2hdr2nim(h, filename);
}

static void copy_out(const nifti_dmat44 *m, double out[16]) {
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) out[r * 4 + c] = m->m[r][c];
}

void cnifti_get_qto_xyz(const nifti_image *nim, double out[16]) { copy_out(&nim->qto_xyz, out); }
void cnifti_get_sto_xyz(const nifti_image *nim, double out[16]) { copy_out(&nim->sto_xyz, out); }

void cnifti_set_sto_xyz(nifti_image *nim, const double in[16]) {
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) nim->sto_xyz.m[r][c] = in[r * 4 + c];
    nim->sto_ijk = nifti_dmat44_inverse(nim->sto_xyz);
}

void cnifti_update_qto_xyz(nifti_image *nim) {
    nim->qto_xyz = nifti_quatern_to_dmat44(nim->quatern_b, nim->quatern_c, nim->quatern_d,
                                           nim->qoffset_x, nim->qoffset_y, nim->qoffset_z,
                                           nim->dx, nim->dy, nim->dz, nim->qfac);
    nim->qto_ijk = nifti_dmat44_inverse(nim->qto_xyz);
}

void cnifti_orientation(const double matrix[16], int codes[3]) {
    nifti_dmat44 m;
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) m.m[r][c] = matrix[r * 4 + c];
    nifti_dmat44_to_orientation(m, &codes[0], &codes[1], &codes[2]);
}
