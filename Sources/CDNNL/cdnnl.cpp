// Shim only: the oneDNN calls behind CDNNL.h. Each (convolution, pass, thread count) gets one
// immutable cache entry: its primitive, the reorders between the engine's plain layout and the
// layouts the primitive chose, and where each blocked copy lives in the caller's workspace.
#include "CDNNL.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
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

engine &cpu_engine() {
    static engine instance(engine::kind::cpu, 0);
    return instance;
}

constexpr size_t alignment = 64;
size_t aligned(size_t bytes) { return (bytes + alignment - 1) / alignment * alignment; }

/// One tensor argument: the engine's plain layout, the primitive's layout, and, when they differ,
/// the reorder between them and the workspace offset of the primitive's copy.
struct Operand {
    int argument;
    bool isOutput;
    memory::desc plain;
    memory::desc inner;
    bool reordered = false;
    size_t offset = 0;
    std::unique_ptr<reorder> conversion;
};

struct Entry {
    primitive computation;
    std::string implementation;
    std::vector<Operand> operands;
    size_t scratchpadOffset = 0;
    size_t totalBytes = 0;
};

struct Key {
    cdnnl_convolution convolution;
    int pass;
    int threads;
    bool operator<(const Key &other) const { return std::memcmp(this, &other, sizeof(Key)) < 0; }
};

std::mutex cacheLock;
std::map<Key, std::unique_ptr<Entry>> cache;

memory::dims weightDims(const cdnnl_convolution &c) {
    const memory::dim k = c.kernel;
    if (c.groups == 1) return {c.output_channels, c.input_channels, k, k, k};
    return {c.groups, c.output_channels / c.groups, c.input_channels / c.groups, k, k, k};
}

/// Builds the primitive for `key`; throws dnnl::error or std::runtime_error.
std::unique_ptr<Entry> makeEntry(const Key &key) {
    const cdnnl_convolution &c = key.convolution;
    const dt compute = c.precision == CDNNL_BFLOAT16 ? dt::bf16 : dt::f32;
    const memory::dims source = {c.batch, c.input_channels, c.input_depth, c.input_height, c.input_width};
    const memory::dims destination = {c.batch, c.output_channels, c.output_depth, c.output_height, c.output_width};
    const memory::dims weights = weightDims(c), bias = {c.output_channels};
    const memory::dims strides = {c.stride, c.stride, c.stride}, left = {c.padding, c.padding, c.padding};
    // PyTorch's floor rule: the right padding is whatever makes the output size come out.
    const memory::dims right = {
        (c.output_depth - 1) * c.stride + c.kernel - c.input_depth - c.padding,
        (c.output_height - 1) * c.stride + c.kernel - c.input_height - c.padding,
        (c.output_width - 1) * c.stride + c.kernel - c.input_width - c.padding};
    for (auto r : right)
        if (r < 0) throw std::runtime_error("negative right padding is not supported");

    const memory::desc plainSource(source, dt::f32, tag::ncdhw), plainDestination(destination, dt::f32, tag::ncdhw);
    const memory::desc plainWeights(weights, dt::f32, c.groups == 1 ? tag::oidhw : tag::goidhw);
    const memory::desc plainBias(bias, dt::f32, tag::x);
    const memory::desc anySource(source, compute, tag::any), anyWeights(weights, compute, tag::any);
    // bf16 convolutions still write float32 results (and float32 weight gradients).
    const memory::desc anyDestination(destination, dt::f32, tag::any);
    const memory::desc anyDestinationGradient(destination, compute, tag::any);
    const memory::desc anySourceGradient(source, dt::f32, tag::any), anyWeightGradient(weights, dt::f32, tag::any);

    primitive_attr attributes;
    attributes.set_scratchpad_mode(scratchpad_mode::user);
    engine &eng = cpu_engine();
    auto entry = std::make_unique<Entry>();

    auto forwardDescription = [&](prop_kind kind, const memory::desc &dst) {
        return c.has_bias
            ? convolution_forward::desc(kind, algorithm::convolution_direct, anySource, anyWeights, plainBias, dst, strides, left, right)
            : convolution_forward::desc(kind, algorithm::convolution_direct, anySource, anyWeights, dst, strides, left, right);
    };
    memory::desc scratchpad;
    switch (key.pass) {
    case CDNNL_FORWARD_INFERENCE:
    case CDNNL_FORWARD_TRAINING: {
        auto kind = key.pass == CDNNL_FORWARD_INFERENCE ? prop_kind::forward_inference : prop_kind::forward_training;
        convolution_forward::primitive_desc pd(forwardDescription(kind, anyDestination), attributes, eng);
        entry->operands.push_back({DNNL_ARG_SRC, false, plainSource, pd.src_desc()});
        entry->operands.push_back({DNNL_ARG_WEIGHTS, false, plainWeights, pd.weights_desc()});
        if (c.has_bias) entry->operands.push_back({DNNL_ARG_BIAS, false, plainBias, pd.bias_desc()});
        entry->operands.push_back({DNNL_ARG_DST, true, plainDestination, pd.dst_desc()});
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
        if (operand.inner == operand.plain) continue;
        operand.reordered = true;
        operand.offset = offset;
        offset += aligned(operand.inner.get_size());
        const memory::desc &from = operand.isOutput ? operand.inner : operand.plain;
        const memory::desc &to = operand.isOutput ? operand.plain : operand.inner;
        reorder::primitive_desc pd(eng, from, eng, to);
        if (pd.scratchpad_desc().get_size() != 0) throw std::runtime_error("reorder needs a scratchpad");
        operand.conversion = std::make_unique<reorder>(pd);
    }
    entry->scratchpadOffset = offset;
    entry->totalBytes = offset + aligned(scratchpad.get_size()) + alignment;
    return entry;
}

/// The cached entry for this call (built on first use), or nullptr with last_error set.
const Entry *lookup(const cdnnl_convolution *convolution, cdnnl_pass pass, int threads) {
    Key key;
    std::memset(&key, 0, sizeof key);
    key.convolution = *convolution;
    key.pass = pass;
    key.threads = threads < 1 ? 1 : threads;
    // oneDNN sizes its thread partitioning when the primitive is created.
    omp_set_num_threads(key.threads);
    std::lock_guard<std::mutex> guard(cacheLock);
    auto found = cache.find(key);
    if (found != cache.end()) return found->second.get();
    try {
        auto entry = makeEntry(key);
        const Entry *result = entry.get();
        cache.emplace(key, std::move(entry));
        return result;
    } catch (const dnnl::error &failure) {
        last_error = std::string("oneDNN: ") + failure.what();
    } catch (const std::exception &failure) {
        last_error = std::string("oneDNN shim: ") + failure.what();
    }
    return nullptr;
}

/// Runs the entry's primitive with `pointers[i]` as the plain data of operand i.
int execute(const Entry &entry, const std::vector<void *> &pointers, void *workspace, int threads) {
    try {
        omp_set_num_threads(threads < 1 ? 1 : threads);
        engine &eng = cpu_engine();
        stream queue(eng);
        char *base = static_cast<char *>(workspace);
        base += (alignment - reinterpret_cast<uintptr_t>(base) % alignment) % alignment;
        std::unordered_map<int, memory> arguments;
        std::vector<std::pair<size_t, memory>> outputs;
        std::vector<memory> plains;
        for (size_t index = 0; index < entry.operands.size(); index++) {
            const Operand &operand = entry.operands[index];
            memory plain(operand.plain, eng, pointers[index]);
            if (!operand.reordered) {
                arguments.emplace(operand.argument, plain);
                continue;
            }
            memory inner(operand.inner, eng, base + operand.offset);
            if (!operand.isOutput) operand.conversion->execute(queue, plain, inner);
            arguments.emplace(operand.argument, inner);
            plains.push_back(plain);
            if (operand.isOutput) outputs.emplace_back(index, plain);
        }
        arguments.emplace(DNNL_ARG_SCRATCHPAD,
                          memory(memory::desc({static_cast<memory::dim>(entry.totalBytes - entry.scratchpadOffset)}, dt::u8, tag::x),
                                 eng, base + entry.scratchpadOffset));
        entry.computation.execute(queue, arguments);
        for (auto &[index, plain] : outputs) {
            const Operand &operand = entry.operands[index];
            operand.conversion->execute(queue, arguments.at(operand.argument), plain);
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
} // namespace

extern "C" {

long cdnnl_convolution_workspace_bytes(const cdnnl_convolution *convolution, cdnnl_pass pass, int threads) {
    const Entry *entry = lookup(convolution, pass, threads);
    return entry ? static_cast<long>(entry->totalBytes) : -1;
}

int cdnnl_convolution_forward(const cdnnl_convolution *convolution, cdnnl_pass pass, const float *input,
                              const float *weight, const float *bias, float *output, void *workspace, int threads) {
    if (pass != CDNNL_FORWARD_INFERENCE && pass != CDNNL_FORWARD_TRAINING) {
        last_error = "cdnnl_convolution_forward needs a forward pass";
        return -1;
    }
    const Entry *entry = lookup(convolution, pass, threads);
    if (!entry) return -1;
    std::vector<void *> pointers = {const_cast<float *>(input), const_cast<float *>(weight)};
    if (convolution->has_bias) pointers.push_back(const_cast<float *>(bias));
    pointers.push_back(output);
    return execute(*entry, pointers, workspace, threads);
}

int cdnnl_convolution_backward_data(const cdnnl_convolution *convolution, const float *output_gradient,
                                    const float *weight, float *input_gradient, void *workspace, int threads) {
    const Entry *entry = lookup(convolution, CDNNL_BACKWARD_DATA, threads);
    if (!entry) return -1;
    return execute(*entry, {const_cast<float *>(output_gradient), const_cast<float *>(weight), input_gradient}, workspace, threads);
}

int cdnnl_convolution_backward_weights(const cdnnl_convolution *convolution, const float *output_gradient,
                                       const float *input, float *weight_gradient, float *bias_gradient,
                                       void *workspace, int threads) {
    if (convolution->has_bias && !bias_gradient) {
        last_error = "has_bias needs a bias gradient buffer";
        return -1;
    }
    const Entry *entry = lookup(convolution, CDNNL_BACKWARD_WEIGHTS, threads);
    if (!entry) return -1;
    std::vector<void *> pointers = {const_cast<float *>(output_gradient), const_cast<float *>(input), weight_gradient};
    if (convolution->has_bias) pointers.push_back(bias_gradient);
    return execute(*entry, pointers, workspace, threads);
}

const char *cdnnl_convolution_implementation(const cdnnl_convolution *convolution, cdnnl_pass pass, int threads) {
    const Entry *entry = lookup(convolution, pass, threads);
    return entry ? entry->implementation.c_str() : nullptr;
}

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
