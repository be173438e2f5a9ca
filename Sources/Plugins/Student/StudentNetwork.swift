import Core

/// The student: the residual UNet released with Lachinov et al., *Knowledge Distillation for
/// Brain Tumor Segmentation* (BraTS 2019), exactly as released (MODELS.md "Student").
///
/// Widths 16-32-64-128; encoder blocks per level 1, 2, 2, 4; one decoder block per level;
/// GroupNorm(8); leaky ReLU 0.01; 3 outputs [WT, TC, ET] (logits; sigmoid gives probabilities).
/// Residual block Res(c): y = x + LReLU(GN8(conv3(LReLU(GN8(conv3(x)))))).
/// Stem: conv3 4→16 → GN8 (no activation) → Res(16) = S0. Down: conv k2 s2 (no bias, no norm)
/// to the next width, then the level's Res blocks (S1, S2, bottom). Up, three times: conv1
/// halving channels (no bias) → trilinear ×2 → LReLU → concat [skip, up] → conv1 2c→c (no bias)
/// → Res(c). Head: conv3 16→3 with bias. 4.51 M parameters. Spatial sizes must be divisible by 8.
///
/// Parameter names are the released PyTorch checkpoint's (`student-tensor-names.txt`), so that
/// checkpoint converts to safetensors and loads unchanged; its unused groups `decoder_convs.3.*`
/// and `decoder_convs1x1.3.*` are listed in `unusedReleasedTensors` and tolerated on load.
public final class StudentNetwork: Layer {
    public static let widths = [16, 32, 64, 128]
    public static let sizeMultiple = 8
    /// Released tensors the forward pass never uses (present in the checkpoint, ignored here).
    public static let unusedReleasedTensors: Set<String> = [
        "decoder_convs.3.0.conv1.conv1.weight", "decoder_convs.3.0.conv2.conv1.weight",
        "decoder_convs.3.0.norm1.weight", "decoder_convs.3.0.norm1.bias",
        "decoder_convs.3.0.norm2.weight", "decoder_convs.3.0.norm2.bias", "decoder_convs1x1.3.weight",
    ]

    /// Res(c) with the checkpoint's names `<prefix>.conv1.conv1`, `.norm1`, `.conv2.conv1`,
    /// `.norm2`, optionally preceded by `<prefix>.downsample.0` (conv k2 s2).
    final class ResidualBlock: Layer {
        let downsample: Convolution3DLayer?
        let first: Convolution3DLayer
        let firstNorm: NormalizationLayer
        let second: Convolution3DLayer
        let secondNorm: NormalizationLayer

        init(name: String, channels: Int, downsampleFrom inputChannels: Int?, random: inout SeededRandom) {
            downsample = inputChannels.map {
                Convolution3DLayer(name: "\(name).downsample.0", inputChannels: $0, outputChannels: channels, kernel: 2,
                                   stride: 2, padding: 0, hasBias: false, random: &random)
            }
            first = Convolution3DLayer(name: "\(name).conv1.conv1", inputChannels: channels, outputChannels: channels,
                                       kernel: 3, padding: 1, hasBias: false, random: &random)
            firstNorm = NormalizationLayer(name: "\(name).norm1", channels: channels, groups: 8, activation: .leakyReLU(slope: 0.01))
            second = Convolution3DLayer(name: "\(name).conv2.conv1", inputChannels: channels, outputChannels: channels,
                                        kernel: 3, padding: 1, hasBias: false, random: &random)
            secondNorm = NormalizationLayer(name: "\(name).norm2", channels: channels, groups: 8, activation: .leakyReLU(slope: 0.01))
        }

        var parameters: [Parameter] {
            (downsample?.parameters ?? []) + first.parameters + second.parameters + firstNorm.parameters + secondNorm.parameters
        }

        func callAsFunction(_ input: Variable, _ context: ForwardContext) -> Variable {
            let x = downsample.map { $0(input, context) } ?? input
            let branch = secondNorm(second(firstNorm(first(x, context), context), context), context)
            return context.add(x, branch)
        }
    }

    private let inputConvolution: Convolution3DLayer
    private let inputNorm: NormalizationLayer
    private let firstBlock: ResidualBlock
    private let encoder: [[ResidualBlock]]          // levels 1…3 (encoder_convs.0…2)
    private let upsampling: [Convolution3DLayer]    // index l: widths[l+1] → widths[l]
    private let merges: [Convolution3DLayer]        // decoder_convs1x1.l: 2·widths[l] → widths[l]
    private let decoder: [ResidualBlock]            // decoder_convs.l.0
    private let outputConvolution: Convolution3DLayer

    public init(inputChannels: Int = 4, outputChannels: Int = 3, seed: UInt64 = 0) {
        var random = SeededRandom(seed: seed)
        let widths = Self.widths
        inputConvolution = Convolution3DLayer(name: "conv_input", inputChannels: inputChannels, outputChannels: widths[0],
                                              kernel: 3, padding: 1, hasBias: false, random: &random)
        inputNorm = NormalizationLayer(name: "norm_input", channels: widths[0], groups: 8, activation: .none)
        firstBlock = ResidualBlock(name: "conv_first.0", channels: widths[0], downsampleFrom: nil, random: &random)
        let blocksPerLevel = [2, 2, 4]
        encoder = (0..<3).map { level in
            (0..<blocksPerLevel[level]).map { block in
                ResidualBlock(name: "encoder_convs.\(level).\(block)", channels: widths[level + 1],
                              downsampleFrom: block == 0 ? widths[level] : nil, random: &random)
            }
        }
        upsampling = (0..<3).map { level in
            Convolution3DLayer(name: "upsampling.\(level).1", inputChannels: widths[level + 1], outputChannels: widths[level],
                               kernel: 1, hasBias: false, random: &random)
        }
        merges = (0..<3).map { level in
            Convolution3DLayer(name: "decoder_convs1x1.\(level)", inputChannels: 2 * widths[level], outputChannels: widths[level],
                               kernel: 1, hasBias: false, random: &random)
        }
        decoder = (0..<3).map { level in
            ResidualBlock(name: "decoder_convs.\(level).0", channels: widths[level], downsampleFrom: nil, random: &random)
        }
        outputConvolution = Convolution3DLayer(name: "conv_output", inputChannels: widths[0], outputChannels: outputChannels,
                                               kernel: 3, padding: 1, hasBias: true, random: &random)
    }

    public var parameters: [Parameter] {
        inputConvolution.parameters + inputNorm.parameters + firstBlock.parameters
            + encoder.flatMap { $0.flatMap(\.parameters) }
            + upsampling.flatMap(\.parameters) + merges.flatMap(\.parameters) + decoder.flatMap(\.parameters)
            + outputConvolution.parameters
    }

    /// Logits N×3×D×H×W for input N×4×D×H×W (sizes divisible by 8).
    public func callAsFunction(_ input: Variable, _ context: ForwardContext) -> Variable {
        let shape = input.value.volumeShape
        precondition([shape.depth, shape.height, shape.width].allSatisfy { $0 % Self.sizeMultiple == 0 },
                     "student: spatial size \(shape) must be divisible by \(Self.sizeMultiple)")
        var x = firstBlock(inputNorm(inputConvolution(input, context), context), context)
        var skips = [x]
        for level in 0..<3 {
            for block in encoder[level] { x = block(x, context) }
            if level < 2 { skips.append(x) }
        }
        // Skips leave `skips` as the decoder uses them and the concatenation's inputs are handed
        // on without a second reference, so in inference they are freed once concatenated.
        for level in stride(from: 2, through: 0, by: -1) {
            let skip = skips.removeLast()
            let up = context.leakyReLU(context.upsampleTrilinear2x(upsampling[level](x, context)), slope: 0.01)
            x = decoder[level](merges[level](context.concatenateChannels([consume skip, consume up]), context), context)
        }
        return outputConvolution(x, context)
    }
}
