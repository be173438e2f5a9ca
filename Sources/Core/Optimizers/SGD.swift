/// Stochastic gradient descent with momentum, PyTorch `torch.optim.SGD` semantics (used for the
/// cascade: momentum 0.9, weight decay 1e-5, exponential learning-rate decay).
///
/// Per parameter θ with gradient g:
///
///     d ← g + λθ                                   (weight decay λ, L2 form)
///     b ← d on the parameter's first update, else b ← μ·b + (1 − τ)·d   (momentum μ, dampening τ)
///     d ← d + μ·b with Nesterov, else d ← b        (only when μ ≠ 0)
///     θ ← θ − η·d
///
/// Parameters without a gradient are skipped and keep their momentum buffer unchanged.
/// Invalid settings (η < 0, μ < 0, λ < 0, Nesterov without momentum or with dampening) and two
/// parameters with the same name are programming errors (`precondition`).
///
/// State (see `Optimizer`): `optimizer.state.<name>.momentum_buffer` for every parameter updated
/// at least once with μ ≠ 0.
public final class SGD: Optimizer {
    public let parameters: [Parameter]
    public var learningRate: Float
    public let momentum: Float
    public let dampening: Float
    public let weightDecay: Float
    public let nesterov: Bool
    public private(set) var stepCount = 0

    private var momentumBuffers: [Tensor?]

    public init(
        parameters: [Parameter], learningRate: Float, momentum: Float = 0, dampening: Float = 0,
        weightDecay: Float = 0, nesterov: Bool = false
    ) {
        precondition(learningRate >= 0, "SGD: learning rate \(learningRate) < 0")
        precondition(momentum >= 0, "SGD: momentum \(momentum) < 0")
        precondition(weightDecay >= 0, "SGD: weight decay \(weightDecay) < 0")
        precondition(!nesterov || (momentum > 0 && dampening == 0), "SGD: Nesterov momentum requires momentum > 0 and dampening 0")
        OptimizerState.requireDistinctNames(parameters, optimizer: "SGD")
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.weightDecay = weightDecay
        self.nesterov = nesterov
        momentumBuffers = Array(repeating: nil, count: parameters.count)
    }

    public func zeroGradients() { parameters.forEach { $0.zeroGradient() } }

    public func step() {
        stepCount += 1
        let rate = learningRate, decay = weightDecay, mu = momentum
        let keep = Float(1 - Double(dampening))
        for (index, parameter) in parameters.enumerated() {
            guard let gradient = parameter.gradient else { continue }
            precondition(gradient.shape == parameter.shape, "SGD: gradient \(gradient.shape) for \(parameter.name) \(parameter.shape)")
            guard mu != 0 else {
                parameter.value.withUnsafeMutableBufferPointer { theta in
                    gradient.withUnsafeBufferPointer { g in
                        for i in 0..<theta.count { theta[i] -= rate * (g[i] + decay * theta[i]) }
                    }
                }
                continue
            }
            let isFirst = momentumBuffers[index] == nil
            var buffer = momentumBuffers[index] ?? Tensor(uninitializedShape: parameter.shape)
            momentumBuffers[index] = nil
            let nesterov = self.nesterov
            parameter.value.withUnsafeMutableBufferPointer { theta in
                gradient.withUnsafeBufferPointer { g in
                    buffer.withUnsafeMutableBufferPointer { b in
                        for i in 0..<theta.count {
                            let d = g[i] + decay * theta[i]
                            let updated = isFirst ? d : b[i] * mu + keep * d
                            b[i] = updated
                            theta[i] -= rate * (nesterov ? d + mu * updated : updated)
                        }
                    }
                }
            }
            momentumBuffers[index] = buffer
        }
    }

    public func state() -> [String: Tensor] {
        var result = [OptimizerState.stepCountKey: OptimizerState.encode(stepCount),
                      OptimizerState.learningRateKey: Tensor(shape: [1], values: [learningRate])]
        for (index, parameter) in parameters.enumerated() {
            if let buffer = momentumBuffers[index] { result[OptimizerState.key(parameter.name, "momentum_buffer")] = buffer }
        }
        return result
    }

    public func loadState(_ state: [String: Tensor]) throws {
        var reader = OptimizerState.Reader(state)
        let globalStep = reader.count(OptimizerState.stepCountKey)
        let rate = reader.tensor(OptimizerState.learningRateKey, shape: [1])
        var buffers = [Tensor?](repeating: nil, count: parameters.count)
        for (index, parameter) in parameters.enumerated() {
            let key = OptimizerState.key(parameter.name, "momentum_buffer")
            if reader.has(key) { buffers[index] = reader.tensor(key, shape: parameter.shape) }
        }
        reader.finish()
        guard reader.problems.isEmpty, let globalStep, let rate else { throw OptimizerStateError(problems: reader.problems) }
        stepCount = globalStep
        learningRate = rate[flat: 0]
        momentumBuffers = buffers
    }
}
