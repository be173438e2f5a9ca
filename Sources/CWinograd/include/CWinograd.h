// Shim only: a 3D Winograd F(2×2×2, 3×3×3) convolution kernel (AVX-512), behind a C interface.
//
// Computes the stride-1, padding-1, 3×3×3, ungrouped cross-correlation
//   y[k, z, y, x] = b[k] + Σ_c Σ_{i,j,l ∈ 0..2} w[k, c, i, j, l] · x[c, z−1+i, y−1+j, x−1+l]
// on one image of plain (channel-major, C×D×H×W) float32 tensors, with 8 multiplies per output
// voxel and channel pair instead of 27, and its weight gradient. The output is cut into 2×2×2
// tiles, and the tiles into runs of up to 8 along x in one (tile-z, tile-y) row ("halves" of a
// vector); a "segment" is CWINO_SEGMENT_TILES / 8 consecutive runs, the unit of work a thread
// takes.
#ifndef CWINOGRAD_H
#define CWINOGRAD_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Tiles per segment (a multiple of 16: one AVX-512 vector holds 16 tiles).
#define CWINO_SEGMENT_TILES 32
/// Output channels per block of the transformed-domain products (any count runs: the last
/// block is padded with zero weights).
#define CWINO_CHANNEL_BLOCK 8

typedef struct {
    int input_channels;
    int output_channels;
    /// Spatial size of the input, which is also the output's.
    int depth, height, width;
    /// 1: the transformed input and weights are rounded to bfloat16 and multiplied with
    /// `vdpbf16ps` (float32 sums, transforms and results); needs `cwino_available_bfloat16`.
    int bfloat16;
} cwino_shape;

/// 1 when this CPU runs the kernel (AVX-512F), else 0: callers must not call the rest then.
int cwino_available(void);

/// 1 when this CPU runs the bfloat16 kernel (AVX-512 BF16 and BW), else 0.
int cwino_available_bfloat16(void);

/// Floats of the transformed weights: 64 × input_channels × output_channels rounded up to a
/// multiple of CWINO_CHANNEL_BLOCK.
size_t cwino_transformed_weight_count(const cwino_shape *shape);

/// weight (output_channels × input_channels × 3 × 3 × 3) → its Winograd transform G·w·Gᵀ per
/// axis, laid out [64 positions][input_channels][output_channels]; in bfloat16, one 32-bit word
/// per input-channel pair instead ([64][(input_channels + 1) / 2][output_channels]).
void cwino_transform_weights(const cwino_shape *shape, const float *weight, float *transformed);

/// Segments of this shape's output (the work items of `cwino_forward`).
int cwino_segment_count(const cwino_shape *shape);

/// Floats of scratch one call of `cwino_forward` needs (one per concurrent caller).
size_t cwino_scratch_count(const cwino_shape *shape);

/// Computes output segments [first, end): every output voxel of those tiles, bias (or nil) added.
/// `scratch` holds `cwino_scratch_count` floats (any alignment).
void cwino_forward(const cwino_shape *shape, const float *input, const float *transformed_weight, const float *bias,
                   float *output, int first, int end, float *scratch);

/// The weight gradient (`weight_gradient.c`): needs input_channels a multiple of 16 and
/// output_channels a multiple of 4, float32 only.
///
/// Floats of one worker's accumulator of the transformed-domain sums (zero it before the first
/// call).
size_t cwino_weight_gradient_accumulator_count(const cwino_shape *shape);

/// Floats of scratch one call of `cwino_weight_gradient` needs (one per concurrent caller).
size_t cwino_weight_gradient_scratch_count(const cwino_shape *shape);

/// Adds segments [first, end) of one image to `accumulator` and, when not nil, each output
/// channel's sum of `output_gradient` (the bias gradient) to `bias_sums` (output_channels floats).
void cwino_weight_gradient(const cwino_shape *shape, const float *input, const float *output_gradient, int first, int end,
                           float *scratch, float *accumulator, float *bias_sums);

/// weight_gradient (output_channels × input_channels × 3 × 3 × 3) from an accumulator holding
/// the sums over every segment and image (the workers' accumulators added).
void cwino_weight_gradient_finish(const cwino_shape *shape, const float *accumulator, float *weight_gradient);

#ifdef __cplusplus
}
#endif

#endif
