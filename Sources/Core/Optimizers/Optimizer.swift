/// A first-order optimiser over a fixed list of `Parameter`s, updated in place.
///
/// One training step: `zeroGradients()`, forward with a tape, `tape.backward(loss)`, then
/// `step()` (or `step(following:)` to take the learning rate from a schedule first).
/// Parameters whose `gradient` is nil at `step()` are skipped entirely — value, moments and
/// per-parameter step count stay as they are — as `torch.optim` does for `grad is None`.
///
/// `state()` returns everything needed to continue bit-exactly (moments, per-parameter and
/// global step counts, learning rate) as named tensors that can go into the same safetensors
/// checkpoint as the weights (keys start with `optimizer.`); `loadState` restores it into an
/// optimiser built with the same parameter names and shapes and throws
/// `OptimizerStateError` listing every mismatch otherwise. Hyper-parameters (β, ε, momentum,
/// weight decay) are not part of the state: they come from the configuration.
public protocol Optimizer: AnyObject {
    /// The rate used by the next `step()`.
    var learningRate: Float { get set }
    /// Applies one update to every parameter that has a gradient.
    func step()
    /// Clears every parameter's gradient (sets it to nil).
    func zeroGradients()
    /// Number of `step()` calls so far (restored by `loadState`).
    var stepCount: Int { get }
    /// The optimiser's state as named tensors.
    func state() -> [String: Tensor]
    /// Restores a state produced by `state()` of an optimiser of the same kind over parameters
    /// with the same names and shapes. Nothing is changed when it throws.
    func loadState(_ state: [String: Tensor]) throws
}

extension Optimizer {
    /// Sets `learningRate` from `schedule` at the current step count, then steps.
    public func step(following schedule: LearningRateSchedule) {
        learningRate = schedule.learningRate(atStep: stepCount)
        step()
    }
}

/// A saved optimiser state that does not fit the optimiser it is loaded into.
public struct OptimizerStateError: Error, CustomStringConvertible, Sendable {
    /// One line per problem, each naming the tensor.
    public let problems: [String]

    public var description: String {
        "the optimiser state does not match this optimiser and its parameters (\(problems.count) problem"
            + (problems.count == 1 ? "" : "s") + "):\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
            + "\nResume with the same model, profile and optimiser settings (e.g. amsgrad, momentum) that wrote the checkpoint, or start the run afresh."
    }
}

/// Helpers shared by the optimisers for their state dictionaries.
enum OptimizerState {
    static let stepCountKey = "optimizer.step_count"
    static let learningRateKey = "optimizer.learning_rate"

    /// `optimizer.state.<parameter name>.<field>`.
    static func key(_ parameter: String, _ field: String) -> String { "optimizer.state.\(parameter).\(field)" }

    /// A non-negative integer as two exactly representable floats (high and low 24 bits).
    static func encode(_ count: Int) -> Tensor {
        precondition(count >= 0 && count < 1 << 48, "step count \(count) out of range")
        return Tensor(shape: [2], values: [Float(count >> 24), Float(count & 0xFF_FFFF)])
    }

    /// Checks that all parameter names are distinct (they key the state).
    static func requireDistinctNames(_ parameters: [Parameter], optimizer: String) {
        var seen = Set<String>()
        for parameter in parameters {
            precondition(seen.insert(parameter.name).inserted, "\(optimizer): two parameters are named \(parameter.name)")
        }
    }

    /// Reads a state dictionary, collecting every problem instead of stopping at the first.
    struct Reader {
        let state: [String: Tensor]
        private(set) var used = Set<String>()
        private(set) var problems: [String] = []

        init(_ state: [String: Tensor]) { self.state = state }

        func has(_ key: String) -> Bool { state[key] != nil }

        /// The tensor under `key` with `shape`, or nil (and a recorded problem).
        mutating func tensor(_ key: String, shape: [Int]) -> Tensor? {
            guard let tensor = state[key] else {
                problems.append("missing tensor \(key) \(shape)")
                return nil
            }
            used.insert(key)
            guard tensor.shape == shape else {
                problems.append("tensor \(key) has shape \(tensor.shape), expected \(shape)")
                return nil
            }
            return tensor
        }

        /// A count written by `encode`, or nil (and a recorded problem).
        mutating func count(_ key: String) -> Int? {
            guard let tensor = tensor(key, shape: [2]) else { return nil }
            let high = tensor[flat: 0], low = tensor[flat: 1]
            guard high >= 0, low >= 0, high == high.rounded(), low == low.rounded(), low < Float(1 << 24) else {
                problems.append("tensor \(key) does not hold a step count: \(tensor.scalars)")
                return nil
            }
            return Int(high) << 24 + Int(low)
        }

        /// Records keys present in the state but not read.
        mutating func finish() {
            for key in state.keys.sorted() where !used.contains(key) {
                problems.append("unexpected tensor \(key) \(state[key]!.shape)")
            }
        }
    }
}
