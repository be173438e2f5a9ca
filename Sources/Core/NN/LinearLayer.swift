/// A fully connected layer (PyTorch `nn.Linear`): weight `<name>.weight` out×in, bias out.
public final class LinearLayer: Layer {
    public let weight: Parameter
    public let bias: Parameter

    public init(name: String, inputFeatures: Int, outputFeatures: Int, random: inout SeededRandom) {
        let bound = 1 / Float(inputFeatures).squareRoot()
        weight = Parameter(name: "\(name).weight", value: Tensor.randomUniform(
            shape: [outputFeatures, inputFeatures], low: -bound, high: bound, random: &random))
        bias = Parameter(name: "\(name).bias", value: Tensor.randomUniform(
            shape: [outputFeatures], low: -bound, high: bound, random: &random))
    }

    public var parameters: [Parameter] { [weight, bias] }

    /// x: N×in → N×out.
    public func callAsFunction(_ input: Variable, _ context: ForwardContext) -> Variable {
        context.linear(input, weight: context.variable(weight), bias: context.variable(bias))
    }
}
