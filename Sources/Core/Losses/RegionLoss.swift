/// The loss of the region models (unet, resunet-vae, student): soft Dice on the sigmoid
/// probabilities plus binary cross-entropy on the logits, for the three region channels
/// [WT, TC, ET] (MODELS.md "Training"):
///
///     p = σ(x),   L = L_dice(p, g; ε) + L_bce(x, g)
///
/// computed together: one pass computes σ(x), the Dice sums and the cross-entropy; the backward
/// pass produces the gradient with respect to the logits directly,
///
///     ∂L/∂x = −2 w_k (g − D_k p) · p(1 − p) + (p − g)/M
///
/// (w_k, D_k as in `SoftDice`, M = element count), so neither the probability tensor nor a
/// separate sigmoid node is kept on the tape: only the saved probabilities, one tensor the size
/// of the logits. Inputs are N×K×D×H×W (or any N×K×…), same shape; the target may be soft.
public enum RegionLoss {
    /// The two terms, for logging.
    public struct Terms: Sendable, Equatable {
        public var dice: Double
        public var crossEntropy: Double
        public var total: Double { dice + crossEntropy }
    }

    /// σ(logits), the Dice sums and the two loss terms, in one pass over memory.
    public static func evaluate(logits: Tensor, target: Tensor, epsilon: Float = SoftDice.defaultEpsilon)
        -> (terms: Terms, probabilities: Tensor, statistics: SoftDice.Statistics) {
        precondition(logits.shape == target.shape, "region loss: logits \(logits.shape) vs target \(target.shape)")
        let (batch, channels, spatial) = SoftDice.layout(logits.shape)
        precondition(logits.count > 0, "region loss: empty input")
        var probabilities = Tensor(uninitializedShape: logits.shape)
        var statistics = SoftDice.Statistics(channels: channels)
        var crossEntropy = 0.0
        logits.withUnsafeBufferPointer { x in
            target.withUnsafeBufferPointer { g in
                probabilities.withUnsafeMutableBufferPointer { p in
                    for sample in 0..<batch {
                        for channel in 0..<channels {
                            let start = (sample * channels + channel) * spatial
                            var intersection = 0.0, squares = 0.0, targets = 0.0, entropy = 0.0
                            for index in start..<(start + spatial) {
                                let logit = x[index], label = g[index]
                                let probability = BinaryCrossEntropy.sigmoid(logit)
                                p[index] = probability
                                intersection += Double(probability) * Double(label)
                                squares += Double(probability) * Double(probability)
                                targets += Double(label)
                                entropy += BinaryCrossEntropy.elementLoss(logit: logit, target: label)
                            }
                            statistics.intersection[channel] += intersection
                            statistics.probabilitySquares[channel] += squares
                            statistics.targetSum[channel] += targets
                            crossEntropy += entropy
                        }
                    }
                }
            }
        }
        let dice = statistics.loss(channels: Array(0..<channels), epsilon: epsilon)
        return (Terms(dice: dice, crossEntropy: crossEntropy / Double(logits.count)), probabilities, statistics)
    }

    /// ∂L/∂x (and ∂L/∂g = Dice part − x/M when `logits` is given), times `outputGradient`.
    static func gradients(
        probabilities: Tensor, target: Tensor, statistics: SoftDice.Statistics, epsilon: Float, outputGradient: Float,
        logitsForTargetGradient logits: Tensor?
    ) -> (logits: Tensor, target: Tensor?) {
        let (batch, channels, spatial) = SoftDice.layout(probabilities.shape)
        let (weights, dice) = statistics.gradientWeights(channels: Array(0..<channels), epsilon: epsilon)
        let crossEntropyFactor = outputGradient / Float(probabilities.count)
        var logitGradient = Tensor(uninitializedShape: probabilities.shape)
        probabilities.withUnsafeBufferPointer { p in
            target.withUnsafeBufferPointer { g in
                logitGradient.withUnsafeMutableBufferPointer { dx in
                    for sample in 0..<batch {
                        for channel in 0..<channels {
                            let start = (sample * channels + channel) * spatial
                            let diceFactor = -2 * weights[channel] * outputGradient, coefficient = dice[channel]
                            for index in start..<(start + spatial) {
                                let probability = p[index], label = g[index]
                                let diceGradient = diceFactor * (label - coefficient * probability)
                                dx[index] = diceGradient * probability * (1 - probability) + crossEntropyFactor * (probability - label)
                            }
                        }
                    }
                }
            }
        }
        guard let logits else { return (logitGradient, nil) }
        var targetGradient = SoftDice.gradients(
            probabilities: probabilities, target: target, statistics: statistics, channels: Array(0..<channels),
            epsilon: epsilon, outputGradient: outputGradient, withTargetGradient: true).target!
        targetGradient.add(logits, scaledBy: -crossEntropyFactor)
        return (logitGradient, targetGradient)
    }
}

extension ForwardContext {
    /// Soft Dice of σ(logits) plus binary cross-entropy of the logits (see `RegionLoss`), as a
    /// shape-[1] variable.
    public func regionLoss(logits: Variable, target: Variable, epsilon: Float = SoftDice.defaultEpsilon) -> Variable {
        regionLossWithTerms(logits: logits, target: target, epsilon: epsilon).loss
    }

    /// `regionLoss` plus its two terms for logging.
    public func regionLossWithTerms(logits: Variable, target: Variable, epsilon: Float = SoftDice.defaultEpsilon)
        -> (loss: Variable, terms: RegionLoss.Terms) {
        let x = logits.value, g = target.value
        let (terms, probabilities, statistics) = RegionLoss.evaluate(logits: x, target: g, epsilon: epsilon)
        let keptLogits: Tensor? = target.node != nil ? x : nil
        let loss = record(Tensor(shape: [1], values: [Float(terms.total)]), inputs: [logits, target]) { gradient in
            let (dx, dg) = RegionLoss.gradients(
                probabilities: probabilities, target: g, statistics: statistics, epsilon: epsilon,
                outputGradient: gradient[flat: 0], logitsForTargetGradient: keptLogits)
            return [dx, dg]
        }
        return (loss, terms)
    }
}
