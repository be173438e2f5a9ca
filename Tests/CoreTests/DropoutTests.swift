import Core
import Testing
import TestSupport

@Suite("Dropout, spatial dropout and the VAE reparameterization")
struct DropoutTests {
    @Test("element-wise dropout keeps 1 − p of the elements, scales them by 1/(1 − p) and keeps the mean")
    func dropoutStatistics() {
        let count = 300_000  // several mask sub-streams, both workers
        let x = Tensor(shape: [2, 3, 50, 40, 25], repeating: 2)
        #expect(x.count == count)
        let context = ForwardContext(isTraining: true, random: SeededRandom(seed: 61))
        let y = context.dropout(Variable(x), probability: 0.3).value.scalars
        let zeros = y.filter { $0 == 0 }.count
        #expect(abs(Double(zeros) / Double(count) - 0.3) < 0.005)  // binomial σ ≈ 0.0008
        #expect(y.allSatisfy { $0 == 0 || abs($0 - 2 / 0.7) < 1e-6 })
        let mean = y.reduce(0.0) { $0 + Double($1) } / Double(count)
        #expect(abs(mean - 2) < 0.02)
    }

    @Test("spatial dropout zeroes whole channels with probability p and scales the rest")
    func spatialDropoutStatistics() {
        let x = Tensor(shape: [4, 500, 2, 2, 2], repeating: 1)
        let context = ForwardContext(isTraining: true, random: SeededRandom(seed: 62))
        let y = context.spatialDropout(Variable(x), probability: 0.2).value.scalars
        var dropped = 0
        for channel in 0..<2000 {
            let values = y[(channel * 8)..<((channel + 1) * 8)]
            #expect(values.allSatisfy { $0 == values.first! })
            if values.first! == 0 { dropped += 1 } else { #expect(abs(values.first! - 1.25) < 1e-6) }
        }
        #expect(abs(Double(dropped) / 2000 - 0.2) < 0.03)  // binomial σ ≈ 0.009
    }

    @Test("identity in evaluation and for p = 0; p = 1 zeroes; the mask depends only on the seed")
    func modesAndDeterminism() {
        var random = SeededRandom(seed: 63)
        let x = Variable(Tensor.randomNormal(shape: [2, 3, 4, 5, 6], random: &random))
        let evaluation = ForwardContext(isTraining: false)
        #expect(evaluation.dropout(x, probability: 0.5).value.scalars == x.value.scalars)
        #expect(evaluation.spatialDropout(x, probability: 0.5).value.scalars == x.value.scalars)
        let training = ForwardContext(isTraining: true)
        #expect(training.dropout(x, probability: 0).value.scalars == x.value.scalars)
        #expect(training.dropout(x, probability: 1).value.scalars.allSatisfy { $0 == 0 })
        let first = ForwardContext(isTraining: true, random: SeededRandom(seed: 5)).dropout(x, probability: 0.4).value.scalars
        let second = ForwardContext(isTraining: true, random: SeededRandom(seed: 5)).dropout(x, probability: 0.4).value.scalars
        let other = ForwardContext(isTraining: true, random: SeededRandom(seed: 6)).dropout(x, probability: 0.4).value.scalars
        #expect(first == second)
        #expect(first != other)
        // Successive calls on one context draw fresh masks.
        let shared = ForwardContext(isTraining: true, random: SeededRandom(seed: 5))
        #expect(shared.dropout(x, probability: 0.4).value.scalars != shared.dropout(x, probability: 0.4).value.scalars)
    }

    @Test("finite differences agree with the backwards (fixed seed, so the mask repeats)")
    func gradientCheck() {
        var random = SeededRandom(seed: 64)
        let inputs = [Tensor.randomNormal(shape: [2, 4, 3, 2, 3], random: &random)]
        let elementwise = GradientCheck.compare(inputs: inputs, isTraining: true) { context, v in context.dropout(v[0], probability: 0.4) }
        expectGradientsMatch(elementwise, "dropout")
        #expect(elementwise.contains { $0.analytic == 0 } && elementwise.contains { $0.analytic != 0 })
        let spatial = GradientCheck.compare(inputs: inputs, isTraining: true) { context, v in context.spatialDropout(v[0], probability: 0.4) }
        expectGradientsMatch(spatial, "spatialDropout")
    }

    @Test("reparameterize with explicit noise matches PyTorch")
    func reparameterizeMatchesTorch() throws {
        try OpsFixtureCheck.expectMatch("reparameterize", inputs: ["mean", "logVariance"]) { fixture, context, v in
            [context.reparameterize(mean: v[0], logVariance: v[1], noise: fixture["noise"])]
        }
    }

    @Test("reparameterize: z = μ in evaluation, sampled around μ with σ = exp(½ logσ²) in training")
    func reparameterizeModes() {
        let count = 20_000
        let mean = Variable(Tensor(shape: [2, count / 2], repeating: 3))
        let logVariance = Variable(Tensor(shape: [2, count / 2], repeating: -1.3862944))  // 2·ln 0.5: σ = 0.5
        #expect(ForwardContext(isTraining: false).reparameterize(mean: mean, logVariance: logVariance).value.scalars == mean.value.scalars)
        let z = ForwardContext(isTraining: true, random: SeededRandom(seed: 65)).reparameterize(mean: mean, logVariance: logVariance).value
        let average = z.sum() / Double(count)
        let variance = z.dot(z) / Double(count) - average * average
        #expect(abs(average - 3) < 0.02)
        #expect(abs(variance.squareRoot() - 0.5) < 0.02)
        var random = SeededRandom(seed: 66)
        let inputs = [Tensor.randomNormal(shape: [3, 4], random: &random), Tensor.randomNormal(shape: [3, 4], scale: 0.5, random: &random)]
        expectGradientsMatch(GradientCheck.compare(inputs: inputs, isTraining: true) { context, v in
            context.reparameterize(mean: v[0], logVariance: v[1])
        }, "reparameterize")
    }
}
