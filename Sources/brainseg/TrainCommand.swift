import ArgumentParser
import Core
import Daemon
import Foundation
import Plugins

/// `brainseg train MODEL`: trains one model on labelled cases (and pool entries), resumable.
struct TrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model on labelled cases; checkpoints, validation on hold-out cases, resumable after any interruption."
    )

    @Argument(help: "unet, resunet-vae, cascade or student (not needed with --resume).")
    var model: String?

    @Option(help: "A labelled case folder or a folder of case folders (repeatable).")
    var data: [String] = []

    @Option(help: "A pool folder: entries are case folders with a (pseudo-)segmentation.")
    var pool: [String] = []

    @Option(help: "Comma-separated case names held out of training and validated on.")
    var holdout: String?

    @Option(help: "Model profile.") var profile: ModelProfile = .cpu
    @Option(help: "Time budget, e.g. 2h, 45m, 1h30m (the step count is planned from the measured pace).") var budget: String?
    @Option(help: "Fixed number of steps.") var steps: Int?
    @Option(help: "End after this step of the --steps schedule (validated, final/ written); reproduces a checkpoint of a longer run.")
    var stopAfter: Int?
    @Option(help: "Resume the run in this folder (its config.json decides everything else).") var resume: String?
    @Option(name: .customLong("init"), help: "Start from these weights (a weights.safetensors file or a model folder).") var initial: String?
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Run folder (default runs/<model>-<date>).") var out: String?
    @Option(help: "Patch size D,H,W at the working resolution (default 64,64,64; the cascade takes its whole cube).") var patch: String?
    @Option(help: "Peak learning rate (default: the model's).") var learningRate: Float?
    @Option(help: "adam or sgd instead of the model's default optimiser (MODELS.md: SGD for the cascade, Adam otherwise).")
    var optimizer: String?
    @Option(help: "Weight decay (decoupled, AdamW-style, for Adam; L2 for SGD). Default: the model's.") var weightDecay: Float?
    @Option(help: "Warm-up steps.") var warmup: Int = 50
    @Option(help: "Cache folder for preprocessed crops (default ~/.cache/brainseg).") var cache: String?
    @Option(help: "Engine threads.") var threads: Int = 2
    @Option(help: "Minutes between checkpoints.") var checkpointMinutes: Double = 5
    @Option(help: "Convolution arithmetic in the training steps: fp32, or bf16 (float32 master weights; CPUs with AVX-512 BF16).")
    var precision: ComputePrecision = .float32
    @Option(help: "Soft-label distillation weight w in [0, 1]: cases with teachers' probabilities (pool entries' soft/) learn (1-w)*label + w*probability. 0: labels only.")
    var softTargetWeight: Float = 0
    @Option(help: "Confidence-masked pseudo-labels: --pool entries that are pseudo-labelled train only on voxels where the teachers' region probability is >= C or <= 1-C (e.g. 0.8). 0: every voxel.")
    var pseudoLabelConfidence: Float = 0
    @Flag(help: "Tumour-centred patches: pick a tumour class present (NCR/NET, edema, ET) first, then a voxel of it, instead of any tumour voxel.")
    var classBalanced = false
    @Flag(help: "Augmentation: rotate about all three axes (±15° each), not only the axial one.")
    var rotateAllAxes = false
    @Option(help: "Augmentation: per-modality gamma drawn from LOW,HIGH (e.g. 0.7,1.5) on the foreground.")
    var gamma: String?
    @Option(help: "Augmentation: Gaussian noise on the foreground, standard deviation drawn from [0, SD] per patch (z-scored units, e.g. 0.1).")
    var noise: Float?
    @Option(help: "Keep an exponential moving average of the weights with this decay (e.g. 0.999) and validate and save it instead of the last step's weights.")
    var emaDecay: Float?

    /// The pool folders whose label is a pseudo-label: all but the entries that record an
    /// expert's segmentation (`PoolEntry.Kind`).
    static func pseudoLabelled(_ folders: [String]) -> [String] {
        folders.filter { folder in
            let url = URL(fileURLWithPath: folder)
            let pool = DistillationPool(directory: url.deletingLastPathComponent().path, maximumEntries: .max)
            return (try? pool.entry(named: url.lastPathComponent))?.kind != .expertLabelled
        }
    }

    static func parseDuration(_ text: String) throws -> Double {
        do { return try TrainingDuration.seconds(text) } catch let invalid as TrainingDuration.Invalid { throw ValidationError(invalid.description) }
    }

    func run() async throws {
        let command = (["brainseg"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        let runDirectory: String
        var configuration: TrainingConfiguration
        if let resume {
            runDirectory = resume
            let path = "\(resume)/config.json"
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("\(path) not found: nothing to resume") }
            configuration = try JSONDecoder().decode(TrainingConfiguration.self, from: data)
            if let budget { configuration.budgetSeconds = try Self.parseDuration(budget) }
        } else {
            guard let model else { throw ValidationError("name the model to train (or --resume a run)") }
            guard ModelRegistry.names.contains(model) else { throw ModelRegistry.UnknownModel(name: model) }
            guard (steps == nil) != (budget == nil) else { throw ValidationError("give exactly one of --steps and --budget") }
            let holdoutNames = Set((holdout ?? "").split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) })
            let folders = (data + pool).flatMap(TrainingConfiguration.caseFolders)
            let heldOut = folders.filter { holdoutNames.contains(URL(fileURLWithPath: $0).lastPathComponent) }
            let missing = holdoutNames.subtracting(heldOut.map { URL(fileURLWithPath: $0).lastPathComponent })
            guard missing.isEmpty else { throw ValidationError("hold-out case(s) not found in --data: \(missing.sorted().joined(separator: ", "))") }
            configuration = TrainingConfiguration(
                model: model, profile: profile, trainingCases: folders.filter { !heldOut.contains($0) }, holdoutCases: heldOut,
                steps: steps, budgetSeconds: try budget.map(Self.parseDuration), seed: seed, command: command)
            configuration.patchSize = try patch.map { text in
                let parts = text.split(separator: ",").compactMap { Int($0) }
                guard parts.count == 3 else { throw ValidationError("--patch takes D,H,W") }
                return parts
            }
            configuration.learningRate = learningRate
            configuration.stopAfterStep = stopAfter
            if let optimizer, !["adam", "sgd"].contains(optimizer) { throw ValidationError("--optimizer must be adam or sgd") }
            configuration.optimizer = optimizer
            configuration.weightDecay = weightDecay
            configuration.warmupSteps = warmup
            configuration.initialWeights = initial
            configuration.threads = threads
            guard precision.isTrainable else { throw ValidationError("--precision \(precision.rawValue) is for inference only; train in fp32 or bf16") }
            configuration.precision = precision == .float32 ? nil : precision
            guard (0...1).contains(softTargetWeight) else { throw ValidationError("--soft-target-weight must be within 0...1") }
            configuration.softTargetWeight = softTargetWeight == 0 ? nil : softTargetWeight
            guard pseudoLabelConfidence == 0 || (0.5..<1).contains(pseudoLabelConfidence) else {
                throw ValidationError("--pseudo-label-confidence must be 0 or within 0.5..<1")
            }
            if let confidence = TrainingConfiguration.maskingConfidence(pseudoLabelConfidence) {
                configuration.pseudoLabelConfidence = confidence
                configuration.pseudoLabelledCases = Self.pseudoLabelled(pool.flatMap(TrainingConfiguration.caseFolders))
            }
            if let emaDecay, !(emaDecay > 0 && emaDecay < 1) { throw ValidationError("--ema-decay must be within (0, 1)") }
            configuration.weightAverageDecay = emaDecay
            if rotateAllAxes { configuration.augmentation.rotateAllAxes = true }
            if classBalanced { configuration.classBalancedCentres = true }
            if let gamma {
                let parts = gamma.split(separator: ",").compactMap { Float($0) }
                guard parts.count == 2, parts[0] > 0, parts[0] <= parts[1] else { throw ValidationError("--gamma takes LOW,HIGH with 0 < LOW <= HIGH") }
                configuration.augmentation.gammaRange = parts[0]...parts[1]
            }
            if let noise {
                guard noise >= 0 else { throw ValidationError("--noise must be >= 0") }
                configuration.augmentation.noiseStandardDeviation = noise
            }
            configuration.checkpointIntervalSeconds = checkpointMinutes * 60
            configuration.cacheDirectory = cache ?? "\(NSHomeDirectory())/.cache/brainseg/prepared"
            let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
            runDirectory = out ?? "runs/\(model)-\(stamp)"
        }
        let trainer = try Trainer(configuration: configuration, runDirectory: runDirectory) { printToStandardError($0) }
        printToStandardError("training \(configuration.model) (\(configuration.profile.rawValue)) in \(runDirectory)")
        try trainer.loadData()
        let outcome = try trainer.run()
        if configuration.holdoutCases.isEmpty {
            print(String(format: "%@: %d steps in %.0f s; no hold-out cases, so no validation and no best/; weights in %@/final",
                         configuration.model, outcome.steps, outcome.seconds, runDirectory))
        } else {
            print(String(format: "%@: %d steps in %.0f s; best hold-out mean Dice %.3f; weights in %@/best and %@/final",
                         configuration.model, outcome.steps, outcome.seconds, outcome.bestScore, runDirectory, runDirectory))
        }
    }
}
