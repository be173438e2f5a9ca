import Core
import Testing
import TestSupport

@Suite("Linear and flatten")
struct LinearTests {
    @Test("linear with and without bias matches F.linear", arguments: ["linear_bias", "linear_nobias"])
    func matchesTorch(name: String) throws {
        let hasBias = name == "linear_bias"
        try OpsFixtureCheck.expectMatch(name, inputs: hasBias ? ["x", "weight", "bias"] : ["x", "weight"]) { _, context, v in
            [context.linear(v[0], weight: v[1], bias: hasBias ? v[2] : nil)]
        }
    }

    @Test("finite differences agree with the backward, through flatten")
    func gradientCheck() {
        var random = SeededRandom(seed: 51)
        let inputs = [Tensor.randomNormal(shape: [2, 3, 1, 2, 2], random: &random),
                      Tensor.randomNormal(shape: [5, 12], scale: 0.5, random: &random),
                      Tensor.randomNormal(shape: [5], random: &random)]
        let comparisons = GradientCheck.compare(inputs: inputs) { context, v in
            context.linear(context.flatten(v[0]), weight: v[1], bias: v[2])
        }
        expectGradientsMatch(comparisons, "linear")
    }

    @Test("a known product, and flatten keeps row-major order")
    func knownValues() {
        let context = ForwardContext.inference()
        let x = Variable(Tensor(shape: [2, 1, 3], values: [1, 2, 3, 4, 5, 6]))
        let flat = context.flatten(x)
        #expect(flat.shape == [2, 3] && flat.value.scalars == [1, 2, 3, 4, 5, 6])
        let weight = Variable(Tensor(shape: [2, 3], values: [1, 0, -1, 0.5, 0.5, 0.5]))
        let y = context.linear(flat, weight: weight, bias: Variable(Tensor(shape: [2], values: [10, 20])))
        #expect(y.value.scalars == [8, 23, 8, 27.5])
    }
}
