import Core

/// Teacher `unet`: a No-New-Net-style 3D UNet (Isensee et al., "No New-Net", BraTS 2018;
/// MODELS.md "Teacher unet").
///
/// Five levels of widths B·(1, 2, 4, 8, 16). Encoder level l: conv3 (stride 2 for l > 0) → IN →
/// LReLU → conv3 → IN → LReLU, output kept as skip S_l. Decoder level l (deep to shallow):
/// conv1 reducing 2·c_l → c_l (no bias) at the low resolution, trilinear ×2 upsampling (conv1
/// first: identical result, 8× cheaper), concat [S_l, up], conv3 → IN → LReLU twice. Head:
/// conv1 (B → 3, bias); the network returns logits, sigmoid gives [WT, TC, ET]. Convs followed
/// by a norm have no bias. No deep supervision. 18.8 M parameters at B = 30, 5.3 M at B = 16.
///
/// Input: N×4×D×H×W (T1, T1ce, T2, FLAIR), each spatial size divisible by 16.
///
/// Parameter names: `encoder.<l>.conv<1|2>.weight`, `encoder.<l>.norm<1|2>.{weight,bias}`,
/// `decoder.<l>.reduce.weight`, `decoder.<l>.conv<1|2>.weight`, `decoder.<l>.norm<1|2>.{weight,bias}`,
/// `head.weight`, `head.bias` (l = 0 is the full-resolution level).
public final class NoNewNetUNet: Layer {
    public static let levels = 5
    public let baseWidth: Int
    public let inputChannels: Int
    public let outputChannels: Int

    private struct DoubleConvolution {
        let first: Convolution3DLayer
        let firstNorm: NormalizationLayer
        let second: Convolution3DLayer
        let secondNorm: NormalizationLayer

        init(name: String, input: Int, output: Int, firstStride: Int, random: inout SeededRandom) {
            first = Convolution3DLayer(name: "\(name).conv1", inputChannels: input, outputChannels: output, kernel: 3,
                                       stride: firstStride, padding: 1, hasBias: false, random: &random)
            firstNorm = .instance(name: "\(name).norm1", channels: output, activation: .leakyReLU(slope: 0.01))
            second = Convolution3DLayer(name: "\(name).conv2", inputChannels: output, outputChannels: output, kernel: 3,
                                        padding: 1, hasBias: false, random: &random)
            secondNorm = .instance(name: "\(name).norm2", channels: output, activation: .leakyReLU(slope: 0.01))
        }

        var parameters: [Parameter] { first.parameters + firstNorm.parameters + second.parameters + secondNorm.parameters }

        /// Consumes `x`: in inference it is freed once the first convolution has read it, so the
        /// second convolution does not run beside it (no effect under a tape, which keeps it).
        func callAsFunction(_ x: consuming Variable, _ context: ForwardContext) -> Variable {
            x = firstNorm(first(x, context), context)  // replacing x frees the input once read
            return secondNorm(second(x, context), context)
        }
    }

    private let encoder: [DoubleConvolution]
    private let reducers: [Convolution3DLayer]          // index l: 2·c_l → c_l, for l = 0…3
    private let decoder: [DoubleConvolution]            // index l, for l = 0…3
    private let head: Convolution3DLayer

    /// - Parameters:
    ///   - baseWidth: B (16 in the cpu profile, 30 in the paper profile).
    ///   - seed: initialisation stream.
    public init(baseWidth: Int, inputChannels: Int = 4, outputChannels: Int = 3, seed: UInt64 = 0) {
        precondition(baseWidth > 0, "unet: base width must be positive")
        self.baseWidth = baseWidth
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        var random = SeededRandom(seed: seed)
        let widths = (0..<Self.levels).map { baseWidth << $0 }
        var encoder: [DoubleConvolution] = []
        for level in 0..<Self.levels {
            encoder.append(DoubleConvolution(
                name: "encoder.\(level)", input: level == 0 ? inputChannels : widths[level - 1], output: widths[level],
                firstStride: level == 0 ? 1 : 2, random: &random))
        }
        var reducers: [Convolution3DLayer] = []
        var decoder: [DoubleConvolution] = []
        for level in 0..<(Self.levels - 1) {
            reducers.append(Convolution3DLayer(name: "decoder.\(level).reduce", inputChannels: widths[level + 1],
                                               outputChannels: widths[level], kernel: 1, hasBias: false, random: &random))
            decoder.append(DoubleConvolution(name: "decoder.\(level)", input: 2 * widths[level], output: widths[level],
                                             firstStride: 1, random: &random))
        }
        head = Convolution3DLayer(name: "head", inputChannels: baseWidth, outputChannels: outputChannels, kernel: 1,
                                  hasBias: true, random: &random)
        self.encoder = encoder
        self.reducers = reducers
        self.decoder = decoder
    }

    public var parameters: [Parameter] {
        encoder.flatMap(\.parameters) + zip(reducers, decoder).flatMap { $0.parameters + $1.parameters } + head.parameters
    }

    /// Spatial sizes must be multiples of this.
    public static let sizeMultiple = 16

    /// Logits N×3×D×H×W for input N×4×D×H×W.
    public func callAsFunction(_ input: Variable, _ context: ForwardContext) -> Variable {
        let shape = input.value.volumeShape
        precondition([shape.depth, shape.height, shape.width].allSatisfy { $0 % Self.sizeMultiple == 0 },
                     "unet: spatial size \(shape) must be divisible by \(Self.sizeMultiple)")
        var skips: [Variable] = []
        var x = input
        for level in 0..<Self.levels {
            x = encoder[level](x, context)
            if level < Self.levels - 1 { skips.append(x) }
        }
        // Each decoder level takes its skip out of `skips` and hands every input on without a
        // second reference, so in inference a tensor is freed as soon as its last reader is done
        // (the concatenation's inputs before its convolutions run; peak memory is set here).
        for level in stride(from: Self.levels - 2, through: 0, by: -1) {
            let skip = skips.removeLast()
            let upsampled = context.upsampleTrilinear2x(reducers[level](consume x, context))
            x = decoder[level](context.concatenateChannels([consume skip, consume upsampled]), context)
        }
        return head(x, context)
    }
}
