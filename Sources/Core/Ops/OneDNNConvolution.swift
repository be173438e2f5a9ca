import CDNNL

/// `Convolution3D`'s kernels on oneDNN (libdnnl 2.6, Debian's `libdnnl-dev`), the library under
/// PyTorch's CPU convolutions: JIT-generated AVX-512 direct convolutions on blocked channel
/// layouts (nCdhw16c), bfloat16 ones on CPUs with AVX-512 BF16 and int8 ones (AVX-512 VNNI)
/// for inference.
///
/// Tensors stay in the engine's plain N×C×D×H×W layout; the shim (`Sources/CDNNL`) reorders
/// inputs into oneDNN's layouts and results back, inside a workspace from `BufferPool`, so the
/// memory a convolution adds is bounded and reused like the engine's own scratch; a large
/// convolution runs as slabs along depth so that this workspace stays near 32 MiB. Each call
/// returns false when oneDNN cannot run the shape (the caller then runs the engine's kernels),
/// so this path can never fail a convolution the engine can do.
///
/// Measured on the project machine (2 cores, Zen 4, `Benchmarks/run.sh`, 2 threads): faster
/// than the engine's kernels, PyTorch and ONNX Runtime on every row (Benchmarks/README.md),
/// which is why `ConvolutionTuning.Backend.oneDNN` is the default.
public enum OneDNNConvolution {
    /// y = conv(x, w) + b into `output`, on `threads` oneDNN threads (nil: the engine's count).
    static func forward(
        geometry: ConvolutionGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        output: UnsafeMutablePointer<Float>, precision: ComputePrecision, threads: Int? = nil
    ) -> Bool {
        let arithmetic = precision == .int8 && !runsInInt8(geometry) ? .float32 : precision
        let description = Self.description(geometry, hasBias: bias != nil, precision: arithmetic)
        return withWorkspace(description, CDNNL_FORWARD, threads: threads) { description, workspace, threads in
            cdnnl_convolution_forward(description, input, weight, bias, output, workspace, threads)
        }
    }

    /// ∂L/∂x into `inputGradient` (overwritten).
    static func backwardData(
        geometry: ConvolutionGeometry, outputGradient: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>, precision: ComputePrecision
    ) -> Bool {
        let description = Self.description(geometry, hasBias: false, precision: precision.backward)
        return withWorkspace(description, CDNNL_BACKWARD_DATA) { description, workspace, threads in
            cdnnl_convolution_backward_data(description, outputGradient, weight, inputGradient, workspace, threads)
        }
    }

    /// ∂L/∂w into `weightGradient` and, when given, ∂L/∂b into `biasGradient` (both overwritten).
    static func backwardWeights(
        geometry: ConvolutionGeometry, outputGradient: UnsafePointer<Float>, input: UnsafePointer<Float>,
        weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?, precision: ComputePrecision
    ) -> Bool {
        let description = Self.description(geometry, hasBias: biasGradient != nil, precision: precision.backward)
        return withWorkspace(description, CDNNL_BACKWARD_WEIGHTS) { description, workspace, threads in
            cdnnl_convolution_backward_weights(description, outputGradient, input, weightGradient, biasGradient, workspace, threads)
        }
    }

    /// oneDNN's kernel name for this convolution's forward pass (e.g. "brgconv:avx512_core",
    /// "brgconv:avx512_core_bf16"; its first slab's), or nil when oneDNN cannot run it.
    public static func implementation(of geometry: ConvolutionGeometry, precision: ComputePrecision) -> String? {
        var description = Self.description(geometry, hasBias: true, precision: precision)
        return cdnnl_convolution_implementation(&description, CDNNL_FORWARD, Int32(threads)).map { String(cString: $0) }
    }

    /// Whether oneDNN's weight gradient for this convolution is an im2col GEMM (its fallback
    /// when it has no direct kernel: every 3D weight gradient on CPUs without AVX-512, at
    /// 5–25 GFLOP/s for narrow layers) or missing.
    static func weightGradientIsGEMM(_ geometry: ConvolutionGeometry, precision: ComputePrecision) -> Bool {
        var description = Self.description(geometry, hasBias: false, precision: precision.backward)
        guard let name = cdnnl_convolution_implementation(&description, CDNNL_BACKWARD_WEIGHTS, Int32(threads)) else { return true }
        let implementation = String(cString: name)
        return implementation.contains("gemm") || implementation.contains("ref")
    }

    /// The instruction set oneDNN dispatches to here (printed with every benchmark).
    public static var instructionSet: String { String(cString: cdnnl_isa()) }

    /// The loaded libdnnl's version.
    public static var version: String { String(cString: cdnnl_version()) }

    /// Drops oneDNN's cached primitives and their generated code (rebuilt on next use); part of
    /// the daemon's idle-time memory release.
    public static func releaseCachedKernels() { cdnnl_clear_cache() }

    /// Sets the size of the blocked copies above which a convolution called from this thread
    /// runs as slabs along depth (nil: the default, 32 MiB; other threads keep theirs, so tests
    /// running side by side cannot change each other's plans). Results do not depend on it;
    /// tests make it tiny so that even small convolutions run as many slabs.
    static func setSlabBudget(bytes: Int?) { cdnnl_set_slab_budget(bytes ?? 0) }

    /// Whether int8 convolutions called from this thread quantize their input with oneDNN's
    /// reorder (true) or, where it applies, the shim's own AVX-512 quantizer (false, the
    /// default). Both give the same bytes; tests compare them.
    static func setReferenceQuantizer(_ enabled: Bool) { cdnnl_set_reference_quantizer(enabled ? 1 : 0) }

    /// nil when oneDNN can build its kernels here; else why not (oneDNN generates its kernels at
    /// run time, into memory it writes and then executes: a process denied write-then-execute
    /// memory, e.g. by systemd's MemoryDenyWriteExecute=yes or prctl(PR_SET_MDWE), gets none,
    /// and every convolution falls back to the engine's slower kernels). The daemon and the
    /// nightly retrain log this at start.
    public static func unavailableReason() -> String? {
        let geometry = ConvolutionGeometry(inputShape: [1, 16, 4, 4, 4], weightShape: [16, 16, 3, 3, 3], biasShape: nil,
                                           stride: 1, padding: 1, groups: 1)
        guard implementation(of: geometry, precision: .float32) == nil else { return nil }
        return String(cString: cdnnl_last_error())
    }

    /// Whether this CPU runs bfloat16 convolutions natively (AVX-512 BF16 or AMX).
    public static var hasNativeBFloat16: Bool { ["avx512_core_bf16", "avx512_core_amx"].contains(instructionSet) }

    /// Whether this CPU has int8 dot-product instructions (VNNI; every AVX-512 BF16 CPU has them):
    /// the shim's own answer, which also decides its int8 input's form.
    public static var hasInt8DotProduct: Bool { cdnnl_has_int8_dot_product() != 0 }

    /// int8 convolutions with fewer input channels (per group) or fewer output channels than
    /// this run in float32: the first layer of every model (4 modalities) sees the z-scored
    /// images, whose outliers would make one scale per tensor coarse, and the output heads
    /// (3 or 4 channels) write the logits that are thresholded into the mask, so their rounding
    /// would move voxels across the threshold directly. Both cost little.
    public static let int8MinimumChannels = 8

    /// Whether a convolution asked for int8 runs in int8 (else float32).
    static func runsInInt8(_ geometry: ConvolutionGeometry) -> Bool {
        geometry.inputChannels / geometry.groups >= int8MinimumChannels && geometry.outputChannels >= int8MinimumChannels
    }

    private static var threads: Int { max(1, Parallel.threadCount) }

    private static func description(_ geometry: ConvolutionGeometry, hasBias: Bool, precision: ComputePrecision) -> cdnnl_convolution {
        cdnnl_convolution(
            batch: Int32(geometry.batch), input_channels: Int32(geometry.inputChannels),
            output_channels: Int32(geometry.outputChannels), groups: Int32(geometry.groups),
            input_depth: Int32(geometry.inputDepth), input_height: Int32(geometry.inputHeight), input_width: Int32(geometry.inputWidth),
            output_depth: Int32(geometry.outputDepth), output_height: Int32(geometry.outputHeight),
            output_width: Int32(geometry.outputWidth), kernel: Int32(geometry.kernel), stride: Int32(geometry.stride),
            padding: Int32(geometry.padding), has_bias: hasBias ? 1 : 0,
            precision: precision == .bfloat16 ? CDNNL_BFLOAT16 : precision == .int8 ? CDNNL_INT8 : CDNNL_FLOAT32)
    }

    /// Runs `body(description, workspace, threads)` with a pooled workspace of the size the pass
    /// needs, on `threads` threads (nil: the engine's count); false when oneDNN refuses the shape
    /// or the call fails.
    private static func withWorkspace(
        _ description: cdnnl_convolution, _ pass: cdnnl_pass, threads requested: Int? = nil,
        _ body: (UnsafePointer<cdnnl_convolution>, UnsafeMutableRawPointer, Int32) -> Int32
    ) -> Bool {
        let threads = Int32(max(1, requested ?? Self.threads))
        return withUnsafePointer(to: description) { description in
            let bytes = cdnnl_convolution_workspace_bytes(description, pass, threads)
            guard bytes >= 0 else { return false }
            let workspace = BufferPool.shared.scratch((Int(bytes) + 3) / 4)
            defer { BufferPool.shared.release(workspace) }
            return body(description, UnsafeMutableRawPointer(workspace), threads) == 0
        }
    }
}

extension OneDNNConvolution {
    /// `body` with the tensor's mutable base address, or nil when there is no tensor.
    static func withOptionalMutablePointer<R>(_ tensor: inout Tensor?, _ body: (UnsafeMutablePointer<Float>?) -> R) -> R {
        guard tensor != nil else { return body(nil) }
        return tensor!.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
    }
}

private extension ComputePrecision {
    /// The arithmetic of the backward passes: int8 is for inference only.
    var backward: ComputePrecision { self == .int8 ? .float32 : self }
}
