import Core
import Testing
import TestSupport

/// A direct 3D convolution in Double: the second oracle. Returns the output for `input`, and for
/// a given output gradient `outputGradient` the input, weight and bias gradients, all by the
/// definition (no im2col, no GEMM).
struct NaiveConvolution {
    var output: Tensor
    var inputGradient: Tensor
    var weightGradient: Tensor
    var biasGradient: Tensor

    init(input: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int, groups: Int, outputGradient: Tensor? = nil) {
        let (batch, inputChannels, depth, height, width) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3], input.shape[4])
        let (outputChannels, groupInputs, kernel) = (weight.shape[0], weight.shape[1], weight.shape[2])
        let groupOutputs = outputChannels / groups
        func size(_ n: Int) -> Int { (n + 2 * padding - kernel) / stride + 1 }
        let (outputDepth, outputHeight, outputWidth) = (size(depth), size(height), size(width))
        let outputShape = [batch, outputChannels, outputDepth, outputHeight, outputWidth]
        let x = input.scalars.map { Double($0) }, w = weight.scalars.map { Double($0) }
        let g = (outputGradient?.scalars ?? []).map { Double($0) }
        var y = [Double](repeating: 0, count: outputShape.reduce(1, *))
        var gx = [Double](repeating: 0, count: x.count), gw = [Double](repeating: 0, count: w.count)
        var gb = [Double](repeating: 0, count: outputChannels)
        let biasValues = bias?.scalars ?? []
        for n in 0..<batch {
            for o in 0..<outputChannels {
                let group = o / groupOutputs
                for z in 0..<outputDepth {
                    for yy in 0..<outputHeight {
                        for xx in 0..<outputWidth {
                            let outputIndex = (((n * outputChannels + o) * outputDepth + z) * outputHeight + yy) * outputWidth + xx
                            var total = biasValues.isEmpty ? 0 : Double(biasValues[o])
                            let upstream = g.isEmpty ? 0 : g[outputIndex]
                            gb[o] += upstream
                            for c in 0..<groupInputs {
                                let channel = group * groupInputs + c
                                for kz in 0..<kernel {
                                    let iz = z * stride - padding + kz
                                    guard iz >= 0 && iz < depth else { continue }
                                    for ky in 0..<kernel {
                                        let iy = yy * stride - padding + ky
                                        guard iy >= 0 && iy < height else { continue }
                                        for kx in 0..<kernel {
                                            let ix = xx * stride - padding + kx
                                            guard ix >= 0 && ix < width else { continue }
                                            let inputIndex = (((n * inputChannels + channel) * depth + iz) * height + iy) * width + ix
                                            let weightIndex = (((o * groupInputs + c) * kernel + kz) * kernel + ky) * kernel + kx
                                            total += w[weightIndex] * x[inputIndex]
                                            gx[inputIndex] += w[weightIndex] * upstream
                                            gw[weightIndex] += x[inputIndex] * upstream
                                        }
                                    }
                                }
                            }
                            y[outputIndex] = total
                        }
                    }
                }
            }
        }
        output = Tensor(shape: outputShape, values: y.map { Float($0) })
        inputGradient = Tensor(shape: input.shape, values: gx.map { Float($0) })
        weightGradient = Tensor(shape: weight.shape, values: gw.map { Float($0) })
        biasGradient = Tensor(shape: [outputChannels], values: gb.map { Float($0) })
    }
}

/// One convolution configuration of the sweep.
struct ConvolutionCase: CustomTestStringConvertible, Sendable {
    var kernel: Int
    var stride: Int
    var padding: Int
    var groups: Int
    var bias: Bool
    var testDescription: String { "k\(kernel) s\(stride) p\(padding) g\(groups) \(bias ? "bias" : "no bias")" }

    static let all: [ConvolutionCase] = [1, 2, 3].flatMap { kernel in
        [1, 2].flatMap { stride in
            [0, 1].flatMap { padding in
                [1, 2, 4].flatMap { groups in
                    [true, false].map { ConvolutionCase(kernel: kernel, stride: stride, padding: padding, groups: groups, bias: $0) }
                }
            }
        }
    }
}

/// Both backends. oneDNN (the default); then the engine's own kernels with tunings that change
/// how the work is cut: tiny tiles that straddle rows, planes and images (7 voxels),
/// single-voxel tiles, and OpenBLAS threading with the col2im input gradient.
let convolutionTunings: [ConvolutionTuning] = [
    .default,
    ConvolutionTuning.default.onEngine,
    ConvolutionTuning(tileVoxels: 7, threading: .engine, forwardMethod: .im2col, backend: .engine),
    ConvolutionTuning(tileVoxels: 1024, threading: .engine, forwardMethod: .im2col, weightTileVoxels: 3, backend: .engine),
    ConvolutionTuning(tileVoxels: 1, threading: .engine, inputGradientMethod: .col2im, forwardMethod: .im2col, backend: .engine),
    ConvolutionTuning(tileVoxels: 13, threading: .blas, inputGradientMethod: .col2im, forwardMethod: .im2col, backend: .engine),
    ConvolutionTuning(tileVoxels: 1024, threading: .engine, forwardMethod: .shiftedSlab, backend: .engine),
    ConvolutionTuning(tileVoxels: 11, threading: .engine, forwardMethod: .shiftedSlab, backend: .engine),
    // Weight-gradient chunks of two planes, the last one shorter.
    ConvolutionTuning(tileVoxels: 1024, threading: .engine, forwardMethod: .shiftedSlab, weightTileVoxels: 50, backend: .engine),
    ConvolutionTuning(tileVoxels: 3, threading: .blas, forwardMethod: .shiftedSlab, backend: .engine),
]

@Suite("Convolution3D", .serialized)  // touches the process-global BLAS thread count
struct Convolution3DTests {
    @Test("forward, input, weight and bias gradients match a direct Double convolution", arguments: ConvolutionCase.all)
    func matchesNaive(_ configuration: ConvolutionCase) {
        var random = SeededRandom(seed: UInt64(configuration.kernel * 1000 + configuration.stride * 100 + configuration.padding * 10 + configuration.groups))
        let input = Tensor.randomNormal(shape: [2, 4, 5, 6, 7], random: &random)
        let weight = Tensor.randomNormal(shape: [4, 4 / configuration.groups, configuration.kernel, configuration.kernel, configuration.kernel],
                                         scale: 0.3, random: &random)
        let bias = configuration.bias ? Tensor.randomNormal(shape: [4], random: &random) : nil
        let outputShape = ConvolutionGeometry(inputShape: input.shape, weightShape: weight.shape, biasShape: nil,
                                              stride: configuration.stride, padding: configuration.padding, groups: configuration.groups).outputShape
        let outputGradient = Tensor.randomNormal(shape: outputShape, random: &random)
        let reference = NaiveConvolution(input: input, weight: weight, bias: bias, stride: configuration.stride,
                                         padding: configuration.padding, groups: configuration.groups, outputGradient: outputGradient)
        for tuning in convolutionTunings {
            let output = Convolution3D.forward(input: input, weight: weight, bias: bias, stride: configuration.stride,
                                               padding: configuration.padding, groups: configuration.groups, tuning: tuning)
            #expect(relativeError(output, reference.output) < 1e-5, "forward \(tuning)")
            let inputGradient = Convolution3D.backwardInput(
                outputGradient: outputGradient, weight: weight, inputShape: input.shape, stride: configuration.stride,
                padding: configuration.padding, groups: configuration.groups, tuning: tuning)
            #expect(relativeError(inputGradient, reference.inputGradient) < 1e-5, "input gradient \(tuning)")
            let (weightGradient, biasGradient) = Convolution3D.backwardWeight(
                outputGradient: outputGradient, input: input, weightShape: weight.shape, includeBias: configuration.bias,
                stride: configuration.stride, padding: configuration.padding, groups: configuration.groups, tuning: tuning)
            #expect(relativeError(weightGradient, reference.weightGradient) < 1e-5, "weight gradient \(tuning)")
            if configuration.bias, let biasGradient {
                #expect(relativeError(biasGradient, reference.biasGradient) < 1e-5, "bias gradient \(tuning)")
            }
            #expect((biasGradient != nil) == configuration.bias)
        }
    }

    @Test("backward kernels are adjoint to the forward: ⟨conv(x), y⟩ = ⟨x, Dᵀy⟩ and ⟨conv_w(w), y⟩ = ⟨w, D_wᵀy⟩")
    func adjointness() {
        var random = SeededRandom(seed: 21)
        for (stride, padding, groups) in [(1, 1, 1), (2, 1, 4), (1, 0, 2), (2, 0, 1)] {
            let input = Tensor.randomNormal(shape: [2, 4, 7, 5, 6], random: &random)
            let weight = Tensor.randomNormal(shape: [4, 4 / groups, 3, 3, 3], random: &random)
            let output = Convolution3D.forward(input: input, weight: weight, bias: nil, stride: stride, padding: padding, groups: groups)
            let probe = Tensor.randomNormal(shape: output.shape, random: &random)
            for tuning in convolutionTunings {
                let inputGradient = Convolution3D.backwardInput(outputGradient: probe, weight: weight, inputShape: input.shape,
                                                                stride: stride, padding: padding, groups: groups, tuning: tuning)
                let left = output.dot(probe), right = input.dot(inputGradient)
                #expect(abs(left - right) <= 1e-4 * max(1, abs(left)), "input adjoint s\(stride) p\(padding) g\(groups) \(tuning): \(left) vs \(right)")
                let (weightGradient, _) = Convolution3D.backwardWeight(
                    outputGradient: probe, input: input, weightShape: weight.shape, includeBias: false,
                    stride: stride, padding: padding, groups: groups, tuning: tuning)
                // conv is linear in w too: ⟨conv_x(w), y⟩ = ⟨w, D_wᵀ y⟩.
                let weightRight = weight.dot(weightGradient)
                #expect(abs(left - weightRight) <= 1e-4 * max(1, abs(left)), "weight adjoint s\(stride) p\(padding) g\(groups) \(tuning)")
            }
        }
    }

    @Test("finite differences agree with the tape gradients for input, weight and bias")
    func gradientCheck() {
        var random = SeededRandom(seed: 33)
        for (stride, padding, groups) in [(1, 1, 2), (2, 1, 1)] {
            let inputs = [Tensor.randomNormal(shape: [2, 4, 4, 5, 3], random: &random),
                          Tensor.randomNormal(shape: [6, 4 / groups, 3, 3, 3], scale: 0.3, random: &random),
                          Tensor.randomNormal(shape: [6], random: &random)]
            let comparisons = GradientCheck.compare(inputs: inputs) { context, x in
                context.conv3d(x[0], weight: x[1], bias: x[2], stride: stride, padding: padding, groups: groups)
            }
            #expect(Set(comparisons.map(\.input)) == [0, 1, 2])
            // conv is linear, so central differences are exact up to float32 rounding of L.
            #expect(GradientCheck.mismatches(comparisons, absolute: 2e-3, relative: 2e-3).isEmpty)
        }
    }

    @Test("without a tape nothing is recorded; inputs off the tape get no gradient work")
    func inferenceAndPartialTape() {
        var random = SeededRandom(seed: 5)
        let image = Tensor.randomNormal(shape: [1, 2, 3, 3, 3], random: &random)
        let weight = Parameter(name: "w", value: Tensor.randomNormal(shape: [2, 2, 3, 3, 3], random: &random))
        let inference = ForwardContext.inference()
        #expect(inference.conv3d(Variable(image), weight: inference.variable(weight), bias: nil, padding: 1).node == nil)
        let tape = Tape()
        let context = ForwardContext(tape: tape)
        let output = context.conv3d(Variable(image), weight: context.variable(weight), bias: nil, padding: 1)
        tape.backward(output)
        let expected = Convolution3D.backwardWeight(outputGradient: Tensor(shape: output.shape, repeating: 1), input: image,
                                                    weightShape: weight.shape, includeBias: false, padding: 1).weight
        #expect(weight.gradient.map { relativeError($0, expected) } ?? 1 < 1e-6)
    }

    @Test("matches PyTorch conv3d forward and gradients", arguments: TorchFixture.cases(in: "conv").filter { !$0.hasPrefix("transposed") })
    func matchesTorch(_ name: String) throws {
        let fixture = try TorchFixture(group: "conv", name: name)
        let stride = fixture.integer("stride"), padding = fixture.integer("padding"), groups = fixture.integer("groups")
        let input = fixture["input"], weight = fixture["weight"], bias = fixture.tensors["bias"]
        for tuning in [ConvolutionTuning.default, ConvolutionTuning.default.onEngine,
                       ConvolutionTuning(tileVoxels: 5, threading: .engine, inputGradientMethod: .col2im, backend: .engine)] {
            let output = Convolution3D.forward(input: input, weight: weight, bias: bias, stride: stride, padding: padding,
                                               groups: groups, tuning: tuning)
            #expect(relativeError(output, fixture["output"]) < 1e-4)
            let projection = fixture["projection"]
            let inputGradient = Convolution3D.backwardInput(outputGradient: projection, weight: weight, inputShape: input.shape,
                                                            stride: stride, padding: padding, groups: groups, tuning: tuning)
            #expect(relativeError(inputGradient, fixture["grad_input"]) < 1e-4)
            let (weightGradient, biasGradient) = Convolution3D.backwardWeight(
                outputGradient: projection, input: input, weightShape: weight.shape, includeBias: bias != nil,
                stride: stride, padding: padding, groups: groups, tuning: tuning)
            #expect(relativeError(weightGradient, fixture["grad_weight"]) < 1e-4)
            if let biasGradient { #expect(relativeError(biasGradient, fixture["grad_bias"]) < 1e-4) }
        }
        // The same through the tape.
        let parameters = [Parameter(name: "x", value: input), Parameter(name: "w", value: weight)] + (bias.map { [Parameter(name: "b", value: $0)] } ?? [])
        let tape = Tape()
        let context = ForwardContext(tape: tape)
        let output = context.conv3d(context.variable(parameters[0]), weight: context.variable(parameters[1]),
                                    bias: parameters.count > 2 ? context.variable(parameters[2]) : nil,
                                    stride: stride, padding: padding, groups: groups)
        tape.backward(output, gradient: fixture["projection"])
        for (parameter, key) in zip(parameters, ["grad_input", "grad_weight", "grad_bias"]) {
            #expect(parameter.gradient.map { relativeError($0, fixture[key]) } ?? 1 < 1e-4, "\(key)")
        }
    }

    @Test("a wrong kernel would be caught: the oracle disagrees with a shifted weight")
    func oracleCanFail() {
        var random = SeededRandom(seed: 8)
        let input = Tensor.randomNormal(shape: [1, 2, 4, 4, 4], random: &random)
        let weight = Tensor.randomNormal(shape: [2, 2, 3, 3, 3], random: &random)
        var flipped = weight
        flipped[flat: 0] += 1
        let output = Convolution3D.forward(input: input, weight: flipped, bias: nil, padding: 1)
        let reference = NaiveConvolution(input: input, weight: weight, bias: nil, stride: 1, padding: 1, groups: 1)
        #expect(relativeError(output, reference.output) > 1e-3)
    }

    @Test("geometry: output sizes follow PyTorch's formula")
    func geometry() {
        let geometry = ConvolutionGeometry(inputShape: [1, 8, 7, 6, 5], weightShape: [16, 2, 3, 3, 3], biasShape: [16],
                                           stride: 2, padding: 1, groups: 4)
        #expect(geometry.outputShape == [1, 16, 4, 3, 3])
        #expect(geometry.columnRows == 54)
        #expect(geometry.multiplyAdds == 16 * 36 * 54)
    }
}
