// CDNNL — a C interface to the few oneDNN (libdnnl, Intel's deep-learning primitives library,
// the one under PyTorch's CPU convolutions) calls the engine uses: 3D convolution forward,
// backward-data and backward-weights on plain N×C×D×H×W float tensors, in float32 or bfloat16.
//
// Contract: every tensor crosses this interface as dense row-major float32 in the engine's own
// layout (input N×Cin×D×H×W, weight Cout×Cin/G×k×k×k, bias [Cout], output N×Cout×Do×Ho×Wo).
// Inside, oneDNN picks its blocked layouts; the conversions (and, for bf16, the rounding to
// bfloat16 of input and weight, for int8 their quantization; accumulation and output stay
// float32) happen in the caller's
// workspace, whose size `cdnnl_convolution_workspace_bytes` gives; a large convolution runs as
// slabs along depth, so that workspace stays near 32 MiB. Nothing is allocated per
// call, and no state is kept but an immutable cache of primitives per shape, so calls from
// several threads at once are safe when each passes its own workspace.
// All functions return 0 on success and −1 on failure, with the reason in cdnnl_last_error().
#ifndef CDNNL_H
#define CDNNL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Arithmetic of the multiply-adds. float32 and bfloat16 accumulate in float32. CDNNL_INT8 is
/// for the forward pass only (the backward passes refuse it): the input is quantized to unsigned
/// 8 bits with one scale and one zero point for the whole tensor ([min(0, min x), max(0, max x)]
/// maps onto 0…255, zero exactly onto the zero point; on CPUs without int8 dot products, where
/// oneDNN guards only a signed input, signed with one symmetric scale, max |x| onto 127), the
/// weights to signed 8 bits with one symmetric scale per output channel (max |w| onto 127);
/// products are summed in int32, the sum is rescaled to float32 and the bias added in float32.
/// The scales are computed on every call from the data it is given.
typedef enum { CDNNL_FLOAT32 = 0, CDNNL_BFLOAT16 = 1, CDNNL_INT8 = 2 } cdnnl_precision;

/// Which computation. oneDNN's convolutions compute the same forward for inference and
/// training; the backward passes build their own forward hint.
typedef enum {
    CDNNL_FORWARD = 0,
    CDNNL_BACKWARD_DATA = 1,
    CDNNL_BACKWARD_WEIGHTS = 2
} cdnnl_pass;

/// The sizes of one convolution (PyTorch Conv3d semantics: cubic kernel, symmetric zero padding).
typedef struct {
    int batch, input_channels, output_channels, groups;
    int input_depth, input_height, input_width;
    int output_depth, output_height, output_width;
    int kernel, stride, padding;
    int has_bias;
    cdnnl_precision precision;
} cdnnl_convolution;

/// Workspace bytes `pass` needs for this convolution on `threads` threads (blocked copies and
/// oneDNN's scratchpad, which depends on the thread count), or −1 when oneDNN cannot run it.
long cdnnl_convolution_workspace_bytes(const cdnnl_convolution *convolution, cdnnl_pass pass, int threads);

/// output = conv(input, weight) + bias (bias may be NULL when has_bias is 0), on `threads`
/// OpenMP threads; `workspace` holds cdnnl_convolution_workspace_bytes(…, threads) bytes.
int cdnnl_convolution_forward(const cdnnl_convolution *convolution, const float *input,
                              const float *weight, const float *bias, float *output, void *workspace, int threads);

/// ∂L/∂input from ∂L/∂output.
int cdnnl_convolution_backward_data(const cdnnl_convolution *convolution, const float *output_gradient,
                                    const float *weight, float *input_gradient, void *workspace, int threads);

/// ∂L/∂weight (overwritten) and, when bias_gradient is not NULL, ∂L/∂bias, from ∂L/∂output and
/// the forward input.
int cdnnl_convolution_backward_weights(const cdnnl_convolution *convolution, const float *output_gradient,
                                       const float *input, float *weight_gradient, float *bias_gradient,
                                       void *workspace, int threads);

/// oneDNN's name of the kernel it runs for `pass` (e.g. "brgconv:avx512_core"), or NULL; valid
/// until this thread's next call of this function.
const char *cdnnl_convolution_implementation(const cdnnl_convolution *convolution, cdnnl_pass pass, int threads);

/// Drops every cached primitive (they are rebuilt on next use, a few milliseconds each); the
/// daemon calls it with its other idle-time memory release. The cache also starts over by
/// itself once it holds 1024 entries. Safe while other threads convolve: it waits until no
/// pass is running (releasing primitives under a running int8 pass gave it wrong results).
void cdnnl_clear_cache(void);

/// Bytes of blocked copies above which a convolution called from this thread runs as slabs
/// along depth (default 32 MiB; 0 restores it; other threads keep theirs). Results do not
/// depend on it; tests set it tiny to exercise the slabs.
void cdnnl_set_slab_budget(long bytes);

/// Nonzero: int8 forwards called from this thread quantize their input with oneDNN's reorder
/// even where the shim's own quantizer applies (the reference the tests compare it with; the
/// bytes are the same). 0 (the default) restores the shim's quantizer.
void cdnnl_set_reference_quantizer(int enabled);

/// body(context, i) for i in 0..<iterations, on libgomp's team (the threads oneDNN's
/// convolutions run on; the caller is one of them), one iteration per thread when the team is
/// as large as `iterations`. Nested inside another team it runs them all on the calling thread.
typedef void (*cdnnl_team_body)(void *context, long iteration);
void cdnnl_team_run(cdnnl_team_body body, void *context, long iterations);

/// The instruction set oneDNN dispatches to on this CPU (e.g. "avx512_core_bf16").
const char *cdnnl_isa(void);

/// 1 where oneDNN runs int8 dot products (ISA avx2_vnni, avx512_core_vnni, avx512_core_bf16 or
/// avx512_core_amx): there int8 convolutions take an unsigned input with a zero point.
int cdnnl_has_int8_dot_product(void);

/// "major.minor.patch" of the loaded libdnnl.
const char *cdnnl_version(void);

/// The reason of the last failure on this thread.
const char *cdnnl_last_error(void);

#ifdef __cplusplus
}
#endif

#endif
