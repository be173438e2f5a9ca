/// Soft Dice loss (Milletari et al. 2016, squared-probability denominator), per channel and
/// jointly over the batch and all voxels (MODELS.md "Training"):
///
///     D_k = (2 Σ p·g + ε) / (Σ p² + Σ g + ε),     L = 1 − mean_{k ∈ C} D_k
///
/// where the sums run over n, z, y, x of channel k, p are probabilities, g targets (hard 0/1 or
/// soft labels in [0, 1]) and C the channels that count (all for the region models; 1…3 for
/// the cascade, whose channel 0 is background). Gradients, with w_k = 1 / (|C| · (Σp² + Σg + ε)):
///
///     ∂L/∂p = −2 w_k (g − D_k p),     ∂L/∂g = −w_k (2p − D_k)     (0 for channels outside C)
///
/// Inputs are N×K×… (N batch, K channels, any number of spatial axes, usually D×H×W), same
/// shape for p and g; shapes that differ or channels out of range are programming errors
/// (`precondition`). Sums are accumulated in Double.
public enum SoftDice {
    /// The default smoothing ε = 1.
    ///
    /// Why not 1e-5: random training crops often contain no voxel of a region (ET is absent in
    /// low-grade tumours and in crops beside the tumour), and the Dice is joint over a batch
    /// that is often 1. For an empty target channel D_k = ε / (Σp² + ε). With ε = 1e-5 that is
    /// ≈ 0 as soon as the prediction has any mass (Σp² = 1e-3, e.g. ten voxels at p = 0.01, gives
    /// D ≈ 0.01), and its gradient 2ε·p / (Σp² + ε)² vanishes: the channel adds a constant ≈ 1/K
    /// to the loss, noise to the curve and no learning signal. With ε = 1 the empty channel
    /// becomes a smooth false-positive penalty Σp² / (Σp² + 1) with bounded gradient, and
    /// for non-empty channels (hundreds to thousands of target voxels per crop even at 2 mm) it
    /// changes D_k by well under 1 %. (nnU-Net's ε = 1e-5 relies on large batches and
    /// foreground oversampling so that empty channels are rare; we train with batch 1.)
    public static let defaultEpsilon: Float = 1

    /// The three sums of every channel.
    public struct Statistics: Sendable, Equatable {
        /// Σ p·g per channel.
        public var intersection: [Double]
        /// Σ p² per channel.
        public var probabilitySquares: [Double]
        /// Σ g per channel.
        public var targetSum: [Double]

        public init(channels: Int) {
            intersection = Array(repeating: 0, count: channels)
            probabilitySquares = Array(repeating: 0, count: channels)
            targetSum = Array(repeating: 0, count: channels)
        }

        public var channelCount: Int { intersection.count }

        /// D_k for every channel.
        public func coefficients(epsilon: Float) -> [Double] {
            let smoothing = Double(epsilon)
            return (0..<channelCount).map { channel in
                (2 * intersection[channel] + smoothing) / (probabilitySquares[channel] + targetSum[channel] + smoothing)
            }
        }

        /// L = 1 − mean of D_k over `channels`.
        public func loss(channels: [Int], epsilon: Float) -> Double {
            let dice = coefficients(epsilon: epsilon)
            return 1 - channels.reduce(0) { $0 + dice[$1] } / Double(channels.count)
        }

        /// Per channel: w_k = 1 / (|C| · denominator_k) for channels in C, else 0; and D_k.
        func gradientWeights(channels: [Int], epsilon: Float) -> (weights: [Float], coefficients: [Float]) {
            let dice = coefficients(epsilon: epsilon)
            var weights = [Float](repeating: 0, count: channelCount)
            for channel in channels {
                let denominator = probabilitySquares[channel] + targetSum[channel] + Double(epsilon)
                weights[channel] = Float(1 / (Double(channels.count) * denominator))
            }
            return (weights, dice.map { Float($0) })
        }
    }

    /// Splits an N×K×… shape into (batch, channels, voxels per channel).
    static func layout(_ shape: [Int]) -> (batch: Int, channels: Int, spatial: Int) {
        precondition(shape.count >= 2, "Dice loss: expected N×K×… input, got shape \(shape)")
        return (shape[0], shape[1], shape.dropFirst(2).reduce(1, *))
    }

    /// Checks a channel list: non-empty, in range, no repeats.
    static func validate(channels: [Int], channelCount: Int) {
        precondition(!channels.isEmpty, "Dice loss: no channels selected")
        precondition(channels.allSatisfy { $0 >= 0 && $0 < channelCount }, "Dice loss: channels \(channels) out of 0..<\(channelCount)")
        precondition(Set(channels).count == channels.count, "Dice loss: repeated channel in \(channels)")
    }

    /// The per-channel sums of probabilities `p` and target `g` (same N×K×… shape).
    public static func statistics(probabilities: Tensor, target: Tensor) -> Statistics {
        precondition(probabilities.shape == target.shape, "Dice loss: probabilities \(probabilities.shape) vs target \(target.shape)")
        let (batch, channels, spatial) = layout(probabilities.shape)
        var result = Statistics(channels: channels)
        probabilities.withUnsafeBufferPointer { p in
            target.withUnsafeBufferPointer { g in
                for sample in 0..<batch {
                    for channel in 0..<channels {
                        let start = (sample * channels + channel) * spatial
                        var intersection = 0.0, squares = 0.0, targets = 0.0
                        for index in start..<(start + spatial) {
                            let probability = Double(p[index]), label = Double(g[index])
                            intersection += probability * label
                            squares += probability * probability
                            targets += label
                        }
                        result.intersection[channel] += intersection
                        result.probabilitySquares[channel] += squares
                        result.targetSum[channel] += targets
                    }
                }
            }
        }
        return result
    }

    /// ∂L/∂p (and ∂L/∂g when `withTargetGradient`), both times `outputGradient`.
    static func gradients(
        probabilities: Tensor, target: Tensor, statistics: Statistics, channels: [Int], epsilon: Float,
        outputGradient: Float, withTargetGradient: Bool
    ) -> (probabilities: Tensor, target: Tensor?) {
        let (batch, channelCount, spatial) = layout(probabilities.shape)
        let (weights, dice) = statistics.gradientWeights(channels: channels, epsilon: epsilon)
        var probabilityGradient = Tensor(uninitializedShape: probabilities.shape)
        var targetGradient = withTargetGradient ? Tensor(uninitializedShape: target.shape) : nil
        probabilities.withUnsafeBufferPointer { p in
            target.withUnsafeBufferPointer { g in
                probabilityGradient.withUnsafeMutableBufferPointer { dp in
                    for sample in 0..<batch {
                        for channel in 0..<channelCount {
                            let start = (sample * channelCount + channel) * spatial
                            let factor = -2 * weights[channel] * outputGradient, coefficient = dice[channel]
                            for index in start..<(start + spatial) { dp[index] = factor * (g[index] - coefficient * p[index]) }
                        }
                    }
                }
                guard withTargetGradient else { return }
                targetGradient!.withUnsafeMutableBufferPointer { dg in
                    for sample in 0..<batch {
                        for channel in 0..<channelCount {
                            let start = (sample * channelCount + channel) * spatial
                            let factor = -weights[channel] * outputGradient, coefficient = dice[channel]
                            for index in start..<(start + spatial) { dg[index] = factor * (2 * p[index] - coefficient) }
                        }
                    }
                }
            }
        }
        return (probabilityGradient, targetGradient)
    }
}

extension ForwardContext {
    /// Soft Dice loss over all channels of N×K×D×H×W `probabilities` (e.g. the sigmoid outputs
    /// [WT, TC, ET]) against `target` of the same shape; returns a shape-[1] variable.
    /// See `SoftDice` for the equation, the gradients and the choice of ε.
    public func softDiceLoss(probabilities: Variable, target: Variable, epsilon: Float = SoftDice.defaultEpsilon) -> Variable {
        let channels = SoftDice.layout(probabilities.shape).channels
        return diceLoss(probabilities: probabilities, target: target, channels: Array(0..<channels), epsilon: epsilon)
    }

    /// Soft Dice of a softmax output (N×K×D×H×W, K classes) against a one-hot target of the
    /// same shape, averaged over `classes` only (the cascade: classes 1…3 of 4, background
    /// excluded). Other channels receive zero gradient. `classes` must be non-empty, distinct
    /// and in 0..<K.
    public func multiClassSoftDiceLoss(
        probabilities: Variable, oneHotTarget: Variable, classes: [Int], epsilon: Float = SoftDice.defaultEpsilon
    ) -> Variable {
        diceLoss(probabilities: probabilities, target: oneHotTarget, channels: classes, epsilon: epsilon)
    }

    private func diceLoss(probabilities: Variable, target: Variable, channels: [Int], epsilon: Float) -> Variable {
        let p = probabilities.value, g = target.value
        precondition(p.shape == g.shape, "Dice loss: probabilities \(p.shape) vs target \(g.shape)")
        SoftDice.validate(channels: channels, channelCount: SoftDice.layout(p.shape).channels)
        let statistics = SoftDice.statistics(probabilities: p, target: g)
        let loss = statistics.loss(channels: channels, epsilon: epsilon)
        let withTargetGradient = target.node != nil
        return record(Tensor(shape: [1], values: [Float(loss)]), inputs: [probabilities, target]) { gradient in
            let (dp, dg) = SoftDice.gradients(
                probabilities: p, target: g, statistics: statistics, channels: channels, epsilon: epsilon,
                outputGradient: gradient[flat: 0], withTargetGradient: withTargetGradient)
            return [dp, dg]
        }
    }
}
