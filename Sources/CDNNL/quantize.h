// Private to CDNNL: the int8 forward's input quantization (quantize.cpp).
#ifndef CDNNL_QUANTIZE_H
#define CDNNL_QUANTIZE_H

#include <cstdint>

namespace cdnnl_quantize {
/// Whether this CPU runs `toChannelsLast` (AVX-512 F, BW and VL).
bool available();

/// output[n][d][h][w][c] = saturate(round_to_nearest_even(input[n][c][d][h][w] · scale + zeroPoint)),
/// saturated to uint8 when `isUnsigned`, else to int8 (written as its bytes), the output dense
/// N×D×H×W×C and the input a window of a plain tensor: rows of `width` floats,
/// planes of height·width, channels `channelStride` and samples `sampleStride` floats apart. On
/// `threads` threads of libgomp's team.
void toChannelsLast(const float *input, uint8_t *output, bool isUnsigned, long batch, long channels, long depth, long height, long width,
                    long channelStride, long sampleStride, float scale, int32_t zeroPoint, int threads);
}  // namespace cdnnl_quantize

#endif
