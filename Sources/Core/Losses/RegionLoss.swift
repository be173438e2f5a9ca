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
///
/// Optional voxel weights m (same shape, values in [0, 1]) leave voxels out of the loss: every
/// sum above runs over m·(…), so Σ m p g, Σ m p², Σ m g and Σ m·bce / M, and ∂L/∂x is m times
/// the unweighted expression. A voxel with m = 0 neither counts nor receives a gradient; all
/// ones is the unweighted loss. (Pseudo-labels train only where the teachers were confident,
/// `TrainingObjective.confidentVoxels`.)
public enum RegionLoss {
    /// The two terms, for logging.
    public struct Terms: Sendable, Equatable {
        public var dice: Double
        public var crossEntropy: Double
        public var total: Double { dice + crossEntropy }
    }

    /// σ(logits), the Dice sums and the two loss terms, in one pass over memory.
    public static func evaluate(logits: Tensor, target: Tensor, voxelWeights: Tensor? = nil, epsilon: Float = SoftDice.defaultEpsilon)
        -> (terms: Terms, probabilities: Tensor, statistics: SoftDice.Statistics) {
        precondition(logits.shape == target.shape, "region loss: logits \(logits.shape) vs target \(target.shape)")
        precondition(voxelWeights.map { $0.shape == logits.shape } ?? true, "region loss: voxel weights must have the logits' shape")
        let (batch, channels, spatial) = SoftDice.layout(logits.shape)
        precondition(logits.count > 0, "region loss: empty input")
        var probabilities = Tensor(uninitializedShape: logits.shape)
        var statistics = SoftDice.Statistics(channels: channels)
        var crossEntropy = 0.0
        logits.withUnsafeBufferPointer { x in
            target.withUnsafeBufferPointer { g in
                withOptionalBuffer(voxelWeights) { m in
                    probabilities.withUnsafeMutableBufferPointer { p in
                        for sample in 0..<batch {
                            for channel in 0..<channels {
                                let start = (sample * channels + channel) * spatial
                                var intersection = 0.0, squares = 0.0, targets = 0.0, entropy = 0.0
                                for index in start..<(start + spatial) {
                                    let logit = x[index], label = g[index]
                                    let probability = BinaryCrossEntropy.sigmoid(logit)
                                    p[index] = probability
                                    let weight = Double(m?[index] ?? 1)
                                    intersection += weight * Double(probability) * Double(label)
                                    squares += weight * Double(probability) * Double(probability)
                                    targets += weight * Double(label)
                                    entropy += weight * BinaryCrossEntropy.elementLoss(logit: logit, target: label)
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
        }
        let dice = statistics.loss(channels: Array(0..<channels), epsilon: epsilon)
        return (Terms(dice: dice, crossEntropy: crossEntropy / Double(logits.count)), probabilities, statistics)
    }

    /// ∂L/∂x (and ∂L/∂g = Dice part − x/M when `logits` is given), times `outputGradient`.
    static func gradients(
        probabilities: Tensor, target: Tensor, voxelWeights: Tensor? = nil, statistics: SoftDice.Statistics, epsilon: Float,
        outputGradient: Float, logitsForTargetGradient logits: Tensor?
    ) -> (logits: Tensor, target: Tensor?) {
        precondition(voxelWeights == nil || logits == nil, "region loss: no target gradient with voxel weights")
        let (batch, channels, spatial) = SoftDice.layout(probabilities.shape)
        let (weights, dice) = statistics.gradientWeights(channels: Array(0..<channels), epsilon: epsilon)
        let crossEntropyFactor = outputGradient / Float(probabilities.count)
        var logitGradient = Tensor(uninitializedShape: probabilities.shape)
        probabilities.withUnsafeBufferPointer { p in
            target.withUnsafeBufferPointer { g in
                withOptionalBuffer(voxelWeights) { m in
                    logitGradient.withUnsafeMutableBufferPointer { dx in
                        for sample in 0..<batch {
                            for channel in 0..<channels {
                                let start = (sample * channels + channel) * spatial
                                let diceFactor = -2 * weights[channel] * outputGradient, coefficient = dice[channel]
                                for index in start..<(start + spatial) {
                                    let probability = p[index], label = g[index]
                                    let diceGradient = diceFactor * (label - coefficient * probability)
                                    let gradient = diceGradient * probability * (1 - probability) + crossEntropyFactor * (probability - label)
                                    dx[index] = m.map { $0[index] * gradient } ?? gradient
                                }
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
    /// `voxelWeights` (constants, the logits' shape): see `RegionLoss`; the target then takes no
    /// gradient.
    public func regionLossWithTerms(logits: Variable, target: Variable, voxelWeights: Tensor? = nil,
                                    epsilon: Float = SoftDice.defaultEpsilon) -> (loss: Variable, terms: RegionLoss.Terms) {
        precondition(voxelWeights == nil || target.node == nil, "region loss: voxel weights need a constant target")
        let x = logits.value, g = target.value
        let (terms, probabilities, statistics) = RegionLoss.evaluate(logits: x, target: g, voxelWeights: voxelWeights, epsilon: epsilon)
        let keptLogits: Tensor? = target.node != nil ? x : nil
        let loss = record(Tensor(shape: [1], values: [Float(terms.total)]), inputs: [logits, target]) { gradient in
            let (dx, dg) = RegionLoss.gradients(
                probabilities: probabilities, target: g, voxelWeights: voxelWeights, statistics: statistics, epsilon: epsilon,
                outputGradient: gradient[flat: 0], logitsForTargetGradient: keptLogits)
            return [dx, dg]
        }
        return (loss, terms)
    }
}

/// Runs `body` with `tensor`'s buffer, or with nil when there is no tensor.
private func withOptionalBuffer<Result>(_ tensor: Tensor?, _ body: (UnsafeBufferPointer<Float>?) -> Result) -> Result {
    guard let tensor else { return body(nil) }
    return tensor.withUnsafeBufferPointer { body($0) }
}
