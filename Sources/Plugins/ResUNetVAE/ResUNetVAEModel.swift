import Core

/// Plugin for teacher `resunet-vae` (`ResUNetVAE`). cpu profile: F = 16 at 2 mm; paper
/// profile: F = 32 at 1 mm. The VAE branch exists only when built for training patches.
public final class ResUNetVAEModel: SegmentationModel {
    public let network: ResUNetVAE
    public let profile: ModelProfile
    public var name: String { "resunet-vae" }
    public var role: ModelRole { .teacher }
    public var outputKind: OutputKind { .regionLogits }
    public var plan: InputPlan {
        InputPlan(resolution: .spacing(profile == .cpu ? 2 : 1), intensity: .zScoreForeground, sizeMultiple: ResUNetVAE.sizeMultiple)
    }
    public var architecture: [String: Int] { ["initial_width": network.initialWidth] }
    public var parameters: [Parameter] { network.segmentationParameters }
    public var defaultOptimizer: OptimizerChoice { .adam(learningRate: 1e-3, weightDecay: 1e-5) }

    public init(profile: ModelProfile, initialWidth: Int? = nil, vaePatchSize: [Int]? = nil, seed: UInt64 = 0) {
        self.profile = profile
        network = ResUNetVAE(initialWidth: initialWidth ?? (profile == .cpu ? 16 : 32), vaePatchSize: vaePatchSize, seed: seed)
    }

    public func forward(_ input: Variable, _ context: ForwardContext) -> Variable { network(input, context) }
}
