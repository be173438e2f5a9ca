// Shim only: the weight gradient of CWinograd's convolution, by the same transforms.
//
// The forward pass is linear in the kernel g: per axis y = Aᵀ[(G g) ⊙ (Bᵀ d)], so
//   ∂L/∂g = Gᵀ [(Bᵀ d) ⊙ (A ∂L/∂y)],  A = [1 0; 1 1; 1 −1; 0 −1],
// exactly (the transpose of a linear map), and in 3D the same along z, y and x. Summed over
// tiles, the products are 64 matrix products with the tiles as the inner dimension,
//   S[ξ][k][c] = Σ_t Y[ξ][k][t] · V[ξ][c][t],
// accumulated over a worker's segments; `cwino_weight_gradient_finish` applies Gᵀ per axis.
// Per output voxel and channel pair: 8 multiplies instead of 27, as in the forward pass.
#include "tiling.h"

/// Output channels of one block of accumulators (rows of the product kernel).
#define ROWS 4

size_t cwino_weight_gradient_accumulator_count(const cwino_shape *s) {
    return (size_t)64 * s->input_channels * s->output_channels;
}

/// Input channels transformed, then transposed, together.
#define GROUP 16

/// Y (64 × K × T), V transposed ([ξ][t][c], 64 × T × C), the staging of GROUP input channels
/// (GROUP × 64 × T), and room to align to 64 bytes.
size_t cwino_weight_gradient_scratch_count(const cwino_shape *s) {
    return (size_t)64 * s->output_channels * T + (size_t)64 * T * s->input_channels + (size_t)GROUP * 64 * T + 16;
}

/// Transposes 16 vectors of 16 floats in registers (r[i][j] ↔ r[j][i]).
TARGET static inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++)
        for (int half = 0; half < 2; half++) {
            const __m512d a = _mm512_castps_pd(t[4 * i + half]), b = _mm512_castps_pd(t[4 * i + half + 2]);
            r[4 * i + 2 * half] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
            r[4 * i + 2 * half + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) {
            t[8 * i + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + j + 4], 0x88);
            t[8 * i + j + 4] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + j + 4], 0xdd);
        }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88);
        r[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xdd);
    }
}

/// A along one axis: four values from two.
TARGET static inline void gradient_transform2(__m512 u0, __m512 u1, __m512 *m0, __m512 *m1, __m512 *m2, __m512 *m3) {
    *m0 = u0;
    *m1 = _mm512_add_ps(u0, u1);
    *m2 = _mm512_sub_ps(u0, u1);
    *m3 = _mm512_sub_ps(_mm512_setzero_ps(), u1);
}

/// Y[ξ][t] of one output channel's gradient over a segment's tiles (at target + ξ·stride), and
/// the sum of its values (for the bias gradient).
TARGET static float transform_output_gradient(const cwino_shape *s, const float *channel, const half_t *halves, float *target,
                                              size_t stride) {
    const int H = s->height, W = s->width, D = s->depth;
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    __m512 total = _mm512_setzero_ps();
    for (int v = 0; v < VECTORS; v++) {
        __m512 x[2][2][4];  // [z][y][position along x]
        for (int zz = 0; zz < 2; zz++)
            for (int yy = 0; yy < 2; yy++) {
                __m512 loaded[2];
                for (int part = 0; part < 2; part++) {
                    const half_t *h = &halves[2 * v + part];
                    const int z = 2 * h->tz + zz, y = 2 * h->ty + yy, xs = 2 * h->x0;
                    if (h->count == 0 || z >= D || y >= H) {
                        loaded[part] = _mm512_setzero_ps();
                        continue;
                    }
                    const int width = xs + 16 > W ? W - xs : 16;
                    loaded[part] = _mm512_maskz_loadu_ps((__mmask16)((1u << width) - 1), channel + ((size_t)z * H + y) * W + xs);
                }
                const __m512 e = _mm512_permutex2var_ps(loaded[0], even, loaded[1]);
                const __m512 o = _mm512_permutex2var_ps(loaded[0], odd, loaded[1]);
                total = _mm512_add_ps(total, _mm512_add_ps(e, o));
                gradient_transform2(e, o, &x[zz][yy][0], &x[zz][yy][1], &x[zz][yy][2], &x[zz][yy][3]);
            }
        __m512 y[2][4][4];  // [z][y][x]
        for (int zz = 0; zz < 2; zz++)
            for (int l = 0; l < 4; l++)
                gradient_transform2(x[zz][0][l], x[zz][1][l], &y[zz][0][l], &y[zz][1][l], &y[zz][2][l], &y[zz][3][l]);
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 4; l++) {
                __m512 m[4];
                gradient_transform2(y[0][j][l], y[1][j][l], &m[0], &m[1], &m[2], &m[3]);
                for (int i = 0; i < 4; i++) _mm512_store_ps(target + (size_t)(i * 16 + j * 4 + l) * stride + 16 * v, m[i]);
            }
    }
    return _mm512_reduce_add_ps(total);
}

/// One block of `accumulate_products`: `width` (a constant after inlining, so that the
/// ROWS × width accumulators stay in registers) vectors of 16 input channels.
TARGET static inline __attribute__((always_inline)) void accumulate_block(const float *yrow, const float *vrow, float *srow,
                                                                          int C, int q0, const int width) {
    __m512 acc[ROWS][4];
    for (int r = 0; r < ROWS; r++)
        for (int q = 0; q < width; q++) acc[r][q] = _mm512_loadu_ps(srow + (size_t)r * C + 16 * (q0 + q));
    for (int t = 0; t < T; t++) {
        __m512 x[4];
        for (int q = 0; q < width; q++) x[q] = _mm512_load_ps(vrow + (size_t)t * C + 16 * (q0 + q));
        for (int r = 0; r < ROWS; r++) {
            const __m512 w = _mm512_set1_ps(yrow[(size_t)r * T + t]);
            for (int q = 0; q < width; q++) acc[r][q] = _mm512_fmadd_ps(w, x[q], acc[r][q]);
        }
    }
    for (int r = 0; r < ROWS; r++)
        for (int q = 0; q < width; q++) _mm512_storeu_ps(srow + (size_t)r * C + 16 * (q0 + q), acc[r][q]);
}

/// S[ξ][k][c] += Σ_t Y[ξ][k][t] · V[ξ][t][c] for output channels k0 … k0 + ROWS − 1.
TARGET static void accumulate_products(const cwino_shape *s, const float *Y, const float *V, int k0, float *S) {
    const int C = s->input_channels, K = s->output_channels, vectors = C / 16;
    for (int xi = 0; xi < 64; xi++) {
        const float *yrow = Y + ((size_t)xi * K + k0) * T, *vrow = V + (size_t)xi * T * C;
        float *srow = S + ((size_t)xi * K + k0) * C;
        for (int q0 = 0; q0 < vectors; q0 += 4) {
            switch (vectors - q0 < 4 ? vectors - q0 : 4) {
            case 1: accumulate_block(yrow, vrow, srow, C, q0, 1); break;
            case 2: accumulate_block(yrow, vrow, srow, C, q0, 2); break;
            case 3: accumulate_block(yrow, vrow, srow, C, q0, 3); break;
            default: accumulate_block(yrow, vrow, srow, C, q0, 4); break;
            }
        }
    }
}

TARGET void cwino_weight_gradient(const cwino_shape *s, const float *input, const float *output_gradient, int first, int end,
                                  float *scratch, float *accumulator, float *bias_sums) {
    const int C = s->input_channels, K = s->output_channels;
    const size_t spatial = (size_t)s->depth * s->height * s->width;
    float *Y = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    float *V = Y + (size_t)64 * K * T, *staging = V + (size_t)64 * T * C;
    for (int segment = first; segment < end; segment++) {
        half_t halves[HALVES];
        for (int h = 0; h < HALVES; h++) halves[h] = locate_half(s, segment * HALVES + h);
        for (int c0 = 0; c0 < C; c0 += GROUP) {
            for (int c = 0; c < GROUP; c++)
                transform_input_channel(s, input + (c0 + c) * spatial, halves, staging + (size_t)c * 64 * T, T);
            for (int xi = 0; xi < 64; xi++)
                for (int t0 = 0; t0 < T; t0 += 16) {
                    __m512 block[16];
                    for (int c = 0; c < GROUP; c++) block[c] = _mm512_load_ps(staging + ((size_t)c * 64 + xi) * T + t0);
                    transpose16(block);
                    for (int t = 0; t < 16; t++) _mm512_store_ps(V + ((size_t)xi * T + t0 + t) * C + c0, block[t]);
                }
        }
        for (int k = 0; k < K; k++) {
            const float sum = transform_output_gradient(s, output_gradient + k * spatial, halves, Y + (size_t)k * T, (size_t)K * T);
            if (bias_sums) bias_sums[k] += sum;
        }
        for (int k0 = 0; k0 < K; k0 += ROWS) accumulate_products(s, Y, V, k0, accumulator);
    }
}

void cwino_weight_gradient_finish(const cwino_shape *s, const float *accumulator, float *weight_gradient) {
    const int C = s->input_channels, K = s->output_channels;
    static const float G[4][3] = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};
    for (int k = 0; k < K; k++)
        for (int c = 0; c < C; c++) {
            float m[4][4][4], a[3][4][4], b[3][3][4];
            for (int xi = 0; xi < 64; xi++) m[xi >> 4][(xi >> 2) & 3][xi & 3] = accumulator[((size_t)xi * K + k) * C + c];
            for (int i = 0; i < 3; i++)  // along z
                for (int j = 0; j < 4; j++)
                    for (int l = 0; l < 4; l++)
                        a[i][j][l] = G[0][i] * m[0][j][l] + G[1][i] * m[1][j][l] + G[2][i] * m[2][j][l] + G[3][i] * m[3][j][l];
            for (int i = 0; i < 3; i++)  // along y
                for (int j = 0; j < 3; j++)
                    for (int l = 0; l < 4; l++)
                        b[i][j][l] = G[0][j] * a[i][0][l] + G[1][j] * a[i][1][l] + G[2][j] * a[i][2][l] + G[3][j] * a[i][3][l];
            float *target = weight_gradient + ((size_t)k * C + c) * 27;
            for (int i = 0; i < 3; i++)  // along x
                for (int j = 0; j < 3; j++)
                    for (int l = 0; l < 3; l++)
                        target[i * 9 + j * 3 + l] = G[0][l] * b[i][j][0] + G[1][l] * b[i][j][1] + G[2][l] * b[i][j][2] + G[3][l] * b[i][j][3];
        }
}
