// Shim only: the oneDNN calls behind CDNNL.h.
//
// Large convolutions run as a few slabs along depth (`plan`): each slab is its own oneDNN
// problem on a window of the plain tensors (their full strides, the halo planes it needs, the
// zero padding only where the window meets the volume's border), so the blocked copies of a slab
// stay around `slabBudget` bytes instead of doubling the memory of a whole 128³ activation, and
// stay in the last-level cache between the reorder and the convolution. Each (convolution,
// pass, thread count, slab shape) gets one immutable cache entry: its primitive, the reorders
// between the plain layout and the primitive's, and where each blocked copy lives in the
// caller's workspace.
#include "CDNNL.h"
#include "quantize.h"
#include "team.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdio>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

// libgomp's thread-count setter (Swift's clang does not see gcc's omp.h; the ABI is plain C).
extern "C" void omp_set_num_threads(int);

namespace {
using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

thread_local std::string last_error;

/// Whether int8 inputs go through oneDNN's reorder even where the engine's quantizer applies
/// (`cdnnl_set_reference_quantizer`; per thread, like the slab budget).
thread_local bool referenceQuantizer = false;

engine &cpu_engine() {
    static engine instance(engine::kind::cpu, 0);
    return instance;
}

/// Whether oneDNN runs int8 dot products here (VNNI, AMX; `cdnnl_has_int8_dot_product`). Only
/// then are int8 inputs unsigned with a zero point (affine: twice the resolution of a
/// symmetric scale after a LeakyReLU): without them oneDNN's kernels pair u8 × s8 products into
/// saturating 16-bit sums, which it guards against for a signed input alone (by halving the
/// weights), so there the input stays signed and symmetric.
bool hasInt8DotProduct() {
    static const bool value = [] {
        const cpu_isa isa = get_effective_cpu_isa();
        return isa == cpu_isa::avx2_vnni || isa == cpu_isa::avx512_core_vnni || isa == cpu_isa::avx512_core_bf16 ||
               isa == cpu_isa::avx512_core_amx;
    }();
    return value;
}

constexpr size_t alignment = 64;
size_t aligned(size_t bytes) { return (bytes + alignment - 1) / alignment * alignment; }

/// Which of an int8 call's scales a reorder multiplies by (`Int8Scales`); none in float32/bf16.
enum class Scaling { none, inputInverse, weightInverse, output };

/// One tensor argument: the engine's plain layout, the primitive's layout, and, when they differ,
/// the reorder between them (`conversion`), the scales it applies and the workspace offset of
/// the primitive's copy.
struct Operand {
    int argument;
    bool isOutput;
    memory::desc plain;
    memory::desc inner;
    Scaling scaling = Scaling::none;
    size_t offset = 0;
    std::unique_ptr<reorder> conversion;
    /// An int8 input that the primitive takes as dense N×D×H×W×C: the engine's own quantizer
    /// (`cdnnl_quantize`) converts it instead of `conversion`, with these sizes and strides.
    struct ChannelsLast {
        long batch, channels, depth, height, width, channelStride, sampleStride;
    };
    std::optional<ChannelsLast> channelsLast;
};

/// The per-call scales of an int8 forward, at the start of its workspace: 1/s_x and the input's
/// zero point z_x (one value each: x ≈ s_x·(q − z_x); z_x = 0 for a signed input), 1/s_w[oc], s_x·s_w[oc] (the
/// rescaling of the int32 sums) and bias[oc]/(s_x·s_w[oc]) (the bias in units of the sums, so
/// that oneDNN adds it before the rescaling), Cout values each.
struct Int8Scales {
    float *inputInverse;
    int32_t *inputZeroPoint;
    float *weightInverse, *output, *bias;
    int channels;
    explicit Int8Scales(void *workspace, int channels)
        : inputInverse(static_cast<float *>(workspace)), inputZeroPoint(reinterpret_cast<int32_t *>(inputInverse + 1)),
          weightInverse(inputInverse + 2), output(weightInverse + channels), bias(output + channels), channels(channels) {}
    static size_t bytes(int channels) { return 4 * (2 + 3 * static_cast<size_t>(channels)); }
};

struct Entry {
    primitive computation;
    std::string implementation;
    std::vector<Operand> operands;
    /// int8 with an unsigned input: the primitive and the input's reorder take z_x.
    bool inputZeroPoint = false;
    size_t scratchpadOffset = 0;
    size_t totalBytes = 0;
};

/// One slab along depth: output planes [dstStart, dstStart + dstCount) computed from input planes
/// [srcStart, srcStart + srcCount), with `padFront`/`padBack` zero planes where the slab meets
/// the volume's border (the other spatial axes keep the convolution's own padding).
struct Slab {
    int srcStart, srcCount, dstStart, dstCount, padFront, padBack;
};

struct Key {
    cdnnl_convolution convolution;
    int pass;
    int threads;
    Slab slab;
    bool operator<(const Key &other) const { return std::memcmp(this, &other, sizeof(Key)) < 0; }
};

/// The primitives built so far. Shapes vary from case to case (each brain crop is padded to its
/// own size), so the cache is bounded: when it holds `cacheLimit` entries it starts over.
/// Entries are shared, so a call still running on one that was dropped keeps it alive.
constexpr size_t cacheLimit = 1024;
std::mutex cacheLock;
std::map<Key, std::shared_ptr<const Entry>> cache;
/// Held shared by every running pass and exclusively by `cdnnl_clear_cache`, so that releasing
/// the cached primitives waits until no convolution is running on them.
std::shared_mutex runningLock;

memory::dims weightDims(const cdnnl_convolution &c) {
    const memory::dim k = c.kernel;
    if (c.groups == 1) return {c.output_channels, c.input_channels, k, k, k};
    return {c.groups, c.output_channels / c.groups, c.input_channels / c.groups, k, k, k};
}

/// PyTorch's floor rule: the right padding is whatever makes the output size come out.
int rightPadding(int outputSize, int inputSize, const cdnnl_convolution &c) {
    return (outputSize - 1) * c.stride + c.kernel - inputSize - c.padding;
}

/// Blocked bytes (input and output copies) a slab may hold; above it, a convolution is split.
/// Per thread: a call sizes its workspace and then plans its slabs again when it runs, so a
/// budget that changed in between (another thread's test setting it) would run a plan larger
/// than the workspace it was given. The caller's thread does both, so each call sees one budget.
constexpr double defaultSlabBudget = 32.0 * (1 << 20);
thread_local double slabBudget = defaultSlabBudget;

/// The slabs of one pass: one for a small convolution, else equal runs of planes. The forward
/// and weight-gradient passes split the output planes (each slab reads its halo of input
/// planes); the data gradient splits the input planes (each slab reads every output plane that
/// touches them), so every slab writes a disjoint part of its result.
std::vector<Slab> plan(const cdnnl_convolution &c, int pass) {
    const int k = c.kernel, s = c.stride, p = c.padding;
    const double element = c.precision == CDNNL_BFLOAT16 ? 2 : c.precision == CDNNL_INT8 ? 1 : 4;
    const double bytes = element * c.batch *
        (static_cast<double>(c.input_channels) * c.input_depth * c.input_height * c.input_width +
         static_cast<double>(c.output_channels) * c.output_depth * c.output_height * c.output_width) + 4.0 * c.batch *
        static_cast<double>(c.output_channels) * c.output_depth * c.output_height * c.output_width;
    const bool dataGradient = pass == CDNNL_BACKWARD_DATA;
    const int planes = dataGradient ? c.input_depth : c.output_depth;
    int slabs = std::min(planes, static_cast<int>(bytes / slabBudget) + 1);
    // A slab of the data gradient must start on an output plane's footprint (kernel ≥ stride).
    if (k < s) slabs = 1;
    const int per = (planes + slabs - 1) / std::max(slabs, 1);
    std::vector<Slab> result;
    for (int start = 0; start < planes; start += per) {
        const int end = std::min(planes, start + per);
        Slab slab{};
        if (!dataGradient) {
            slab.dstStart = start;
            slab.dstCount = end - start;
            const int first = start * s - p, last = (end - 1) * s - p + k;  // input planes [first, last)
            slab.srcStart = std::max(0, first);
            slab.srcCount = std::min(c.input_depth, last) - slab.srcStart;
            slab.padFront = slab.srcStart - first;
        } else {
            slab.srcStart = start;
            slab.srcCount = end - start;
            // Output planes o with o·s − p ≤ end − 1 and o·s − p + k − 1 ≥ start.
            const int firstOutput = std::max(0, (start + p - k + 1 + s - 1 + s * k) / s - k);
            const int lastOutput = std::min(c.output_depth, (end - 1 + p) / s + 1);
            slab.dstStart = firstOutput;
            slab.dstCount = lastOutput - firstOutput;
            slab.padFront = p + start - firstOutput * s;
        }
        slab.padBack = (slab.dstCount - 1) * s + k - slab.srcCount - slab.padFront;
        result.push_back(slab);
    }
    return result;
}

/// Builds the primitive for `key`; throws dnnl::error or std::runtime_error.
std::unique_ptr<Entry> makeEntry(const Key &key) {
    const cdnnl_convolution &c = key.convolution;
    const bool int8 = c.precision == CDNNL_INT8;
    if (int8 && key.pass != CDNNL_FORWARD) throw std::runtime_error("int8 is for the forward pass only");
    const dt compute = c.precision == CDNNL_BFLOAT16 ? dt::bf16 : int8 ? dt::s8 : dt::f32;
    const bool zeroPoint = int8 && hasInt8DotProduct();
    const dt sourceType = zeroPoint ? dt::u8 : compute;
    const Slab &slab = key.slab;
    const memory::dims source = {c.batch, c.input_channels, slab.srcCount, c.input_height, c.input_width};
    const memory::dims destination = {c.batch, c.output_channels, slab.dstCount, c.output_height, c.output_width};
    const memory::dims weights = weightDims(c), bias = {c.output_channels};
    const memory::dims strides = {c.stride, c.stride, c.stride}, left = {slab.padFront, c.padding, c.padding};
    const memory::dims right = {slab.padBack, rightPadding(c.output_height, c.input_height, c),
                                rightPadding(c.output_width, c.input_width, c)};
    for (auto r : right)
        if (r < 0) throw std::runtime_error("negative right padding is not supported");

    // The slab's window of the whole plain tensors: their strides, not the slab's own.
    const memory::dim inputPlane = static_cast<memory::dim>(c.input_height) * c.input_width;
    const memory::dim outputPlane = static_cast<memory::dim>(c.output_height) * c.output_width;
    const memory::desc plainSource(source, dt::f32,
        memory::dims{c.input_channels * c.input_depth * inputPlane, c.input_depth * inputPlane, inputPlane, c.input_width, 1});
    const memory::desc plainDestination(destination, dt::f32,
        memory::dims{c.output_channels * c.output_depth * outputPlane, c.output_depth * outputPlane, outputPlane, c.output_width, 1});
    const memory::desc plainWeights(weights, dt::f32, c.groups == 1 ? tag::oidhw : tag::goidhw);
    const memory::desc plainBias(bias, dt::f32, tag::x);
    const memory::desc anySource(source, sourceType, tag::any), anyWeights(weights, compute, tag::any);
    // bf16 convolutions still write float32 results (and float32 weight gradients).
    const memory::desc anyDestination(destination, dt::f32, tag::any);
    const memory::desc anyDestinationGradient(destination, compute, tag::any);
    const memory::desc anySourceGradient(source, dt::f32, tag::any), anyWeightGradient(weights, dt::f32, tag::any);

    primitive_attr attributes;
    attributes.set_scratchpad_mode(scratchpad_mode::user);
    if (zeroPoint) attributes.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    engine &eng = cpu_engine();
    auto entry = std::make_unique<Entry>();
    entry->inputZeroPoint = zeroPoint;

    auto forwardDescription = [&](prop_kind kind, const memory::desc &dst) {
        return c.has_bias
            ? convolution_forward::desc(kind, algorithm::convolution_direct, anySource, anyWeights, plainBias, dst, strides, left, right)
            : convolution_forward::desc(kind, algorithm::convolution_direct, anySource, anyWeights, dst, strides, left, right);
    };
    memory::desc scratchpad;
    switch (key.pass) {
    case CDNNL_FORWARD: {
        convolution_forward::primitive_desc pd(forwardDescription(prop_kind::forward_inference, anyDestination), attributes, eng);
        // int8: the reorders quantize (input, weights) and rescale (output) with the call's scales.
        entry->operands.push_back({DNNL_ARG_SRC, false, plainSource, pd.src_desc(), int8 ? Scaling::inputInverse : Scaling::none});
        if (int8 && pd.src_desc() == memory::desc(source, sourceType, tag::ndhwc) && cdnnl_quantize::available())
            entry->operands.back().channelsLast = Operand::ChannelsLast{
                c.batch, c.input_channels, slab.srcCount, c.input_height, c.input_width,
                static_cast<long>(c.input_depth) * inputPlane, static_cast<long>(c.input_channels) * c.input_depth * inputPlane};
        entry->operands.push_back({DNNL_ARG_WEIGHTS, false, plainWeights, pd.weights_desc(), int8 ? Scaling::weightInverse : Scaling::none});
        if (c.has_bias) entry->operands.push_back({DNNL_ARG_BIAS, false, plainBias, pd.bias_desc()});
        entry->operands.push_back({DNNL_ARG_DST, true, plainDestination, pd.dst_desc(), int8 ? Scaling::output : Scaling::none});
        entry->implementation = pd.impl_info_str();
        scratchpad = pd.scratchpad_desc();
        entry->computation = convolution_forward(pd);
        break;
    }
    case CDNNL_BACKWARD_DATA: {
        convolution_forward::primitive_desc hint(forwardDescription(prop_kind::forward_training, anyDestinationGradient), eng);
        convolution_backward_data::desc description(algorithm::convolution_direct, anySourceGradient, anyWeights,
                                                    anyDestinationGradient, strides, left, right);
        convolution_backward_data::primitive_desc pd(description, attributes, eng, hint);
        entry->operands.push_back({DNNL_ARG_DIFF_DST, false, plainDestination, pd.diff_dst_desc()});
        entry->operands.push_back({DNNL_ARG_WEIGHTS, false, plainWeights, pd.weights_desc()});
        entry->operands.push_back({DNNL_ARG_DIFF_SRC, true, plainSource, pd.diff_src_desc()});
        entry->implementation = pd.impl_info_str();
        scratchpad = pd.scratchpad_desc();
        entry->computation = convolution_backward_data(pd);
        break;
    }
    case CDNNL_BACKWARD_WEIGHTS: {
        convolution_forward::primitive_desc hint(forwardDescription(prop_kind::forward_training, anyDestinationGradient), eng);
        auto description = c.has_bias
            ? convolution_backward_weights::desc(algorithm::convolution_direct, anySource, anyWeightGradient, plainBias,
                                                 anyDestinationGradient, strides, left, right)
            : convolution_backward_weights::desc(algorithm::convolution_direct, anySource, anyWeightGradient,
                                                 anyDestinationGradient, strides, left, right);
        convolution_backward_weights::primitive_desc pd(description, attributes, eng, hint);
        entry->operands.push_back({DNNL_ARG_DIFF_DST, false, plainDestination, pd.diff_dst_desc()});
        entry->operands.push_back({DNNL_ARG_SRC, false, plainSource, pd.src_desc()});
        entry->operands.push_back({DNNL_ARG_DIFF_WEIGHTS, true, plainWeights, pd.diff_weights_desc()});
        if (c.has_bias) entry->operands.push_back({DNNL_ARG_DIFF_BIAS, true, plainBias, pd.diff_bias_desc()});
        entry->implementation = pd.impl_info_str();
        scratchpad = pd.scratchpad_desc();
        entry->computation = convolution_backward_weights(pd);
        break;
    }
    default:
        throw std::runtime_error("unknown pass");
    }

    size_t offset = 0;
    for (auto &operand : entry->operands) {
        if (operand.inner == operand.plain && operand.scaling == Scaling::none) continue;
        operand.offset = offset;
        offset += aligned(operand.inner.get_size());
        const memory::desc &from = operand.isOutput ? operand.inner : operand.plain;
        const memory::desc &to = operand.isOutput ? operand.plain : operand.inner;
        primitive_attr scaling;
        // Scale masks: one value (input); per output channel, dimension 0 of oidhw (0 and 1 of
        // goidhw) for the weights and dimension 1 of ncdhw for the output.
        if (operand.scaling == Scaling::inputInverse) {
            scaling.set_output_scales(0, {DNNL_RUNTIME_F32_VAL});
            if (zeroPoint) scaling.set_zero_points(DNNL_ARG_DST, 0, {DNNL_RUNTIME_S32_VAL});
        }
        if (operand.scaling == Scaling::weightInverse) scaling.set_output_scales(c.groups == 1 ? 1 : 3, {DNNL_RUNTIME_F32_VAL});
        if (operand.scaling == Scaling::output) scaling.set_output_scales(2, {DNNL_RUNTIME_F32_VAL});
        reorder::primitive_desc pd(eng, from, eng, to, scaling);
        if (pd.scratchpad_desc().get_size() != 0) throw std::runtime_error("reorder needs a scratchpad");
        operand.conversion = std::make_unique<reorder>(pd);
    }
    entry->scratchpadOffset = offset;
    entry->totalBytes = offset + aligned(scratchpad.get_size()) + alignment;
    return entry;
}

/// The cached entry for one slab of this call (built on first use), or nullptr with last_error set.
std::shared_ptr<const Entry> lookup(const cdnnl_convolution *convolution, int pass, int threads, const Slab &slab) {
    Key key;
    std::memset(&key, 0, sizeof key);
    key.convolution = *convolution;
    key.pass = pass;
    key.threads = threads < 1 ? 1 : threads;
    key.slab = slab;
    // oneDNN sizes its thread partitioning when the primitive is created.
    omp_set_num_threads(key.threads);
    std::lock_guard<std::mutex> guard(cacheLock);
    auto found = cache.find(key);
    if (found != cache.end()) return found->second;
    try {
        std::shared_ptr<const Entry> entry = makeEntry(key);
        if (cache.size() >= cacheLimit) cache.clear();
        cache.emplace(key, entry);
        return entry;
    } catch (const dnnl::error &failure) {
        last_error = std::string("oneDNN: ") + failure.what();
    } catch (const std::exception &failure) {
        last_error = std::string("oneDNN shim: ") + failure.what();
    }
    return nullptr;
}

/// Runs the entry's primitive with `pointers[i]` as the plain data of operand i (and, for int8,
/// the call's `scales`).
int execute(const Entry &entry, const std::vector<void *> &pointers, void *workspace, int threads, const Int8Scales *scales) {
    try {
        omp_set_num_threads(threads < 1 ? 1 : threads);
        engine &eng = cpu_engine();
        stream queue(eng);
        char *base = static_cast<char *>(workspace);
        base += (alignment - reinterpret_cast<uintptr_t>(base) % alignment) % alignment;
        std::unordered_map<int, memory> arguments;
        std::vector<std::pair<size_t, memory>> outputs;
        auto zeroPoint = [&](const Int8Scales &scales) {
            return memory(memory::desc({1}, dt::s32, tag::x), eng, scales.inputZeroPoint);
        };
        // Runs operand's conversion from → to, with its scales when it has any.
        auto convert = [&](const Operand &operand, memory from, memory to) {
            if (operand.scaling == Scaling::none) {
                operand.conversion->execute(queue, from, to);
                return;
            }
            if (!scales) throw std::runtime_error("an int8 convolution needs its scales");
            if (operand.channelsLast && !referenceQuantizer) {
                const Operand::ChannelsLast &shape = *operand.channelsLast;
                cdnnl_quantize::toChannelsLast(static_cast<const float *>(from.get_data_handle()), static_cast<uint8_t *>(to.get_data_handle()),
                                               entry.inputZeroPoint, shape.batch, shape.channels, shape.depth, shape.height, shape.width,
                                               shape.channelStride, shape.sampleStride, scales->inputInverse[0],
                                               scales->inputZeroPoint[0], threads);
                return;
            }
            float *values = operand.scaling == Scaling::inputInverse ? scales->inputInverse
                          : operand.scaling == Scaling::weightInverse ? scales->weightInverse : scales->output;
            const memory::dim count = operand.scaling == Scaling::inputInverse ? 1 : scales->channels;
            memory factors(memory::desc({count}, dt::f32, tag::x), eng, values);
            std::unordered_map<int, memory> reorderArguments = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}, {DNNL_ARG_ATTR_OUTPUT_SCALES, factors}};
            if (operand.scaling == Scaling::inputInverse && entry.inputZeroPoint)
                reorderArguments.emplace(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_DST, zeroPoint(*scales));
            // reorder's own execute(stream, from, to) hides the general one.
            static_cast<const primitive &>(*operand.conversion).execute(queue, reorderArguments);
        };
        for (size_t index = 0; index < entry.operands.size(); index++) {
            const Operand &operand = entry.operands[index];
            memory plain(operand.plain, eng, pointers[index]);
            if (!operand.conversion) {
                arguments.emplace(operand.argument, plain);
                continue;
            }
            memory inner(operand.inner, eng, base + operand.offset);
            if (!operand.isOutput) convert(operand, plain, inner);
            arguments.emplace(operand.argument, inner);
            if (operand.isOutput) outputs.emplace_back(index, plain);
        }
        arguments.emplace(DNNL_ARG_SCRATCHPAD,
                          memory(memory::desc({static_cast<memory::dim>(entry.totalBytes - entry.scratchpadOffset)}, dt::u8, tag::x),
                                 eng, base + entry.scratchpadOffset));
        if (entry.inputZeroPoint) arguments.emplace(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, zeroPoint(*scales));
        entry.computation.execute(queue, arguments);
        for (auto &[index, plain] : outputs) {
            const Operand &operand = entry.operands[index];
            convert(operand, arguments.at(operand.argument), plain);
        }
        queue.wait();
        return 0;
    } catch (const dnnl::error &failure) {
        last_error = std::string("oneDNN: ") + failure.what();
    } catch (const std::exception &failure) {
        last_error = std::string("oneDNN shim: ") + failure.what();
    }
    return -1;
}

/// Bytes at the start of the workspace, before the slabs' copies: an int8 forward's scales, or
/// the weight-gradient partials of the slabs after the first (they are summed).
size_t prefixBytes(const cdnnl_convolution &c, int pass) {
    if (pass == CDNNL_FORWARD && c.precision == CDNNL_INT8) return aligned(Int8Scales::bytes(c.output_channels));
    if (pass != CDNNL_BACKWARD_WEIGHTS) return 0;
    const size_t weights = static_cast<size_t>(c.output_channels) * (c.input_channels / c.groups) * c.kernel * c.kernel * c.kernel;
    return aligned(4 * (weights + static_cast<size_t>(c.output_channels)));
}

/// Runs `pass` slab by slab: `pointers(slab)` gives each operand's plain data for that slab.
/// The workspace starts with `prefixBytes` (int8 scales, weight-gradient partials), then the
/// slab's copies.
template <typename Pointers, typename AfterSlab>
int run(const cdnnl_convolution *convolution, int pass, int threads, void *workspace, Pointers pointers, AfterSlab afterSlab,
        const Int8Scales *scales = nullptr) {
    std::shared_lock<std::shared_mutex> running(runningLock);
    const size_t prefix = prefixBytes(*convolution, pass);
    char *slabWorkspace = static_cast<char *>(workspace) + prefix;
    const std::vector<Slab> slabs = plan(*convolution, pass);
    for (size_t index = 0; index < slabs.size(); index++) {
        const std::shared_ptr<const Entry> entry = lookup(convolution, pass, threads, slabs[index]);
        if (!entry) return -1;
        if (execute(*entry, pointers(slabs[index], index), slabWorkspace, threads, scales) != 0) return -1;
        afterSlab(index);
    }
    return 0;
}

/// The largest |x| of `count` floats, one thread.
float largestMagnitudeSerial(const float *values, size_t count) {
    float lanes[16] = {0};  // 16 running maxima, so that the loop vectorizes
    size_t index = 0;
    for (; index + 16 <= count; index += 16)
        for (int lane = 0; lane < 16; lane++) {
            const float magnitude = std::fabs(values[index + lane]);
            lanes[lane] = magnitude > lanes[lane] ? magnitude : lanes[lane];
        }
    float largest = 0;
    for (; index < count; index++) largest = std::max(largest, std::fabs(values[index]));
    for (float lane : lanes) largest = std::max(largest, lane);
    return largest;
}

/// The smallest and largest of `count` floats, one thread.
struct Range {
    float lowest, highest;
};
Range rangeSerial(const float *values, size_t count) {
    float low[16], high[16];  // 16 running extremes, so that the loop vectorizes
    std::fill(low, low + 16, 0.0f);
    std::fill(high, high + 16, 0.0f);
    size_t index = 0;
    for (; index + 16 <= count; index += 16)
        for (int lane = 0; lane < 16; lane++) {
            const float value = values[index + lane];
            low[lane] = value < low[lane] ? value : low[lane];
            high[lane] = value > high[lane] ? value : high[lane];
        }
    Range range{*std::min_element(low, low + 16), *std::max_element(high, high + 16)};
    for (; index < count; index++) {
        range.lowest = std::min(range.lowest, values[index]);
        range.highest = std::max(range.highest, values[index]);
    }
    return range;
}

/// Below this many floats the range is taken on the calling thread (a team costs microseconds).
constexpr size_t parallelRangeMinimum = 1 << 16;

/// One thread's share of `inputRange` on libgomp's team.
struct RangeJob {
    const float *values;
    size_t count;
    Range partial[cdnnl_team::maximumThreads];
};

void rangeShare(void *data) {
    auto *job = static_cast<RangeJob *>(data);
    const cdnnl_team::Share share = cdnnl_team::share(static_cast<long>(job->count));
    job->partial[share.thread] = rangeSerial(job->values + share.begin, static_cast<size_t>(share.end - share.begin));
}

/// [min(0, min x), max(0, max x)] of `count` floats, on up to `threads` threads of libgomp's team
/// (the one oneDNN runs on): an int8 forward reads its whole input once for it. Zero is always
/// inside, so that it has an exact code (the convolution's zero padding).
Range inputRange(const float *values, size_t count, int threads) {
    if (count < parallelRangeMinimum) return rangeSerial(values, count);
    RangeJob job{values, count, {}};
    cdnnl_team::run(rangeShare, &job, threads);
    Range range{0, 0};
    for (int thread = 0; thread < cdnnl_team::size(threads); thread++) {
        range.lowest = std::min(range.lowest, job.partial[thread].lowest);
        range.highest = std::max(range.highest, job.partial[thread].highest);
    }
    return range;
}

/// The symmetric int8 step of the weights for values up to `largest` (1 for an all-zero
/// channel, whose quantization is exact whatever the step).
float int8Step(float largest) { return largest > 0 ? largest / 127 : 1; }

/// Fills `scales` for one int8 forward call from its input, weights and bias.
void prepareInt8(const cdnnl_convolution &c, const float *input, const float *weight, const float *bias, const Int8Scales &scales,
                 int threads) {
    const size_t inputCount = static_cast<size_t>(c.batch) * c.input_channels * c.input_depth * c.input_height * c.input_width;
    const Range range = inputRange(input, inputCount, threads);
    float inputStep;
    if (hasInt8DotProduct()) {
        // Affine: [lowest, highest] onto the 256 codes 0…255, zero on code z_x.
        const float width = range.highest - range.lowest;
        inputStep = width > 0 ? width / 255 : 1;
        scales.inputZeroPoint[0] = static_cast<int32_t>(std::lround(std::min(255.0f, -range.lowest / inputStep)));
    } else {
        inputStep = int8Step(std::max(-range.lowest, range.highest));
        scales.inputZeroPoint[0] = 0;
    }
    scales.inputInverse[0] = 1 / inputStep;
    const size_t perChannel = static_cast<size_t>(c.input_channels / c.groups) * c.kernel * c.kernel * c.kernel;
    for (int channel = 0; channel < c.output_channels; channel++) {
        const float weightStep = int8Step(largestMagnitudeSerial(weight + channel * perChannel, perChannel));
        scales.weightInverse[channel] = 1 / weightStep;
        scales.output[channel] = inputStep * weightStep;
        scales.bias[channel] = bias ? bias[channel] / scales.output[channel] : 0;
    }
}

// Narrow groups. oneDNN's direct kernels need a whole SIMD block of channels per group; a
// grouped convolution with fewer (the cascade's modality encoders: 1 to 4 channels per group
// at 64³) falls to its im2col GEMM path at about 8 GFLOP/s. Run as one dense convolution whose
// weights are block-diagonal (zero between groups), the same layer does `groups`× the
// multiply-adds at the direct kernel's 70–140 GFLOP/s, 3–4× faster end to end. The zero blocks
// add exact zeros, so results differ from the grouped kernel's only in summation order; the
// weight gradient computes the off-diagonal blocks too and keeps the diagonal ones.

/// The most groups run dense: the work grows with the group count (depthwise convolutions stay
/// grouped).
constexpr int denseGroupLimit = 8;

cdnnl_convolution denseEquivalent(const cdnnl_convolution &c) {
    cdnnl_convolution dense = c;
    dense.groups = 1;
    return dense;
}

bool isGemmBased(const std::string &implementation) {
    return implementation.find("gemm") != std::string::npos || implementation.find("ref") != std::string::npos;
}

/// Whether `pass` of this convolution runs as its dense equivalent: grouped (at most
/// `denseGroupLimit` groups), oneDNN's kernel for it GEMM-based or missing, and a direct one
/// for the dense form. Decided from the first slab's cached primitives.
bool runsDense(const cdnnl_convolution &c, int pass, int threads) {
    if (c.groups == 1 || c.groups > denseGroupLimit) return false;
    const std::shared_ptr<const Entry> grouped = lookup(&c, pass, threads, plan(c, pass).front());
    if (grouped && !isGemmBased(grouped->implementation)) return false;
    const cdnnl_convolution dense = denseEquivalent(c);
    const std::shared_ptr<const Entry> entry = lookup(&dense, pass, threads, plan(dense, pass).front());
    return entry && !isGemmBased(entry->implementation);
}

/// Weights of the dense equivalent (Cout × Cin × k³ floats) at the start of a dense call's
/// workspace; the dense pass's own workspace follows.
size_t denseWeightBytes(const cdnnl_convolution &c) {
    const size_t kernel = static_cast<size_t>(c.kernel) * c.kernel * c.kernel;
    return aligned(4 * static_cast<size_t>(c.output_channels) * c.input_channels * kernel);
}

/// Block g of `dense` (output channels of group g × input channels of group g) is group g's
/// weights; the rest is zero.
void expandToDense(const cdnnl_convolution &c, const float *weight, float *dense) {
    const size_t kernel = static_cast<size_t>(c.kernel) * c.kernel * c.kernel;
    const int outputsPerGroup = c.output_channels / c.groups, inputsPerGroup = c.input_channels / c.groups;
    std::memset(dense, 0, 4 * static_cast<size_t>(c.output_channels) * c.input_channels * kernel);
    for (int output = 0; output < c.output_channels; output++) {
        const int group = output / outputsPerGroup;
        std::memcpy(dense + (static_cast<size_t>(output) * c.input_channels + group * inputsPerGroup) * kernel,
                    weight + static_cast<size_t>(output) * inputsPerGroup * kernel, 4 * inputsPerGroup * kernel);
    }
}

/// The inverse of `expandToDense` for a weight gradient: keeps each group's diagonal block.
void takeGroupBlocks(const cdnnl_convolution &c, const float *dense, float *weight) {
    const size_t kernel = static_cast<size_t>(c.kernel) * c.kernel * c.kernel;
    const int outputsPerGroup = c.output_channels / c.groups, inputsPerGroup = c.input_channels / c.groups;
    for (int output = 0; output < c.output_channels; output++) {
        const int group = output / outputsPerGroup;
        std::memcpy(weight + static_cast<size_t>(output) * inputsPerGroup * kernel,
                    dense + (static_cast<size_t>(output) * c.input_channels + group * inputsPerGroup) * kernel, 4 * inputsPerGroup * kernel);
    }
}
} // namespace

extern "C" {

long cdnnl_convolution_workspace_bytes(const cdnnl_convolution *convolution, cdnnl_pass pass, int threads) {
    if (runsDense(*convolution, pass, threads)) {
        const cdnnl_convolution dense = denseEquivalent(*convolution);
        const long bytes = cdnnl_convolution_workspace_bytes(&dense, pass, threads);
        return bytes < 0 ? bytes : bytes + static_cast<long>(denseWeightBytes(*convolution));
    }
    size_t largest = 0;
    for (const Slab &slab : plan(*convolution, pass)) {
        const std::shared_ptr<const Entry> entry = lookup(convolution, pass, threads, slab);
        if (!entry) return -1;
        largest = std::max(largest, entry->totalBytes);
    }
    return static_cast<long>(largest + prefixBytes(*convolution, pass));
}

int cdnnl_convolution_forward(const cdnnl_convolution *convolution, const float *input,
                              const float *weight, const float *bias, float *output, void *workspace, int threads) {
    const cdnnl_convolution &c = *convolution;
    if (runsDense(c, CDNNL_FORWARD, threads)) {
        const cdnnl_convolution dense = denseEquivalent(c);
        float *denseWeight = static_cast<float *>(workspace);
        expandToDense(c, weight, denseWeight);
        return cdnnl_convolution_forward(&dense, input, denseWeight, bias, output,
                                         static_cast<char *>(workspace) + denseWeightBytes(c), threads);
    }
    const size_t inputPlane = static_cast<size_t>(c.input_height) * c.input_width;
    const size_t outputPlane = static_cast<size_t>(c.output_height) * c.output_width;
    const bool int8 = c.precision == CDNNL_INT8;
    const Int8Scales scales(workspace, c.output_channels);
    if (int8) prepareInt8(c, input, weight, c.has_bias ? bias : nullptr, scales, threads);
    return run(convolution, CDNNL_FORWARD, threads, workspace, [&](const Slab &slab, size_t) {
        std::vector<void *> pointers = {const_cast<float *>(input) + slab.srcStart * inputPlane, const_cast<float *>(weight)};
        if (c.has_bias) pointers.push_back(int8 ? scales.bias : const_cast<float *>(bias));
        pointers.push_back(output + slab.dstStart * outputPlane);
        return pointers;
    }, [](size_t) {}, int8 ? &scales : nullptr);
}

int cdnnl_convolution_backward_data(const cdnnl_convolution *convolution, const float *output_gradient,
                                    const float *weight, float *input_gradient, void *workspace, int threads) {
    const cdnnl_convolution &c = *convolution;
    if (runsDense(c, CDNNL_BACKWARD_DATA, threads)) {
        const cdnnl_convolution dense = denseEquivalent(c);
        float *denseWeight = static_cast<float *>(workspace);
        expandToDense(c, weight, denseWeight);
        return cdnnl_convolution_backward_data(&dense, output_gradient, denseWeight, input_gradient,
                                               static_cast<char *>(workspace) + denseWeightBytes(c), threads);
    }
    const size_t inputPlane = static_cast<size_t>(c.input_height) * c.input_width;
    const size_t outputPlane = static_cast<size_t>(c.output_height) * c.output_width;
    return run(convolution, CDNNL_BACKWARD_DATA, threads, workspace, [&](const Slab &slab, size_t) {
        return std::vector<void *>{const_cast<float *>(output_gradient) + slab.dstStart * outputPlane, const_cast<float *>(weight),
                                   input_gradient + slab.srcStart * inputPlane};
    }, [](size_t) {});
}

int cdnnl_convolution_backward_weights(const cdnnl_convolution *convolution, const float *output_gradient,
                                       const float *input, float *weight_gradient, float *bias_gradient,
                                       void *workspace, int threads) {
    const cdnnl_convolution &c = *convolution;
    if (c.has_bias && !bias_gradient) {
        last_error = "has_bias needs a bias gradient buffer";
        return -1;
    }
    if (runsDense(c, CDNNL_BACKWARD_WEIGHTS, threads)) {
        const cdnnl_convolution dense = denseEquivalent(c);
        float *denseGradient = static_cast<float *>(workspace);
        const int status = cdnnl_convolution_backward_weights(&dense, output_gradient, input, denseGradient, bias_gradient,
                                                              static_cast<char *>(workspace) + denseWeightBytes(c), threads);
        if (status == 0) takeGroupBlocks(c, denseGradient, weight_gradient);
        return status;
    }
    const size_t inputPlane = static_cast<size_t>(c.input_height) * c.input_width;
    const size_t outputPlane = static_cast<size_t>(c.output_height) * c.output_width;
    const size_t weights = static_cast<size_t>(c.output_channels) * (c.input_channels / c.groups) * c.kernel * c.kernel * c.kernel;
    // The first slab writes the gradients, later ones their partials, added in afterwards.
    float *partialWeights = static_cast<float *>(workspace), *partialBias = partialWeights + weights;
    return run(convolution, CDNNL_BACKWARD_WEIGHTS, threads, workspace, [&](const Slab &slab, size_t index) {
        std::vector<void *> pointers = {const_cast<float *>(output_gradient) + slab.dstStart * outputPlane,
                                        const_cast<float *>(input) + slab.srcStart * inputPlane,
                                        index == 0 ? weight_gradient : partialWeights};
        if (c.has_bias) pointers.push_back(index == 0 ? bias_gradient : partialBias);
        return pointers;
    }, [&](size_t index) {
        if (index == 0) return;
        for (size_t i = 0; i < weights; i++) weight_gradient[i] += partialWeights[i];
        if (c.has_bias)
            for (int i = 0; i < c.output_channels; i++) bias_gradient[i] += partialBias[i];
    });
}

const char *cdnnl_convolution_implementation(const cdnnl_convolution *convolution, cdnnl_pass pass, int threads) {
    const bool dense = runsDense(*convolution, pass, threads);
    const cdnnl_convolution ran = dense ? denseEquivalent(*convolution) : *convolution;
    // The name outlives the entry: the cache may drop it while the caller reads the string.
    thread_local std::string name;
    const std::shared_ptr<const Entry> entry = lookup(&ran, pass, threads, plan(ran, pass).front());
    if (!entry) return nullptr;
    name = entry->implementation;
    if (dense) name += " (dense, " + std::to_string(convolution->groups) + " groups)";
    return name.c_str();
}

void cdnnl_clear_cache(void) {
    std::unique_lock<std::shared_mutex> idle(runningLock);
    std::lock_guard<std::mutex> guard(cacheLock);
    cache.clear();
}

void cdnnl_set_slab_budget(long bytes) { slabBudget = bytes > 0 ? static_cast<double>(bytes) : defaultSlabBudget; }

void cdnnl_set_reference_quantizer(int enabled) { referenceQuantizer = enabled != 0; }

int cdnnl_has_int8_dot_product(void) { return hasInt8DotProduct() ? 1 : 0; }

const char *cdnnl_isa(void) {
    switch (get_effective_cpu_isa()) {
    case cpu_isa::sse41: return "sse41";
    case cpu_isa::avx: return "avx";
    case cpu_isa::avx2: return "avx2";
    case cpu_isa::avx2_vnni: return "avx2_vnni";
    case cpu_isa::avx512_core: return "avx512_core";
    case cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "other";
    }
}

const char *cdnnl_version(void) {
    static char text[32];
    const dnnl_version_t *version = dnnl_version();
    std::snprintf(text, sizeof text, "%d.%d.%d", version->major, version->minor, version->patch);
    return text;
}

const char *cdnnl_last_error(void) { return last_error.c_str(); }
}
