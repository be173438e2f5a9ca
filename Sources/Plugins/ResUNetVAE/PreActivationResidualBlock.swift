import Core

/// Myronenko's pre-activation residual block PRes(c):
/// y = x + conv3(ReLU(GN8(conv3(ReLU(GN8(x)))))), convs without bias.
/// Parameters `<name>.norm1`, `<name>.conv1.weight`, `<name>.norm2`, `<name>.conv2.weight`.
final class PreActivationResidualBlock: Layer {
    let firstNorm: NormalizationLayer
    let first: Convolution3DLayer
    let secondNorm: NormalizationLayer
    let second: Convolution3DLayer

    init(name: String, channels: Int, random: inout SeededRandom) {
        firstNorm = NormalizationLayer(name: "\(name).norm1", channels: channels, groups: 8, activation: .relu)
        first = Convolution3DLayer(name: "\(name).conv1", inputChannels: channels, outputChannels: channels, kernel: 3,
                                   padding: 1, hasBias: false, random: &random)
        secondNorm = NormalizationLayer(name: "\(name).norm2", channels: channels, groups: 8, activation: .relu)
        second = Convolution3DLayer(name: "\(name).conv2", inputChannels: channels, outputChannels: channels, kernel: 3,
                                    padding: 1, hasBias: false, random: &random)
    }

    var parameters: [Parameter] { firstNorm.parameters + first.parameters + secondNorm.parameters + second.parameters }

    func callAsFunction(_ x: Variable, _ context: ForwardContext) -> Variable {
        context.add(x, second(secondNorm(first(firstNorm(x, context), context), context), context))
    }
}
