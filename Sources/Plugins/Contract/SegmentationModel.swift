import Core
import Foundation

/// What the network's output means.
public enum OutputKind: String, Sendable, Codable {
    /// Three logits per voxel; sigmoid gives the region probabilities [WT, TC, ET].
    case regionLogits
    /// Four class probabilities (background, NCR/NET, ED, ET) after a softmax; converted to
    /// regions as WT = p1 + p2 + p3, TC = p1 + p3, ET = p3.
    case classProbabilities
}

/// Which optimiser a model trains with by default (MODELS.md "Training").
public enum OptimizerChoice: Sendable, Equatable, Codable {
    case adam(learningRate: Float, weightDecay: Float)
    case sgd(learningRate: Float, momentum: Float, weightDecay: Float)
}

/// A model plugin: one of the registry's four networks in one profile, with everything the
/// pipeline and the trainer need to use it without knowing which network it is.
public protocol SegmentationModel: AnyObject {
    /// `unet`, `resunet-vae`, `cascade` or `student`.
    var name: String { get }
    var role: ModelRole { get }
    var profile: ModelProfile { get }
    var plan: InputPlan { get }
    var outputKind: OutputKind { get }
    /// Architecture hyper-parameters as recorded in the model card (e.g. `base_width: 16`).
    var architecture: [String: Int] { get }
    /// The parameters that are shipped and loaded (training-only branches excluded).
    var parameters: [Parameter] { get }
    /// Tensor names a weight file may contain that this model ignores.
    var ignorableWeightNames: [String] { get }
    /// Network output N×C×D×H×W for a prepared input N×4×D×H×W (see `outputKind`).
    func forward(_ input: Variable, _ context: ForwardContext) -> Variable
    /// The default optimiser for training.
    var defaultOptimizer: OptimizerChoice { get }
}

extension SegmentationModel {
    public var ignorableWeightNames: [String] { [] }

    /// Region probabilities [WT, TC, ET] (N×3×…) from a network output.
    public func regionProbabilities(fromOutput output: Tensor) -> Tensor {
        switch outputKind {
        case .regionLogits: return output.map { 1 / (1 + (-$0).exp()) }
        case .classProbabilities: return ClassToRegionProbabilities.convert(output)
        }
    }

    /// Scalars in the shipped parameters.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }
}

extension Float {
    @inline(__always) func exp() -> Float { Foundation.exp(self) }
}
