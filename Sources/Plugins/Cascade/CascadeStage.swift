import Core

/// One stage U(F) of the cascaded multi-encoder UNet (Lachinov, Vasiliev, Turlapov, "Glioma
/// Segmentation with Cascaded UNet", BraTS 2018; MODELS.md "Teacher cascade").
///
/// Four modality encoders realised as grouped convolutions (groups = 4, one per modality), each
/// level merged by an element-wise max over the four groups into the skip:
/// conv3 g4 (C→4F) → block → Merge → E0 (F); conv3 s2 g4 (→8F) → block → Merge → E1 (2F);
/// conv3 s2 g4 (→16F) → block → Merge → E2 (4F); conv3 s2 g4 (→32F) → block → Merge (8F).
/// Dropout 0.1 after each strided conv in training. Block: pre-activation
/// y = x + conv3(ReLU(IN(conv3(ReLU(IN(x)))))) with biased convs (grouped like its input).
/// Decoder: transposed conv k2 s2 (8F→8F, no bias) → concat [up, E2, cascade input at ¼] →
/// conv1 → 8F → block; transposed →4F → concat [up, E1, cascade input at ½] → conv1 → 4F → block;
/// transposed →2F → concat [up, E0] → conv1 → 2F → block; head conv1 2F→4 (bias) → softmax
/// over (background, NCR/NET, ED, ET).
final class CascadeStage: Layer {
    let width: Int
    let name: String
    private let entry: [Convolution3DLayer]           // level 0 stride 1, levels 1…3 stride 2, all g4
    private let encoderBlocks: [CascadeBlock]
    private let upsamplers: [TransposedConvolution3DLayer]   // decoder steps 0 (¼), 1 (½), 2 (full)
    private let merges: [Convolution3DLayer]
    private let decoderBlocks: [CascadeBlock]
    private let head: Convolution3DLayer

    /// - Parameters:
    ///   - cascadeChannels: channels of the previous stages' probabilities concatenated at the
    ///     ¼ and ½ levels (0 when that level takes none).
    init(name: String, width: Int, inputChannels: Int, cascadeChannels: (quarter: Int, half: Int), random: inout SeededRandom) {
        self.width = width
        self.name = name
        let f = width
        let encoderWidths = [4 * f, 8 * f, 16 * f, 32 * f]
        entry = (0..<4).map { level in
            Convolution3DLayer(name: "\(name).encoder.\(level).conv", inputChannels: level == 0 ? inputChannels : encoderWidths[level - 1],
                               outputChannels: encoderWidths[level], kernel: 3, stride: level == 0 ? 1 : 2, padding: 1,
                               groups: 4, hasBias: true, random: &random)
        }
        encoderBlocks = (0..<4).map { CascadeBlock(name: "\(name).encoder.\($0).block", channels: encoderWidths[$0], groups: 4, random: &random) }
        let decoderWidths = [8 * f, 4 * f, 2 * f]
        let upInputs = [8 * f, 8 * f, 4 * f]
        let skipWidths = [4 * f, 2 * f, f]
        let cascade = [cascadeChannels.quarter, cascadeChannels.half, 0]
        upsamplers = (0..<3).map { step in
            TransposedConvolution3DLayer(name: "\(name).decoder.\(step).up", inputChannels: upInputs[step],
                                         outputChannels: decoderWidths[step], hasBias: false, random: &random)
        }
        merges = (0..<3).map { step in
            Convolution3DLayer(name: "\(name).decoder.\(step).merge", inputChannels: decoderWidths[step] + skipWidths[step] + cascade[step],
                               outputChannels: decoderWidths[step], kernel: 1, hasBias: true, random: &random)
        }
        decoderBlocks = (0..<3).map { CascadeBlock(name: "\(name).decoder.\($0).block", channels: decoderWidths[$0], groups: 1, random: &random) }
        head = Convolution3DLayer(name: "\(name).head", inputChannels: 2 * f, outputChannels: 4, kernel: 1, hasBias: true, random: &random)
    }

    var parameters: [Parameter] {
        zip(entry, encoderBlocks).flatMap { $0.parameters + $1.parameters }
            + (0..<3).flatMap { upsamplers[$0].parameters + merges[$0].parameters + decoderBlocks[$0].parameters }
            + head.parameters
    }

    /// Softmax probabilities N×4×D×H×W. `quarter`/`half` are the cascade inputs at ¼ and ½
    /// resolution (nil when this stage takes none there).
    func callAsFunction(_ input: Variable, quarter: Variable?, half: Variable?, _ context: ForwardContext) -> Variable {
        var x = input
        var skips: [Variable] = []
        for level in 0..<4 {
            x = entry[level](x, context)
            if level > 0 { x = context.dropout(x, probability: 0.1) }
            x = encoderBlocks[level](x, context)
            skips.append(context.maxOverChannelGroups(x, groups: 4))
        }
        // Skips leave `skips` as the decoder uses them (deepest first) and the concatenation's
        // parts are handed on without a second reference, so in inference they are freed as soon
        // as they are concatenated.
        var y = skips.removeLast()
        let cascade = [quarter, half, nil]
        for step in 0..<3 {
            var parts = [upsamplers[step](y, context), skips.removeLast()]
            if let extra = cascade[step] { parts.append(extra) }
            y = decoderBlocks[step](merges[step](context.concatenateChannels(consume parts), context), context)
        }
        return context.softmaxOverChannels(head(y, context))
    }
}

/// The cascade's pre-activation block with instance norm, ReLU and biased (grouped) convs.
final class CascadeBlock: Layer {
    private let firstNorm: NormalizationLayer
    private let first: Convolution3DLayer
    private let secondNorm: NormalizationLayer
    private let second: Convolution3DLayer

    init(name: String, channels: Int, groups: Int, random: inout SeededRandom) {
        firstNorm = .instance(name: "\(name).norm1", channels: channels, activation: .relu)
        first = Convolution3DLayer(name: "\(name).conv1", inputChannels: channels, outputChannels: channels, kernel: 3,
                                   padding: 1, groups: groups, hasBias: true, random: &random)
        secondNorm = .instance(name: "\(name).norm2", channels: channels, activation: .relu)
        second = Convolution3DLayer(name: "\(name).conv2", inputChannels: channels, outputChannels: channels, kernel: 3,
                                    padding: 1, groups: groups, hasBias: true, random: &random)
    }

    var parameters: [Parameter] { firstNorm.parameters + first.parameters + secondNorm.parameters + second.parameters }

    func callAsFunction(_ x: Variable, _ context: ForwardContext) -> Variable {
        context.add(x, second(secondNorm(first(firstNorm(x, context), context), context), context))
    }
}
