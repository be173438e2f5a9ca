@testable import Core
import Testing
import TestSupport

/// int8 inference convolutions (`ComputePrecision.int8`, oneDNN's VNNI kernels): exact where
/// the quantization is exact, within a stated error of float32 elsewhere, independent of how the
/// work is cut into slabs, and float32 wherever int8 does not apply.
///
/// Stated tolerance: one affine scale per input tensor (step (max x − min x) / 255, zero on its
/// own code) and one symmetric scale per output channel of the weights (step max|w| / 127) round
/// each operand by at most half a step; over
/// the random tensors below that is below 2 % of the output's range (`relativeError`:
/// max |a − b| / max(1, max |b|)), and above 10⁻⁵ so that the test fails if float32 ran instead.
@Suite("int8 convolution")
struct Int8ConvolutionTests {
    static let int8 = ConvolutionTuning.default.with(precision: .int8)

    /// Network shapes with at least `int8MinimumChannels` input and output channels: 3×3×3
    /// "same" and stride 2, the student's 2×2×2 stride-2 downsampling, a 1×1×1 convolution, a
    /// grouped convolution.
    typealias Shape = (input: [Int], weight: [Int], stride: Int, padding: Int, groups: Int)
    static let shapes: [Shape] = [
        ([1, 16, 9, 10, 11], [16, 16, 3, 3, 3], 1, 1, 1),
        ([2, 16, 8, 8, 8], [32, 16, 3, 3, 3], 2, 1, 1),
        ([1, 16, 8, 10, 6], [32, 16, 2, 2, 2], 2, 0, 1),
        ([1, 32, 5, 6, 7], [8, 32, 1, 1, 1], 1, 0, 1),
        ([1, 16, 6, 6, 6], [16, 8, 3, 3, 3], 1, 1, 2),
    ]

    static func forward(_ input: Tensor, _ weight: Tensor, _ bias: Tensor?, _ shape: Shape, _ tuning: ConvolutionTuning) -> Tensor {
        Convolution3D.forward(input: input, weight: weight, bias: bias, stride: shape.stride, padding: shape.padding,
                              groups: shape.groups, tuning: tuning)
    }

    /// Random operands for `shape`: a standard normal input, weights of scale 0.2, a normal bias.
    static func operands(_ shape: Shape, _ random: inout SeededRandom) -> (input: Tensor, weight: Tensor, bias: Tensor) {
        (Tensor.randomNormal(shape: shape.input, random: &random), Tensor.randomNormal(shape: shape.weight, scale: 0.2, random: &random),
         Tensor.randomNormal(shape: [shape.weight[0]], random: &random))
    }

    @Test("int8 runs oneDNN's int8 kernel and is within 2 % of float32 (and is not float32)",
          .enabled(if: OneDNNConvolution.hasInt8DotProduct, "this CPU has no int8 dot-product instructions (VNNI)"))
    func tolerance() {
        Self.expectWithinTolerance { $0.contains("vnni") || $0.contains("amx") }
    }

    /// Over `shapes`: oneDNN's implementation for int8 satisfies `isExpectedKernel`, and int8 is
    /// within 2 % of float32 but not equal to it (so float32 did not run instead).
    static func expectWithinTolerance(_ isExpectedKernel: (String) -> Bool) {
        var random = SeededRandom(seed: 21)
        for shape in shapes {
            let (input, weight, bias) = operands(shape, &random)
            let geometry = ConvolutionGeometry(inputShape: shape.input, weightShape: shape.weight, biasShape: nil,
                                               stride: shape.stride, padding: shape.padding, groups: shape.groups)
            let implementation = OneDNNConvolution.implementation(of: geometry, precision: .int8) ?? "refused"
            #expect(isExpectedKernel(implementation), "\(geometry): \(implementation)")
            let error = relativeError(forward(input, weight, bias, shape, int8), forward(input, weight, bias, shape, .default))
            #expect(error < 2e-2 && error > 1e-5, "\(geometry): relative error \(error)")
        }
    }

    /// Without VNNI (AVX2 only, e.g. AMD Zen 3), oneDNN's int8 kernels multiply in pairs summed
    /// to 16 bits (`vpmaddubsw`) and halve the weights so those sums cannot saturate: one bit of
    /// weight precision is lost and the grid below is no longer exact. `--precision int8` is
    /// still allowed there (it is never the default: `ComputePrecision.onThisMachine`), so it
    /// must stay within the stated tolerance.
    @Test("without int8 dot products, int8 still runs oneDNN's int8 kernel within 2 % of float32",
          .enabled(if: !OneDNNConvolution.hasInt8DotProduct, "this CPU has int8 dot products: the VNNI test covers it"))
    func toleranceWithoutDotProducts() {
        Self.expectWithinTolerance { $0.contains("int8") || $0.contains("x8s8") }
    }

    @Test("exact where the quantization is exact: integer inputs spanning 255 with zero off code 0, weights whose largest magnitude is 127",
          .enabled(if: OneDNNConvolution.hasInt8DotProduct, "without int8 dot products oneDNN halves the weights (toleranceWithoutDotProducts), so the grid is not exact"))
    func exactOnTheGrid() {
        var random = SeededRandom(seed: 22)
        for shape in Self.shapes {
            // Steps of exactly 1: the input spans −100…155 (zero on code 100, so the zero padding
            // is exact only if the zero point is applied there too), every value is on the grid,
            // and float32 sums these integers exactly (|sum| < 2²⁴), so both arithmetics give the
            // same numbers.
            var input = Tensor.randomUniform(shape: shape.input, low: -100, high: 155, random: &random).map { $0.rounded() }
            input[flat: 0] = 155
            input[flat: 1] = -100
            var weight = Tensor.randomUniform(shape: shape.weight, low: -127, high: 127, random: &random).map { $0.rounded() }
            let perChannel = weight.count / shape.weight[0]
            for channel in 0..<shape.weight[0] { weight[flat: channel * perChannel] = channel % 2 == 0 ? 127 : -127 }
            let bias = Tensor.randomUniform(shape: [shape.weight[0]], low: -5, high: 5, random: &random).map { $0.rounded() }
            let difference = Self.forward(input, weight, bias, shape, Self.int8).maximumAbsoluteDifference(Self.forward(input, weight, bias, shape, .default))
            #expect(difference == 0, "\(shape.input) ⊛ \(shape.weight): \(difference)")
        }
    }

    @Test("the same result in one piece and in slabs of one plane (the scales are the whole tensor's)")
    func slabsAgree() {
        var random = SeededRandom(seed: 23)
        for shape in Self.shapes {
            let (input, weight, bias) = Self.operands(shape, &random)
            let whole = Self.forward(input, weight, bias, shape, Self.int8)
            OneDNNConvolution.setSlabBudget(bytes: 1)
            let sliced = Self.forward(input, weight, bias, shape, Self.int8)
            OneDNNConvolution.setSlabBudget(bytes: nil)
            #expect(sliced.maximumAbsoluteDifference(whole) == 0, "\(shape.input)")
        }
    }

    @Test("the shim's input quantizer gives oneDNN's bytes: channels and widths off the 16-block, two samples, ties, slabs",
          .enabled(if: OneDNNConvolution.hasInt8DotProduct, "without VNNI oneDNN's int8 kernels take another input layout, which the shim's quantizer does not write"))
    func quantizerMatchesReorder() {
        var random = SeededRandom(seed: 26)
        let shapes: [Shape] = Self.shapes + [
            ([2, 24, 5, 7, 37], [16, 24, 3, 3, 3], 1, 1, 1),
            ([1, 8, 6, 3, 17], [8, 8, 3, 3, 3], 1, 1, 1),
            ([1, 40, 4, 5, 33], [16, 40, 1, 1, 1], 1, 0, 1),
        ]
        for shape in shapes {
            var (input, weight, bias) = Self.operands(shape, &random)
            // Half the values on ties of the grid (−128…127 makes the step 1 and the zero point
            // 128), so that the rounding of halves is compared too.
            input = input.map { ($0 * 40).rounded() + ($0 > 0 ? 0.5 : -0.5) }
            input[flat: 0] = 127
            input[flat: 1] = -128
            OneDNNConvolution.setReferenceQuantizer(true)
            let reference = Self.forward(input, weight, bias, shape, Self.int8)
            OneDNNConvolution.setSlabBudget(bytes: 1)
            let referenceSliced = Self.forward(input, weight, bias, shape, Self.int8)
            OneDNNConvolution.setReferenceQuantizer(false)
            let sliced = Self.forward(input, weight, bias, shape, Self.int8)
            OneDNNConvolution.setSlabBudget(bytes: nil)
            let shim = Self.forward(input, weight, bias, shape, Self.int8)
            #expect(shim.maximumAbsoluteDifference(reference) == 0, "\(shape.input) ⊛ \(shape.weight)")
            #expect(sliced.maximumAbsoluteDifference(referenceSliced) == 0, "\(shape.input) ⊛ \(shape.weight), slabs")
        }
    }

    @Test("float32 wherever int8 does not apply: the first layer (4 channels in), a head (3 out), the backward passes, the engine's kernels")
    func float32Elsewhere() {
        var random = SeededRandom(seed: 24)
        let first: Shape = ([1, 4, 9, 10, 11], [16, 4, 3, 3, 3], 1, 1, 1)
        let (input, weight, _) = Self.operands(first, &random)
        #expect(Self.forward(input, weight, nil, first, Self.int8).maximumAbsoluteDifference(Self.forward(input, weight, nil, first, .default)) == 0)
        let head: Shape = ([1, 32, 5, 6, 7], [3, 32, 1, 1, 1], 1, 0, 1)
        let (features, headWeight, _) = Self.operands(head, &random)
        #expect(Self.forward(features, headWeight, nil, head, Self.int8)
            .maximumAbsoluteDifference(Self.forward(features, headWeight, nil, head, .default)) == 0)
        let onEngine = Self.forward(input, weight, nil, first, ConvolutionTuning.default.onEngine)
        #expect(Self.forward(input, weight, nil, first, Self.int8.onEngine).maximumAbsoluteDifference(onEngine) == 0)

        let shape = Self.shapes[0]
        let (wide, wideWeight, _) = Self.operands(shape, &random)
        let gradient = Tensor.randomNormal(shape: Self.forward(wide, wideWeight, nil, shape, .default).shape, random: &random)
        func inputGradient(_ tuning: ConvolutionTuning) -> Tensor {
            Convolution3D.backwardInput(outputGradient: gradient, weight: wideWeight, inputShape: shape.input, padding: shape.padding, tuning: tuning)
        }
        func weightGradient(_ tuning: ConvolutionTuning) -> Tensor {
            Convolution3D.backwardWeight(outputGradient: gradient, input: wide, weightShape: shape.weight, includeBias: false,
                                         padding: shape.padding, tuning: tuning).weight
        }
        #expect(inputGradient(Self.int8).maximumAbsoluteDifference(inputGradient(.default)) == 0)
        #expect(weightGradient(Self.int8).maximumAbsoluteDifference(weightGradient(.default)) == 0)
    }

    @Test("an all-zero input gives the bias (up to the rounding of dividing it by the scale and multiplying back)")
    func zeroInput() {
        let shape = Self.shapes[0]
        var random = SeededRandom(seed: 25)
        let (_, weight, bias) = Self.operands(shape, &random)
        let output = Self.forward(Tensor(shape: shape.input), weight, bias, shape, Self.int8)
        let plane = output.count / shape.weight[0]
        let worst = (0..<output.count).map { abs(output[flat: $0] - bias[flat: ($0 / plane) % shape.weight[0]]) }.max()!
        let largestBias = (0..<bias.count).map { abs(bias[flat: $0]) }.max()!
        #expect(worst <= 4e-7 * max(1, largestBias), "largest difference \(worst)")
    }

    @Test("training refuses int8 (its rounding has no gradient); inference precisions are trainable otherwise")
    func trainability() {
        #expect(!ComputePrecision.int8.isTrainable)
        #expect(ComputePrecision.float32.isTrainable && ComputePrecision.bfloat16.isTrainable)
    }

    @Test("on this machine: int8 where the CPU has VNNI, else what bf16 runs as; bf16 as BFloat16Choice decides; fp32 stays")
    func onThisMachine() {
        let bfloat16 = BFloat16Choice.effective(.bfloat16)
        #expect(ComputePrecision.int8.onThisMachine == (OneDNNConvolution.hasInt8DotProduct ? .int8 : bfloat16))
        #expect(ComputePrecision.bfloat16.onThisMachine == bfloat16)
        #expect(ComputePrecision.float32.onThisMachine == .float32)
    }
}
