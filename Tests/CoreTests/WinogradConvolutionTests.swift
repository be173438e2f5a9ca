@testable import Core
import Testing
import TestSupport

/// The Winograd kernel against the direct Double convolution (`NaiveConvolution`) on shapes that
/// reach every edge case of its tiling: odd sizes (a tile half outside the volume), widths that
/// end a half vector early or exactly (1, 2, 15, 16, 17, 33 voxels), rows shorter than a vector
/// (two rows share one), output channels that are not a multiple of 8, an odd input channel
/// count (bfloat16 pairs), batch 2, with and without bias; and that the default tuning really runs
/// it, for the forward pass and the input gradient, on the shapes it is meant for.
@Suite("Winograd convolution", .enabled(if: WinogradConvolution.isAvailable, "this CPU has no AVX-512"))
struct WinogradConvolutionTests {
    static let shapes: [(input: [Int], outputChannels: Int, bias: Bool)] = [
        ([1, 8, 5, 7, 9], 8, true),
        ([2, 8, 4, 3, 2], 16, false),
        ([1, 16, 3, 4, 33], 8, true),
        ([1, 8, 1, 1, 1], 8, true),
        ([1, 8, 2, 2, 15], 24, true),
        ([1, 12, 3, 5, 16], 8, false),
        ([1, 8, 6, 2, 17], 16, true),
        ([1, 16, 5, 6, 7], 3, true),
        ([2, 9, 4, 4, 17], 12, false),
    ]

    /// The kernel's output for shape `index` at `precision`, and the direct Double convolution's.
    private func run(_ index: Int, precision: ComputePrecision) -> (output: Tensor, expected: Tensor, geometry: ConvolutionGeometry) {
        let shape = Self.shapes[index]
        var random = SeededRandom(seed: UInt64(11 + index))
        let input = Tensor.randomNormal(shape: shape.input, random: &random)
        let weight = Tensor.randomNormal(shape: [shape.outputChannels, shape.input[1], 3, 3, 3], scale: 0.2, random: &random)
        let bias = Tensor.randomNormal(shape: [shape.outputChannels], random: &random)
        let geometry = ConvolutionGeometry(inputShape: input.shape, weightShape: weight.shape, biasShape: nil, stride: 1, padding: 1, groups: 1)
        let reference = NaiveConvolution(input: input, weight: weight, bias: shape.bias ? bias : nil, stride: 1, padding: 1, groups: 1)
        var output = Tensor(shape: geometry.outputShape, repeating: .nan)
        input.withUnsafeBufferPointer { x in
            weight.withUnsafeBufferPointer { w in
                bias.withUnsafeBufferPointer { b in
                    output.withUnsafeMutableBufferPointer { y in
                        WinogradConvolution.forward(geometry: geometry, input: x.baseAddress!, weight: w.baseAddress!,
                                                    bias: shape.bias ? b.baseAddress! : nil, output: y.baseAddress!,
                                                    tuning: ConvolutionTuning.default.with(precision: precision))
                    }
                }
            }
        }
        return (output, reference.output, geometry)
    }

    @Test("the forward pass matches the direct Double convolution", arguments: 0..<shapes.count)
    func forwardMatchesDirect(_ index: Int) {
        let (output, expected, geometry) = run(index, precision: .float32)
        #expect(relativeError(output, expected) < 1e-5, "\(geometry)")
    }

    /// The stated bfloat16 tolerance of every convolution (`OneDNNConvolutionTests`): below 1 %
    /// relative, and above 10⁻⁵ so that the test fails if the float32 kernel ran instead.
    @Test("in bfloat16, the forward pass is within 1 % of the direct Double convolution (and is not float32)",
          .enabled(if: WinogradConvolution.isAvailableInBFloat16, "this CPU has no AVX-512 BF16"), arguments: 0..<shapes.count)
    func bfloat16Tolerance(_ index: Int) {
        let (output, expected, geometry) = run(index, precision: .bfloat16)
        let error = relativeError(output, expected)
        #expect(error < 1e-2 && error > 1e-5, "\(geometry): relative error \(error)")
    }

    @Test("the weight and bias gradients match the direct Double convolution's",
          arguments: [([1, 16, 5, 7, 9], 4), ([2, 32, 3, 4, 17], 8), ([1, 16, 6, 2, 33], 12), ([1, 16, 1, 1, 1], 4)])
    func weightGradientMatchesDirect(_ input: [Int], _ outputChannels: Int) {
        var random = SeededRandom(seed: UInt64(input.reduce(0, +) + outputChannels))
        let x = Tensor.randomNormal(shape: input, random: &random)
        let weightShape = [outputChannels, input[1], 3, 3, 3]
        let geometry = ConvolutionGeometry(inputShape: input, weightShape: weightShape, biasShape: nil, stride: 1, padding: 1, groups: 1)
        let gradient = Tensor.randomNormal(shape: geometry.outputShape, random: &random)
        let reference = NaiveConvolution(input: x, weight: Tensor(shape: weightShape), bias: nil, stride: 1, padding: 1, groups: 1,
                                         outputGradient: gradient)
        var weightGradient = Tensor(shape: weightShape, repeating: .nan), biasGradient = Tensor(shape: [outputChannels], repeating: .nan)
        gradient.withUnsafeBufferPointer { g in
            x.withUnsafeBufferPointer { xs in
                weightGradient.withUnsafeMutableBufferPointer { w in
                    biasGradient.withUnsafeMutableBufferPointer { b in
                        WinogradConvolution.weightGradient(geometry: geometry, outputGradient: g.baseAddress!, input: xs.baseAddress!,
                                                           weightGradient: w.baseAddress!, biasGradient: b.baseAddress!, tuning: .default)
                    }
                }
            }
        }
        #expect(relativeError(weightGradient, reference.weightGradient) < 1e-5, "\(geometry)")
        #expect(relativeError(biasGradient, reference.biasGradient) < 1e-5, "\(geometry)")
    }

    @Test("the default tuning runs the forward pass and the input gradient on it, matching the engine's reference kernels")
    func defaultTuningRunsIt() {
        var random = SeededRandom(seed: 5)
        // 26³ = 17,576 output voxels: above `minimumOutputVoxels`.
        let input = Tensor.randomNormal(shape: [1, 8, 26, 26, 26], random: &random)
        let weight = Tensor.randomNormal(shape: [16, 8, 3, 3, 3], scale: 0.2, random: &random)
        let bias = Tensor.randomNormal(shape: [16], random: &random)
        let geometry = ConvolutionGeometry(inputShape: input.shape, weightShape: weight.shape, biasShape: bias.shape, stride: 1, padding: 1, groups: 1)
        let flipped = ConvolutionGeometry(inputShape: geometry.outputShape, weightShape: [8, 16, 3, 3, 3], biasShape: nil,
                                          stride: 1, padding: 1, groups: 1)
        #expect(WinogradConvolution.applies(to: geometry, precision: .float32))
        #expect(WinogradConvolution.applies(to: flipped, precision: .float32))
        let reference = ConvolutionTuning.default.onEngine
        let output = Convolution3D.forward(input: input, weight: weight, bias: bias, padding: 1)
        #expect(relativeError(output, Convolution3D.forward(input: input, weight: weight, bias: bias, padding: 1, tuning: reference)) < 1e-5)
        let gradient = Tensor.randomNormal(shape: geometry.outputShape, random: &random)
        let inputGradient = Convolution3D.backwardInput(outputGradient: gradient, weight: weight, inputShape: input.shape, padding: 1)
        let expected = Convolution3D.backwardInput(outputGradient: gradient, weight: weight, inputShape: input.shape, padding: 1,
                                                   tuning: reference)
        #expect(relativeError(inputGradient, expected) < 1e-5)
    }

    @Test("the default tuning runs the weight gradient on it for a wide layer, matching the engine's reference kernels")
    func defaultTuningRunsWeightGradient() {
        var random = SeededRandom(seed: 6)
        // 35³ = 42,875 output voxels, 32 input channels: above the weight gradient's minimums.
        let input = Tensor.randomNormal(shape: [1, 32, 35, 35, 35], random: &random)
        let geometry = ConvolutionGeometry(inputShape: input.shape, weightShape: [8, 32, 3, 3, 3], biasShape: nil, stride: 1, padding: 1, groups: 1)
        #expect(WinogradConvolution.appliesToWeightGradient(geometry, precision: .float32))
        let gradient = Tensor.randomNormal(shape: geometry.outputShape, random: &random)
        func gradients(_ tuning: ConvolutionTuning) -> (weight: Tensor, bias: Tensor?) {
            Convolution3D.backwardWeight(outputGradient: gradient, input: input, weightShape: [8, 32, 3, 3, 3], includeBias: true,
                                         padding: 1, tuning: tuning)
        }
        let fast = gradients(.default), reference = gradients(ConvolutionTuning.default.onEngine)
        #expect(relativeError(fast.weight, reference.weight) < 1e-5)
        #expect(relativeError(fast.bias!, reference.bias!) < 1e-5)
    }

    @Test("it applies only to float32 (or layers too narrow for int8), ungrouped, stride-1, padding-1 3×3×3 convolutions of the sizes it wins on")
    func appliesOnlyWhereItWins() {
        func geometry(_ input: [Int], _ weight: [Int], stride: Int = 1, padding: Int = 1, groups: Int = 1) -> ConvolutionGeometry {
            ConvolutionGeometry(inputShape: input, weightShape: weight, biasShape: nil, stride: stride, padding: padding, groups: groups)
        }
        let large = [1, 16, 32, 32, 32]
        #expect(WinogradConvolution.applies(to: geometry(large, [16, 16, 3, 3, 3]), precision: .float32))
        #expect(WinogradConvolution.applies(to: geometry([1, 32, 48, 48, 48], [32, 32, 3, 3, 3]), precision: .bfloat16)
                == WinogradConvolution.isAvailableInBFloat16)
        #expect(!WinogradConvolution.applies(to: geometry(large, [16, 16, 3, 3, 3]), precision: .bfloat16), "16 channels in bfloat16")
        #expect(!WinogradConvolution.applies(to: geometry([1, 32, 32, 32, 32], [32, 32, 3, 3, 3]), precision: .bfloat16), "32³ in bfloat16")
        #expect(!WinogradConvolution.applies(to: geometry(large, [16, 16, 3, 3, 3]), precision: .int8), "an int8 layer: oneDNN's")
        #expect(WinogradConvolution.applies(to: geometry(large, [3, 16, 3, 3, 3]), precision: .int8) == WinogradConvolution.isAvailable,
                "too narrow for int8 (3 outputs): float32, here")
        #expect(!WinogradConvolution.applies(to: geometry(large, [16, 16, 3, 3, 3], stride: 2), precision: .float32))
        #expect(!WinogradConvolution.applies(to: geometry(large, [16, 4, 3, 3, 3], groups: 4), precision: .float32))
        #expect(!WinogradConvolution.applies(to: geometry(large, [16, 16, 1, 1, 1], padding: 0), precision: .float32))
        #expect(WinogradConvolution.applies(to: geometry(large, [3, 16, 3, 3, 3]), precision: .float32), "3 outputs: padded to 8")
        #expect(!WinogradConvolution.applies(to: geometry([1, 4, 32, 32, 32], [16, 4, 3, 3, 3]), precision: .float32), "4 inputs")
        #expect(!WinogradConvolution.applies(to: geometry([1, 16, 16, 16, 16], [16, 16, 3, 3, 3]), precision: .float32), "4,096 voxels")
        #expect(!WinogradConvolution.applies(to: geometry([1, 128, 32, 32, 32], [128, 128, 3, 3, 3]), precision: .float32), "128 × 128")
        #expect(WinogradConvolution.appliesToWeightGradient(geometry(large, [16, 16, 3, 3, 3]), precision: .float32))
        #expect(!WinogradConvolution.appliesToWeightGradient(geometry([1, 24, 32, 32, 32], [16, 24, 3, 3, 3]), precision: .float32),
                "24 inputs: not a multiple of 16")
        #expect(!WinogradConvolution.appliesToWeightGradient(geometry([1, 16, 26, 26, 26], [16, 16, 3, 3, 3]), precision: .float32),
                "17,576 voxels")
        #expect(WinogradConvolution.appliesToWeightGradient(geometry([1, 32, 40, 40, 40], [16, 32, 3, 3, 3]), precision: .float32))
        #expect(!WinogradConvolution.appliesToWeightGradient(geometry([1, 32, 40, 40, 40], [32, 32, 3, 3, 3]), precision: .bfloat16))
        #expect(!ConvolutionTuning(winograd: false).usesWinograd && !ConvolutionTuning.default.onEngine.usesWinograd)
    }
}
