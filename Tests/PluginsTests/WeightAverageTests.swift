import Core
import Foundation
@testable import Plugins
import Testing
import TestSupport

/// The exponential moving average of the weights: its arithmetic against a closed form, the
/// swap for validation and saving, and a run that keeps one, resumed after an interruption.
@Suite("Weight average", .serialized)
struct WeightAverageTests {
    @Test("average_t = d_t·average + (1 − d_t)·w_t with d_t = min(d, (1 + t)/(10 + t)); the swap restores the raw weights")
    func arithmetic() throws {
        let parameter = Parameter(name: "w", value: Tensor(shape: [2], values: [1, -1]))
        let average = WeightAverage(decay: 0.2, parameters: [parameter])
        var expected: [Double] = [1, -1]
        for (step, values) in [[3.0, 5.0], [-2.0, 0.5], [4.0, 4.0]].enumerated() {
            parameter.value = Tensor(shape: [2], values: values.map(Float.init))
            average.update([parameter], step: step + 1)
            let d = min(0.2, Double(2 + step) / Double(11 + step))
            expected = zip(expected, values).map { d * $0 + (1 - d) * $1 }
        }
        #expect(average.decay(afterStep: 1) == Float(2) / 11 && average.decay(afterStep: 1000) == 0.2)
        let seen = average.withAveragedWeights([parameter]) { parameter.value.scalars }
        #expect(zip(seen, expected).allSatisfy { abs(Double($0) - $1) < 1e-5 }, "\(seen) vs \(expected)")
        #expect(parameter.value.scalars == [4, 4], "the raw weights must come back after the swap")

        let restored = WeightAverage(decay: 0.2, parameters: [parameter])
        try restored.load(average.state([parameter]), parameters: [parameter])
        #expect(restored.withAveragedWeights([parameter]) { parameter.value.scalars } == seen)
        #expect(throws: TrainingError.self) { try restored.load([:], parameters: [parameter]) }
    }

    @Test("a run keeping an average: resumed equals uninterrupted, final/ holds the average (not the last weights)")
    func runKeepsAverage() throws {
        let scratch = try TemporaryDirectory()
        let cases = try SyntheticCases.write(into: scratch.file("data"), count: 2, size: 16)
        var configuration = TrainerTests.configuration(cases, steps: 5)
        configuration.weightAverageDecay = 0.5
        let straight = scratch.file("straight")
        _ = try Trainer(configuration: configuration, runDirectory: straight) { _ in }.runLoaded()

        let interrupted = scratch.file("interrupted")
        let first = try Trainer(configuration: configuration, runDirectory: interrupted) { _ in }
        try first.loadData()
        _ = try first.run(stoppingAfter: 3)
        _ = try Trainer(configuration: configuration, runDirectory: interrupted) { _ in }.runLoaded()
        #expect(try TrainerTests.weights(straight) == TrainerTests.weights(interrupted), "resumed averaged weights differ")

        // final/ is the checkpoint's average, not its raw weights.
        let checkpoint = try SafeTensors.read(from: "\(straight)/checkpoint.safetensors").tensors
        let final = try TrainerTests.weights(straight)
        var differsFromRaw = false
        for (name, values) in final {
            #expect(checkpoint["average.\(name)"]?.scalars == values, "\(name): final/ is not the average")
            if checkpoint["model.\(name)"]?.scalars != values { differsFromRaw = true }
        }
        #expect(differsFromRaw, "the average equals the last weights: nothing was averaged")
    }
}
