// Private to CWinograd: the tiling of the output into segments and the input transform, shared
// by the forward pass (winograd.c) and the weight gradient (weight_gradient.c).
#ifndef CWINOGRAD_TILING_H
#define CWINOGRAD_TILING_H

#include "CWinograd.h"

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#define TARGET __attribute__((target("avx512f")))
#define TARGET_BF16 __attribute__((target("avx512f,avx512bw,avx512bf16")))
#define T CWINO_SEGMENT_TILES
#define KB CWINO_CHANNEL_BLOCK
#define VECTORS (T / 16)
/// Floats between consecutive positions ξ of V (C·T + 16) and of M (KB·T + 16): the extra 64 bytes
/// keep the 64 positions of one channel out of a single L1 set (at C·T floats they would be a
/// multiple of 4 KiB apart).
#define V_STRIDE(C) ((size_t)(C) * T + 16)
#define M_STRIDE ((size_t)KB * T + 16)

static inline int tiles(int size) { return (size + 1) / 2; }

/// Tiles of a half vector: a run of up to 8 tiles along x in one (tile-z, tile-y) row, whose
/// 16 output values along x are one vector store.
#define HALF 8
#define HALVES (T / HALF)

static inline int halves_per_row(const cwino_shape *s) { return (tiles(s->width) + HALF - 1) / HALF; }

static inline int half_count(const cwino_shape *s) { return tiles(s->depth) * tiles(s->height) * halves_per_row(s); }

/// Where one half of a segment lies: tiles [x0, x0 + count) of tile row (tz, ty); count 0 for
/// the unused halves after the last.
typedef struct {
    int tz, ty, x0, count;
} half_t;

static inline half_t locate_half(const cwino_shape *s, int index) {
    half_t h = {0, 0, 0, 0};
    if (index >= half_count(s)) return h;
    const int perRow = halves_per_row(s), rows = tiles(s->height), tilesX = tiles(s->width);
    const int row = index / perRow;
    h.x0 = (index % perRow) * HALF;
    h.ty = row % rows;
    h.tz = row / rows;
    h.count = tilesX - h.x0 < HALF ? tilesX - h.x0 : HALF;
    return h;
}

/// Bᵀ along one axis of four vectors, in place.
TARGET static inline void input_transform4(__m512 *d0, __m512 *d1, __m512 *d2, __m512 *d3) {
    const __m512 a = _mm512_sub_ps(*d0, *d2), b = _mm512_add_ps(*d1, *d2);
    const __m512 c = _mm512_sub_ps(*d2, *d1), d = _mm512_sub_ps(*d1, *d3);
    *d0 = a; *d1 = b; *d2 = c; *d3 = d;
}

/// The transformed input of one channel of a segment, position ξ's T tiles at target + ξ·stride.
/// Lane t of vector v is tile t mod 8 of half 2v + t / 8; half h's tile i covers input x from
/// 2(x0 + i) − 1.
TARGET static inline void transform_input_channel(const cwino_shape *s, const float *channel, const half_t *halves, float *target,
                                           size_t stride) {
    const int H = s->height, W = s->width, D = s->depth;
    __m512 t[4][4][4][VECTORS];
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    // Per half, the row values it reads: value j (j < 2·count + 2) is input x = 2·x0 − 1 + j.
    // Lanes outside [0, W) load as zeros (masked loads do not touch them): loads at offset 0 and
    // at offset 2 (for the tiles' right neighbours).
    __mmask16 masks[HALVES][2];
    for (int h = 0; h < HALVES; h++) {
        const int xs = 2 * halves[h].x0 - 1, needed = halves[h].count ? 2 * halves[h].count + 2 : 0;
        const int from = xs < 0 ? -xs : 0, to = xs + needed > W ? W - xs : needed;
        for (int q = 0; q < 2; q++) {
            unsigned bits = 0;
            for (int lane = 0; lane < 16; lane++)
                if (2 * q + lane >= from && 2 * q + lane < to) bits |= 1u << lane;
            masks[h][q] = (__mmask16)bits;
        }
    }
    for (int dz = 0; dz < 4; dz++)
        for (int dy = 0; dy < 4; dy++)
            for (int v = 0; v < VECTORS; v++) {
                __m512 loaded[2][2];  // [part][offset 0 or 2]
                for (int part = 0; part < 2; part++) {
                    const half_t *h = &halves[2 * v + part];
                    const int z = 2 * h->tz - 1 + dz, y = 2 * h->ty - 1 + dy;
                    if (h->count == 0 || z < 0 || z >= D || y < 0 || y >= H) {
                        loaded[part][0] = loaded[part][1] = _mm512_setzero_ps();
                        continue;
                    }
                    const float *source = channel + ((ptrdiff_t)z * H + y) * W + 2 * h->x0 - 1;
                    loaded[part][0] = _mm512_maskz_loadu_ps(masks[2 * v + part][0], source);
                    loaded[part][1] = _mm512_maskz_loadu_ps(masks[2 * v + part][1], source + 2);
                    // The next tile row (ty + 1) reads rows y + 2 and y + 3 anew: fetch them now,
                    // since runs of 18 values are too short for the hardware prefetcher.
                    if (dy >= 2 && y + 2 < H) _mm_prefetch((const char *)(source + 2 * W), _MM_HINT_T0);
                }
                // Lanes 0–7 from half 2v, 8–15 from half 2v + 1: evens and odds of each.
                const __m512 e = _mm512_permutex2var_ps(loaded[0][0], even, loaded[1][0]);
                const __m512 o = _mm512_permutex2var_ps(loaded[0][0], odd, loaded[1][0]);
                const __m512 e1 = _mm512_permutex2var_ps(loaded[0][1], even, loaded[1][1]);
                const __m512 o1 = _mm512_permutex2var_ps(loaded[0][1], odd, loaded[1][1]);
                t[dz][dy][0][v] = _mm512_sub_ps(e, e1);
                t[dz][dy][1][v] = _mm512_add_ps(o, e1);
                t[dz][dy][2][v] = _mm512_sub_ps(e1, o);
                t[dz][dy][3][v] = _mm512_sub_ps(o, o1);
            }
    for (int v = 0; v < VECTORS; v++) {
        for (int dz = 0; dz < 4; dz++)
            for (int dx = 0; dx < 4; dx++)
                input_transform4(&t[dz][0][dx][v], &t[dz][1][dx][v], &t[dz][2][dx][v], &t[dz][3][dx][v]);
        for (int dy = 0; dy < 4; dy++)
            for (int dx = 0; dx < 4; dx++)
                input_transform4(&t[0][dy][dx][v], &t[1][dy][dx][v], &t[2][dy][dx][v], &t[3][dy][dx][v]);
        for (int xi = 0; xi < 64; xi++)
            _mm512_store_ps(target + xi * stride + 16 * v, t[xi >> 4][(xi >> 2) & 3][xi & 3][v]);
    }
}

#endif
