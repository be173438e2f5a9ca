@testable import Core
import Testing
import TestSupport

/// The oneDNN backend beyond the shared sweep in `Convolution3DTests` (which checks both
/// backends against the direct Double convolution, PyTorch fixtures and adjointness): that it
/// really runs the shapes the networks use (a silent fall-back to the engine would pass every
/// numerics test), that a shape it refuses still gets the right answer, and bfloat16's error.
@Suite("oneDNN convolution")
struct OneDNNConvolutionTests {
    /// The kinds of convolution in the four networks: 3×3×3 "same", 3×3×3 stride 2, 2×2×2
    /// stride 2 (the student's downsampling), 1×1×1 heads, on odd and even sizes, batch 2.
    static let networkShapes: [(input: [Int], weight: [Int], stride: Int, padding: Int)] = [
        ([1, 4, 9, 10, 11], [16, 4, 3, 3, 3], 1, 1),
        ([2, 16, 8, 8, 8], [32, 16, 3, 3, 3], 2, 1),
        ([1, 16, 8, 10, 6], [32, 16, 2, 2, 2], 2, 0),
        ([1, 32, 5, 6, 7], [3, 32, 1, 1, 1], 1, 0),
    ]

    @Test("oneDNN runs every kind of convolution the networks use, in float32")
    func runsNetworkShapes() {
        for shape in Self.networkShapes {
            let geometry = ConvolutionGeometry(inputShape: shape.input, weightShape: shape.weight, biasShape: nil,
                                               stride: shape.stride, padding: shape.padding, groups: 1)
            let implementation = OneDNNConvolution.implementation(of: geometry, precision: .float32)
            #expect(implementation != nil, "\(geometry): \(implementation ?? "refused")")
        }
    }

    @Test("a shape oneDNN refuses (negative right padding) falls back to the engine and stays exact")
    func refusedShapeFallsBack() {
        var random = SeededRandom(seed: 4)
        let input = Tensor.randomNormal(shape: [1, 3, 6, 6, 6], random: &random)
        let weight = Tensor.randomNormal(shape: [5, 3, 1, 1, 1], random: &random)
        let geometry = ConvolutionGeometry(inputShape: input.shape, weightShape: weight.shape, biasShape: nil,
                                           stride: 2, padding: 0, groups: 1)
        #expect(OneDNNConvolution.implementation(of: geometry, precision: .float32) == nil)
        let output = Convolution3D.forward(input: input, weight: weight, bias: nil, stride: 2, padding: 0)
        let reference = NaiveConvolution(input: input, weight: weight, bias: nil, stride: 2, padding: 0, groups: 1)
        #expect(relativeError(output, reference.output) < 1e-6)
    }

    /// bfloat16 keeps 8 of float32's 24 significand bits: each input and weight is off by up to
    /// 2⁻⁹ relative, and a sum of many products by about as much (the errors do not line up).
    /// Stated tolerance (`relativeError`: max |a − b| / max(1, max |b|)): below 1 %, and above
    /// 10⁻⁵ so that the test also fails if the float32 kernel silently ran instead.
    @Test("bfloat16 forward and gradients are within 1 % of float32 (and are not float32)",
          .enabled(if: OneDNNConvolution.hasNativeBFloat16, "this CPU has no AVX-512 BF16"))
    func bfloat16Tolerance() {
        var random = SeededRandom(seed: 12)
        for shape in Self.networkShapes {
            let input = Tensor.randomNormal(shape: shape.input, random: &random)
            let weight = Tensor.randomNormal(shape: shape.weight, scale: 0.2, random: &random)
            let bias = Tensor.randomNormal(shape: [shape.weight[0]], random: &random)
            let exact = ConvolutionTuning.default, reduced = ConvolutionTuning.default.with(precision: .bfloat16)
            let geometry = ConvolutionGeometry(inputShape: shape.input, weightShape: shape.weight, biasShape: nil,
                                               stride: shape.stride, padding: shape.padding, groups: 1)
            #expect(OneDNNConvolution.implementation(of: geometry, precision: .bfloat16)?.contains("bf16") == true)
            func forward(_ tuning: ConvolutionTuning) -> Tensor {
                Convolution3D.forward(input: input, weight: weight, bias: bias, stride: shape.stride, padding: shape.padding, tuning: tuning)
            }
            let output = forward(exact)
            let gradient = Tensor.randomNormal(shape: output.shape, random: &random)
            func inputGradient(_ tuning: ConvolutionTuning) -> Tensor {
                Convolution3D.backwardInput(outputGradient: gradient, weight: weight, inputShape: shape.input,
                                            stride: shape.stride, padding: shape.padding, tuning: tuning)
            }
            func weightGradient(_ tuning: ConvolutionTuning) -> (weight: Tensor, bias: Tensor?) {
                Convolution3D.backwardWeight(outputGradient: gradient, input: input, weightShape: shape.weight, includeBias: true,
                                             stride: shape.stride, padding: shape.padding, tuning: tuning)
            }
            let pairs = [("forward", forward(reduced), output),
                         ("input gradient", inputGradient(reduced), inputGradient(exact)),
                         ("weight gradient", weightGradient(reduced).weight, weightGradient(exact).weight)]
            for (name, actual, expected) in pairs {
                let error = relativeError(actual, expected)
                #expect(error < 1e-2 && error > 1e-5, "\(name) \(geometry): relative error \(error)")
            }
            // The bias gradient sums the bfloat16-rounded output gradient in float32.
            #expect(relativeError(weightGradient(reduced).bias!, weightGradient(exact).bias!) < 1e-2, "bias gradient")
        }
    }

    @Test("the instruction set and version are reported")
    func identification() {
        #expect(!OneDNNConvolution.version.isEmpty && OneDNNConvolution.version.first != "0")
        #expect(OneDNNConvolution.instructionSet != "other")
    }
}
