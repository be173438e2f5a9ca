import Core
import Foundation

/// Trains one model (`brainseg train`): seeded patch sampling with augmentation and a
/// background prefetch, the model's objective, Adam/SGD with linear warm-up and cosine decay,
/// atomic checkpoints every few minutes and at the end, validation Dice on the hold-out cases
/// at each checkpoint with the best weights kept, a JSON-lines log, progress on stderr.
///
/// With `weightAverageDecay` the run keeps an exponential moving average of the weights
/// (`WeightAverage`); validation, `best/` and `final/` use it.
///
/// Determinism: everything random in step s (case, patch centre, augmentation, dropout) comes
/// from a stream seeded by (seed, s), and the checkpoint holds weights and optimiser state
/// exactly, so a run resumed after `kill -9` produces the same weights as an uninterrupted
/// one with the same seed and thread count.
///
/// Run folder: `config.json`, `checkpoint.safetensors`, `log.jsonl`, `best/` (only with hold-out
/// cases) and `final/` (model folders: `weights.safetensors` + `model.json`).
public final class Trainer {
    public let configuration: TrainingConfiguration
    public let runDirectory: String
    public let model: SegmentationModel
    private let optimizer: Optimizer
    private var training: [PreparedCase] = []
    private var tumourCentres: [TumourCentres] = []
    private var pseudoLabelled: [Bool] = []
    private let caseSampler: CaseSampler
    private var holdout: [MultimodalCase] = []
    private let report: (String) -> Void
    private let patchSize: [Int]

    /// Results of `run()`.
    public struct Outcome: Sendable {
        public var steps: Int
        public var seconds: Double
        public var bestScore: Double
        public var bestDice: ModelCard.Dice?
    }

    /// Prepares a run in `runDirectory` (created, or resumed when it holds a checkpoint; a
    /// resumed run must have the same configuration). `report` receives progress lines.
    public init(configuration: TrainingConfiguration, runDirectory: String, report: @escaping (String) -> Void) throws {
        let manager = FileManager.default
        try manager.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
        let configPath = "\(runDirectory)/config.json"
        if manager.fileExists(atPath: configPath) {
            let stored = try JSONDecoder().decode(TrainingConfiguration.self, from: Data(contentsOf: URL(fileURLWithPath: configPath)))
            var comparable = stored
            comparable.budgetSeconds = configuration.budgetSeconds
            comparable.command = configuration.command
            guard comparable == configuration else {
                throw TrainingError("\(runDirectory) holds a run with a different configuration; resume it with the same options or choose another --out")
            }
        }
        self.configuration = configuration
        self.runDirectory = runDirectory
        self.report = report
        guard configuration.precision?.isTrainable ?? true else {
            throw TrainingError("precision \(configuration.precision!.rawValue) is for inference only; training runs in fp32 or bf16")
        }
        caseSampler = try CaseSampler(count: configuration.trainingCases.count, weights: configuration.caseWeights)
        guard let model = Self.makeModel(configuration) else { throw ModelRegistry.UnknownModel(name: configuration.model) }
        self.model = model
        patchSize = configuration.patchSize ?? TrainingConfiguration.defaultPatchSize(for: model)
        guard patchSize.allSatisfy({ $0 % model.plan.sizeMultiple == 0 }) else {
            throw TrainingError("patch \(patchSize) is not a multiple of \(model.plan.sizeMultiple) for \(model.name)")
        }
        optimizer = Self.makeOptimizer(model, configuration)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write([UInt8](try encoder.encode(configuration)), to: configPath)
    }

    static func makeModel(_ configuration: TrainingConfiguration) -> SegmentationModel? {
        if configuration.model == "resunet-vae" {
            let patch = configuration.patchSize ?? [64, 64, 64]
            return ResUNetVAEModel(profile: configuration.profile, vaePatchSize: patch, seed: configuration.seed)
        }
        return ModelRegistry.make(configuration.model, profile: configuration.profile, seed: configuration.seed)
    }

    static func makeOptimizer(_ model: SegmentationModel, _ configuration: TrainingConfiguration) -> Optimizer {
        // Training-only parameters (the VAE) train too.
        let parameters = (model as? ResUNetVAEModel)?.network.parameters ?? model.parameters
        var choice = model.defaultOptimizer
        switch (configuration.optimizer, choice) {
        case ("adam"?, .sgd(let rate, _, let decay)): choice = .adam(learningRate: rate / 10, weightDecay: decay)
        case ("sgd"?, .adam(let rate, let decay)): choice = .sgd(learningRate: rate * 10, momentum: 0.9, weightDecay: decay)
        default: break
        }
        switch choice {
        case .adam(let rate, let decay):
            return Adam(parameters: parameters, learningRate: configuration.learningRate ?? rate,
                        weightDecay: configuration.weightDecay ?? decay, decoupledWeightDecay: true)
        case .sgd(let rate, let momentum, let decay):
            return SGD(parameters: parameters, learningRate: configuration.learningRate ?? rate, momentum: momentum,
                       weightDecay: configuration.weightDecay ?? decay)
        }
    }

    /// Loads (or prepares and caches) the training and hold-out cases.
    public func loadData() throws {
        for directory in configuration.trainingCases {
            let files = try CaseFiles.find(in: directory)
            guard files.segmentation != nil else { throw TrainingError("\(directory) has no segmentation; training needs labelled cases") }
            let prepared = try PreparedCase.cached(files, plan: model.plan, cache: configuration.cacheDirectory,
                                                   softTargets: (configuration.softTargetWeight ?? 0) > 0 || configuration.maskingConfidence != nil)
            training.append(prepared)
            pseudoLabelled.append(configuration.pseudoLabelledCases?.contains(directory) ?? false)
            tumourCentres.append(TumourCentres(labels: prepared.labels, classBalanced: configuration.classBalancedCentres ?? false))
        }
        holdout = try configuration.holdoutCases.map { try MultimodalCase.load(try CaseFiles.find(in: $0)) }
        report("data: \(training.count) training case(s), \(holdout.count) hold-out case(s), patch \(patchSize.map(String.init).joined(separator: "×"))")
    }

    /// The sample of step `step`: deterministic in (seed, step).
    func batch(forStep step: Int) -> TrainingPatch {
        var random = SeededRandom(seed: configuration.seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(step))
        let index = caseSampler.draw(&random)
        let source = training[index]
        let centre = PatchSampler.centre(in: source, tumour: tumourCentres[index], size: patchSize,
                                         tumourProbability: configuration.tumourProbability, random: &random)
        let draw = configuration.augmentation.draw(&random)
        var patch = PatchSampler.extract(source, centre: centre, size: patchSize, draw: draw)
        patch.isPseudoLabelled = pseudoLabelled[index]
        return patch
    }

    func schedule(totalSteps: Int) -> LearningRateSchedule {
        let base = optimizerBaseRate
        return .warmupCosine(peakRate: base, warmupSteps: min(configuration.warmupSteps, max(1, totalSteps / 10)),
                             totalSteps: totalSteps, minimumRate: base * configuration.finalLearningRateFraction)
    }

    private lazy var optimizerBaseRate: Float = optimizer.learningRate

    /// Trains to the planned step count (resuming from the checkpoint when present).
    /// `stoppingAfter` ends the session early after that many steps without writing `final/`
    /// (tests use it to simulate an interruption right after a checkpoint).
    public func run(stoppingAfter sessionSteps: Int? = nil) throws -> Outcome {
        Parallel.threadCount = configuration.threads
        let start = Date()
        _ = optimizerBaseRate
        var checkpoint = try TrainingCheckpoint.read(from: runDirectory, model: model, optimizer: optimizer)
        if checkpoint == nil, let initial = configuration.initialWeights {
            try loadInitialWeights(initial)
        }
        let average = try configuration.weightAverageDecay.map { decay in
            let average = WeightAverage(decay: decay, parameters: model.parameters)
            if let checkpoint { try average.load(checkpoint.averageState, parameters: model.parameters) }
            return average
        }
        /// Validation and saved models see the average when the run keeps one.
        func kept<Result>(_ body: () throws -> Result) rethrows -> Result {
            guard let average else { return try body() }
            return try average.withAveragedWeights(model.parameters, body)
        }
        var step = checkpoint?.step ?? 0
        var totalSteps = checkpoint?.totalSteps ?? configuration.steps ?? 0
        var bestScore = checkpoint?.bestScore ?? -1
        let previousSeconds = checkpoint?.elapsedSeconds ?? 0
        try TrainingLog.truncate(in: runDirectory, after: step)
        if step > 0 { report("resuming at step \(step) of \(totalSteps)") }
        if configuration.precision == .bfloat16 { report(BFloat16Choice.current.reason) }
        var lastCheckpoint = Date()
        var stepSeconds: [Double] = []
        let prefetch = Prefetcher { [unowned self] s in self.batch(forStep: s) }
        prefetch.request(step)
        var bestDice: ModelCard.Dice?
        let firstStep = step
        // Every step has the same tensors (this model, patches of one size), so the pool plans
        // them once; the key keeps another training in the same process off this plan.
        let stepKey = "training step: \(model.name), patch \(patchSize)"
        while (totalSteps == 0 || step < totalSteps) && step < (configuration.stopAfterStep ?? .max) {
            if let sessionSteps, step - firstStep >= sessionSteps {
                prefetch.finish()
                return Outcome(steps: step, seconds: previousSeconds + Date().timeIntervalSince(start), bestScore: bestScore, bestDice: bestDice)
            }
            let stepStart = Date()
            let patch = prefetch.take()
            prefetch.request(step + 1)
            let plannedTotal = totalSteps == 0 ? 1_000_000 : totalSteps
            optimizer.learningRate = schedule(totalSteps: plannedTotal).learningRate(atStep: step)
            let (loss, terms) = BufferPool.shared.repeatingStep(stepKey) {
                let tape = Tape()
                let context = ForwardContext(tape: tape, isTraining: true,
                                             random: SeededRandom(seed: configuration.seed &+ 0x5851_F42D &+ UInt64(step)),
                                             convolution: trainingConvolution)
                let (loss, terms) = TrainingObjective.loss(model, patch: patch, softTargetWeight: configuration.softTargetWeight ?? 0,
                                                           pseudoLabelConfidence: configuration.maskingConfidence ?? 0, context: context)
                optimizer.zeroGradients()
                tape.backward(loss)
                optimizer.step()
                return (loss, terms)
            }
            step += 1
            average?.update(model.parameters, step: step)
            let seconds = Date().timeIntervalSince(stepStart)
            stepSeconds.append(seconds)
            if totalSteps == 0 || firstStep == 0, stepSeconds.count == 3, let budget = configuration.budgetSeconds {
                // Plan the step count from the measured pace (recorded in every checkpoint, so a
                // resumed run keeps it): as many steps as fit, or the fixed count if that fits.
                // A fixed count is capped in a fresh run only, so a resume never reshapes it.
                let pace = stepSeconds.sorted()[1]
                let fitting = max(step + 1, Int((budget - previousSeconds - Date().timeIntervalSince(start)) / (pace * 1.05)) + step)
                let paced = String(format: "%.2f", pace)
                if totalSteps == 0 {
                    totalSteps = fitting
                    report("planned \(totalSteps) steps at \(paced) s/step for the budget")
                } else if fitting < totalSteps {
                    report("the budget fits \(fitting) of the \(totalSteps) steps at \(paced) s/step: planned \(fitting)")
                    totalSteps = fitting
                }
            }
            var entry: [String: Any] = ["step": step, "loss": Double(loss.value[flat: 0]), "lr": Double(optimizer.learningRate),
                                        "seconds_per_step": seconds]
            for (key, value) in terms { entry[key] = value }
            try TrainingLog.append(entry, in: runDirectory)
            progress(step: step, total: totalSteps, loss: Double(loss.value[flat: 0]), pace: seconds,
                     elapsed: previousSeconds + Date().timeIntervalSince(start))
            let finished = (totalSteps > 0 && step >= totalSteps) || step == configuration.stopAfterStep
            if finished || Date().timeIntervalSince(lastCheckpoint) >= configuration.checkpointIntervalSeconds {
                let (score, dice) = try kept { try validate(step: step) }
                // Without hold-out cases there is nothing to choose by: no best/.
                if !holdout.isEmpty, score > bestScore || !FileManager.default.fileExists(atPath: "\(runDirectory)/best/model.json") {
                    bestScore = score
                    bestDice = dice
                    try kept { try saveModel(to: "\(runDirectory)/best", steps: step, seconds: previousSeconds + Date().timeIntervalSince(start), dice: dice) }
                }
                checkpoint = TrainingCheckpoint(step: step, totalSteps: totalSteps,
                                                elapsedSeconds: previousSeconds + Date().timeIntervalSince(start), bestScore: bestScore)
                try checkpoint!.write(model: model, optimizer: optimizer, average: average, to: runDirectory)
                lastCheckpoint = Date()
            }
        }
        prefetch.finish()
        let elapsed = previousSeconds + Date().timeIntervalSince(start)
        try kept { try saveModel(to: "\(runDirectory)/final", steps: step, seconds: elapsed, dice: nil) }
        return Outcome(steps: step, seconds: elapsed, bestScore: bestScore, bestDice: bestDice)
    }

    /// Mean Dice over WT/TC/ET on the hold-out cases (the full pipeline, full resolution).
    func validate(step: Int) throws -> (Double, ModelCard.Dice?) {
        guard !holdout.isEmpty else { return (-1, nil) }
        let dice = HoldoutEvaluation.evaluate(model, on: holdout).mean
        try TrainingLog.append(["step": step, "validation": ["WT": dice.wholeTumour, "TC": dice.tumourCore, "ET": dice.enhancingTumour,
                                                             "mean": dice.mean]], in: runDirectory)
        report(String(format: "step %d: hold-out Dice WT %.3f TC %.3f ET %.3f (mean %.3f)", step, dice.wholeTumour, dice.tumourCore,
                      dice.enhancingTumour, dice.mean))
        return (dice.mean, dice)
    }

    func loadInitialWeights(_ path: String) throws {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)  // a missing path fails in the load below
        let file = isDirectory.boolValue ? "\(path)/weights.safetensors" : path
        _ = try WeightStore.load(file, into: model.parameters, ignoring: model.ignorableWeightNames)
        report("initialised from \(file)")
    }

    func saveModel(to directory: String, steps: Int, seconds: Double, dice: ModelCard.Dice?) throws {
        let card = ModelCard(
            name: model.name, version: "1", profile: model.profile, role: model.role,
            architecture: model.architecture, parameterCount: model.parameterCount,
            trainingData: configuration.trainingCases.map { URL(fileURLWithPath: $0).lastPathComponent },
            holdout: configuration.holdoutCases.map { URL(fileURLWithPath: $0).lastPathComponent },
            command: configuration.command, seed: configuration.seed, steps: steps, wallTimeSeconds: seconds,
            validationDice: dice)
        try ModelStore.save(model, card: card, to: directory)
    }

    private var lastProgressLine = Date.distantPast

    func progress(step: Int, total: Int, loss: Double, pace: Double, elapsed: Double) {
        let terminal = isatty(2) == 1
        guard terminal || Date().timeIntervalSince(lastProgressLine) >= 60 || step == total else { return }
        lastProgressLine = Date()
        let remaining = total > 0 ? Double(total - step) * pace : 0
        let eta = total > 0 ? String(format: "ETA %dm%02ds", Int(remaining) / 60, Int(remaining) % 60) : "planning"
        if terminal {
            let width = 30
            let filled = total > 0 ? min(width, width * step / total) : 0
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            let line = String(format: "\r[%@] %d/%d loss %.4f %.2f s/step %@ ", bar, step, total, loss, pace, eta)
            FileHandle.standardError.write(Data(line.utf8))
            if step == total { FileHandle.standardError.write(Data("\n".utf8)) }
        } else {
            report(String(format: "step %d/%d loss %.4f %.2f s/step elapsed %.0f s %@", step, total, loss, pace, elapsed, eta))
        }
    }
}

/// A training error with a message an operator can act on.
public struct TrainingError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Trainer {
    /// The training steps' convolutions: `TrainingConfiguration.precision`, except that bfloat16
    /// falls back to float32 where it is not native or not faster (`BFloat16Choice.current`).
    var trainingConvolution: ConvolutionTuning {
        ConvolutionTuning.default.with(precision: BFloat16Choice.effective(configuration.precision ?? .float32))
    }
}
