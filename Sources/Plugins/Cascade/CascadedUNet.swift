import Core

/// Teacher `cascade`: three UNet stages at increasing resolution, each seeing the previous
/// stages' probabilities (MODELS.md "Teacher cascade").
///
/// Input: the brain crop resampled to a cube S³ (S = 128 paper, 64 cpu), intensities z-scored
/// over the foreground, clipped to ±5 and mapped to [0, 1]. X½ = 2×2×2 average pool of X,
/// X¼ = 4×4×4. Stage ¼: U(16) on X¼ → P¼. Stage ½: U(8) on X½ with P¼ concatenated at its ½
/// level → P½. Stage 1: U(4) on X with P¼ at its ¼ level and P½ at its ½ level → the output.
/// Gradients flow through the cascade. Loss 0.4·D(1) + 0.3·D(½) + 0.2·D(¼) (multi-class soft
/// Dice over the tumour classes, targets average-pooled to each scale). For the ensemble the
/// softmax over (background, NCR/NET, ED, ET) converts to regions: WT = p1 + p2 + p3,
/// TC = p1 + p3, ET = p3 (`regionProbabilities`).
///
/// Parameter names: `stage<quarter|half|full>.encoder.<l>.{conv,block.*}`,
/// `stage<…>.decoder.<s>.{up,merge,block.*}`, `stage<…>.head.*`.
public final class CascadedUNet: Layer {
    /// The cube side must be divisible by 32 (X¼ then has 3 down-samplings of its own).
    public static let sizeMultiple = 32
    public static let stageWidths = (quarter: 16, half: 8, full: 4)
    private let quarter: CascadeStage
    private let half: CascadeStage
    private let full: CascadeStage

    public init(inputChannels: Int = 4, seed: UInt64 = 0) {
        var random = SeededRandom(seed: seed)
        quarter = CascadeStage(name: "stagequarter", width: Self.stageWidths.quarter, inputChannels: inputChannels,
                               cascadeChannels: (0, 0), random: &random)
        half = CascadeStage(name: "stagehalf", width: Self.stageWidths.half, inputChannels: inputChannels,
                            cascadeChannels: (0, 4), random: &random)
        full = CascadeStage(name: "stagefull", width: Self.stageWidths.full, inputChannels: inputChannels,
                            cascadeChannels: (4, 4), random: &random)
    }

    public var parameters: [Parameter] { quarter.parameters + half.parameters + full.parameters }

    /// The three stages' softmax outputs (¼, ½, full resolution), each N×4×….
    public func stages(_ input: Variable, _ context: ForwardContext) -> (quarter: Variable, half: Variable, full: Variable) {
        let shape = input.value.volumeShape
        precondition([shape.depth, shape.height, shape.width].allSatisfy { $0 % Self.sizeMultiple == 0 },
                     "cascade: spatial size \(shape) must be divisible by \(Self.sizeMultiple)")
        let inputHalf = context.averagePool(input, factor: 2)
        let inputQuarter = context.averagePool(input, factor: 4)
        let pQuarter = quarter(inputQuarter, quarter: nil, half: nil, context)
        let pHalf = half(inputHalf, quarter: nil, half: pQuarter, context)
        let pFull = full(input, quarter: pQuarter, half: pHalf, context)
        return (pQuarter, pHalf, pFull)
    }

    /// Full-resolution class probabilities N×4×D×H×W.
    public func callAsFunction(_ input: Variable, _ context: ForwardContext) -> Variable {
        stages(input, context).full
    }
}
