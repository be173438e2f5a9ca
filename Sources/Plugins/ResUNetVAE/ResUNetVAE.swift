import Core

/// Teacher `resunet-vae`: Myronenko's residual encoder-decoder with a VAE regulariser
/// (Myronenko, "3D MRI brain tumor segmentation using autoencoder regularization", BraTS 2018;
/// MONAI's SegResNetVAE is a faithful reimplementation). MODELS.md "Teacher resunet-vae".
///
/// Segmentation path: init conv3 4→F; encoder PRes(F)×1 (S0); conv3 s2 F→2F, PRes×2 (S1);
/// conv3 s2 →4F, PRes×2 (S2); conv3 s2 →8F, PRes×4 (bottom). Decoder three times: conv1
/// halving channels → trilinear ×2 → add skip → PRes×1. Head: GN8 → ReLU → conv1 F→3 (bias),
/// logits [WT, TC, ET]. Spatial dropout 0.2 after the init conv in training. Sizes must be
/// divisible by 8 (16 when the VAE is attached).
///
/// VAE branch (training only; built for one patch size because its linear layers depend on
/// it, dropped at inference): GN8 → ReLU → conv3 s2 8F→16 (bias) → GN8 → ReLU → flatten →
/// linear → 256 = 128 means μ + 128 log-variances → z = μ + σ·ε → linear → 16·(D/16)(H/16)(W/16)
/// → ReLU → reshape → conv1 16→8F → ×2 → three times [conv1 halve → ×2 → PRes (own weights)]
/// → GN8 → ReLU → conv1 F→4: the reconstruction of the input.
/// Loss = Dice + BCE + 0.1·MSE(x, x̂) + 0.1·KL (see `VAEOutput`).
///
/// Parameter names: `init.weight`, `encoder.<l>.down.weight` (l = 1…3),
/// `encoder.<l>.blocks.<b>.{norm1,conv1,norm2,conv2}`, `decoder.<l>.reduce.weight`,
/// `decoder.<l>.block.*` (l = 2, 1, 0), `head.norm.*`, `head.conv.{weight,bias}`, `vae.*`.
public final class ResUNetVAE: Layer {
    public static let sizeMultiple = 8
    public let initialWidth: Int

    private let initial: Convolution3DLayer
    private let downsamplers: [Convolution3DLayer]          // levels 1…3
    private let encoderBlocks: [[PreActivationResidualBlock]]  // levels 0…3
    private let reducers: [Convolution3DLayer]              // index l = 0…2: width[l+1] → width[l]
    private let decoderBlocks: [PreActivationResidualBlock]   // index l = 0…2
    private let headNorm: NormalizationLayer
    private let head: Convolution3DLayer
    /// Present when built with a training patch size.
    public let autoencoder: VariationalDecoder?

    /// - Parameters:
    ///   - initialWidth: F (16 in the cpu profile, 32 in the paper profile).
    ///   - vaePatchSize: (D, H, W) of training patches to attach the VAE branch for, or nil.
    public init(initialWidth: Int, vaePatchSize: [Int]? = nil, inputChannels: Int = 4, outputChannels: Int = 3, seed: UInt64 = 0) {
        precondition(initialWidth % 8 == 0, "resunet-vae: the initial width must be a multiple of 8 (GroupNorm 8)")
        self.initialWidth = initialWidth
        var random = SeededRandom(seed: seed)
        let widths = (0..<4).map { initialWidth << $0 }
        initial = Convolution3DLayer(name: "init", inputChannels: inputChannels, outputChannels: widths[0], kernel: 3,
                                     padding: 1, hasBias: false, random: &random)
        downsamplers = (1..<4).map { level in
            Convolution3DLayer(name: "encoder.\(level).down", inputChannels: widths[level - 1], outputChannels: widths[level],
                               kernel: 3, stride: 2, padding: 1, hasBias: false, random: &random)
        }
        let blockCounts = [1, 2, 2, 4]
        encoderBlocks = (0..<4).map { level in
            (0..<blockCounts[level]).map { PreActivationResidualBlock(name: "encoder.\(level).blocks.\($0)", channels: widths[level], random: &random) }
        }
        reducers = (0..<3).map { level in
            Convolution3DLayer(name: "decoder.\(level).reduce", inputChannels: widths[level + 1], outputChannels: widths[level],
                               kernel: 1, hasBias: false, random: &random)
        }
        decoderBlocks = (0..<3).map { PreActivationResidualBlock(name: "decoder.\($0).block", channels: widths[$0], random: &random) }
        headNorm = NormalizationLayer(name: "head.norm", channels: widths[0], groups: 8, activation: .relu)
        head = Convolution3DLayer(name: "head.conv", inputChannels: widths[0], outputChannels: outputChannels, kernel: 1,
                                  hasBias: true, random: &random)
        autoencoder = vaePatchSize.map {
            VariationalDecoder(initialWidth: initialWidth, patchSize: $0, reconstructedChannels: inputChannels, random: &random)
        }
    }

    /// The segmentation path's parameters (what ships; the VAE is training-only).
    public var segmentationParameters: [Parameter] {
        initial.parameters + downsamplers.flatMap(\.parameters) + encoderBlocks.flatMap { $0.flatMap(\.parameters) }
            + reducers.flatMap(\.parameters) + decoderBlocks.flatMap(\.parameters) + headNorm.parameters + head.parameters
    }

    public var parameters: [Parameter] { segmentationParameters + (autoencoder?.parameters ?? []) }

    /// Logits N×3×D×H×W, and the bottom features (for the VAE).
    public func segment(_ input: Variable, _ context: ForwardContext) -> (logits: Variable, bottom: Variable) {
        let shape = input.value.volumeShape
        precondition([shape.depth, shape.height, shape.width].allSatisfy { $0 % Self.sizeMultiple == 0 },
                     "resunet-vae: spatial size \(shape) must be divisible by \(Self.sizeMultiple)")
        var x = context.spatialDropout(initial(input, context), probability: 0.2)
        var skips: [Variable] = []
        for level in 0..<4 {
            if level > 0 { x = downsamplers[level - 1](x, context) }
            for block in encoderBlocks[level] { x = block(x, context) }
            if level < 3 { skips.append(x) }
        }
        let bottom = x
        // Skips leave `skips` as they are used and x is handed on without a second reference,
        // so in inference each full-size tensor is freed once its last reader is done.
        for level in stride(from: 2, through: 0, by: -1) {
            x = context.add(context.upsampleTrilinear2x(reducers[level](x, context)), skips.removeLast())
            x = decoderBlocks[level](x, context)
        }
        return (head(headNorm(consume x, context), context), bottom)
    }

    /// Logits N×3×D×H×W (inference and the segmentation loss).
    public func callAsFunction(_ input: Variable, _ context: ForwardContext) -> Variable {
        segment(input, context).logits
    }
}
