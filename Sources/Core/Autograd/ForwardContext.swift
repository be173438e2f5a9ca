/// How a forward pass runs: with a tape (training) or without (inference), in training mode
/// (dropout active) or evaluation mode, and with which random stream.
public final class ForwardContext {
    /// The tape recording this pass, nil for inference.
    public let tape: Tape?
    /// Whether dropout and other training-only behaviour is active.
    public let isTraining: Bool
    /// Seeded randomness for dropout and the VAE sampling.
    public var random: SeededRandom

    public init(tape: Tape? = nil, isTraining: Bool = false, random: SeededRandom = SeededRandom(seed: 0)) {
        self.tape = tape
        self.isTraining = isTraining
        self.random = random
    }

    /// An inference context: no tape, no dropout.
    public static func inference() -> ForwardContext { ForwardContext() }

    /// The parameter as a variable: on the tape when recording, a plain value otherwise.
    public func variable(_ parameter: Parameter) -> Variable {
        tape?.variable(parameter) ?? Variable(parameter.value)
    }

    /// Records an op on the tape if there is one (see `Tape.record`).
    public func record(_ value: Tensor, inputs: [Variable], backward: @escaping (Tensor) -> [Tensor?]) -> Variable {
        guard let tape else { return Variable(value) }
        return tape.record(value, inputs: inputs, backward: backward)
    }
}
