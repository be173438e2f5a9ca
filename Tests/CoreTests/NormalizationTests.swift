import Core
import Testing
import TestSupport

@Suite("Normalization: group norm, instance norm, fused norm + activation")
struct NormalizationTests {
    static let fixtureCases = OpsFixtureCheck.cases("norm_")

    static func activation(_ fixture: TorchFixture) -> Activation {
        switch fixture.string("activation") {
        case "none": return .none
        case "relu": return .relu
        default: return .leakyReLU(slope: Float(fixture.number("slope")))
        }
    }

    @Test("the fixture group holds the expected norm cases")
    func fixturesPresent() {
        #expect(Self.fixtureCases.count == 6, "\(Self.fixtureCases)")
    }

    @Test("fused normalizedActivation matches torch group_norm + activation", arguments: fixtureCases)
    func fusedMatchesTorch(name: String) throws {
        try OpsFixtureCheck.expectMatch(name, inputs: ["x", "weight", "bias"]) { fixture, context, v in
            [context.normalizedActivation(v[0], groups: fixture.integer("groups"), weight: v[1], bias: v[2],
                                          activation: Self.activation(fixture), epsilon: Float(fixture.number("epsilon")))]
        }
    }

    @Test("unfused groupNorm / instanceNorm followed by the activation ops match torch", arguments: fixtureCases)
    func unfusedMatchesTorch(name: String) throws {
        try OpsFixtureCheck.expectMatch(name, inputs: ["x", "weight", "bias"]) { fixture, context, v in
            let groups = fixture.integer("groups")
            let normalized = groups == v[0].shape[1]
                ? context.instanceNorm(v[0], weight: v[1], bias: v[2])
                : context.groupNorm(v[0], groups: groups, weight: v[1], bias: v[2])
            return [context.activate(normalized, Self.activation(fixture))]
        }
    }

    @Test("finite differences agree with the fused backward",
          arguments: [(Activation.none, 2), (.relu, 3), (.leakyReLU(slope: 0.2), 1), (.leakyReLU(slope: 0.01), 6)])
    func gradientCheck(activation: Activation, groups: Int) {
        var random = SeededRandom(seed: 11 + UInt64(groups))
        let inputs = [Tensor.randomNormal(shape: [2, 6, 3, 2, 3], random: &random),
                      Tensor.randomNormal(shape: [6], scale: 0.3, random: &random).map { $0 + 1 },
                      Tensor.randomNormal(shape: [6], scale: 0.3, random: &random)]
        let comparisons = GradientCheck.compare(inputs: inputs, epsilon: 1e-3) { context, v in
            context.normalizedActivation(v[0], groups: groups, weight: v[1], bias: v[2], activation: activation)
        }
        expectGradientsMatch(comparisons, "normalizedActivation \(activation) groups \(groups)")
    }

    /// Double-precision reference: per (sample, group) mean and biased variance, then affine.
    static func reference(_ x: Tensor, groups: Int, weight: [Float], bias: [Float], epsilon: Double = 1e-5) -> Tensor {
        let shape = x.volumeShape
        let values = x.scalars
        let perGroup = shape.channels / groups * shape.spatialCount
        var output = [Float](repeating: 0, count: values.count)
        for item in 0..<(shape.batch * groups) {
            let span = (item * perGroup)..<((item + 1) * perGroup)
            let mean = span.reduce(0.0) { $0 + Double(values[$1]) } / Double(perGroup)
            let variance = span.reduce(0.0) { $0 + (Double(values[$1]) - mean) * (Double(values[$1]) - mean) } / Double(perGroup)
            for index in span {
                let channel = (index / shape.spatialCount) % shape.channels
                output[index] = Float((Double(values[index]) - mean) / (variance + epsilon).squareRoot() * Double(weight[channel]) + Double(bias[channel]))
            }
        }
        return Tensor(shape: x.shape, values: output)
    }

    @Test("large tensors (parallel path) with a large mean match a Double reference")
    func largeOffsetMatchesDoubleReference() {
        var random = SeededRandom(seed: 5)
        // 2×8×24×24×24 = 221 184 elements: several work items per worker; mean 1000, spread 0.5.
        let x = Tensor.randomNormal(shape: [2, 8, 24, 24, 24], scale: 0.5, random: &random).map { $0 + 1000 }
        let weight = (0..<8).map { Float($0) * 0.1 + 0.5 }, bias = (0..<8).map { Float($0) * 0.2 - 0.7 }
        let context = ForwardContext.inference()
        let output = context.groupNorm(Variable(x), groups: 4, weight: Variable(Tensor(shape: [8], values: weight)),
                                       bias: Variable(Tensor(shape: [8], values: bias)))
        // The reference sees the same float inputs; a kernel computing a·x + b in float would be
        // off by ~|μ|/σ·ulp ≈ 5e-4 here, the split mean keeps it at float rounding of the result.
        #expect(relativeError(output.value, Self.reference(x, groups: 4, weight: weight, bias: bias)) < 1e-5)
    }

    @Test("with γ = 1 and β = 0 every group has mean 0 and variance 1; inference records nothing")
    func standardizedGroups() {
        var random = SeededRandom(seed: 6)
        let x = Tensor.randomNormal(shape: [2, 4, 5, 3, 3], scale: 3, random: &random).map { $0 + 2 }
        let output = ForwardContext.inference().groupNorm(
            Variable(x), groups: 2, weight: Variable(Tensor(shape: [4], repeating: 1)), bias: Variable(Tensor(shape: [4])))
        #expect(output.node == nil)
        let values = output.value.scalars, perGroup = 2 * 45
        for item in 0..<4 {
            let span = values[(item * perGroup)..<((item + 1) * perGroup)].map(Double.init)
            let mean = span.reduce(0, +) / Double(perGroup)
            let variance = span.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(perGroup)
            #expect(abs(mean) < 1e-5)
            #expect(abs(variance - 1) < 1e-3)  // ε = 1e-5 against σ² = 9 shifts it by ~1e-6
        }
    }
}
