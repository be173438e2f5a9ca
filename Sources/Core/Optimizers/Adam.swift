import Foundation

/// Adam (Kingma & Ba 2015) with PyTorch's `torch.optim.Adam` semantics, including its
/// `weight_decay`, `decoupled_weight_decay` (= `torch.optim.AdamW`) and `amsgrad` options.
///
/// Per parameter θ with gradient g, at that parameter's own step t (1, 2, …):
///
///     g ← g + λθ                       (weight decay, L2 form, when not decoupled)
///     θ ← θ·(1 − η·λ)                  (weight decay, AdamW form, when decoupled)
///     m ← β1·m + (1 − β1)·g            v ← β2·v + (1 − β2)·g²
///     v̂ ← max(v̂, v) with amsgrad, else v̂ = v
///     θ ← θ − η/(1 − β1^t) · m / (√v̂ / √(1 − β2^t) + ε)
///
/// The float32 operations follow PyTorch's CPU single-tensor path in order (m by `lerp`,
/// bias corrections in Double), so trajectories agree with PyTorch to float rounding.
/// Parameters without a gradient are skipped and their t does not advance (as in PyTorch).
/// Invalid hyper-parameters (η < 0, β outside [0, 1), ε < 0, λ < 0) and two parameters with
/// the same name are programming errors (`precondition`), as are gradients whose shape differs
/// from the parameter's.
///
/// State (see `Optimizer`): `optimizer.state.<name>.step`, `.exp_avg`, `.exp_avg_sq` and, with
/// amsgrad, `.max_exp_avg_sq` for every parameter that has been updated at least once.
public final class Adam: Optimizer {
    public let parameters: [Parameter]
    public var learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    public let weightDecay: Float
    /// AdamW: decay θ directly instead of adding λθ to the gradient.
    public let decoupledWeightDecay: Bool
    public let amsgrad: Bool
    public private(set) var stepCount = 0

    private var parameterSteps: [Int]
    private var firstMoments: [Tensor?]
    private var secondMoments: [Tensor?]
    private var maximumSecondMoments: [Tensor?]

    public init(
        parameters: [Parameter], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
        epsilon: Float = 1e-8, weightDecay: Float = 0, decoupledWeightDecay: Bool = false, amsgrad: Bool = false
    ) {
        precondition(learningRate >= 0, "Adam: learning rate \(learningRate) < 0")
        precondition(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "Adam: betas (\(beta1), \(beta2)) outside [0, 1)")
        precondition(epsilon >= 0, "Adam: epsilon \(epsilon) < 0")
        precondition(weightDecay >= 0, "Adam: weight decay \(weightDecay) < 0")
        OptimizerState.requireDistinctNames(parameters, optimizer: "Adam")
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupledWeightDecay = decoupledWeightDecay
        self.amsgrad = amsgrad
        parameterSteps = Array(repeating: 0, count: parameters.count)
        firstMoments = Array(repeating: nil, count: parameters.count)
        secondMoments = Array(repeating: nil, count: parameters.count)
        maximumSecondMoments = Array(repeating: nil, count: parameters.count)
    }

    public func zeroGradients() { parameters.forEach { $0.zeroGradient() } }

    public func step() {
        stepCount += 1
        for (index, parameter) in parameters.enumerated() {
            guard let gradient = parameter.gradient else { continue }
            precondition(gradient.shape == parameter.shape, "Adam: gradient \(gradient.shape) for \(parameter.name) \(parameter.shape)")
            parameterSteps[index] += 1
            // Take the moments out of the arrays so that each buffer is uniquely referenced
            // while it is written through a pointer, then put them back.
            var first = firstMoments[index] ?? Tensor.zeros(like: parameter.value)
            var second = secondMoments[index] ?? Tensor.zeros(like: parameter.value)
            var maximum: Tensor? = amsgrad ? (maximumSecondMoments[index] ?? Tensor.zeros(like: parameter.value)) : nil
            firstMoments[index] = nil
            secondMoments[index] = nil
            maximumSecondMoments[index] = nil
            let constants = Constants(self, step: parameterSteps[index])
            func update(maximum: UnsafeMutablePointer<Float>?) {
                parameter.value.withUnsafeMutableBufferPointer { theta in
                    gradient.withUnsafeBufferPointer { g in
                        first.withUnsafeMutableBufferPointer { m in
                            second.withUnsafeMutableBufferPointer { v in Self.update(theta, g, m, v, maximum, constants) }
                        }
                    }
                }
            }
            if maximum != nil {
                maximum!.withUnsafeMutableBufferPointer { update(maximum: $0.baseAddress) }
            } else {
                update(maximum: nil)
            }
            firstMoments[index] = first
            secondMoments[index] = second
            maximumSecondMoments[index] = maximum
        }
    }

    /// Float32 scalars of one update, computed in Double like PyTorch's Python-side scalars.
    private struct Constants {
        var gradientDecay: Float = 0       // λ in g + λθ, or 0
        var valueDecay: Float = 1          // 1 − ηλ for AdamW, else 1
        var firstWeight: Float             // 1 − β1 (lerp weight)
        var beta2: Float
        var oneMinusBeta2: Float
        var stepSize: Float                // η / (1 − β1^t)
        var secondCorrection: Float        // √(1 − β2^t)
        var epsilon: Float

        init(_ adam: Adam, step: Int) {
            let rate = Double(adam.learningRate)
            if adam.weightDecay != 0 {
                if adam.decoupledWeightDecay {
                    valueDecay = Float(1 - rate * Double(adam.weightDecay))
                } else {
                    gradientDecay = adam.weightDecay
                }
            }
            firstWeight = Float(1 - Double(adam.beta1))
            beta2 = adam.beta2
            oneMinusBeta2 = Float(1 - Double(adam.beta2))
            stepSize = Float(rate / (1 - pow(Double(adam.beta1), Double(step))))
            secondCorrection = Float((1 - pow(Double(adam.beta2), Double(step))).squareRoot())
            epsilon = adam.epsilon
        }
    }

    /// One pass over a parameter: θ, g, m, v and (amsgrad) v̂ have the same element count.
    private static func update(
        _ theta: UnsafeMutableBufferPointer<Float>, _ gradient: UnsafeBufferPointer<Float>,
        _ first: UnsafeMutableBufferPointer<Float>, _ second: UnsafeMutableBufferPointer<Float>,
        _ maximum: UnsafeMutablePointer<Float>?, _ c: Constants
    ) {
        let count = theta.count
        guard let theta = theta.baseAddress, let gradient = gradient.baseAddress,
              let first = first.baseAddress, let second = second.baseAddress else { return }
        for index in 0..<count {
            var value = theta[index] * c.valueDecay
            let g = gradient[index] + c.gradientDecay * theta[index]
            // PyTorch's lerp for weights below ½: m + w·(g − m).
            let m = first[index] + c.firstWeight * (g - first[index])
            var v = second[index] * c.beta2
            v += c.oneMinusBeta2 * g * g
            first[index] = m
            second[index] = v
            var vHat = v
            if let maximum {
                vHat = max(maximum[index], v)
                maximum[index] = vHat
            }
            let denominator = vHat.squareRoot() / c.secondCorrection + c.epsilon
            value -= c.stepSize * m / denominator
            theta[index] = value
        }
    }

    public func state() -> [String: Tensor] {
        var result = [OptimizerState.stepCountKey: OptimizerState.encode(stepCount),
                      OptimizerState.learningRateKey: Tensor(shape: [1], values: [learningRate])]
        for (index, parameter) in parameters.enumerated() where parameterSteps[index] > 0 {
            result[OptimizerState.key(parameter.name, "step")] = OptimizerState.encode(parameterSteps[index])
            result[OptimizerState.key(parameter.name, "exp_avg")] = firstMoments[index]
            result[OptimizerState.key(parameter.name, "exp_avg_sq")] = secondMoments[index]
            if amsgrad { result[OptimizerState.key(parameter.name, "max_exp_avg_sq")] = maximumSecondMoments[index] }
        }
        return result
    }

    public func loadState(_ state: [String: Tensor]) throws {
        var reader = OptimizerState.Reader(state)
        let globalStep = reader.count(OptimizerState.stepCountKey)
        let rate = reader.tensor(OptimizerState.learningRateKey, shape: [1])
        var steps = Array(repeating: 0, count: parameters.count)
        var first = [Tensor?](repeating: nil, count: parameters.count)
        var second = first
        var maximum = first
        for (index, parameter) in parameters.enumerated() {
            let stepKey = OptimizerState.key(parameter.name, "step")
            guard reader.has(stepKey) else { continue }  // never updated
            steps[index] = reader.count(stepKey) ?? 0
            first[index] = reader.tensor(OptimizerState.key(parameter.name, "exp_avg"), shape: parameter.shape)
            second[index] = reader.tensor(OptimizerState.key(parameter.name, "exp_avg_sq"), shape: parameter.shape)
            if amsgrad { maximum[index] = reader.tensor(OptimizerState.key(parameter.name, "max_exp_avg_sq"), shape: parameter.shape) }
        }
        reader.finish()
        guard reader.problems.isEmpty, let globalStep, let rate else { throw OptimizerStateError(problems: reader.problems) }
        stepCount = globalStep
        learningRate = rate[flat: 0]
        parameterSteps = steps
        firstMoments = first
        secondMoments = second
        maximumSecondMoments = maximum
    }
}
