// Shim only: the AVX-512 kernel behind CWinograd.h.
//
// F(2,3) per axis: a 4-voxel input tile d and a 3-tap kernel g give 2 outputs
//   y = Aᵀ [(G g) ⊙ (Bᵀ d)],  Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],
//   G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],  Aᵀ = [1 1 1 0; 0 1 −1 −1],
// and in 3D the same along z, y and x: 64 transformed positions ξ per 4×4×4 input tile. Summed
// over input channels, the products are 64 small matrix products per segment,
//   M[ξ][k][t] = Σ_c U[ξ][c][k] · V[ξ][c][t]   (t: the segment's tiles, one vector lane each),
// and each output tile is Aᵀ M A per axis.
//
// Per segment: the input transform V (all input channels, 64 × C × 32 floats, about 0.5 MiB at
// C = 64: it stays in L2), then for each block of 8 output channels the 64 products into a 64 KiB
// buffer and straight away their output transform, so M never exists whole.
//
// bfloat16 (`shape.bfloat16`): the transforms stay float32; V and U are rounded to bfloat16 and
// laid out in pairs of input channels, and the products are `vdpbf16ps` (two multiply-adds per
// lane, float32 sums), so the products take half the instructions.
#include "tiling.h"

int cwino_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? 1 : 0;
}

int cwino_available_bfloat16(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512bf16") ? 1 : 0;
}

/// Input-channel pairs of the bfloat16 layout (an odd last channel is paired with zeros).
static int pairs(const cwino_shape *s) { return (s->input_channels + 1) / 2; }

/// Output channels rounded up to a whole block: the transformed weights of the extra ones are
/// zero, and their outputs are not written.
static int padded_outputs(const cwino_shape *s) { return (s->output_channels + KB - 1) / KB * KB; }

size_t cwino_transformed_weight_count(const cwino_shape *s) {
    return (size_t)64 * s->input_channels * padded_outputs(s);
}

int cwino_segment_count(const cwino_shape *s) { return (half_count(s) + HALVES - 1) / HALVES; }

size_t cwino_scratch_count(const cwino_shape *s) {
    // V (float32, or bfloat16 pairs in at most as much room), M, the bfloat16 staging of one
    // channel pair, and room to align to 64 bytes.
    return 64 * V_STRIDE(s->input_channels) + 64 * M_STRIDE + 64 * 2 * T + 16;
}

/// Rounds a float to bfloat16 (to nearest, ties to even; NaN stays NaN).
static uint16_t bfloat16(float value) {
    uint32_t bits;
    __builtin_memcpy(&bits, &value, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x40);
    return (uint16_t)((bits + 0x7fffu + ((bits >> 16) & 1)) >> 16);
}

/// U[ξ][c][k] (float32) → in place, U[ξ][p][k] as one 32-bit word per input-channel pair p: the
/// bfloat16 of channel 2p in the low half, of 2p + 1 (or 0) in the high half. Pair (ξ, p) is
/// written at or before where rows (ξ, 2p) and (ξ, 2p + 1) were read, and before any later row,
/// so copying those two rows first makes it safe.
static void pack_weight_pairs(const cwino_shape *s, float *transformed) {
    const int C = s->input_channels, K = padded_outputs(s), P = pairs(s);
    uint32_t *packed = (uint32_t *)transformed;
    float rows[2][512];
    for (int xi = 0; xi < 64; xi++)
        for (int p = 0; p < P; p++)
            for (int k0 = 0; k0 < K; k0 += 512) {
                const int n = K - k0 < 512 ? K - k0 : 512;
                for (int half = 0; half < 2; half++)
                    for (int k = 0; k < n; k++)
                        rows[half][k] = 2 * p + half < C ? transformed[((size_t)xi * C + 2 * p + half) * K + k0 + k] : 0;
                for (int k = 0; k < n; k++)
                    packed[((size_t)xi * P + p) * K + k0 + k] = (uint32_t)bfloat16(rows[0][k]) | (uint32_t)bfloat16(rows[1][k]) << 16;
            }
}

/// Output channels transformed together (the innermost, vectorized loop).
#define WEIGHT_LANES 16

TARGET void cwino_transform_weights(const cwino_shape *s, const float *weight, float *transformed) {
    const int C = s->input_channels, outputs = s->output_channels, K = padded_outputs(s);
    static const float G[4][3] = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};
    for (int c = 0; c < C; c++)
        for (int k0 = 0; k0 < K; k0 += WEIGHT_LANES) {
            const int n = K - k0 < WEIGHT_LANES ? K - k0 : WEIGHT_LANES;
            float g[27][WEIGHT_LANES], a[4][3][3][WEIGHT_LANES], b[4][4][3][WEIGHT_LANES];
            for (int q = 0; q < 27; q++)
                for (int k = 0; k < n; k++) g[q][k] = k0 + k < outputs ? weight[((size_t)(k0 + k) * C + c) * 27 + q] : 0;
            for (int i = 0; i < 4; i++)  // along z
                for (int j = 0; j < 3; j++)
                    for (int l = 0; l < 3; l++)
                        for (int k = 0; k < n; k++)
                            a[i][j][l][k] = G[i][0] * g[j * 3 + l][k] + G[i][1] * g[9 + j * 3 + l][k] + G[i][2] * g[18 + j * 3 + l][k];
            for (int i = 0; i < 4; i++)  // along y
                for (int j = 0; j < 4; j++)
                    for (int l = 0; l < 3; l++)
                        for (int k = 0; k < n; k++)
                            b[i][j][l][k] = G[j][0] * a[i][0][l][k] + G[j][1] * a[i][1][l][k] + G[j][2] * a[i][2][l][k];
            for (int i = 0; i < 4; i++)  // along x
                for (int j = 0; j < 4; j++)
                    for (int l = 0; l < 4; l++) {
                        float *target = transformed + ((size_t)(i * 16 + j * 4 + l) * C + c) * K + k0;
                        for (int k = 0; k < n; k++) target[k] = G[l][0] * b[i][j][0][k] + G[l][1] * b[i][j][1][k] + G[l][2] * b[i][j][2][k];
                    }
        }
    if (s->bfloat16) pack_weight_pairs(s, transformed);
}

/// M[ξ][j][t] = Σ_c U[ξ][c][k0 + j] · V[ξ][c][t] for j < KB.
TARGET static void products(const cwino_shape *s, const float *V, const float *U, int k0, float *M) {
    const int C = s->input_channels, K = padded_outputs(s);
    for (int xi = 0; xi < 64; xi++) {
        __m512 acc[KB][VECTORS];
        for (int j = 0; j < KB; j++)
            for (int v = 0; v < VECTORS; v++) acc[j][v] = _mm512_setzero_ps();
        const float *u = U + (size_t)xi * C * K + k0;
        const float *vrow = V + xi * V_STRIDE(C);
        for (int c = 0; c < C; c++) {
            __m512 x[VECTORS];
            for (int v = 0; v < VECTORS; v++) x[v] = _mm512_load_ps(vrow + (size_t)c * T + 16 * v);
            const float *uc = u + (size_t)c * K;
            for (int j = 0; j < KB; j++) {
                const __m512 w = _mm512_set1_ps(uc[j]);
                for (int v = 0; v < VECTORS; v++) acc[j][v] = _mm512_fmadd_ps(w, x[v], acc[j][v]);
            }
        }
        for (int j = 0; j < KB; j++)
            for (int v = 0; v < VECTORS; v++) _mm512_store_ps(M + xi * M_STRIDE + (size_t)j * T + 16 * v, acc[j][v]);
    }
}

/// Pair p of the bfloat16 V from the float32 transforms of its two channels (`staging`:
/// [ξ][channel 2p or 2p + 1][T]): each 32-bit lane holds one tile's two channel values.
TARGET_BF16 static void pack_input_pair(const float *staging, uint32_t *V, int P, int p) {
    // cvtne2ps(b, a) gives a's 16 values then b's; this order interleaves them: a0 b0 a1 b1 …
    const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                                23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    for (int xi = 0; xi < 64; xi++)
        for (int v = 0; v < VECTORS; v++) {
            const float *pair = staging + (size_t)xi * 2 * T + 16 * v;
            const __m512bh rounded = _mm512_cvtne2ps_pbh(_mm512_load_ps(pair + T), _mm512_load_ps(pair));
            _mm512_store_si512(V + xi * V_STRIDE(P) + (size_t)p * T + 16 * v,
                               _mm512_permutexvar_epi16(interleave, (__m512i)rounded));
        }
}

/// The bfloat16 `products`: M[ξ][j][t] = Σ_p U[ξ][p][k0 + j] · V[ξ][p][t], two channels per
/// `vdpbf16ps` lane, float32 sums.
TARGET_BF16 static void products_bfloat16(const cwino_shape *s, const uint32_t *V, const uint32_t *U, int k0, float *M) {
    const int P = pairs(s), K = padded_outputs(s);
    for (int xi = 0; xi < 64; xi++) {
        __m512 acc[KB][VECTORS];
        for (int j = 0; j < KB; j++)
            for (int v = 0; v < VECTORS; v++) acc[j][v] = _mm512_setzero_ps();
        const uint32_t *u = U + (size_t)xi * P * K + k0;
        const uint32_t *vrow = V + xi * V_STRIDE(P);
        for (int p = 0; p < P; p++) {
            __m512bh x[VECTORS];
            for (int v = 0; v < VECTORS; v++) x[v] = (__m512bh)_mm512_load_si512(vrow + (size_t)p * T + 16 * v);
            const uint32_t *up = u + (size_t)p * K;
            for (int j = 0; j < KB; j++) {
                const __m512bh w = (__m512bh)_mm512_set1_epi32((int)up[j]);
                for (int v = 0; v < VECTORS; v++) acc[j][v] = _mm512_dpbf16_ps(acc[j][v], w, x[v]);
            }
        }
        for (int j = 0; j < KB; j++)
            for (int v = 0; v < VECTORS; v++) _mm512_store_ps(M + xi * M_STRIDE + (size_t)j * T + 16 * v, acc[j][v]);
    }
}

/// Aᵀ along one axis: two outputs from four vectors.
TARGET static inline void output_transform4(__m512 m0, __m512 m1, __m512 m2, __m512 m3, __m512 *y0, __m512 *y1) {
    *y0 = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
    *y1 = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
}

/// Output channel k of a segment from M[·][j][·]: each tile's 2×2×2 voxels, plus the bias.
TARGET static void transform_output_channel(const cwino_shape *s, const float *M, int j, float bias, float *channel,
                                            const half_t *halves) {
    const int H = s->height, W = s->width, D = s->depth;
    // Interleaving the even and odd x outputs: tiles 0–7 (lanes of half 2v), then 8–15.
    const __m512i low = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i high = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    for (int v = 0; v < VECTORS; v++) {
        if (halves[2 * v].count == 0) break;
        __m512 a[4][4][2], b[4][2][2], y[2][2][2];
        for (int i = 0; i < 4; i++)  // along x
            for (int l = 0; l < 4; l++) {
                const float *m = M + (i * 16 + l * 4) * M_STRIDE + (size_t)j * T + 16 * v;
                output_transform4(_mm512_load_ps(m), _mm512_load_ps(m + M_STRIDE), _mm512_load_ps(m + 2 * M_STRIDE),
                                  _mm512_load_ps(m + 3 * M_STRIDE), &a[i][l][0], &a[i][l][1]);
            }
        for (int i = 0; i < 4; i++)  // along y
            for (int x = 0; x < 2; x++) output_transform4(a[i][0][x], a[i][1][x], a[i][2][x], a[i][3][x], &b[i][0][x], &b[i][1][x]);
        const __m512 offset = _mm512_set1_ps(bias);
        for (int yy = 0; yy < 2; yy++)  // along z
            for (int x = 0; x < 2; x++) {
                output_transform4(b[0][yy][x], b[1][yy][x], b[2][yy][x], b[3][yy][x], &y[0][yy][x], &y[1][yy][x]);
                y[0][yy][x] = _mm512_add_ps(y[0][yy][x], offset);
                y[1][yy][x] = _mm512_add_ps(y[1][yy][x], offset);
            }
        for (int part = 0; part < 2; part++) {
            const half_t *h = &halves[2 * v + part];
            if (h->count == 0) break;
            const int xs = 2 * h->x0, width = xs + 16 > W ? W - xs : 16;
            const __mmask16 mask = (__mmask16)((1u << width) - 1);
            const __m512i order = part == 0 ? low : high;
            for (int zz = 0; zz < 2; zz++) {
                const int z = 2 * h->tz + zz;
                if (z >= D) break;
                for (int yy = 0; yy < 2; yy++) {
                    const int yo = 2 * h->ty + yy;
                    if (yo >= H) break;
                    _mm512_mask_storeu_ps(channel + ((size_t)z * H + yo) * W + xs, mask,
                                          _mm512_permutex2var_ps(y[zz][yy][0], order, y[zz][yy][1]));
                }
            }
        }
    }
}

TARGET void cwino_forward(const cwino_shape *s, const float *input, const float *U, const float *bias, float *output,
                          int first, int end, float *scratch) {
    const int C = s->input_channels, K = s->output_channels;
    const size_t spatial = (size_t)s->depth * s->height * s->width;
    float *V = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63), *M = V + 64 * V_STRIDE(C), *staging = M + 64 * M_STRIDE;
    const int P = pairs(s);
    for (int segment = first; segment < end; segment++) {
        half_t halves[HALVES];
        for (int h = 0; h < HALVES; h++) halves[h] = locate_half(s, segment * HALVES + h);
        if (s->bfloat16) {
            for (int p = 0; p < P; p++) {
                for (int half = 0; half < 2; half++) {
                    float *target = staging + half * T;
                    if (2 * p + half < C) {
                        transform_input_channel(s, input + (2 * p + half) * spatial, halves, target, 2 * T);
                    } else {
                        for (int xi = 0; xi < 64; xi++)
                            for (int t = 0; t < T; t++) target[xi * 2 * T + t] = 0;
                    }
                }
                pack_input_pair(staging, (uint32_t *)V, P, p);
            }
        } else {
            for (int c = 0; c < C; c++) transform_input_channel(s, input + c * spatial, halves, V + (size_t)c * T, V_STRIDE(C));
        }
        for (int k0 = 0; k0 < K; k0 += KB) {
            if (s->bfloat16)
                products_bfloat16(s, (const uint32_t *)V, (const uint32_t *)U, k0, M);
            else
                products(s, V, U, k0, M);
            for (int j = 0; j < KB && k0 + j < K; j++)
                transform_output_channel(s, M, j, bias ? bias[k0 + j] : 0, output + (size_t)(k0 + j) * spatial, halves);
        }
    }
}
