/// The arithmetic of a convolution's multiply-adds. Accumulation, outputs, gradients and
/// everything that is not a convolution stay float32 in both.
///
/// - `float32`: the reference.
/// - `bfloat16`: inputs and weights rounded to bfloat16 (8 bits of mantissa) inside the
///   convolution, on CPUs with AVX-512 BF16 through oneDNN (`ConvolutionBackend.oneDNN`); the
///   engine's own kernels compute such a convolution in float32. A model uses it only where the
///   equivalence check (`Benchmarks/bf16-equivalence.sh`) showed the same masks.
public enum ComputePrecision: String, Sendable, CaseIterable, Codable {
    case float32 = "fp32"
    case bfloat16 = "bf16"
}
