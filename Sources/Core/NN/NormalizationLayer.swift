/// Group normalisation followed by an activation, fused (PyTorch `nn.GroupNorm` +
/// `nn.ReLU`/`nn.LeakyReLU`): affine `<name>.weight` (γ, ones) and `<name>.bias` (β, zeros),
/// each of shape C. `groups == channels` is instance normalisation with affine parameters
/// (`nn.InstanceNorm3d(affine=True)`).
public final class NormalizationLayer: Layer {
    public let weight: Parameter
    public let bias: Parameter
    public let groups: Int
    public let activation: Activation
    public let epsilon: Float

    public init(name: String, channels: Int, groups: Int, activation: Activation, epsilon: Float = 1e-5) {
        precondition(channels % groups == 0, "\(name): \(channels) channels in \(groups) groups")
        weight = Parameter(name: "\(name).weight", value: Tensor(shape: [channels], repeating: 1))
        bias = Parameter(name: "\(name).bias", value: Tensor(shape: [channels], repeating: 0))
        self.groups = groups
        self.activation = activation
        self.epsilon = epsilon
    }

    /// Instance normalisation (one group per channel).
    public static func instance(name: String, channels: Int, activation: Activation) -> NormalizationLayer {
        NormalizationLayer(name: name, channels: channels, groups: channels, activation: activation)
    }

    public var parameters: [Parameter] { [weight, bias] }

    /// Takes `input` (consuming), so that inference can write the output over a convolution's
    /// result that nothing else holds (`ForwardContext.normalizedActivation`).
    public func callAsFunction(_ input: consuming Variable, _ context: ForwardContext) -> Variable {
        context.normalizedActivation(consume input, groups: groups, weight: context.variable(weight), bias: context.variable(bias),
                                     activation: activation, epsilon: epsilon)
    }
}
