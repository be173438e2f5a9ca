import Foundation

/// A learning rate as a function of the step index s = 0, 1, 2, … (s = number of optimiser
/// steps already taken, i.e. `Optimizer.stepCount` before the step; the first step uses
/// s = 0). A plain value: it can sit in a configuration or a model card (`Codable`).
///
/// With η the base rate:
/// - `constant`: η.
/// - `stepDecay` (PyTorch `StepLR`): η · γ^⌊s / stepSize⌋.
/// - `exponential` (PyTorch `ExponentialLR`): η · γ^s.
/// - `warmupCosine`: linear warm-up over W steps, then cosine decay to η_min at step T:
///   s < W: η · (s + 1)/W (the first step already moves, the last warm-up step uses η);
///   W ≤ s < T: η_min + (η − η_min) · (1 + cos(π · (s − W)/(T − W)))/2;  s ≥ T: η_min.
/// - `warmupPolynomial`: the same warm-up, then η_min + (η − η_min) · (1 − (s − W)/(T − W))^p
///   for W ≤ s < T (p = 1: linear; nnU-Net uses p = 0.9), and η_min for s ≥ T.
///
/// W = 0 means no warm-up. PyTorch's schedulers update the rate recursively (multiplying by γ);
/// the closed forms here are evaluated in Double and agree with them to well below float
/// precision. `validate()` rejects settings that make no sense (negative rates, γ ≤ 0,
/// stepSize < 1, W > T, …) with a message; `learningRate(atStep:)` assumes a valid schedule.
public enum LearningRateSchedule: Sendable, Equatable, Codable {
    case constant(rate: Float)
    case stepDecay(initialRate: Float, stepSize: Int, factor: Float)
    case exponential(initialRate: Float, factor: Float)
    case warmupCosine(peakRate: Float, warmupSteps: Int, totalSteps: Int, minimumRate: Float)
    case warmupPolynomial(peakRate: Float, warmupSteps: Int, totalSteps: Int, power: Float, minimumRate: Float)

    /// A schedule that cannot be used, with the reason.
    public struct InvalidSchedule: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Throws `InvalidSchedule` naming the first bad setting.
    public func validate() throws {
        func require(_ condition: Bool, _ message: String) throws {
            if !condition { throw InvalidSchedule(description: "invalid learning-rate schedule \(self): \(message)") }
        }
        switch self {
        case .constant(let rate):
            try require(rate >= 0 && rate.isFinite, "the rate must be a finite number ≥ 0")
        case .stepDecay(let rate, let stepSize, let factor):
            try require(rate >= 0 && rate.isFinite, "the initial rate must be a finite number ≥ 0")
            try require(stepSize >= 1, "stepSize must be at least 1")
            try require(factor > 0 && factor.isFinite, "the decay factor must be > 0")
        case .exponential(let rate, let factor):
            try require(rate >= 0 && rate.isFinite, "the initial rate must be a finite number ≥ 0")
            try require(factor > 0 && factor.isFinite, "the decay factor must be > 0")
        case .warmupCosine(let peak, let warmup, let total, let minimum):
            try requireWarmup(peak: peak, warmup: warmup, total: total, minimum: minimum, require)
        case .warmupPolynomial(let peak, let warmup, let total, let power, let minimum):
            try requireWarmup(peak: peak, warmup: warmup, total: total, minimum: minimum, require)
            try require(power > 0 && power.isFinite, "the power must be > 0")
        }
    }

    private func requireWarmup(
        peak: Float, warmup: Int, total: Int, minimum: Float, _ require: (Bool, String) throws -> Void
    ) throws {
        try require(peak >= 0 && peak.isFinite, "the peak rate must be a finite number ≥ 0")
        try require(minimum >= 0 && minimum <= peak, "the minimum rate must be between 0 and the peak rate")
        try require(warmup >= 0, "warmupSteps must be ≥ 0")
        try require(total > warmup, "totalSteps must be greater than warmupSteps")
    }

    /// The rate for step index `step` (≥ 0).
    public func learningRate(atStep step: Int) -> Float {
        precondition(step >= 0, "learning-rate schedule: negative step \(step)")
        let s = Double(step)
        switch self {
        case .constant(let rate):
            return rate
        case .stepDecay(let rate, let stepSize, let factor):
            precondition(stepSize >= 1, "step decay: stepSize \(stepSize) < 1")
            return Float(Double(rate) * pow(Double(factor), Double(step / stepSize)))
        case .exponential(let rate, let factor):
            return Float(Double(rate) * pow(Double(factor), s))
        case .warmupCosine(let peak, let warmup, let total, let minimum):
            if let rate = Self.warmup(peak: peak, warmup: warmup, step: step) { return rate }
            guard step < total else { return minimum }
            let progress = (s - Double(warmup)) / Double(total - warmup)
            return Float(Double(minimum) + (Double(peak) - Double(minimum)) * (1 + cos(Double.pi * progress)) / 2)
        case .warmupPolynomial(let peak, let warmup, let total, let power, let minimum):
            if let rate = Self.warmup(peak: peak, warmup: warmup, step: step) { return rate }
            guard step < total else { return minimum }
            let progress = (s - Double(warmup)) / Double(total - warmup)
            return Float(Double(minimum) + (Double(peak) - Double(minimum)) * pow(1 - progress, Double(power)))
        }
    }

    /// η·(s + 1)/W during warm-up, nil after it.
    private static func warmup(peak: Float, warmup: Int, step: Int) -> Float? {
        guard step < warmup else { return nil }
        return Float(Double(peak) * Double(step + 1) / Double(warmup))
    }
}
