import Core

/// The VAE branch of `ResUNetVAE` (training only), built for one patch size.
public final class VariationalDecoder: Layer {
    public static let latentSize = 128
    public let patchSize: [Int]
    private let downNorm: NormalizationLayer
    private let down: Convolution3DLayer
    private let latentNorm: NormalizationLayer
    private let encode: LinearLayer
    private let decode: LinearLayer
    private let expand: Convolution3DLayer
    private let reducers: [Convolution3DLayer]
    private let blocks: [PreActivationResidualBlock]
    private let outputNorm: NormalizationLayer
    private let output: Convolution3DLayer
    private var latentGrid: [Int] { patchSize.map { $0 / 16 } }

    init(initialWidth: Int, patchSize: [Int], reconstructedChannels: Int, random: inout SeededRandom) {
        precondition(patchSize.count == 3 && patchSize.allSatisfy { $0 % 16 == 0 && $0 > 0 },
                     "resunet-vae: VAE patch size \(patchSize) must be divisible by 16")
        self.patchSize = patchSize
        let bottom = 8 * initialWidth
        downNorm = NormalizationLayer(name: "vae.down.norm", channels: bottom, groups: 8, activation: .relu)
        down = Convolution3DLayer(name: "vae.down.conv", inputChannels: bottom, outputChannels: 16, kernel: 3, stride: 2,
                                  padding: 1, hasBias: true, random: &random)
        latentNorm = NormalizationLayer(name: "vae.down.norm2", channels: 16, groups: 8, activation: .relu)
        let flat = 16 * patchSize.map { $0 / 16 }.reduce(1, *)
        encode = LinearLayer(name: "vae.encode", inputFeatures: flat, outputFeatures: 2 * Self.latentSize, random: &random)
        decode = LinearLayer(name: "vae.decode", inputFeatures: Self.latentSize, outputFeatures: flat, random: &random)
        expand = Convolution3DLayer(name: "vae.expand", inputChannels: 16, outputChannels: bottom, kernel: 1, hasBias: true, random: &random)
        reducers = (0..<3).map { stage in
            Convolution3DLayer(name: "vae.stages.\(stage).reduce", inputChannels: bottom >> stage, outputChannels: bottom >> (stage + 1),
                               kernel: 1, hasBias: false, random: &random)
        }
        blocks = (0..<3).map { PreActivationResidualBlock(name: "vae.stages.\($0).block", channels: bottom >> ($0 + 1), random: &random) }
        outputNorm = NormalizationLayer(name: "vae.output.norm", channels: initialWidth, groups: 8, activation: .relu)
        output = Convolution3DLayer(name: "vae.output.conv", inputChannels: initialWidth, outputChannels: reconstructedChannels,
                                    kernel: 1, hasBias: true, random: &random)
    }

    public var parameters: [Parameter] {
        downNorm.parameters + down.parameters + latentNorm.parameters + encode.parameters + decode.parameters
            + expand.parameters + reducers.flatMap(\.parameters) + blocks.flatMap(\.parameters) + outputNorm.parameters + output.parameters
    }

    /// Reconstruction N×C×D×H×W, latent means and log-variances (N×128 each).
    public func callAsFunction(_ bottom: Variable, _ context: ForwardContext) -> (reconstruction: Variable, mean: Variable, logVariance: Variable) {
        let batch = bottom.value.volumeShape.batch
        let features = latentNorm(down(downNorm(bottom, context), context), context)
        let statistics = encode(context.flatten(features), context)
        let mean = context.sliceChannels(statistics, start: 0, count: Self.latentSize)
        let logVariance = context.sliceChannels(statistics, start: Self.latentSize, count: Self.latentSize)
        let z = context.reparameterize(mean: mean, logVariance: logVariance)
        var x = context.relu(decode(z, context))
        x = context.reshape(x, to: [batch, 16] + latentGrid)
        x = context.upsampleTrilinear2x(expand(x, context))
        for stage in 0..<3 {
            x = blocks[stage](context.upsampleTrilinear2x(reducers[stage](x, context)), context)
        }
        return (output(outputNorm(x, context), context), mean, logVariance)
    }
}
