/// A trainable tensor with identity: layers own parameters, optimisers update them in place,
/// the tape accumulates their gradients. Names are stable, dotted paths
/// (`encoder_convs.0.0.conv1.conv1.weight`) and are the keys of the safetensors weight files.
public final class Parameter: @unchecked Sendable {
    public let name: String
    public var value: Tensor
    /// Sum of gradients since the last `zeroGradient()`; nil until a backward pass reaches it.
    public var gradient: Tensor?

    public init(name: String, value: Tensor) {
        self.name = name
        self.value = value
    }

    public var shape: [Int] { value.shape }

    /// Clears the accumulated gradient (call once per optimisation step).
    public func zeroGradient() { gradient = nil }

    /// Adds `contribution` to the gradient.
    public func accumulateGradient(_ contribution: Tensor) {
        precondition(contribution.shape == value.shape, "gradient shape \(contribution.shape) for \(name) \(value.shape)")
        guard var sum = gradient else {
            gradient = contribution
            return
        }
        sum.add(contribution)
        gradient = sum
    }
}
