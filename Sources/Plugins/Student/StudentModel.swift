import Core

/// Plugin for the `student` (`StudentNetwork`, the released architecture in both profiles):
/// 2 mm in the cpu profile, 1 mm in the paper profile.
public final class StudentModel: SegmentationModel {
    public let network: StudentNetwork
    public let profile: ModelProfile
    public var name: String { ModelRegistry.studentName }
    public var role: ModelRole { .student }
    public var outputKind: OutputKind { .regionLogits }
    public var plan: InputPlan {
        InputPlan(resolution: .spacing(profile == .cpu ? 2 : 1), intensity: .zScoreForeground, sizeMultiple: StudentNetwork.sizeMultiple)
    }
    public var architecture: [String: Int] { ["widths": 16, "levels": 4] }
    public var parameters: [Parameter] { network.parameters }
    public var ignorableWeightNames: [String] { StudentNetwork.unusedReleasedTensors.sorted() }
    public var defaultOptimizer: OptimizerChoice { .adam(learningRate: 1e-3, weightDecay: 1e-5) }

    public init(profile: ModelProfile, seed: UInt64 = 0) {
        self.profile = profile
        network = StudentNetwork(seed: seed)
    }

    public func forward(_ input: Variable, _ context: ForwardContext) -> Variable { network(input, context) }
}
