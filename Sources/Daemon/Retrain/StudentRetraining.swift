import Core
import Foundation
import Logging
import Plugins

/// `brainseg retrain` (SPEC.md §5): fine-tunes the student in service on the labelled training
/// cases plus the distillation pool, judges the candidate against the current student on the
/// frozen hold-out, and promotes it only through the `PromotionGate`.
///
/// Steps: take the retrain lock (`ProcessLock`); delete unfinished runs of earlier (killed) retrains
/// and the weights of all but the last ten finished ones; freeze a
/// `RetrainManifest`; train from `models/student/current` (`train --init`) within the budget
/// (or take a given candidate folder); evaluate both versions on the hold-out; write
/// `decision.json`; promote (new version folder, atomic `current` switch, old versions pruned) or
/// reject; record ledger events and journal events at every step.
///
/// Safety: nothing under `models/` or `pool/` is written before the decision, the promotion is
/// an atomic rename + link switch, and the lock dies with its process. A retrain killed at any
/// point leaves the student in service untouched and the next run starts cleanly.
public final class StudentRetraining {
    public struct Options: Sendable {
        public var budgetSeconds: Double?
        public var steps: Int?
        public var labelled: [String]?
        public var holdout: [String]?
        /// Evaluate this model folder instead of training one (an imported or hand-made candidate).
        public var candidate: String?
        public var seed: UInt64?
        public init() {}
    }

    public struct Outcome: Sendable {
        public var decision: RetrainDecision
        public var runDirectory: String
    }

    let configuration: DaemonConfiguration
    let layout: RootLayout
    let options: Options
    let logger: Logger
    let report: (String) -> Void
    static let modelName = ModelRegistry.studentName

    public init(configuration: DaemonConfiguration, options: Options, logger: Logger, report: @escaping (String) -> Void) {
        self.configuration = configuration
        self.layout = RootLayout(root: configuration.root)
        self.options = options
        self.logger = logger
        self.report = report
    }

    var retrainFolder: String { "\(layout.root)/retrain" }

    /// How long the candidate trains (`TrainingConfiguration.steps` and `.budgetSeconds`):
    /// `--steps` replaces the recipe's steps and its budget; `--budget` replaces the budget, which
    /// caps the recipe's steps (or, with `steps = 0`, sets them).
    static func length(options: Options, settings: RetrainSettings) -> (steps: Int?, budgetSeconds: Double?) {
        if let steps = options.steps { return (steps, nil) }
        return (settings.steps, options.budgetSeconds ?? settings.budgetSeconds)
    }

    public func run() throws -> Outcome {
        try RootAdoption.check(layout)
        let lock = try ProcessLock(path: "\(retrainFolder)/lock", holder: "retrain")
        defer { withExtendedLifetime(lock) {} }
        let ledger = try Ledger(path: layout.ledger)
        recordInterruptedPromotion(ledger)
        removeUnfinishedRuns()
        ConvolutionKernelCheck.warnIfUnavailable(logger, work: "training", unit: "brainseg-retrain.service")
        ConvolutionKernelCheck.reportWinograd(logger)
        ConvolutionKernelCheck.reportReducedPrecision(logger, precision: [Self.modelName: configuration.precision[Self.modelName] ?? .float32])
        let versions = ModelVersions(name: Self.modelName, layout: layout)
        guard let startingVersion = versions.current else {
            throw TrainingError("no student in service: \(layout.models)/student/current is missing (start `brainseg serve` once, or install a model)")
        }
        let currentFolder = "\(layout.models)/student/\(startingVersion)"
        let runName = Self.runName()
        let runDirectory = "\(retrainFolder)/\(runName)"
        try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
        let manifest = try freezeManifest(run: runName, startingVersion: startingVersion)
        try write(manifest, to: "\(runDirectory)/manifest.json")
        report("retrain \(runName): student v\(startingVersion), \(manifest.labelledCases.count) labelled + \(manifest.pool.count) pool case(s) (pool weight \(configuration.retrain.poolWeight)), hold-out \(manifest.holdoutCases.count)")
        _ = try ledger.recordModelEvent(name: Self.modelName, version: startingVersion, kind: .retrainStarted,
                                        detailJSON: Self.json(["run": runName, "labelled": manifest.labelledCases.count, "pool": manifest.pool.count]))
        logger.log(.retrainStarted, "retrain \(runName) started from student v\(startingVersion): \(manifest.labelledCases.count) labelled + \(manifest.pool.count) pool cases (pool weight \(configuration.retrain.poolWeight))",
                   fields: [.model: Self.modelName, .modelVersion: startingVersion])

        // From here on a failure is recorded as the run's end, so that the ledger, `status` and the
        // journal never show a retrain that started and did not finish.
        do {
            // The candidate.
            let candidateFolder: String
            var steps = 0, seconds = 0.0
            if let given = options.candidate {
                candidateFolder = "\(runDirectory)/candidate"
                try FileManager.default.createDirectory(atPath: candidateFolder, withIntermediateDirectories: true)
                for file in ["weights.safetensors", "model.json"] {
                    try FileManager.default.copyItem(atPath: "\(given)/\(file)", toPath: "\(candidateFolder)/\(file)")
                }
                report("candidate: \(given) (no training)")
            } else {
                let poolWeight = configuration.retrain.poolWeight
                let trainedEntries = trainedPool(manifest)
                let poolCases = trainedEntries.map { "\(layout.pool)/\($0.caseIdentifier)" }
                let trainingCases = manifest.labelledCases + poolCases
                let length = Self.length(options: options, settings: configuration.retrain)
                var training = TrainingConfiguration(model: Self.modelName, profile: configuration.profile, trainingCases: trainingCases,
                                                     holdoutCases: [], steps: length.steps, budgetSeconds: length.budgetSeconds,
                                                     seed: options.seed ?? UInt64(versions.numbers.max() ?? 1),
                                                     command: "brainseg retrain (run \(runName), from student v\(startingVersion))")
                if poolWeight != 1, !trainedEntries.isEmpty {
                    training.caseWeights = manifest.labelledCases.map { _ in 1 }
                        + trainedEntries.map { $0.kind == .expertLabelled ? 1 : Float(poolWeight) }
                }
                training.learningRate = Float(configuration.retrain.learningRate)
                training.warmupSteps = configuration.retrain.warmupSteps
                training.threads = configuration.retrain.threads
                training.precision = configuration.retrain.precision == .float32 ? nil : configuration.retrain.precision
                training.softTargetWeight = configuration.retrain.softTargetWeight > 0 ? Float(configuration.retrain.softTargetWeight) : nil
                training.pseudoLabelConfidence = TrainingConfiguration.maskingConfidence(Float(configuration.retrain.pseudoLabelConfidence))
                training.pseudoLabelledCases = trainedEntries.filter { $0.kind == .pseudoLabelled }.map { "\(layout.pool)/\($0.caseIdentifier)" }
                training.weightAverageDecay = configuration.retrain.weightAverageDecay.map(Float.init)
                training.initialWeights = currentFolder
                training.cacheDirectory = "\(retrainFolder)/cache"
                training.checkpointIntervalSeconds = 300
                let trainer = try Trainer(configuration: training, runDirectory: "\(runDirectory)/training", report: report)
                try trainer.loadData()
                let outcome = try trainer.run()
                steps = outcome.steps
                seconds = outcome.seconds
                candidateFolder = "\(runDirectory)/training/final"
                try? FileManager.default.removeItem(atPath: "\(runDirectory)/training/checkpoint.safetensors")
            }

            // The gate, on the frozen hold-out.
            report("evaluating student v\(startingVersion) and the candidate on \(manifest.holdoutCases.count) hold-out case(s)")
            let holdout = try manifest.holdoutCases.map { try MultimodalCase.load(try CaseFiles.find(in: $0)) }
            let (currentModel, _) = try ModelStore.load(directory: currentFolder)
            let (candidateModel, _) = try ModelStore.load(directory: candidateFolder)
            guard candidateModel.name == Self.modelName else {
                throw TrainingError("the candidate \(candidateFolder) is a \(candidateModel.name) model, not a student")
            }
            guard candidateModel.profile == currentModel.profile else {
                throw TrainingError("the candidate's profile \(candidateModel.profile.rawValue) differs from the student in service (\(currentModel.profile.rawValue))")
            }
            let metric = configuration.retrain.metric
            // Both at the precision the student serves at, so the gate judges the model in service.
            let precision = configuration.precision[Self.modelName] ?? .float32
            let currentScores = HoldoutEvaluation.evaluate(currentModel, on: holdout, metric: metric, precision: precision)
            let candidateScores = HoldoutEvaluation.evaluate(candidateModel, on: holdout, metric: metric, precision: precision)
            let gate = PromotionGate(epsilon: configuration.retrain.epsilon, delta: configuration.retrain.delta, metric: metric)
            let verdict = gate.decide(current: currentScores.mean, candidate: candidateScores.mean)

            var promotedVersion: String?
            if verdict.promote {
                let notes = "retrained by brainseg retrain run \(runName) from student v\(startingVersion) on \(manifest.labelledCases.count) labelled + \(trainedPool(manifest).count) pool cases; hold-out Dice \(Self.format(candidateScores.mean)) vs v\(startingVersion) \(Self.format(currentScores.mean))"
                try updateCandidateCard(candidateFolder, holdout: candidateScores.mean, manifest: manifest, steps: steps, seconds: seconds)
                promotedVersion = try versions.promote(from: candidateFolder, notes: notes)
            }
            let decision = RetrainDecision(run: runName, finishedAt: Date(), startingVersion: startingVersion,
                                           current: Self.scores(currentScores), candidate: Self.scores(candidateScores), gate: gate,
                                           promoted: verdict.promote, promotedVersion: promotedVersion, reasons: verdict.reasons,
                                           trainingSteps: steps, trainingSeconds: seconds)
            try write(decision, to: "\(runDirectory)/decision.json")
            let detail = String(decoding: try ReadableJSON.encoder.encode(decision), as: UTF8.self)
            if let promotedVersion {
                _ = try ledger.recordModelEvent(name: Self.modelName, version: promotedVersion, kind: .promoted, detailJSON: detail)
                logger.log(.promotionAccepted, "student v\(promotedVersion) promoted (was v\(startingVersion)): \(verdict.reasons.joined(separator: "; "))",
                           fields: [.model: Self.modelName, .modelVersion: promotedVersion,
                                    .diceWholeTumour: Self.format(candidateScores.mean.wholeTumour), .diceTumourCore: Self.format(candidateScores.mean.tumourCore),
                                    .diceEnhancingTumour: Self.format(candidateScores.mean.enhancingTumour)])
                for removed in versions.prune(keep: configuration.retrain.keepVersions) {
                    report("removed student v\(removed) (keeping \(configuration.retrain.keepVersions) versions)")
                }
            } else {
                _ = try ledger.recordModelEvent(name: Self.modelName, version: startingVersion, kind: .rejected, detailJSON: detail)
                logger.log(.promotionRejected, "candidate of retrain \(runName) rejected; student v\(startingVersion) stays: \(verdict.reasons.joined(separator: "; "))",
                           fields: [.model: Self.modelName, .modelVersion: startingVersion, .reason: verdict.reasons.joined(separator: "; ")])
            }
            _ = try ledger.recordModelEvent(name: Self.modelName, version: promotedVersion ?? startingVersion, kind: .retrainFinished, detailJSON: detail)
            logger.log(.retrainFinished, "retrain \(runName) finished: \(verdict.promote ? "promoted v\(promotedVersion!)" : "rejected")",
                       fields: [.model: Self.modelName, .modelVersion: promotedVersion ?? startingVersion, .durationMilliseconds: Int(seconds * 1000)])
            return Outcome(decision: decision, runDirectory: runDirectory)
        } catch {
            let reason = "\(error)"
            _ = try? ledger.recordModelEvent(name: Self.modelName, version: startingVersion, kind: .retrainFinished,
                                             detailJSON: Self.json(["run": runName, "failed": reason]))
            logger.log(.retrainFinished, "retrain \(runName) failed: \(reason); student v\(startingVersion) stays in service",
                       fields: [.model: Self.modelName, .modelVersion: startingVersion, .reason: reason], level: .error)
            throw error
        }
    }

    // MARK: - Inputs

    func freezeManifest(run: String, startingVersion: String) throws -> RetrainManifest {
        let holdoutNames = options.holdout ?? configuration.retrain.holdout
        let labelledRoots = (options.labelled ?? configuration.retrain.labelled).map { $0.hasPrefix("/") ? $0 : "\(layout.root)/\($0)" }
        var labelled = labelledRoots.flatMap(TrainingConfiguration.caseFolders)
        let pool = DistillationPool(directory: layout.pool, maximumEntries: configuration.pool.maximumEntries)
        let entries = pool.entries()
        // Hold-out cases come from the labelled folders, or from expert-labelled pool entries.
        var holdout: [String] = []
        for name in holdoutNames {
            if let folder = labelled.first(where: { URL(fileURLWithPath: $0).lastPathComponent == name }) {
                holdout.append(folder)
            } else if entries.contains(where: { $0.caseIdentifier == name && $0.kind == .expertLabelled }) {
                holdout.append("\(layout.pool)/\(name)")
            } else {
                throw TrainingError("hold-out case \(name) not found in \(labelledRoots.joined(separator: ", ")) or among expert-labelled pool entries (set [training] holdout/labelled or --holdout/--labelled)")
            }
        }
        labelled.removeAll { holdoutNames.contains(URL(fileURLWithPath: $0).lastPathComponent) }
        labelled = labelled.filter { folder in (try? CaseFiles.find(in: folder))?.segmentation != nil }
        // The hold-out by content too: its scans re-sent under another name (a new accession
        // number) reached the pool as an expert-labelled entry and were trained on, and the gate
        // then judged the candidate on cases it had learned.
        let holdoutScans = try Self.scanDigests(of: holdout)
        labelled.removeAll { folder in !holdoutScans.isDisjoint(with: (try? Self.scanDigests(of: [folder])) ?? []) }
        let isHoldout = { (entry: PoolEntry) in
            holdoutNames.contains(entry.caseIdentifier) || !holdoutScans.isDisjoint(with: entry.contentHash.split(separator: ":").map(String.init))
        }
        let excluded = entries.filter(isHoldout).map(\.caseIdentifier)
        // A damaged entry (a truncated scan, a missing label) would stop the whole run at
        // loading; it is left out and named instead.
        var unusable: [String: String] = [:]
        for entry in entries where !isHoldout(entry) {
            do {
                _ = try MultimodalCase.load(try CaseFiles.find(in: "\(layout.pool)/\(entry.caseIdentifier)"))
            } catch {
                unusable[entry.caseIdentifier] = "\(error)"
                report("pool entry \(entry.caseIdentifier) is left out of this retrain: \(error)")
                logger.warning("retrain \(run): pool entry \(entry.caseIdentifier) is damaged and left out: \(error)",
                               metadata: ["CASE_ID": "\(entry.caseIdentifier)"])
            }
        }
        let items = entries.filter { !isHoldout($0) && unusable[$0.caseIdentifier] == nil }.map {
            RetrainManifest.PoolItem(caseIdentifier: $0.caseIdentifier, kind: $0.kind, contentHash: $0.contentHash, score: $0.confidence.score)
        }
        guard !labelled.isEmpty || !items.isEmpty else { throw TrainingError("nothing to train on: no labelled cases and an empty pool") }
        return RetrainManifest(run: run, createdAt: Date(), startingVersion: startingVersion, labelledCases: labelled, holdoutCases: holdout,
                               pool: items, excludedPoolEntries: excluded, unusablePoolEntries: unusable.isEmpty ? nil : unusable)
    }

    /// SHA-256 (hex) of every scan (the four modalities) of the cases in `folders`: the same
    /// digests a pool entry's `contentHash` joins.
    static func scanDigests(of folders: [String]) throws -> Set<String> {
        var digests: Set<String> = []
        for folder in folders {
            for path in try CaseFiles.find(in: folder).modalities { digests.insert(ContentHash.hex(try ContentHash.digestOfFile(path).0)) }
        }
        return digests
    }

    /// Runs without `decision.json` were interrupted: their partial training is discarded.
    /// A retrain killed after switching `current` and before writing its decision leaves the new
    /// student in service with no promotion in the ledger or the journal (and its run folder,
    /// unfinished, is removed next). The version's card names its run (`promote`'s notes): the
    /// promotion is recorded now, marked as recovered.
    func recordInterruptedPromotion(_ ledger: Ledger) {
        let versions = ModelVersions(name: Self.modelName, layout: layout)
        guard let current = versions.current, let card = versions.list().first(where: { $0.version == current })?.card,
              let match = card.notes.firstMatch(of: /retrain run (run-[^ ]+)/) else { return }
        let run = String(match.1)
        guard !FileManager.default.fileExists(atPath: "\(retrainFolder)/\(run)/decision.json"),
              let promotions = try? ledger.modelEvents(kind: .promoted, limit: 10_000),
              !promotions.contains(where: { $0.name == Self.modelName && $0.version == current }) else { return }
        let note = "retrain \(run) was interrupted after it put student v\(current) in service and before it recorded that; recorded by the next retrain"
        _ = try? ledger.recordModelEvent(name: Self.modelName, version: current, kind: .promoted,
                                         detailJSON: Self.json(["run": run, "recovered": note]))
        logger.log(.promotionAccepted, "student v\(current) promoted (\(note))",
                   fields: [.model: Self.modelName, .modelVersion: current], level: .warning)
        report(note)
    }

    /// Finished runs beyond the newest `runsKeptWhole` keep only their manifest and decision:
    /// their training folder (a candidate's weights, about 18 MB) goes, so that a year of
    /// nights does not fill the disk, while every night's record stays.
    func removeUnfinishedRuns() {
        let manager = FileManager.default
        var finished: [String] = []
        for name in ((try? manager.contentsOfDirectory(atPath: retrainFolder)) ?? []).sorted() where name.hasPrefix("run-") {
            let folder = "\(retrainFolder)/\(name)"
            if !manager.fileExists(atPath: "\(folder)/decision.json") {
                try? manager.removeItem(atPath: folder)
                report("removed the unfinished run \(name) (interrupted earlier)")
            } else {
                finished.append(folder)
            }
        }
        for folder in finished.dropLast(Self.runsKeptWhole) where manager.fileExists(atPath: "\(folder)/training") {
            try? manager.removeItem(atPath: "\(folder)/training")
        }
    }

    /// How many finished runs keep their training folder (the candidate's weights and log).
    static let runsKeptWhole = 10

    func updateCandidateCard(_ folder: String, holdout: ModelCard.Dice, manifest: RetrainManifest, steps: Int, seconds: Double) throws {
        let path = "\(folder)/model.json"
        guard let data = FileManager.default.contents(atPath: path) else { return }
        var card = try JSONDecoder().decode(ModelCard.self, from: data)
        card.validationDice = holdout
        card.holdout = manifest.holdoutCases.map { URL(fileURLWithPath: $0).lastPathComponent }
        if steps > 0 {
            card.steps = steps
            card.wallTimeSeconds = seconds
            card.trainingData = manifest.labelledCases.map { URL(fileURLWithPath: $0).lastPathComponent } + trainedPool(manifest).map { "pool/\($0.caseIdentifier)" }
        }
        try AtomicFile.write([UInt8](try card.encoded()), to: path)
    }

    // MARK: - Helpers

    /// The frozen pool entries the candidate trains on: all of them, or at `pool_weight = 0` only
    /// the expert-labelled ones (they count as labelled cases).
    func trainedPool(_ manifest: RetrainManifest) -> [RetrainManifest.PoolItem] {
        configuration.retrain.poolWeight > 0 ? manifest.pool : manifest.pool.filter { $0.kind == .expertLabelled }
    }

    static func runName() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return "run-\(formatter.string(from: Date()))-\(getpid())"
    }

    func write<T: Encodable>(_ value: T, to path: String) throws {
        try AtomicFile.write([UInt8](try ReadableJSON.encoder.encode(value)), to: path)
    }

    static func json(_ object: [String: Any]) -> String? {
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) }
    }

    static func scores(_ evaluation: HoldoutEvaluation) -> HoldoutScores {
        func table(_ dice: ModelCard.Dice) -> [String: Double] {
            ["WT": dice.wholeTumour, "TC": dice.tumourCore, "ET": dice.enhancingTumour, "mean": dice.mean]
        }
        return HoldoutScores(mean: table(evaluation.mean),
                             cases: Dictionary(uniqueKeysWithValues: evaluation.cases.map { ($0.caseIdentifier, table($0.dice)) }))
    }

    static func format(_ dice: ModelCard.Dice) -> String {
        String(format: "WT %.3f TC %.3f ET %.3f", dice.wholeTumour, dice.tumourCore, dice.enhancingTumour)
    }

    static func format(_ value: Double) -> String { String(format: "%.4f", value) }
}
