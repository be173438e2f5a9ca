import Foundation

/// The VAE's reparameterization trick (Kingma & Welling 2014), used by the resunet-vae branch:
///
///     z = μ + σ·ε,  σ = exp(½·log σ²),  ε ~ N(0, 1)
///     ∂L/∂μ = g,  ∂L/∂(log σ²) = g·ε·½σ
///
/// In training ε is drawn from `ForwardContext.random`; in evaluation z = μ (the mean of the
/// posterior, no sampling). The deterministic kernel takes ε explicitly so that tests can feed
/// PyTorch the same noise.
///
/// Failure modes: μ, log σ² (and ε) of different shapes stop with a precondition failure.
public enum ReparameterizationKernels {
    /// z = μ + exp(½·logVariance)·noise. (Latent tensors are small — [N, 128] — so this runs on
    /// the calling thread.)
    public static func reparameterize(mean: Tensor, logVariance: Tensor, noise: Tensor) -> Tensor {
        precondition(mean.shape == logVariance.shape && noise.shape == mean.shape,
                     "reparameterize: mean \(mean.shape), log-variance \(logVariance.shape), noise \(noise.shape) differ")
        var output = Tensor(uninitializedShape: mean.shape)
        mean.withUnsafeBufferPointer { mu in
            logVariance.withUnsafeBufferPointer { logSigmaSquared in
                noise.withUnsafeBufferPointer { epsilon in
                    output.withUnsafeMutableBufferPointer { z in
                        for index in 0..<z.count { z[index] = mu[index] + exp(0.5 * logSigmaSquared[index]) * epsilon[index] }
                    }
                }
            }
        }
        return output
    }

    /// ∂L/∂(log σ²) = g·ε·½·exp(½·log σ²).
    public static func logVarianceGradient(_ gradient: Tensor, logVariance: Tensor, noise: Tensor) -> Tensor {
        precondition(gradient.shape == logVariance.shape && noise.shape == logVariance.shape,
                     "reparameterize backward: gradient \(gradient.shape), log-variance \(logVariance.shape), noise \(noise.shape) differ")
        var result = Tensor(uninitializedShape: logVariance.shape)
        gradient.withUnsafeBufferPointer { g in
            logVariance.withUnsafeBufferPointer { logSigmaSquared in
                noise.withUnsafeBufferPointer { epsilon in
                    result.withUnsafeMutableBufferPointer { target in
                        for index in 0..<target.count {
                            target[index] = g[index] * epsilon[index] * 0.5 * exp(0.5 * logSigmaSquared[index])
                        }
                    }
                }
            }
        }
        return result
    }
}

extension ForwardContext {
    /// z = μ + exp(½·logσ²)·ε with ε ~ N(0, 1) from `random` in training; z = μ in evaluation.
    public func reparameterize(mean: Variable, logVariance: Variable) -> Variable {
        precondition(mean.shape == logVariance.shape, "reparameterize: mean \(mean.shape) vs log-variance \(logVariance.shape)")
        guard isTraining else { return mean }
        let noise = Tensor.randomNormal(shape: mean.shape, random: &random)
        return reparameterize(mean: mean, logVariance: logVariance, noise: noise)
    }

    /// z = μ + exp(½·logσ²)·noise for a given noise tensor (any mode; differentiable in μ and logσ²).
    public func reparameterize(mean: Variable, logVariance: Variable, noise: Tensor) -> Variable {
        precondition(mean.shape == logVariance.shape, "reparameterize: mean \(mean.shape) vs log-variance \(logVariance.shape)")
        let logVarianceValue = logVariance.value
        let output = ReparameterizationKernels.reparameterize(mean: mean.value, logVariance: logVarianceValue, noise: noise)
        return record(output, inputs: [mean, logVariance]) { gradient in
            [gradient, ReparameterizationKernels.logVarianceGradient(gradient, logVariance: logVarianceValue, noise: noise)]
        }
    }
}
