import Core
import Foundation
import Plugins

/// The `[training]` table: how `brainseg retrain` fine-tunes the student (SPEC.md §5).
public struct RetrainSettings: Sendable, Equatable {
    /// Folders of labelled cases (a case folder or a folder of case folders). Relative paths are
    /// taken from the root. Expert-labelled pool entries count as labelled cases too.
    public var labelled: [String] = ["labelled"]
    /// Case names evaluated (never trained on) by the promotion gate; found in `labelled`.
    public var holdout = ["Brats18_2013_3_1", "Brats18_CBICA_AQN_1", "Brats18_TCIA02_606_1", "Brats18_TCIA10_628_1"]
    /// The longest a run may train. It caps `steps`: on a machine too slow for them, the run
    /// plans as many as fit and still ends its schedule in time.
    public var budgetSeconds: Double = 2 * 3600
    /// Training steps of one run: the fine-tuning recipe that was measured (models/README.md,
    /// "Nightly retraining"), the same on every machine. nil (`steps = 0`): as many steps as
    /// the budget allows, which on a fast machine means a longer, unmeasured recipe.
    public var steps: Int? = 1500
    /// Fine-tuning peak learning rate (warm-up then cosine decay over the steps).
    public var learningRate = 0.0002
    public var warmupSteps = 20
    public var threads = 2
    /// Convolution arithmetic of the retraining steps (`TrainingConfiguration.precision`):
    /// float32 until a cross-validated comparison shows bfloat16 training reaches the same Dice
    /// (models/README.md, "Training speed").
    public var precision: ComputePrecision = .float32
    /// Soft-label distillation weight (`TrainingConfiguration.softTargetWeight`): pool entries'
    /// region targets are (1 − w) · pseudo-label + w · the teachers' probabilities. 0 (labels
    /// only) until a cross-validated comparison shows a weight that beats it (models/README.md).
    public var softTargetWeight = 0.0
    /// Confidence-masked pseudo-labels (`TrainingConfiguration.pseudoLabelConfidence`): pool
    /// entries train only on voxels where the teachers' region probability is ≥ c or ≤ 1 − c.
    /// 0 (any value ≤ 0.5): every voxel of a pseudo-label counts.
    public var pseudoLabelConfidence = 0.0
    /// How often a pseudo-labelled pool entry is drawn relative to a labelled case
    /// (`TrainingConfiguration.caseWeights`): 1 draws every case equally often, 0.25 such an entry
    /// a quarter as often, 0 leaves those entries out of the run (the manifest still records
    /// them). Expert-labelled pool entries always weigh as labelled cases.
    public var poolWeight = 1.0
    /// Decay of the exponential moving average of the weights that becomes the candidate
    /// (`TrainingConfiguration.weightAverageDecay`, `WeightAverage`); nil (`0` in the file): the
    /// raw weights of the last step.
    public var weightAverageDecay: Double?
    /// Promotion: mean Dice over WT/TC/ET ≥ current − epsilon …
    public var epsilon = 0.0
    /// … and no region's Dice drops by more than delta.
    public var delta = 0.02
    /// Which Dice the gate compares: volume-wise (default) or BraTS lesion-wise (`pq_dsc`).
    /// Volume stays the default, as measured on the four hold-out cases (models/README.md,
    /// "Lesion-wise"): their expert labels have many small fragments that no shipped model
    /// predicts (the label-map clean-up removes components under 10 % of the tumour), so every
    /// model misses the same 7 WT and 89–94 ET lesions and `pq_dsc` mostly measures that
    /// fragmentation: ET spans 0.07–0.14 across the five models where volume-wise Dice spans
    /// 0.36–0.64. A gate on it would resolve real changes of the student less well.
    public var metric: HoldoutEvaluation.Metric = .volume
    /// Student versions kept in models/student/ (the one in service is never deleted).
    public var keepVersions = 5

    public init() {}
}
