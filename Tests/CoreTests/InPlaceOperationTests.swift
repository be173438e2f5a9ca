import Core
import Testing
import TestSupport

/// Results written over an input that nothing else holds (the convolution output a normalisation
/// reads, the residual branch an add reads), never over one that is shared; in training the
/// normalisation's backward then recovers its input from its output.
@Suite("In-place operations: results over unshared inputs only")
struct InPlaceOperationTests {
    static func address(_ tensor: Tensor) -> UInt { tensor.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) } }

    static func normInputs(seed: UInt64, shape: [Int] = [2, 6, 5, 4, 3]) -> (x: Tensor, gamma: Tensor, beta: Tensor) {
        var random = SeededRandom(seed: seed)
        return (Tensor.randomNormal(shape: shape, random: &random).map { $0 * 3 + 2 },
                Tensor.randomNormal(shape: [shape[1]], scale: 0.3, random: &random).map { $0 + 1 },
                Tensor.randomNormal(shape: [shape[1]], scale: 0.3, random: &random))
    }

    @Test("an unshared input is overwritten with exactly the out-of-place result",
          arguments: [([2, 6, 5, 4, 3], 1), ([2, 6, 5, 4, 3], 3), ([2, 6, 5, 4, 3], 6), ([2, 8, 16, 20, 24], 4)])
    func normalizationReusesUnsharedInput(shape: [Int], groups: Int) {
        let (x, gamma, beta) = Self.normInputs(seed: 5, shape: shape)
        let expected = NormalizationKernels.normalizedActivation(x, groups: groups, weight: gamma, bias: beta,
                                                                 activation: .leakyReLU(slope: 0.01), epsilon: 1e-5).output
        let unshared = Tensor(shape: x.shape, values: x.scalars)
        let before = Self.address(unshared)
        let output = NormalizationKernels.normalizedActivationReusingInput(
            consume unshared, groups: groups, weight: gamma, bias: beta, activation: .leakyReLU(slope: 0.01), epsilon: 1e-5)
        #expect(Self.address(output) == before, "the output should live in the input's storage")
        #expect(output.scalars == expected.scalars)
    }

    @Test("inference through the layer API: a normalisation layer writes over the convolution output it is given")
    func layerReusesConvolutionOutput() {
        let (x, gamma, beta) = Self.normInputs(seed: 8)
        let layer = NormalizationLayer(name: "norm", channels: 6, groups: 3, activation: .leakyReLU(slope: 0.01))
        layer.weight.value = gamma
        layer.bias.value = beta
        let context = ForwardContext.inference()
        let expected = NormalizationKernels.normalizedActivation(x, groups: 3, weight: gamma, bias: beta,
                                                                 activation: .leakyReLU(slope: 0.01), epsilon: 1e-5).output
        let convolved = Variable(Tensor(shape: x.shape, values: x.scalars))
        let address = Self.address(convolved.value)
        let output = layer(consume convolved, context)
        #expect(Self.address(output.value) == address)
        #expect(output.value.scalars == expected.scalars)
    }

    @Test("a shared input keeps its values and the output gets storage of its own")
    func normalizationLeavesSharedInput() {
        let (x, gamma, beta) = Self.normInputs(seed: 6)
        let original = x.scalars
        let output = NormalizationKernels.normalizedActivationReusingInput(
            x, groups: 2, weight: gamma, bias: beta, activation: .none, epsilon: 1e-5)
        #expect(x.scalars == original)
        #expect(Self.address(output) != Self.address(x))
        let expected = NormalizationKernels.normalizedActivation(x, groups: 2, weight: gamma, bias: beta, activation: .none, epsilon: 1e-5)
        #expect(output.scalars == expected.output.scalars)
    }

    @Test("inference add writes into an unshared operand, never into a shared one")
    func addInPlace() {
        var random = SeededRandom(seed: 9)
        let a = Tensor.randomNormal(shape: [1, 2, 3, 3, 3], random: &random)
        let b = Tensor.randomNormal(shape: [1, 2, 3, 3, 3], random: &random)
        let expected = a.scalars.indices.map { a.scalars[$0] + b.scalars[$0] }
        let context = ForwardContext.inference()

        // Both shared (held here): a new tensor, operands unchanged.
        let (aBefore, bBefore) = (a.scalars, b.scalars)
        let shared = context.add(Variable(a), Variable(b)).value
        #expect(shared.scalars == expected && a.scalars == aBefore && b.scalars == bBefore)
        #expect(Self.address(shared) != Self.address(a) && Self.address(shared) != Self.address(b))

        // The right operand unshared: the sum lives in its storage; the shared left one is unchanged.
        let branch = Tensor(shape: b.shape, values: b.scalars)
        let branchAddress = Self.address(branch)
        let sum = context.add(Variable(a), Variable(consume branch)).value
        #expect(Self.address(sum) == branchAddress)
        #expect(sum.scalars == expected && a.scalars == aBefore)

        // The left operand unshared: the sum lives in its storage.
        let trunk = Tensor(shape: a.shape, values: a.scalars)
        let trunkAddress = Self.address(trunk)
        let leftSum = context.add(Variable(consume trunk), Variable(b)).value
        #expect(Self.address(leftSum) == trunkAddress)
        #expect(leftSum.scalars == expected && b.scalars == bBefore)

        // x + x: the operand is shared with itself, so it is not overwritten.
        let doubled = context.add(Variable(a), Variable(a)).value
        #expect(doubled.scalars == a.scalars.map { $0 + $0 } && a.scalars == aBefore)
    }

    @Test("training: a normalisation over an unshared input writes over it, and finite differences agree with its backward from the output",
          arguments: [(Activation.leakyReLU(slope: 0.01), 3), (.leakyReLU(slope: 0.2), 1), (.none, 6), (.none, 2)])
    func trainingInPlaceGradients(activation: Activation, groups: Int) {
        let (x, gamma, beta) = Self.normInputs(seed: 12 + UInt64(groups))
        var reused = false
        let comparisons = GradientCheck.compare(inputs: [x, gamma, beta], epsilon: 1e-3) { context, v in
            // scale by 1 makes a tensor that only the normalisation holds, as a convolution's output is.
            let fresh = context.scale(v[0], by: 1)
            let address = Self.address(fresh.value)
            let output = context.normalizedActivation(consume fresh, groups: groups, weight: v[1], bias: v[2], activation: activation)
            if context.tape != nil { reused = Self.address(output.value) == address }
            return output
        }
        #expect(reused, "the training forward should have written over its unshared input")
        expectGradientsMatch(comparisons, "in-place normalizedActivation \(activation) groups \(groups)")
    }

    /// Small and large (split over the engine's workers, rows longer than a vector) tensors;
    /// negative γ, a large β and the three invertible activations.
    static let backwardCases: [(shape: [Int], groups: Int, activation: Activation)] = [
        ([2, 6, 5, 4, 3], 3, .leakyReLU(slope: 0.01)),
        ([2, 6, 5, 4, 3], 6, .none),
        ([2, 8, 16, 20, 24], 4, .leakyReLU(slope: 0.01)),
        ([1, 8, 16, 20, 24], 8, .leakyReLU(slope: 0.2)),
    ]

    @Test("training: backward from the output equals backward from the input", arguments: 0..<4)
    func backwardFromOutputMatchesInput(index: Int) {
        let (shape, groups, activation) = Self.backwardCases[index]
        var (x, gamma, beta) = Self.normInputs(seed: 21 + UInt64(index), shape: shape)
        gamma[flat: 1] = -gamma[flat: 1]
        beta[flat: 0] = 4
        var random = SeededRandom(seed: 22)
        let gradient = Tensor.randomNormal(shape: x.shape, random: &random)
        let (output, statistics) = NormalizationKernels.normalizedActivation(x, groups: groups, weight: gamma, bias: beta,
                                                                             activation: activation, epsilon: 1e-5)
        let fromInput = NormalizationKernels.normalizedActivationBackward(gradient, input: x, statistics: statistics, groups: groups,
                                                                         weight: gamma, bias: beta, activation: activation)
        let fromOutput = NormalizationKernels.normalizedActivationBackward(gradient, output: output, statistics: statistics, groups: groups,
                                                                          weight: gamma, bias: beta, activation: activation)
        for (a, b) in [(fromInput.input, fromOutput.input), (fromInput.weight, fromOutput.weight), (fromInput.bias, fromOutput.bias)] {
            let largest = a.scalars.map(abs).max() ?? 0
            let difference = zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
            #expect(difference <= 1e-4 * max(largest, 1), "largest difference \(difference) against values up to \(largest)")
        }
    }

    @Test("training keeps the input where the output does not determine it: ReLU, or a γ near zero")
    func trainingKeepsInputWhenNotInvertible() {
        let (x, gamma, beta) = Self.normInputs(seed: 31)
        #expect(NormalizationKernels.reusesInput(weight: gamma, activation: .leakyReLU(slope: 0.01)))
        #expect(!NormalizationKernels.reusesInput(weight: gamma, activation: .relu))
        var nearZero = gamma
        nearZero[flat: 2] = 1e-4
        #expect(!NormalizationKernels.reusesInput(weight: nearZero, activation: .none))
        let comparisons = GradientCheck.compare(inputs: [x, nearZero, beta], epsilon: 1e-3) { context, v in
            context.normalizedActivation(context.scale(v[0], by: 1), groups: 2, weight: v[1], bias: v[2], activation: .relu)
        }
        expectGradientsMatch(comparisons, "ReLU normalisation in training")
    }

    @Test("training: a tensor read by a normalisation and by a later op is not overwritten, and finite differences agree through both paths")
    func trainingSharedAndUnsharedInputs() {
        let (x, gamma, beta) = Self.normInputs(seed: 7)
        let comparisons = GradientCheck.compare(inputs: [x, gamma, beta], epsilon: 1e-3) { context, v in
            // `shared` is read again by the add below, so its normalisation must keep it (the
            // input path); the second normalisation's input is held by nothing else (in place).
            let shared = context.scale(v[0], by: 1)
            let kept = context.normalizedActivation(shared, groups: 3, weight: v[1], bias: v[2], activation: .leakyReLU(slope: 0.01))
            let overwritten = context.normalizedActivation(context.scale(v[0], by: 2), groups: 3, weight: v[1], bias: v[2],
                                                           activation: .none)
            return context.add(context.add(kept, overwritten), shared)
        }
        expectGradientsMatch(comparisons, "normalisations over a shared and an unshared input")
    }
}
