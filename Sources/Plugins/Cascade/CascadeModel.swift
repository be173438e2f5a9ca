import Core

/// Plugin for teacher `cascade` (`CascadedUNet`): the crop resampled to a 64³ (cpu) or 128³
/// (paper) cube, intensities z-scored, clipped to ±5 and mapped to [0, 1].
public final class CascadeModel: SegmentationModel {
    public let network: CascadedUNet
    public let profile: ModelProfile
    public var name: String { "cascade" }
    public var role: ModelRole { .teacher }
    public var outputKind: OutputKind { .classProbabilities }
    public var plan: InputPlan {
        InputPlan(resolution: .cube(profile == .cpu ? 64 : 128), intensity: .zScoreClippedUnit, sizeMultiple: CascadedUNet.sizeMultiple)
    }
    public var architecture: [String: Int] {
        ["width_quarter": CascadedUNet.stageWidths.quarter, "width_half": CascadedUNet.stageWidths.half,
         "width_full": CascadedUNet.stageWidths.full, "cube": profile == .cpu ? 64 : 128]
    }
    public var parameters: [Parameter] { network.parameters }
    public var defaultOptimizer: OptimizerChoice { .sgd(learningRate: 1e-2, momentum: 0.9, weightDecay: 1e-5) }

    public init(profile: ModelProfile, seed: UInt64 = 0) {
        self.profile = profile
        network = CascadedUNet(seed: seed)
    }

    public func forward(_ input: Variable, _ context: ForwardContext) -> Variable { network(input, context) }
}
