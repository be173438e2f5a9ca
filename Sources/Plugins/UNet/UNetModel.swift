import Core

/// Plugin for teacher `unet` (No-New-Net-style UNet, `NoNewNetUNet`).
/// cpu profile: base width 16 at 2 mm; paper profile: base width 30 at 1 mm.
public final class UNetModel: SegmentationModel {
    public let network: NoNewNetUNet
    public let profile: ModelProfile
    public var name: String { "unet" }
    public var role: ModelRole { .teacher }
    public var outputKind: OutputKind { .regionLogits }
    public var plan: InputPlan {
        InputPlan(resolution: .spacing(profile == .cpu ? 2 : 1), intensity: .zScoreForeground, sizeMultiple: NoNewNetUNet.sizeMultiple)
    }
    public var architecture: [String: Int] { ["base_width": network.baseWidth, "levels": NoNewNetUNet.levels] }
    public var parameters: [Parameter] { network.parameters }
    public var defaultOptimizer: OptimizerChoice { .adam(learningRate: 1e-3, weightDecay: 1e-5) }

    public init(profile: ModelProfile, baseWidth: Int? = nil, seed: UInt64 = 0) {
        self.profile = profile
        network = NoNewNetUNet(baseWidth: baseWidth ?? (profile == .cpu ? 16 : 30), seed: seed)
    }

    public func forward(_ input: Variable, _ context: ForwardContext) -> Variable { network(input, context) }
}
