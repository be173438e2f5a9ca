/// The arithmetic of a convolution's multiply-adds. Accumulation, outputs, gradients and
/// everything that is not a convolution stay float32 in all of them.
///
/// - `float32`: the reference.
/// - `bfloat16`: inputs and weights rounded to bfloat16 (8 bits of mantissa) inside the
///   convolution, on CPUs with AVX-512 BF16 through oneDNN (`ConvolutionBackend.oneDNN`); the
///   engine's own kernels compute such a convolution in float32. A model uses it only where the
///   equivalence check (`Benchmarks/bf16-equivalence.py`) showed the same masks.
/// - `int8`: inference only. Each forward convolution's input is quantized with one scale per
///   call: where the CPU has int8 dot products (VNNI, AMX) to unsigned 8 bits with a zero point
///   ([min(0, min x), max(0, max x)] → 0…255: a LeakyReLU's output wastes no codes on negatives
///   it does not have), elsewhere symmetrically to signed 8 bits (largest |x| → 127), which is
///   the only form oneDNN's fallback guards against overflow; its weights with one scale per
///   output channel. Products are summed in int32 (AVX-512 VNNI through oneDNN) and rescaled to
///   float32, where the bias is added. Convolutions with fewer than
///   `OneDNNConvolution.int8MinimumChannels` input or output channels (the first layer, which
///   sees the z-scored images with their outliers, and the output heads), every backward pass
///   and the engine's own kernels compute in float32. Training refuses it.
public enum ComputePrecision: String, Sendable, CaseIterable, Codable {
    case float32 = "fp32"
    case bfloat16 = "bf16"
    case int8 = "int8"

    /// Whether training steps may run at this precision (not int8: its rounding has no gradient).
    public var isTrainable: Bool { self != .int8 }

    /// The precision a convolution asked to run at `self` runs at on this machine: int8 where
    /// the CPU has int8 dot-product instructions (VNNI: 4 int8 multiply-adds per fp32 lane and
    /// instruction, measured 2.5–3.4× fp32 per layer on the Intel machine), else what bfloat16
    /// would run at (every shipped model passed the bf16 check); bfloat16 where
    /// `BFloat16Choice.current` keeps it, else float32.
    public var onThisMachine: ComputePrecision {
        switch self {
        case .float32: return .float32
        case .bfloat16: return BFloat16Choice.effective(.bfloat16)
        case .int8: return OneDNNConvolution.hasInt8DotProduct ? .int8 : ComputePrecision.bfloat16.onThisMachine
        }
    }
}
