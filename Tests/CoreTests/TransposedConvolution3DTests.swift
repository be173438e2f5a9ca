import Core
import Testing
import TestSupport

/// ConvTranspose3d(k 2, s 2) by its definition, in Double: y[o, 2z+a, 2y+b, 2x+c] = b[o] + Σ_i x[i, z, y, x]·w[i, o, a, b, c].
private func naiveTransposed(input: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    let (batch, inputChannels, depth, height, width) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3], input.shape[4])
    let outputChannels = weight.shape[1]
    let x = input.scalars, w = weight.scalars, biasValues = bias?.scalars
    var y = [Double](repeating: 0, count: batch * outputChannels * 8 * depth * height * width)
    for n in 0..<batch {
        for o in 0..<outputChannels {
            for z in 0..<(2 * depth) {
                for yy in 0..<(2 * height) {
                    for xx in 0..<(2 * width) {
                        var total = biasValues.map { Double($0[o]) } ?? 0
                        for i in 0..<inputChannels {
                            let inputIndex = (((n * inputChannels + i) * depth + z / 2) * height + yy / 2) * width + xx / 2
                            let weightIndex = (((i * outputChannels + o) * 2 + z % 2) * 2 + yy % 2) * 2 + xx % 2
                            total += Double(x[inputIndex]) * Double(w[weightIndex])
                        }
                        y[(((n * outputChannels + o) * 2 * depth + z) * 2 * height + yy) * 2 * width + xx] = total
                    }
                }
            }
        }
    }
    return Tensor(shape: [batch, outputChannels, 2 * depth, 2 * height, 2 * width], values: y.map { Float($0) })
}

@Suite("TransposedConvolution3D", .serialized)  // touches the process-global BLAS thread count
struct TransposedConvolution3DTests {
    static let tunings = [ConvolutionTuning.default, ConvolutionTuning(tileVoxels: 4, threading: .engine),
                          ConvolutionTuning(tileVoxels: 1, threading: .blas)]

    @Test("forward matches the definition; backward kernels are its adjoint")
    func forwardAndAdjoint() {
        var random = SeededRandom(seed: 12)
        for (batch, inputChannels, outputChannels, withBias) in [(2, 3, 4, true), (1, 5, 2, false)] {
            let input = Tensor.randomNormal(shape: [batch, inputChannels, 3, 4, 5], random: &random)
            let weight = Tensor.randomNormal(shape: [inputChannels, outputChannels, 2, 2, 2], random: &random)
            let bias = withBias ? Tensor.randomNormal(shape: [outputChannels], random: &random) : nil
            let reference = naiveTransposed(input: input, weight: weight, bias: bias)
            let probe = Tensor.randomNormal(shape: reference.shape, random: &random)
            let linear = naiveTransposed(input: input, weight: weight, bias: nil).dot(probe)
            for tuning in Self.tunings {
                let output = TransposedConvolution3D.forward(input: input, weight: weight, bias: bias, tuning: tuning)
                #expect(relativeError(output, reference) < 1e-5)
                let inputGradient = TransposedConvolution3D.backwardInput(outputGradient: probe, weight: weight,
                                                                          inputShape: input.shape, tuning: tuning)
                #expect(abs(input.dot(inputGradient) - linear) <= 1e-4 * max(1, abs(linear)))
                let (weightGradient, biasGradient) = TransposedConvolution3D.backwardWeight(
                    outputGradient: probe, input: input, weightShape: weight.shape, includeBias: withBias, tuning: tuning)
                #expect(abs(weight.dot(weightGradient) - linear) <= 1e-4 * max(1, abs(linear)))
                if let biasGradient {
                    // ∂L/∂b[o] = Σ over the output channel o of the probe.
                    let perChannel = probe.scalars.count / (batch * outputChannels)
                    let expected = (0..<outputChannels).map { o in
                        (0..<batch).reduce(Float(0)) { sum, n in
                            sum + probe.scalars[((n * outputChannels + o) * perChannel)..<((n * outputChannels + o + 1) * perChannel)].reduce(0, +)
                        }
                    }
                    #expect(relativeError(biasGradient, Tensor(shape: [outputChannels], values: expected)) < 1e-5)
                }
            }
        }
    }

    @Test("finite differences agree with the tape gradients")
    func gradientCheck() {
        var random = SeededRandom(seed: 13)
        let inputs = [Tensor.randomNormal(shape: [2, 3, 2, 3, 2], random: &random),
                      Tensor.randomNormal(shape: [3, 2, 2, 2, 2], random: &random),
                      Tensor.randomNormal(shape: [2], random: &random)]
        let comparisons = GradientCheck.compare(inputs: inputs) { context, x in
            context.transposedConv3d(x[0], weight: x[1], bias: x[2])
        }
        #expect(Set(comparisons.map(\.input)) == [0, 1, 2])
        #expect(GradientCheck.mismatches(comparisons, absolute: 2e-3, relative: 2e-3).isEmpty)
    }

    @Test("matches PyTorch conv_transpose3d forward and gradients", arguments: TorchFixture.cases(in: "conv").filter { $0.hasPrefix("transposed") })
    func matchesTorch(_ name: String) throws {
        let fixture = try TorchFixture(group: "conv", name: name)
        #expect(fixture.string("kind") == "transposed")
        let input = fixture["input"], weight = fixture["weight"], bias = fixture.tensors["bias"]
        let parameters = [Parameter(name: "x", value: input), Parameter(name: "w", value: weight)] + (bias.map { [Parameter(name: "b", value: $0)] } ?? [])
        let tape = Tape()
        let context = ForwardContext(tape: tape)
        let output = context.transposedConv3d(context.variable(parameters[0]), weight: context.variable(parameters[1]),
                                              bias: parameters.count > 2 ? context.variable(parameters[2]) : nil)
        #expect(relativeError(output.value, fixture["output"]) < 1e-4)
        tape.backward(output, gradient: fixture["projection"])
        for (parameter, key) in zip(parameters, ["grad_input", "grad_weight", "grad_bias"]) {
            #expect(parameter.gradient.map { relativeError($0, fixture[key]) } ?? 1 < 1e-4, "\(key)")
        }
    }
}
