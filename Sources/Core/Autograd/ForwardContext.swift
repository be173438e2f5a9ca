/// How a forward pass runs: with a tape (training) or without (inference), in training mode
/// (dropout active) or evaluation mode, with which random stream, and how its convolutions
/// compute (backend and precision, e.g. bfloat16 inference for a model whose equivalence check
/// passed).
public final class ForwardContext {
    /// The tape recording this pass, nil for inference.
    public let tape: Tape?
    /// Whether dropout and other training-only behaviour is active.
    public let isTraining: Bool
    /// Seeded randomness for dropout and the VAE sampling.
    public var random: SeededRandom
    /// Backend, precision and tiling of every convolution in this pass (forward and backward).
    public let convolution: ConvolutionTuning

    public init(tape: Tape? = nil, isTraining: Bool = false, random: SeededRandom = SeededRandom(seed: 0),
                convolution: ConvolutionTuning = .default) {
        self.tape = tape
        self.isTraining = isTraining
        self.random = random
        self.convolution = convolution
    }

    /// An inference context: no tape, no dropout.
    public static func inference(convolution: ConvolutionTuning = .default) -> ForwardContext {
        ForwardContext(convolution: convolution)
    }

    /// The parameter as a variable: on the tape when recording, a plain value otherwise.
    public func variable(_ parameter: Parameter) -> Variable {
        tape?.variable(parameter) ?? Variable(parameter.value)
    }

    /// Records an op on the tape if there is one (see `Tape.record`). `operation` (the calling
    /// op's name) labels its time in `OperationProfile`.
    public func record(_ value: Tensor, inputs: [Variable], operation: StaticString = #function,
                       backward: @escaping (Tensor) -> [Tensor?]) -> Variable {
        OperationProfile.markForward(operation)
        guard let tape else { return Variable(value) }
        return tape.record(value, inputs: inputs, backward: OperationProfile.timed(operation, backward))
    }
}
