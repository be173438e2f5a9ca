import Core

/// An exponential moving average of a model's parameters (Polyak averaging): the weights a run
/// validates and ships when `TrainingConfiguration.weightAverageDecay` is set, so that what is
/// kept does not depend on where in the noise of the last steps the run happened to stop.
///
/// After optimiser step t (1, 2, …): average ← d_t · average + (1 − d_t) · weights, with
/// d_t = min(d, (1 + t) / (10 + t)), so the first steps do not pin the average to the initial
/// weights. Training continues on the raw weights; `withAveragedWeights` swaps the average in
/// for validation and saving and restores the raw weights afterwards. `state()` goes into the
/// checkpoint (`average.<parameter>`), so a resumed run averages exactly as an uninterrupted one.
final class WeightAverage {
    let decay: Float
    private var values: [Tensor]
    static let prefix = "average."

    /// Starts at the parameters' current values.
    init(decay: Float, parameters: [Parameter]) {
        precondition(decay > 0 && decay < 1, "an average's decay is within (0, 1)")
        self.decay = decay
        values = parameters.map(\.value)
    }

    /// The decay used after step `step`.
    func decay(afterStep step: Int) -> Float { min(decay, Float(1 + step) / Float(10 + step)) }

    /// Folds the parameters' values after optimiser step `step` into the average.
    func update(_ parameters: [Parameter], step: Int) {
        let d = decay(afterStep: step)
        for (index, parameter) in parameters.enumerated() {
            values[index].withUnsafeMutableBufferPointer { average in
                parameter.value.withUnsafeBufferPointer { weights in
                    for i in average.indices { average[i] = d * average[i] + (1 - d) * weights[i] }
                }
            }
        }
    }

    /// Runs `body` with the average in the parameters, then puts the raw weights back.
    func withAveragedWeights<Result>(_ parameters: [Parameter], _ body: () throws -> Result) rethrows -> Result {
        let raw = parameters.map(\.value)
        for (parameter, average) in zip(parameters, values) { parameter.value = average }
        defer { for (parameter, value) in zip(parameters, raw) { parameter.value = value } }
        return try body()
    }

    /// The average by `average.<name>`, for the checkpoint.
    func state(_ parameters: [Parameter]) -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: zip(parameters, values).map { ("\(Self.prefix)\($0.name)", $1) })
    }

    /// Restores `state()`; throws when a parameter's average is missing or mis-shaped.
    func load(_ state: [String: Tensor], parameters: [Parameter]) throws {
        values = try parameters.map { parameter in
            guard let value = state["\(Self.prefix)\(parameter.name)"], value.shape == parameter.shape else {
                throw TrainingError("the checkpoint lacks the weight average of \(parameter.name)")
            }
            return value
        }
    }
}
