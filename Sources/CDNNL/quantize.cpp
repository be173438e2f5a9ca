// Shim only: the int8 input quantization of CDNNL's int8 forward (see quantize.h).
//
// oneDNN's generic reorder does the same job (f32 N×C×D×H×W → u8 N×D×H×W×C with one scale and
// one zero point; measured when it was s8 with a scale alone) at
// 8–9 GB/s on the Intel Xeon of 2026-12-07 (its f32 → f32 reorders there: 14–23 GB/s): 42–48
// ms of a 250–290 ms int8 student forward (DNNL_VERBOSE). This kernel reads 16 voxels of 16
// channels (one row of each), scales them, transposes the 16×16 block in registers, and writes
// each voxel's 16 channels as 16 bytes, on libgomp's team (`cdnnl_team`). The arithmetic is the
// reorder's (x · scale, then + zero point in float32, `vcvtps2dq` under the default
// round-to-nearest-even, then unsigned or signed saturation), so the bytes are the same.
#include "quantize.h"

#include <immintrin.h>

#include "team.h"

#include <algorithm>
#include <cstdint>

namespace cdnnl_quantize {
namespace {

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl")))

/// Transposes 16 rows of 16 floats in place: row i becomes column i.
TARGET inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 2; j++) {
            const __m512d a = _mm512_castps_pd(t[4 * i + j]), b = _mm512_castps_pd(t[4 * i + j + 2]);
            r[4 * i + j] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
            r[4 * i + j + 2] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        }
    // Now lane L of r[4i + k] holds rows 4i..4i+3 at voxel 4L + (0, 2, 1, 3)[k]. Gather the
    // lanes: first pairs of row groups, then pairs of pairs.
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 4; k++) {
            const __m512 a = r[8 * i + k], b = r[8 * i + 4 + k];
            t[8 * i + k] = _mm512_shuffle_f32x4(a, b, 0x88);
            t[8 * i + 4 + k] = _mm512_shuffle_f32x4(a, b, 0xdd);
        }
    for (int k = 0; k < 8; k++) {
        const __m512 a = t[k], b = t[8 + k];
        r[k] = _mm512_shuffle_f32x4(a, b, 0x88);
        r[8 + k] = _mm512_shuffle_f32x4(a, b, 0xdd);
    }
}

struct Job {
    const float *input;
    uint8_t *output;
    long channels, planes, rows, width;     // planes: N·D of the window; rows: H
    long channelStride, sampleStride, depth;  // strides in floats, of the plain source
    float scale;
    int32_t zeroPoint;
    bool isUnsigned;
};

/// Which register holds voxel v after `transpose16`: its two `unpack*_pd` steps leave voxels
/// 4L + 1 and 4L + 2 of each 128-bit lane L swapped.
constexpr int order[16] = {0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15};

TARGET void quantizeRow(const Job &job, const float *source, uint8_t *target) {
    const long C = job.channels, W = job.width;
    const __m512 scale = _mm512_set1_ps(job.scale), zeroPoint = _mm512_set1_ps(static_cast<float>(job.zeroPoint));
    const __m512i zero = _mm512_setzero_si512();
    for (long x0 = 0; x0 < W; x0 += 16) {
        const int voxels = static_cast<int>(std::min<long>(16, W - x0));
        const __mmask16 voxelMask = static_cast<__mmask16>((1u << voxels) - 1);
        for (long c0 = 0; c0 < C; c0 += 16) {
            const int count = static_cast<int>(std::min<long>(16, C - c0));
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = i < count ? _mm512_mul_ps(_mm512_maskz_loadu_ps(voxelMask, source + (c0 + i) * job.channelStride + x0), scale)
                                 : _mm512_setzero_ps();
            // The zero point is added after the product, not fused with it, as the reorder does.
            for (int i = 0; i < 16; i++) r[i] = _mm512_add_ps(r[i], zeroPoint);
            transpose16(r);
            const __mmask16 channelMask = static_cast<__mmask16>((1u << count) - 1);
            for (int v = 0; v < voxels; v++)
                // Unsigned: clamped at 0, then saturated at 255. Signed: saturated to −128…127.
                _mm_mask_storeu_epi8(target + (x0 + v) * C + c0, channelMask,
                                     job.isUnsigned ? _mm512_cvtusepi32_epi8(_mm512_max_epi32(_mm512_cvtps_epi32(r[order[v]]), zero))
                                                    : _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(r[order[v]])));
        }
    }
}

void share(void *data) {
    const Job &job = *static_cast<const Job *>(data);
    const cdnnl_team::Share share = cdnnl_team::share(job.planes * job.rows);
    for (long row = share.begin; row < share.end; row++) {
        const long plane = row / job.rows, y = row % job.rows;
        const long sample = plane / job.depth, z = plane % job.depth;
        const float *source = job.input + sample * job.sampleStride + (z * job.rows + y) * job.width;
        uint8_t *target = job.output + row * job.width * job.channels;
        quantizeRow(job, source, target);
    }
}
}  // namespace

bool available() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}

void toChannelsLast(const float *input, uint8_t *output, bool isUnsigned, long batch, long channels, long depth, long height, long width,
                    long channelStride, long sampleStride, float scale, int32_t zeroPoint, int threads) {
    Job job{input, output, channels, batch * depth, height, width, channelStride, sampleStride, depth, scale, zeroPoint, isUnsigned};
    cdnnl_team::run(share, &job, threads);
}
}  // namespace cdnnl_quantize
