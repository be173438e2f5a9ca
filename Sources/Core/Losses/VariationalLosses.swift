import Foundation

/// The two regularising terms of resunet-vae's variational auto-encoder branch (Myronenko 2018,
/// MODELS.md "resunet-vae"): L = L_dice + L_bce + 0.1·L_mse(x, x̂) + 0.1·L_kl.
///
/// - Mean squared error, mean over all M elements: L = (1/M) Σ (a − b)²;
///   ∂L/∂a = 2(a − b)/M, ∂L/∂b = −2(a − b)/M.
/// - Kullback–Leibler divergence of N(μ, σ²) from N(0, 1), with the encoder's log-variance
///   v = log σ² as input, mean over the latent dimensions and the batch (M = N·latent):
///   L = (1/M) Σ (μ² + e^v − v − 1)/2;  ∂L/∂μ = μ/M, ∂L/∂v = (e^v − 1)/(2M).
///   Using the log-variance keeps σ² positive without a constraint. e^v overflows Float for
///   v > 88; such an encoder has diverged and the loss is then +∞, which a training loop
///   should treat as a failed step.
///
/// Shapes must match (`precondition`); sums are accumulated in Double.
public enum VariationalLosses {
    /// (1/M) Σ (a − b)².
    public static func meanSquaredError(_ prediction: Tensor, _ target: Tensor) -> Double {
        precondition(prediction.shape == target.shape, "mean squared error: prediction \(prediction.shape) vs target \(target.shape)")
        precondition(prediction.count > 0, "mean squared error: empty input")
        return prediction.withUnsafeBufferPointer { a in
            target.withUnsafeBufferPointer { b in
                var total = 0.0
                for index in 0..<a.count {
                    let difference = Double(a[index]) - Double(b[index])
                    total += difference * difference
                }
                return total / Double(a.count)
            }
        }
    }

    /// (1/M) Σ (μ² + e^v − v − 1)/2.
    public static func klDivergence(mean: Tensor, logVariance: Tensor) -> Double {
        precondition(mean.shape == logVariance.shape, "KL divergence: mean \(mean.shape) vs log-variance \(logVariance.shape)")
        precondition(mean.count > 0, "KL divergence: empty input")
        return mean.withUnsafeBufferPointer { mu in
            logVariance.withUnsafeBufferPointer { v in
                var total = 0.0
                for index in 0..<mu.count {
                    let m = Double(mu[index]), logVar = Double(v[index])
                    total += (m * m + exp(logVar) - logVar - 1) / 2
                }
                return total / Double(mu.count)
            }
        }
    }
}

extension ForwardContext {
    /// Mean squared error between `prediction` and `target` (same shape), shape [1].
    public func meanSquaredError(_ prediction: Variable, _ target: Variable) -> Variable {
        let a = prediction.value, b = target.value
        let loss = VariationalLosses.meanSquaredError(a, b)
        let withTargetGradient = target.node != nil
        return record(Tensor(shape: [1], values: [Float(loss)]), inputs: [prediction, target]) { gradient in
            let scale = 2 * gradient[flat: 0] / Float(a.count)
            let difference = a - b
            return [difference * scale, withTargetGradient ? difference * -scale : nil]
        }
    }

    /// KL divergence of N(mean, exp(logVariance)) from N(0, 1), mean over all elements of the
    /// N×latent inputs, shape [1]. See `VariationalLosses`.
    public func klDivergence(mean: Variable, logVariance: Variable) -> Variable {
        let mu = mean.value, v = logVariance.value
        let loss = VariationalLosses.klDivergence(mean: mu, logVariance: v)
        return record(Tensor(shape: [1], values: [Float(loss)]), inputs: [mean, logVariance]) { gradient in
            let scale = gradient[flat: 0] / Float(mu.count)
            return [mu * scale, v.map { (expf($0) - 1) * scale / 2 }]
        }
    }
}
