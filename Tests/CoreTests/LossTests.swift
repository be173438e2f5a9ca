import Core
import Foundation
import Testing
import TestSupport

/// max |a − b| / max |b|: relative to the largest expected element, without the floor of 1 that
/// `relativeError` applies (loss gradients are ~1/M, so a floor of 1 would make the check loose).
func relativeToLargest(_ actual: Tensor, _ expected: Tensor) -> Float {
    precondition(actual.shape == expected.shape, "shape \(actual.shape) vs \(expected.shape)")
    let largest = expected.withUnsafeBufferPointer { $0.reduce(Float(0)) { max($0, abs($1)) } }
    return actual.maximumAbsoluteDifference(expected) / max(largest, .leastNormalMagnitude)
}

@Suite("Losses")
struct LossTests {
    /// The loss under test for a fixture case, given its two inputs (in fixture order).
    static func lossFunction(for fixture: TorchFixture) -> (names: [String], (ForwardContext, [Variable]) -> Variable) {
        let name = fixture.name
        if name.hasPrefix("dice_") {
            let epsilon = Float(fixture.number("epsilon"))
            return (["probabilities", "target"], { $0.softDiceLoss(probabilities: $1[0], target: $1[1], epsilon: epsilon) })
        }
        if name.hasPrefix("bce_") {
            return (["logits", "target"], { $0.binaryCrossEntropyWithLogits(logits: $1[0], target: $1[1]) })
        }
        if name.hasPrefix("region_") {
            let epsilon = Float(fixture.number("epsilon"))
            return (["logits", "target"], { $0.regionLoss(logits: $1[0], target: $1[1], epsilon: epsilon) })
        }
        if name.hasPrefix("multiclass_") {
            let epsilon = Float(fixture.number("epsilon")), classes = fixture.integers("classes")
            return (["probabilities", "target"], {
                $0.multiClassSoftDiceLoss(probabilities: $1[0], oneHotTarget: $1[1], classes: classes, epsilon: epsilon)
            })
        }
        if name == "mse" { return (["prediction", "target"], { $0.meanSquaredError($1[0], $1[1]) }) }
        if name == "kl" { return (["mean", "log_variance"], { $0.klDivergence(mean: $1[0], logVariance: $1[1]) }) }
        fatalError("no loss for fixture \(name)")
    }

    /// Value and gradients with respect to every input, all inputs on one tape.
    static func evaluate(_ inputs: [Tensor], _ loss: (ForwardContext, [Variable]) -> Variable) -> (value: Tensor, gradients: [Tensor?]) {
        let parameters = inputs.enumerated().map { Parameter(name: "input\($0.offset)", value: $0.element) }
        let tape = Tape()
        let context = ForwardContext(tape: tape, isTraining: true)
        let value = loss(context, parameters.map { context.variable($0) })
        tape.backward(value)
        return (value.value, parameters.map(\.gradient))
    }

    @Test("the fixture group holds every loss case")
    func fixtureGroupComplete() {
        #expect(TorchFixture.cases(in: "losses").count == 11)
    }

    @Test("value and gradients match PyTorch autograd", arguments: TorchFixture.cases(in: "losses"))
    func matchesTorch(caseName: String) throws {
        let fixture = try TorchFixture(group: "losses", name: caseName)
        let (names, function) = Self.lossFunction(for: fixture)
        let (value, gradients) = Self.evaluate(names.map { fixture[$0] }, function)
        #expect(value.shape == [1])
        #expect(relativeToLargest(value, fixture["loss"]) <= 1e-6, "\(caseName): loss \(value.scalars) vs \(fixture["loss"].scalars)")
        for (name, gradient) in zip(names, gradients) {
            let expected = fixture["grad_\(name)"]
            guard let gradient else {
                Issue.record("\(caseName): no gradient for \(name)")
                continue
            }
            #expect(relativeToLargest(gradient, expected) <= 1e-6, "\(caseName): gradient of \(name)")
        }
    }

    @Test("finite differences agree with every loss's backward", arguments: ["dice", "multiclass", "bce", "region", "mse", "kl"])
    func finiteDifferences(loss: String) {
        var random = SeededRandom(seed: 21)
        let shape = [2, 4, 3, 2, 3]
        let logits = Tensor.randomNormal(shape: shape, scale: 1.5, random: &random)
        let probabilities = logits.map { 1 / (1 + expf(-$0)) }
        // Binary target with channel 3 empty over the whole batch.
        var target = Tensor.randomUniform(shape: shape, random: &random).map { $0 < 0.4 ? 1 : 0 }
        target.withUnsafeMutableBufferPointer { g in
            for sample in 0..<2 { for index in 0..<18 { g[(sample * 4 + 3) * 18 + index] = 0 } }
        }
        let inputs: [Tensor]
        let function: (ForwardContext, [Variable]) -> Variable
        switch loss {
        case "dice":
            inputs = [probabilities, target]
            function = { $0.softDiceLoss(probabilities: $1[0], target: $1[1], epsilon: 0.5) }
        case "multiclass":
            inputs = [probabilities, target]
            function = { $0.multiClassSoftDiceLoss(probabilities: $1[0], oneHotTarget: $1[1], classes: [1, 3], epsilon: 0.5) }
        case "bce":
            inputs = [logits, target]
            function = { $0.binaryCrossEntropyWithLogits(logits: $1[0], target: $1[1]) }
        case "region":
            inputs = [logits, target]
            function = { $0.regionLoss(logits: $1[0], target: $1[1], epsilon: 0.5) }
        case "mse":
            inputs = [logits, probabilities]
            function = { $0.meanSquaredError($1[0], $1[1]) }
        default:
            let mean = Tensor.randomNormal(shape: [2, 8], random: &random)
            let logVariance = Tensor.randomNormal(shape: [2, 8], scale: 0.7, random: &random)
            inputs = [mean, logVariance]
            function = { $0.klDivergence(mean: $1[0], logVariance: $1[1]) }
        }
        let comparisons = GradientCheck.compare(inputs: inputs, epsilon: 1e-2, samplesPerInput: 40, function)
        // Gradients are O(1/M) ≈ 1e-2; float32 loss noise over 2ε is ≈ 3e-6, hence the small absolute term.
        let mismatches = GradientCheck.mismatches(comparisons, absolute: 2e-5, relative: 2e-2)
        #expect(mismatches.isEmpty, "\(loss): \(mismatches.prefix(5))")
        #expect(comparisons.contains { abs($0.analytic) > 1e-3 }, "\(loss): the check must see non-trivial gradients")
    }

    @Test("BCE is finite and exact for huge logits")
    func crossEntropyStability() {
        let logits = Tensor(shape: [4], values: [1000, -1000, 0, 88])
        let target = Tensor(shape: [4], values: [1, 0, 0.5, 0])
        let (value, gradients) = Self.evaluate([logits, target]) { $0.binaryCrossEntropyWithLogits(logits: $1[0], target: $1[1]) }
        // terms: 0, 0, log 2, 88 (+ log1p(e^-88) ≈ 6e-39)
        let expected = (Double(logf(2)) + 88) / 4
        #expect(abs(Double(value[flat: 0]) - expected) < 1e-5)
        let logitGradient = gradients[0]!.scalars
        #expect(logitGradient.allSatisfy { $0.isFinite })
        #expect(logitGradient == [0, 0, 0, 0.25])
    }

    @Test("ε = 1 keeps an empty target channel a smooth penalty; all-correct prediction scores 0")
    func emptyChannel() {
        // One sample, two channels of 4 voxels: channel 0 predicted perfectly, channel 1 empty.
        let target = Tensor(shape: [1, 2, 4], values: [1, 0, 1, 0, 0, 0, 0, 0])
        let perfect = Self.evaluate([target, target]) { $0.softDiceLoss(probabilities: $1[0], target: $1[1]) }
        #expect(abs(perfect.value[flat: 0]) < 1e-7)
        let probabilities = Tensor(shape: [1, 2, 4], values: [1, 0, 1, 0, 0.1, 0.1, 0.1, 0.1])
        let (value, gradients) = Self.evaluate([probabilities, target]) { $0.softDiceLoss(probabilities: $1[0], target: $1[1]) }
        // D_1 = 1 / (0.04 + 1) → L = (1 − D_1)/2
        #expect(abs(Double(value[flat: 0]) - (1 - 1 / 1.04) / 2) < 1e-6)
        // ∂L/∂p = −2 w (0 − D p) with w = 1/(2·1.04): pushes the false positives down, gently.
        let expected = Float(2 * (1 / 1.04) * 0.1 / (2 * 1.04))
        for index in 4..<8 { #expect(abs(gradients[0]![flat: index] - expected) < 1e-6) }
    }

    @Test("region loss equals Dice of the sigmoid plus BCE, and its terms are reported")
    func regionLossComposition() {
        var random = SeededRandom(seed: 5)
        let logits = Tensor.randomNormal(shape: [1, 3, 3, 3, 3], scale: 2, random: &random)
        let target = Tensor.randomUniform(shape: [1, 3, 3, 3, 3], random: &random).map { $0 < 0.3 ? 1 : 0 }
        let context = ForwardContext.inference()
        let (loss, terms) = context.regionLossWithTerms(logits: Variable(logits), target: Variable(target))
        #expect(loss.node == nil)
        let dice = context.softDiceLoss(probabilities: Variable(logits.map { 1 / (1 + expf(-$0)) }), target: Variable(target))
        let crossEntropy = context.binaryCrossEntropyWithLogits(logits: Variable(logits), target: Variable(target))
        #expect(abs(terms.dice - Double(dice.value[flat: 0])) < 1e-6)
        #expect(abs(terms.crossEntropy - Double(crossEntropy.value[flat: 0])) < 1e-6)
        #expect(abs(Double(loss.value[flat: 0]) - terms.total) < 1e-6)
    }

    @Test("voxel weights: finite differences agree with the weighted region loss's backward")
    func weightedFiniteDifferences() {
        var random = SeededRandom(seed: 22)
        let shape = [2, 3, 3, 2, 3]
        let logits = Tensor.randomNormal(shape: shape, scale: 1.5, random: &random)
        let target = Tensor.randomUniform(shape: shape, random: &random).map { $0 < 0.4 ? 1 : 0 }
        // Zeros, ones and fractions.
        let weights = Tensor.randomUniform(shape: shape, random: &random).map { $0 < 0.3 ? 0 : $0 < 0.6 ? 1 : $0 }
        let comparisons = GradientCheck.compare(inputs: [logits], epsilon: 1e-2, samplesPerInput: 60) {
            $0.regionLossWithTerms(logits: $1[0], target: Variable(target), voxelWeights: weights, epsilon: 0.5).loss
        }
        let mismatches = GradientCheck.mismatches(comparisons, absolute: 2e-5, relative: 2e-2)
        #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
        #expect(comparisons.contains { abs($0.analytic) > 1e-3 }, "the check must see non-trivial gradients")
    }

    @Test("voxel weights: all ones is the plain loss; a weight-0 voxel neither counts nor gets a gradient; the sums are the weighted ones")
    func voxelWeights() {
        var random = SeededRandom(seed: 23)
        let shape = [1, 2, 4, 3, 2]
        let logits = Tensor.randomNormal(shape: shape, scale: 2, random: &random)
        let target = Tensor.randomUniform(shape: shape, random: &random).map { $0 < 0.5 ? 1 : 0 }
        let mask = Tensor.randomUniform(shape: shape, random: &random).map { $0 < 0.4 ? 0 : 1 }
        func evaluate(_ x: Tensor, _ weights: Tensor?) -> (value: Double, gradient: Tensor) {
            let parameter = Parameter(name: "x", value: x)
            let tape = Tape()
            let context = ForwardContext(tape: tape)
            let loss = context.regionLossWithTerms(logits: context.variable(parameter), target: Variable(target), voxelWeights: weights).loss
            tape.backward(loss)
            return (Double(loss.value[flat: 0]), parameter.gradient!)
        }
        let plain = evaluate(logits, nil), ones = evaluate(logits, Tensor(shape: shape).map { _ in 1 })
        #expect(abs(plain.value - ones.value) < 1e-7)
        #expect(plain.gradient.maximumAbsoluteDifference(ones.gradient) < 1e-9)

        // Scramble the logits of the weight-0 voxels: nothing changes, and they get no gradient.
        let masked = evaluate(logits, mask)
        var scrambled = logits
        scrambled.withUnsafeMutableBufferPointer { x in mask.withUnsafeBufferPointer { m in
            for index in x.indices where m[index] == 0 { x[index] = 40 * x[index] + 7 }
        } }
        let again = evaluate(scrambled, mask)
        #expect(abs(masked.value - again.value) < 1e-7)
        #expect(masked.gradient.maximumAbsoluteDifference(again.gradient) < 1e-9)
        #expect(zip(masked.gradient.scalars, mask.scalars).allSatisfy { $1 == 1 || $0 == 0 })
        #expect(zip(masked.gradient.scalars, mask.scalars).contains { $1 == 1 && $0 != 0 })

        // The value, written out in Double: Dice over the kept voxels of each channel (ε = 1)
        // plus the kept voxels' cross-entropy over all M elements.
        let x = logits.scalars.map(Double.init), g = target.scalars.map(Double.init), m = mask.scalars.map(Double.init)
        let spatial = 24
        var dice = 0.0, entropy = 0.0
        for channel in 0..<2 {
            var intersection = 0.0, squares = 0.0, targets = 0.0
            for index in (channel * spatial)..<((channel + 1) * spatial) where m[index] == 1 {
                let p = 1 / (1 + exp(-x[index]))
                intersection += p * g[index]; squares += p * p; targets += g[index]
                entropy += max(x[index], 0) - x[index] * g[index] + log1p(exp(-abs(x[index])))
            }
            dice += (2 * intersection + 1) / (squares + targets + 1)
        }
        #expect(abs(masked.value - ((1 - dice / 2) + entropy / 48)) < 1e-6)
    }

    @Test("a constant target gets no gradient and the loss still differentiates its prediction")
    func constantTarget() {
        let prediction = Parameter(name: "p", value: Tensor(shape: [1, 1, 3], values: [0.2, 0.7, 0.9]))
        let tape = Tape()
        let context = ForwardContext(tape: tape)
        let loss = context.softDiceLoss(probabilities: context.variable(prediction), target: Variable(Tensor(shape: [1, 1, 3], values: [0, 1, 1])))
        tape.backward(loss)
        #expect(prediction.gradient != nil)
        #expect(prediction.gradient!.scalars.allSatisfy { $0.isFinite })
        #expect(prediction.gradient![flat: 0] > 0 && prediction.gradient![flat: 1] < 0)
    }
}
