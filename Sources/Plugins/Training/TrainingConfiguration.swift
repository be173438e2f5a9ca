import Core
import Foundation

/// Everything that determines a training run. Written to `<run>/config.json` at the start; a
/// resumed run reads it back, so a run is reproducible from its folder alone.
public struct TrainingConfiguration: Codable, Sendable, Equatable {
    public var model: String
    public var profile: ModelProfile
    /// Case folders trained on (labelled cases and pool entries).
    public var trainingCases: [String]
    /// Relative sampling weight of each of `trainingCases`, in the same order (`CaseSampler`);
    /// nil: every case equally likely. Optional so that older run folders resume.
    public var caseWeights: [Float]?
    /// Case folders validated on at each checkpoint, never trained on.
    public var holdoutCases: [String]
    /// Fixed step count, or nil to derive it from `budgetSeconds` after the first steps.
    public var steps: Int?
    /// Wall-time budget. Alone, it sets the step count from the pace of the first steps; with
    /// `steps`, it caps them: a run whose steps would not fit plans fewer (the schedule still
    /// ends within the budget), one that fits keeps exactly `steps`.
    public var budgetSeconds: Double?
    /// End the run after this step of the planned schedule (validated, `final/` written): the
    /// learning-rate schedule still spans `steps`. Reproduces a checkpoint chosen from a longer run.
    public var stopAfterStep: Int?
    public var seed: UInt64
    /// Patch size (D, H, W) at the working resolution; nil = the model's default.
    public var patchSize: [Int]?
    public var learningRate: Float?
    /// "adam" or "sgd" instead of the model's default optimiser (nil: the default).
    public var optimizer: String?
    public var warmupSteps: Int = 50
    /// Final learning rate as a fraction of the initial one (cosine decay).
    public var finalLearningRateFraction: Float = 0.02
    public var weightDecay: Float?
    public var tumourProbability: Float = 0.5
    /// Tumour-centred patches pick a tumour class present in the case first, then a voxel of
    /// it (`TumourCentres`); nil or false: a tumour voxel uniformly, as the paper.
    public var classBalancedCentres: Bool?
    public var augmentation = Augmentation()
    public var checkpointIntervalSeconds: Double = 300
    /// Weights to start from (`--init`): a safetensors file or a model folder.
    public var initialWeights: String?
    public var cacheDirectory: String?
    public var threads: Int = 2
    /// Arithmetic of the convolutions in the training steps (nil: float32). bfloat16 keeps
    /// float32 master weights, gradients and optimiser state; only the multiply-adds inside the
    /// convolutions round their inputs. Optional so that run folders written before it resume.
    public var precision: ComputePrecision?
    /// Soft-label distillation: on cases that carry teachers' probabilities (`SoftTargets`,
    /// distillation-pool entries), the region target is (1 − w) · hard label + w · soft
    /// probability; cases without them train on their labels. nil or 0: labels only. The
    /// cascade (class targets) ignores it. Optional so that older run folders resume.
    public var softTargetWeight: Float?
    /// Confidence-masked pseudo-labels: on `pseudoLabelledCases` that carry teachers'
    /// probabilities, region voxels whose probability lies strictly between 1 − c and c are left
    /// out of the loss (`TrainingObjective.confidentVoxels`). nil or ≤ 0.5: every voxel counts.
    /// Optional so that older run folders resume.
    public var pseudoLabelConfidence: Float?
    /// `pseudoLabelConfidence` when it masks anything, else nil.
    public var maskingConfidence: Float? { Self.maskingConfidence(pseudoLabelConfidence) }
    /// The one rule for "masking is on": a confidence c > 0.5. At c ≤ 0.5 every probability p has
    /// max(p, 1 − p) ≥ c, so no voxel would be left out; nil and such values mean off (nil).
    public static func maskingConfidence(_ confidence: Float?) -> Float? {
        guard let confidence, confidence > 0.5 else { return nil }
        return confidence
    }
    /// The training cases whose labels are teachers' pseudo-labels (pseudo-labelled pool
    /// entries), not an expert's: only they are confidence-masked.
    public var pseudoLabelledCases: [String]?
    /// Decay of the exponential moving average of the weights that validation, `best/` and
    /// `final/` use (`WeightAverage`), e.g. 0.999; nil: the raw weights of the last step.
    public var weightAverageDecay: Float?
    /// The command line that started the run (recorded in model cards).
    public var command: String

    public init(model: String, profile: ModelProfile, trainingCases: [String], holdoutCases: [String], steps: Int?,
                budgetSeconds: Double?, seed: UInt64, command: String) {
        self.model = model
        self.profile = profile
        self.trainingCases = trainingCases
        self.holdoutCases = holdoutCases
        self.steps = steps
        self.budgetSeconds = budgetSeconds
        self.seed = seed
        self.command = command
    }

    /// Case folders under `path`: itself when it holds NIfTI files, else its non-hidden sub-folders
    /// (sorted). Used for `--data`, `--pool` and the retrain's labelled folders.
    public static func caseFolders(_ path: String) -> [String] {
        let manager = FileManager.default
        let entries = ((try? manager.contentsOfDirectory(atPath: path)) ?? []).sorted()
        if entries.contains(where: { $0.hasSuffix(".nii.gz") || $0.hasSuffix(".nii") }) { return [path] }
        return entries.filter { !$0.hasPrefix(".") }.map { "\(path)/\($0)" }.filter { folder in
            var isDirectory: ObjCBool = false
            return manager.fileExists(atPath: folder, isDirectory: &isDirectory) && isDirectory.boolValue
        }
    }

    /// The model's default patch: 64³ at the working resolution for region models; the whole
    /// cube for the cascade.
    public static func defaultPatchSize(for model: SegmentationModel) -> [Int] {
        if case .cube(let side) = model.plan.resolution { return [side, side, side] }
        return [64, 64, 64]
    }
}
