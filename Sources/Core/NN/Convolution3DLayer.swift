import Foundation

/// A 3D convolution layer (PyTorch `nn.Conv3d`): weight `<name>.weight` of shape
/// Cout×(Cin/groups)×k×k×k and, when `hasBias`, `<name>.bias` of shape Cout.
///
/// Initialised like PyTorch (Kaiming-uniform with a = √5, i.e. U(−1/√fanIn, 1/√fanIn) for weight
/// and bias) from a seeded stream, so that a fresh network is reproducible.
public final class Convolution3DLayer: Layer {
    public let weight: Parameter
    public let bias: Parameter?
    public let stride: Int
    public let padding: Int
    public let groups: Int

    /// - Parameters: padding defaults to `kernel / 2` ("same" for odd kernels at stride 1).
    public init(
        name: String, inputChannels: Int, outputChannels: Int, kernel: Int, stride: Int = 1, padding: Int? = nil,
        groups: Int = 1, hasBias: Bool, random: inout SeededRandom
    ) {
        precondition(inputChannels % groups == 0 && outputChannels % groups == 0,
                     "\(name): channels \(inputChannels)→\(outputChannels) not divisible by groups \(groups)")
        precondition([1, 2, 3].contains(kernel) && [1, 2].contains(stride), "\(name): kernel \(kernel) stride \(stride)")
        let fanIn = inputChannels / groups * kernel * kernel * kernel
        let bound = 1 / Float(fanIn).squareRoot()
        weight = Parameter(name: "\(name).weight", value: Tensor.randomUniform(
            shape: [outputChannels, inputChannels / groups, kernel, kernel, kernel], low: -bound, high: bound, random: &random))
        bias = hasBias ? Parameter(name: "\(name).bias", value: Tensor.randomUniform(
            shape: [outputChannels], low: -bound, high: bound, random: &random)) : nil
        self.stride = stride
        self.padding = padding ?? (kernel == 2 ? 0 : kernel / 2)
        self.groups = groups
    }

    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    public func callAsFunction(_ input: Variable, _ context: ForwardContext) -> Variable {
        context.conv3d(input, weight: context.variable(weight), bias: bias.map { context.variable($0) },
                       stride: stride, padding: padding, groups: groups)
    }
}

/// A transposed 3D convolution with kernel 2 and stride 2 (PyTorch `nn.ConvTranspose3d`):
/// weight `<name>.weight` Cin×Cout×2×2×2, optional bias Cout. Doubles each spatial size.
public final class TransposedConvolution3DLayer: Layer {
    public let weight: Parameter
    public let bias: Parameter?

    public init(name: String, inputChannels: Int, outputChannels: Int, hasBias: Bool, random: inout SeededRandom) {
        // PyTorch computes fan-in of a transposed conv weight from dim 1 (= Cout) × kernel volume.
        let bound = 1 / Float(outputChannels * 8).squareRoot()
        weight = Parameter(name: "\(name).weight", value: Tensor.randomUniform(
            shape: [inputChannels, outputChannels, 2, 2, 2], low: -bound, high: bound, random: &random))
        bias = hasBias ? Parameter(name: "\(name).bias", value: Tensor.randomUniform(
            shape: [outputChannels], low: -bound, high: bound, random: &random)) : nil
    }

    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    public func callAsFunction(_ input: Variable, _ context: ForwardContext) -> Variable {
        context.transposedConv3d(input, weight: context.variable(weight), bias: bias.map { context.variable($0) })
    }
}
