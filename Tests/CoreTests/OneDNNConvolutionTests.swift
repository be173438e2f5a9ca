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

    @Test("grouped convolutions with narrow groups (the cascade's encoders) run on a direct kernel, as their dense equivalent")
    func narrowGroupsRunDense() {
        for (input, weight) in [([1, 16, 8, 8, 8], [16, 4, 3, 3, 3]), ([1, 4, 8, 8, 8], [16, 1, 3, 3, 3])] {
            let geometry = ConvolutionGeometry(inputShape: input, weightShape: weight, biasShape: nil, stride: 1, padding: 1, groups: 4)
            let implementation = OneDNNConvolution.implementation(of: geometry, precision: .float32) ?? "refused"
            #expect(!implementation.contains("gemm") && !implementation.contains("ref"), "\(geometry): \(implementation)")
        }
    }

    @Test("split into slabs along depth (one plane each), every pass runs on oneDNN and matches the direct Double convolution",
          arguments: ConvolutionCase.all)
    func slabs(_ configuration: ConvolutionCase) {
        var random = SeededRandom(seed: UInt64(7 + configuration.kernel * 100 + configuration.stride * 10 + configuration.padding))
        var input = Tensor.randomNormal(shape: [2, 4, 7, 5, 6], random: &random)
        var weight = Tensor.randomNormal(shape: [4, 4 / configuration.groups, configuration.kernel, configuration.kernel, configuration.kernel],
                                         scale: 0.3, random: &random)
        var bias = Tensor.randomNormal(shape: [4], random: &random)
        let geometry = ConvolutionGeometry(inputShape: input.shape, weightShape: weight.shape, biasShape: nil, stride: configuration.stride,
                                           padding: configuration.padding, groups: configuration.groups)
        var gradient = Tensor.randomNormal(shape: geometry.outputShape, random: &random)
        let reference = NaiveConvolution(input: input, weight: weight, bias: configuration.bias ? bias : nil, stride: geometry.stride,
                                         padding: geometry.padding, groups: geometry.groups, outputGradient: gradient)
        // oneDNN refuses a negative right padding (PyTorch's floor rule can drop input voxels).
        let refused = zip([geometry.outputDepth, geometry.outputHeight, geometry.outputWidth], [7, 5, 6]).contains { output, size in
            (output - 1) * geometry.stride + geometry.kernel - size - geometry.padding < 0
        }
        var output = Tensor(shape: geometry.outputShape), inputGradient = Tensor(shape: input.shape)
        var weightGradient = Tensor(shape: weight.shape), biasGradient = Tensor(shape: [4])
        OneDNNConvolution.setSlabBudget(bytes: 1)
        defer { OneDNNConvolution.setSlabBudget(bytes: nil) }
        let ran = [
            OneDNNConvolution.forward(geometry: geometry, input: input.mutablePointer, weight: weight.mutablePointer,
                                      bias: configuration.bias ? bias.mutablePointer : nil, output: output.mutablePointer, precision: .float32),
            OneDNNConvolution.backwardData(geometry: geometry, outputGradient: gradient.mutablePointer, weight: weight.mutablePointer,
                                           inputGradient: inputGradient.mutablePointer, precision: .float32),
            OneDNNConvolution.backwardWeights(geometry: geometry, outputGradient: gradient.mutablePointer, input: input.mutablePointer,
                                              weightGradient: weightGradient.mutablePointer,
                                              biasGradient: configuration.bias ? biasGradient.mutablePointer : nil, precision: .float32),
        ]
        // Its strided data gradient also needs kernel ≥ stride (k1 s2 p1 is refused: the engine runs it).
        #expect(ran == [!refused, !refused && geometry.kernel >= geometry.stride, !refused])
        if !refused {
            #expect(relativeError(output, reference.output) < 1e-5)
            if geometry.kernel >= geometry.stride { #expect(relativeError(inputGradient, reference.inputGradient) < 1e-5) }
            #expect(relativeError(weightGradient, reference.weightGradient) < 1e-5)
            if configuration.bias { #expect(relativeError(biasGradient, reference.biasGradient) < 1e-5) }
        }
    }

    @Test("a convolution large enough for slabs at the default budget (42 MB of copies) matches the engine's kernels")
    func defaultSlabsMatchEngine() {
        var random = SeededRandom(seed: 31)
        let input = Tensor.randomNormal(shape: [1, 32, 48, 48, 48], random: &random)
        let weight = Tensor.randomNormal(shape: [32, 32, 3, 3, 3], scale: 0.05, random: &random)
        let bias = Tensor.randomNormal(shape: [32], random: &random)
        let gradient = Tensor.randomNormal(shape: input.shape, random: &random)
        let engine = ConvolutionTuning.default.onEngine
        // oneDNN itself: this shape would otherwise run on `WinogradConvolution`.
        let oneDNN = ConvolutionTuning(winograd: false)
        #expect(OneDNNConvolution.implementation(
            of: ConvolutionGeometry(inputShape: input.shape, weightShape: weight.shape, biasShape: nil, stride: 1, padding: 1, groups: 1),
            precision: .float32) != nil)
        let output = Convolution3D.forward(input: input, weight: weight, bias: bias, padding: 1, tuning: oneDNN)
        #expect(relativeError(output, Convolution3D.forward(input: input, weight: weight, bias: bias, padding: 1, tuning: engine)) < 1e-5)
        let inputGradient = Convolution3D.backwardInput(outputGradient: gradient, weight: weight, inputShape: input.shape, padding: 1,
                                                        tuning: oneDNN)
        #expect(relativeError(inputGradient, Convolution3D.backwardInput(outputGradient: gradient, weight: weight, inputShape: input.shape,
                                                                         padding: 1, tuning: engine)) < 1e-5)
        let gradients = Convolution3D.backwardWeight(outputGradient: gradient, input: input, weightShape: weight.shape, includeBias: true,
                                                     padding: 1, tuning: oneDNN)
        let expected = Convolution3D.backwardWeight(outputGradient: gradient, input: input, weightShape: weight.shape, includeBias: true,
                                                    padding: 1, tuning: engine)
        // Sums over 110 592 voxels: compare relative to the gradient's own scale.
        #expect(relativeError(gradients.weight, expected.weight) < 1e-4)
        #expect(relativeError(gradients.bias!, expected.bias!) < 1e-4)
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
            // oneDNN's kernels (`WinogradConvolutionTests` holds its bfloat16 to the same tolerance).
            let exact = ConvolutionTuning(winograd: false), reduced = exact.with(precision: .bfloat16)
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

    @Test("after the cached kernels are released (the daemon's idle release), convolutions rebuild them and agree")
    func releasedKernelsRebuild() {
        var random = SeededRandom(seed: 77)
        let input = Tensor.randomNormal(shape: [1, 8, 6, 6, 6], random: &random)
        let weight = Tensor.randomNormal(shape: [8, 8, 3, 3, 3], scale: 0.2, random: &random)
        let before = Convolution3D.forward(input: input, weight: weight, bias: nil, padding: 1)
        OneDNNConvolution.releaseCachedKernels()
        let geometry = ConvolutionGeometry(inputShape: input.shape, weightShape: weight.shape, biasShape: nil, stride: 1, padding: 1, groups: 1)
        #expect(OneDNNConvolution.implementation(of: geometry, precision: .float32) != nil)
        let after = Convolution3D.forward(input: input, weight: weight, bias: nil, padding: 1)
        #expect(after.maximumAbsoluteDifference(before) == 0)
        #expect(OneDNNConvolution.unavailableReason() == nil)
    }

    @Test("the instruction set and version are reported")
    func identification() {
        #expect(!OneDNNConvolution.version.isEmpty && OneDNNConvolution.version.first != "0")
        #expect(OneDNNConvolution.instructionSet != "other")
    }
}

private extension Tensor {
    /// The storage's address for the raw-pointer kernels. The storage is one heap block owned by
    /// the tensor, so the address stays valid while the tensor lives and is not copied.
    var mutablePointer: UnsafeMutablePointer<Float> {
        mutating get { withUnsafeMutableBufferPointer { $0.baseAddress! } }
    }
}
