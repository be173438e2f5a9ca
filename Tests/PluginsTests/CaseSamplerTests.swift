import Core
@testable import Plugins
import Testing

/// Which case a training step draws: uniform exactly as before weights existed, weighted draws
/// at their stated frequencies, zero weights never, bad weights refused.
@Suite("Case sampler")
struct CaseSamplerTests {
    @Test("without weights: the same draws as `next() % count`, one random value per draw")
    func uniformUnchanged() throws {
        let sampler = try CaseSampler(count: 7, weights: nil)
        var drawn = SeededRandom(seed: 11), reference = SeededRandom(seed: 11)
        for _ in 0..<1000 {
            #expect(sampler.draw(&drawn) == Int(reference.next() % 7))
        }
    }

    @Test("weights set the frequencies; a zero weight is never drawn; one random value per draw")
    func weightedFrequencies() throws {
        // Three labelled cases at 1, two pool cases at 0.25 and one left out.
        let weights: [Float] = [1, 1, 1, 0.25, 0.25, 0]
        let sampler = try CaseSampler(count: weights.count, weights: weights)
        var random = SeededRandom(seed: 3), twin = SeededRandom(seed: 3)
        var counts = [Int](repeating: 0, count: weights.count)
        let draws = 70_000
        for _ in 0..<draws {
            counts[sampler.draw(&random)] += 1
            _ = twin.next()
        }
        #expect(random.next() == twin.next(), "a draw consumes exactly one value")
        #expect(counts[5] == 0)
        let total = weights.reduce(0, +)
        for (index, weight) in weights.enumerated() where weight > 0 {
            let expected = Double(weight / total) * Double(draws)
            // Binomial standard deviation is under 120 here; 5 of them.
            #expect(abs(Double(counts[index]) - expected) < 600, "case \(index): \(counts[index]) draws, expected \(expected)")
        }
    }

    @Test("a weight per case, finite, non-negative, not all zero")
    func refusesBadWeights() {
        for weights: [Float] in [[1, 1], [1, -1, 1], [0, 0, 0], [1, .nan, 1], [1, .infinity, 1]] {
            #expect(throws: TrainingError.self) { try CaseSampler(count: 3, weights: weights) }
        }
        #expect(throws: TrainingError.self) { try CaseSampler(count: 0, weights: nil) }
    }
}
