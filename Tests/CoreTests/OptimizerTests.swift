import Core
import Foundation
import Testing
import TestSupport

@Suite("Optimisers")
struct OptimizerTests {
    static let optimizerCases = TorchFixture.cases(in: "optimizers").filter { !$0.hasPrefix("schedule_") }

    /// The optimiser a fixture describes, over `parameters`.
    static func makeOptimizer(_ fixture: TorchFixture, _ parameters: [Parameter]) -> Optimizer {
        let learningRate = Float(fixture.number("lr"))
        switch fixture.string("kind") {
        case "adam":
            return Adam(parameters: parameters, learningRate: learningRate, beta1: Float(fixture.number("beta1")),
                        beta2: Float(fixture.number("beta2")), epsilon: Float(fixture.number("eps")),
                        weightDecay: Float(fixture.number("weight_decay")),
                        decoupledWeightDecay: fixture.settings["decoupled"] == "true", amsgrad: fixture.settings["amsgrad"] == "true")
        default:
            return SGD(parameters: parameters, learningRate: learningRate, momentum: Float(fixture.number("momentum")),
                       dampening: Float(fixture.number("dampening")), weightDecay: Float(fixture.number("weight_decay")),
                       nesterov: fixture.settings["nesterov"] == "true")
        }
    }

    /// Row `step` of a stacked [steps, …] tensor.
    static func row(_ stacked: Tensor, _ step: Int) -> Tensor {
        let shape = Array(stacked.shape.dropFirst())
        let size = shape.reduce(1, *)
        return Tensor(shape: shape, values: Array(stacked.scalars[(step * size)..<((step + 1) * size)]))
    }

    @Test("the fixture group holds every optimiser and schedule case")
    func fixtureGroupComplete() {
        #expect(Self.optimizerCases.count == 7)
        #expect(TorchFixture.cases(in: "optimizers").count == 9)
    }

    @Test("five steps match torch.optim to 1e-6 relative", arguments: optimizerCases)
    func matchesTorch(caseName: String) throws {
        let fixture = try TorchFixture(group: "optimizers", name: caseName)
        let parameters = (0..<2).map { Parameter(name: "p\($0)", value: fixture["initial.\($0)"]) }
        let optimizer = Self.makeOptimizer(fixture, parameters)
        let hasGradient = fixture["has_gradient"]
        let steps = fixture.integer("steps")
        for step in 0..<steps {
            optimizer.zeroGradients()
            for (index, parameter) in parameters.enumerated() where hasGradient[flat: index * steps + step] == 1 {
                parameter.accumulateGradient(Self.row(fixture["gradients.\(index)"], step))
            }
            optimizer.step()
            for (index, parameter) in parameters.enumerated() {
                let expected = Self.row(fixture["after.\(index)"], step)
                let error = relativeToLargest(parameter.value, expected)
                #expect(error <= 1e-6, "\(caseName) step \(step + 1) parameter \(index): \(error)")
            }
        }
        #expect(optimizer.stepCount == steps)
        // The trajectory really moved (a no-op optimiser must fail this test).
        #expect(relativeToLargest(parameters[0].value, fixture["initial.0"]) > 1e-2)
    }

    /// Runs `steps` updates with gradients drawn from `random`; parameter 1 has none at step 2.
    static func train(_ optimizer: Optimizer, _ parameters: [Parameter], steps: Range<Int>) {
        for step in steps {
            optimizer.zeroGradients()
            var random = SeededRandom(seed: UInt64(100 + step))
            for (index, parameter) in parameters.enumerated() where !(index == 1 && step == 2) {
                parameter.accumulateGradient(Tensor.randomNormal(shape: parameter.shape, random: &random))
            }
            optimizer.step(following: .exponential(initialRate: 0.05, factor: 0.9))
        }
    }

    static func freshParameters() -> [Parameter] {
        var random = SeededRandom(seed: 1)
        return [Parameter(name: "conv.weight", value: Tensor.randomNormal(shape: [4, 2, 3], random: &random)),
                Parameter(name: "conv.bias", value: Tensor.randomNormal(shape: [4], random: &random))]
    }

    static let makers: [String: @Sendable ([Parameter]) -> Optimizer] = [
        "adam-amsgrad-decay": { Adam(parameters: $0, weightDecay: 0.01, amsgrad: true) },
        "adamw": { Adam(parameters: $0, weightDecay: 0.1, decoupledWeightDecay: true) },
        "sgd-nesterov": { SGD(parameters: $0, learningRate: 0.1, momentum: 0.9, weightDecay: 1e-5, nesterov: true) },
    ]

    @Test("saving the state after 3 steps, loading it into a new optimiser and continuing equals 5 uninterrupted steps",
          arguments: ["adam-amsgrad-decay", "adamw", "sgd-nesterov"])
    func resumeIsBitExact(kind: String) throws {
        let make = Self.makers[kind]!
        let reference = Self.freshParameters()
        let uninterrupted = make(reference)
        Self.train(uninterrupted, reference, steps: 0..<5)

        let first = Self.freshParameters()
        let interrupted = make(first)
        Self.train(interrupted, first, steps: 0..<3)
        // Through the file format, as a checkpoint would.
        let bytes = try SafeTensors(tensors: interrupted.state()).encoded()
        let restoredState = try SafeTensors.decode(bytes).tensors
        let resumed = first.map { Parameter(name: $0.name, value: $0.value) }
        let continued = make(resumed)
        try continued.loadState(restoredState)
        #expect(continued.stepCount == 3)
        #expect(continued.learningRate == interrupted.learningRate)
        Self.train(continued, resumed, steps: 3..<5)
        for (a, b) in zip(resumed, reference) { #expect(a.value.scalars == b.value.scalars, "\(kind): \(a.name)") }
        #expect(continued.stepCount == 5)
    }

    @Test("a state that does not fit is rejected with every problem named, and nothing changes")
    func mismatchedState() throws {
        let parameters = Self.freshParameters()
        let plain = Adam(parameters: parameters)
        Self.train(plain, parameters, steps: 0..<2)
        var state = plain.state()
        state["optimizer.state.conv.bias.exp_avg"] = Tensor(shape: [5])
        state["optimizer.state.stray.exp_avg"] = Tensor(shape: [1])

        let amsgrad = Adam(parameters: Self.freshParameters(), amsgrad: true)
        #expect {
            try amsgrad.loadState(state)
        } throws: { error in
            let message = "\(error)"
            return message.contains("optimizer.state.conv.weight.max_exp_avg_sq")   // missing
                && message.contains("optimizer.state.conv.bias.exp_avg has shape [5], expected [4]")
                && message.contains("unexpected tensor optimizer.state.stray.exp_avg")
        }
        #expect(amsgrad.stepCount == 0)
        #expect(amsgrad.state().count == 2)  // still only step count and learning rate

        let sgd = SGD(parameters: Self.freshParameters(), learningRate: 0.1, momentum: 0.9)
        #expect(throws: OptimizerStateError.self) { try sgd.loadState(plain.state()) }
    }

    @Test("parameters without a gradient are left untouched")
    func skipsParametersWithoutGradient() {
        let parameters = Self.freshParameters()
        let before = parameters.map(\.value.scalars)
        for optimizer in [Adam(parameters: parameters, weightDecay: 0.1) as Optimizer,
                          SGD(parameters: parameters, learningRate: 0.1, momentum: 0.9, weightDecay: 0.1)] {
            parameters[0].accumulateGradient(Tensor(shape: parameters[0].shape, repeating: 1))
            optimizer.step()
            optimizer.zeroGradients()
            #expect(parameters[1].value.scalars == before[1])
            #expect(parameters[0].gradient == nil)
        }
        #expect(parameters[0].value.scalars != before[0])
    }

    @Test("Adam and SGD minimise a quadratic")
    func minimisesQuadratic() {
        for makeOptimizer in [{ Adam(parameters: $0, learningRate: 0.1) as Optimizer },
                              { SGD(parameters: $0, learningRate: 0.1, momentum: 0.9) as Optimizer }] {
            let parameter = Parameter(name: "x", value: Tensor(shape: [3], values: [3, -2, 1]))
            let optimizer = makeOptimizer([parameter])
            for _ in 0..<300 {
                optimizer.zeroGradients()
                let tape = Tape()
                let context = ForwardContext(tape: tape)
                let x = context.variable(parameter)
                tape.backward(context.sum(context.multiply(x, x)))
                optimizer.step()
            }
            #expect(parameter.value.scalars.allSatisfy { abs($0) < 0.05 }, "\(parameter.value.scalars)")
        }
    }
}
