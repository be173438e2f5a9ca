import Core
import Testing
import TestSupport

@Suite("Activations: ReLU, leaky ReLU, sigmoid, channel softmax")
struct ActivationsTests {
    static let fixtureCases = OpsFixtureCheck.cases("activation_")

    @Test("the fixture group holds the expected activation cases")
    func fixturesPresent() {
        #expect(Self.fixtureCases.count == 6, "\(Self.fixtureCases)")
    }

    @Test("outputs and gradients match PyTorch", arguments: fixtureCases)
    func matchesTorch(name: String) throws {
        try OpsFixtureCheck.expectMatch(name, inputs: ["x"]) { fixture, context, v in
            switch fixture.string("op") {
            case "relu": return [context.relu(v[0])]
            case "leaky":
                let slope = Float(fixture.number("slope"))
                return [slope == 0.01 ? context.leakyReLU(v[0]) : context.leakyReLU(v[0], slope: slope)]
            case "sigmoid": return [context.sigmoid(v[0])]
            default: return [context.softmaxOverChannels(v[0])]
            }
        }
    }

    @Test("finite differences agree with every backward")
    func gradientCheck() {
        var random = SeededRandom(seed: 21)
        // Away from 0 by more than ε so that no difference straddles the kink.
        let kinked = [Tensor.randomAwayFromZero(shape: [2, 3, 3, 2, 3], margin: 0.05, random: &random)]
        expectGradientsMatch(GradientCheck.compare(inputs: kinked) { context, v in context.relu(v[0]) }, "relu")
        expectGradientsMatch(GradientCheck.compare(inputs: kinked) { context, v in context.leakyReLU(v[0], slope: 0.1) }, "leakyReLU")
        let smooth = [Tensor.randomNormal(shape: [2, 4, 3, 2, 3], scale: 2, random: &random)]
        expectGradientsMatch(GradientCheck.compare(inputs: smooth) { context, v in context.sigmoid(v[0]) }, "sigmoid")
        expectGradientsMatch(GradientCheck.compare(inputs: smooth, epsilon: 1e-3) { context, v in context.softmaxOverChannels(v[0]) },
                             "softmaxOverChannels")
    }

    @Test("softmax sums to 1 over channels, is finite for huge inputs and invariant to a shift")
    func softmaxProperties() {
        var random = SeededRandom(seed: 22)
        // 2×5×20×20×20: more than one block per sample and both workers in use.
        var x = Tensor.randomNormal(shape: [2, 5, 20, 20, 20], scale: 30, random: &random)
        x[flat: 0] = 1e30
        x[flat: 8000] = -1e30  // same voxel, channel 1
        let y = ActivationKernels.softmaxOverChannels(x)
        let values = y.scalars, spatial = 8000
        var worst: Float = 0
        for sample in 0..<2 {
            for voxel in 0..<spatial {
                var sum: Float = 0
                for channel in 0..<5 {
                    let value = values[(sample * 5 + channel) * spatial + voxel]
                    #expect(value.isFinite && value >= 0)
                    sum += value
                }
                worst = max(worst, abs(sum - 1))
            }
        }
        #expect(worst < 1e-5)
        #expect(values[0] == 1)
        let plain = Tensor.randomNormal(shape: [2, 5, 3, 4, 5], random: &random)
        #expect(relativeError(ActivationKernels.softmaxOverChannels(plain.map { $0 + 7 }),
                              ActivationKernels.softmaxOverChannels(plain)) < 1e-5)
    }

    @Test("activation edge values: ReLU passes no gradient at 0, sigmoid saturates without NaN")
    func edgeValues() {
        let x = Tensor(shape: [5], values: [-2, 0, 3, -100, 100])
        let tape = Tape()
        let parameter = Parameter(name: "x", value: x)
        let context = ForwardContext(tape: tape)
        let y = context.relu(context.variable(parameter))
        #expect(y.value.scalars == [0, 0, 3, 0, 100])
        tape.backward(y)
        #expect(parameter.gradient?.scalars == [0, 0, 1, 0, 1])
        let leaky = ForwardContext.inference().leakyReLU(Variable(x)).value.scalars
        #expect(leaky == [-0.02, 0, 3, -1, 100])
        let sigmoid = ActivationKernels.sigmoid(x).scalars
        #expect(sigmoid[1] == 0.5 && sigmoid[3] >= 0 && sigmoid[3] < 1e-30 && sigmoid[4] == 1)
        #expect(ForwardContext.inference().activate(Variable(x), .none).value.scalars == x.scalars)
    }
}
