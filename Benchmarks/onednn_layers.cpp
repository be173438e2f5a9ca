// oneDNN alone, without brainseg: one 3×3×3 "same" convolution C→C at S³ in fp32, bf16 and s8
// (int8 inputs and weights, float32 output), each timed as the best of 5 runs after a warm-up,
// with the kernel oneDNN picked. The per-layer figures of Benchmarks/README.md ("int8 inference")
// come from it:
//
//   g++ -O2 -o /tmp/onednn-layers Benchmarks/onednn_layers.cpp -ldnnl -lgomp
//   /tmp/onednn-layers 32 64 1; /tmp/onednn-layers 64 32 1; /tmp/onednn-layers 16 96 1   # C S threads
//
// The tensors are constant (timing only); brainseg's own int8 path adds the reorders between its
// plain layout and oneDNN's and the per-call scales (`brainseg bench conv --precision int8`).
#include <oneapi/dnnl/dnnl.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;
extern "C" void omp_set_num_threads(int);

static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

int main(int argc, char **argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s CHANNELS SIZE THREADS\n", argv[0]);
        return 2;
    }
    const int channels = std::atoi(argv[1]), size = std::atoi(argv[2]);
    omp_set_num_threads(std::atoi(argv[3]));
    engine eng(engine::kind::cpu, 0);
    stream queue(eng);
    const memory::dims activations = {1, channels, size, size, size}, weights = {channels, channels, 3, 3, 3};
    const memory::dims strides = {1, 1, 1}, padding = {1, 1, 1};
    const struct { const char *name; dt data; } arithmetics[] = {{"f32", dt::f32}, {"bf16", dt::bf16}, {"s8", dt::s8}};
    for (const auto &arithmetic : arithmetics) {
        const memory::desc source(activations, arithmetic.data, tag::any), weight(weights, arithmetic.data, tag::any);
        const memory::desc destination(activations, dt::f32, tag::any);
        const convolution_forward::desc description(prop_kind::forward_inference, algorithm::convolution_direct, source, weight,
                                                    destination, strides, padding, padding);
        primitive_attr attributes;
        if (arithmetic.data == dt::s8) attributes.set_output_scales(0, {0.01f});
        const convolution_forward::primitive_desc pd(description, attributes, eng);
        memory input(pd.src_desc(), eng), filter(pd.weights_desc(), eng), output(pd.dst_desc(), eng);
        std::memset(input.get_data_handle(), 1, pd.src_desc().get_size());
        std::memset(filter.get_data_handle(), 1, pd.weights_desc().get_size());
        convolution_forward convolution(pd);
        double best = 1e9;
        for (int run = 0; run < 6; run++) {  // run 0 is the warm-up
            const double start = now();
            convolution.execute(queue, {{DNNL_ARG_SRC, input}, {DNNL_ARG_WEIGHTS, filter}, {DNNL_ARG_DST, output}});
            queue.wait();
            if (run > 0 && now() - start < best) best = now() - start;
        }
        const double gigaOperations = 2.0 * channels * channels * 27 * size * size * size / 1e9;
        std::printf("%s C=%d S=%d %s: %.1f ms %.0f GOP/s\n", arithmetic.name, channels, size, pd.impl_info_str(), best * 1e3,
                    gigaOperations / best);
    }
    return 0;
}
