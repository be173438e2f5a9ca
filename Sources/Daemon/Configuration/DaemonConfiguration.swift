import Core
import Foundation
import Plugins
import TOMLKit

/// The daemon's configuration: one TOML file (`/etc/brainseg/brainseg.toml` under systemd),
/// every key optional with an embedded default, validated at start: an unknown key, a value of
/// the wrong type or out of range is an error naming the file and the key. `systemd/brainseg.toml`
/// documents every key with its default.
public struct DaemonConfiguration: Sendable, Equatable {
    /// Root folder holding incoming/, work/, output/, failed/, archive/, pool/, models/, the ledger.
    public var root = RootLayout.defaultRoot

    // [models]
    /// Extra folder searched first for shipped models (see ModelInstaller's search order).
    public var modelsDirectory: String?
    public var profile: ModelProfile = .cpu
    /// Ensemble members whose average makes the mask.
    public var ensemble = ModelRegistry.defaultEnsembleNames
    /// Per-member ensemble weights (uniform when empty).
    public var ensembleWeights: [String: Double] = [:]
    /// Also run the student on every case and report its agreement with the ensemble.
    public var studentAlongside = true
    public var testTimeAugmentation = false
    /// Run a model without trained weights anywhere with random weights (`[models]
    /// allow_untrained`); off: such a model is a start-up error (`MissingModelWeights`).
    public var allowUntrainedModels = false
    /// `[models] max_memory_gb`: a case estimated to need more memory to segment is failed at
    /// once (`SegmentationMemory`) instead of meeting the out-of-memory killer.
    public var memoryBudgetBytes = SegmentationOptions().memoryBudgetBytes
    /// Convolution arithmetic of every model (`[models.precision]`). The default is the fastest
    /// reduced precision whose equivalence check on the real labelled cases passed for that
    /// model: int8 (`int8Checked`), else bfloat16 (`bfloat16Checked`), else float32. Each falls
    /// back where this CPU lacks it or it does not pay off (`ComputePrecision.onThisMachine`).
    public var precision: [String: ComputePrecision] = Dictionary(uniqueKeysWithValues: ModelRegistry.names.map { name in
        (name, DaemonConfiguration.int8Checked.contains(name) ? .int8 : DaemonConfiguration.bfloat16Checked.contains(name) ? .bfloat16 : .float32)
    })

    /// Models whose int8 equivalence check passed with their shipped weights (the same rule as
    /// `bfloat16Checked`; `Benchmarks/bf16-equivalence.py --precision int8`). Since the int8 input
    /// is unsigned with a zero point (2026-12-07, 85582ad) the three version-3 teachers pass,
    /// every mean gap ≤ 0.0008, and the pool's scores with the three in int8 moved by 0.0003
    /// with no admission changed (Benchmarks/results/2026-12-07-int8-equivalence-unsigned-*.md;
    /// with the signed input of before, unet's gap was 0.0152: …-signed-before.md). `student/2`
    /// moves one uncertain case by 0.046 Dice and its TC mean by 0.0031, above the 0.002
    /// allowed, so it stays on bf16.
    public static let int8Checked: Set<String> = ["unet", "resunet-vae", "cascade"]

    /// Models whose bf16 equivalence check passed: mean Dice per region within 0.002 of fp32
    /// on the 17 real labelled cases, and the pool's confidence scores within 0.002 with no
    /// admission changed (Benchmarks/bf16-equivalence.py; 2026-12-02 with the shipped models:
    /// every gap ≤ 0.0003, Benchmarks/results/2026-12-02-bf16-equivalence.md; unet v2:
    /// 2026-12-06-bf16-equivalence-unet-v2.md; the version-3 teachers, which trained on all 17
    /// cases: 2026-12-07-bf16-equivalence-teachers-v3.md, every gap ≤ 0.0001). On a CPU without
    /// native bfloat16 these run in float32 (`SegmentationOptions.memberPrecision`).
    public static let bfloat16Checked: Set<String> = ["unet", "resunet-vae", "cascade", "student"]

    // [watch]
    public var marker = "READY"
    public var quiescenceSeconds: Double = 30
    /// auto (inotify, polling on NFS/SMB), inotify, or poll.
    public var watchMode = WatchMode.automatic
    public var pollIntervalSeconds: Double = 10
    public var maximumCaseBytes: Int = 4 << 30
    public var maximumCaseFiles = 16
    /// A case still lacking a modality after this long (without its marker) is failed.
    public var incompleteTimeoutSeconds: Double = 3600

    // [processing]
    public var labels: LabelConvention = .brats2018
    /// Attempts of a case that fails transiently (I/O error, out of memory); storage faults
    /// are retried until repaired (`RetryPolicy.Class.storage`).
    public var maximumAttempts = 3
    public var retryBackoffSeconds: Double = 30
    /// A case during which the daemon died of a fatal signal this many times goes to failed/.
    public var maximumCrashes = 2
    /// A case during which the daemon was killed without a crash note (SIGKILL, out of memory)
    /// this many times goes to failed/. Higher than `maximumCrashes`: an operator's `kill -9`
    /// looks the same, and must not cost a good case.
    public var maximumUnexplainedDeaths = 5
    /// On SIGTERM, a case expected to finish within this many seconds is finished, else requeued.
    public var stopTimeoutSeconds: Double = 60
    /// Days processed inputs stay in archive/ (0 keeps them forever).
    public var archiveRetentionDays = 30
    /// After this many seconds without a case, the engine's buffers and free heap go back to
    /// the system (0 never): a daemon that waits most of the day should not hold 1 GB.
    public var idleMemoryReleaseSeconds: Double = 300
    /// `ensemble`: the teachers' mask is the result. `student-first`: the student's mask is
    /// written at once and replaced by the teachers' when the queue is idle.
    public var inferenceMode: InferenceMode = .ensemble

    // [pool]
    public var pool = PoolAdmissionPolicy()

    // [training]
    public var retrain = RetrainSettings()

    public init() {}

    /// How `incoming/` is watched: inotify where the file system supports it, else polling.
    public enum WatchMode: String, Sendable, Equatable {
        case automatic = "auto"
        case inotify
        case poll
    }

    public enum InferenceMode: String, Sendable, Equatable {
        case ensemble
        case studentFirst = "student-first"
    }

    /// A configuration problem, naming the file and key.
    public struct Problem: Error, CustomStringConvertible, Sendable {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// Reads `path`; nil means the embedded defaults.
    public static func load(path: String?) throws -> DaemonConfiguration {
        guard let path else { return DaemonConfiguration() }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Problem("\(path): cannot read the configuration file (missing, or no permission)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw Problem("\(path): not a TOML configuration (the file is not UTF-8 text)")
        }
        return try parse(text, source: path)
    }

    /// Reads `path` (nil: the embedded defaults) and applies a `--root` override.
    public static func load(path: String?, rootOverride: String?) throws -> DaemonConfiguration {
        var configuration = try load(path: path)
        if let rootOverride { configuration.root = rootOverride }
        return configuration
    }

    /// Parses TOML text (`source` names it in errors).
    public static func parse(_ text: String, source: String = "configuration") throws -> DaemonConfiguration {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw Problem("\(source): invalid TOML at line \(error.source.begin.line): \(error.description)")
        }
        var configuration = DaemonConfiguration()
        let reader = KeyReader(source: source)
        try reader.check(table, allowed: ["root", "models", "watch", "processing", "pool", "training"], prefix: "")
        if let value = try reader.string(table, "root") {
            guard !value.isEmpty else { throw Problem("\(source): root must name a folder (e.g. \"/var/lib/brainseg\"), not an empty string") }
            configuration.root = value
        }
        if let models = try reader.table(table, "models") {
            try reader.check(models, allowed: ["directory", "profile", "ensemble", "weights", "precision", "student_alongside", "test_time_augmentation", "allow_untrained", "max_memory_gb"], prefix: "models.")
            configuration.modelsDirectory = try reader.string(models, "directory", prefix: "models.")
            if let text = try reader.string(models, "profile", prefix: "models.") {
                guard let profile = ModelProfile(rawValue: text) else { throw Problem("\(source): models.profile must be \"cpu\" or \"paper\", not \"\(text)\"") }
                configuration.profile = profile
            }
            if let members = try reader.strings(models, "ensemble", prefix: "models.") {
                guard !members.isEmpty else { throw Problem("\(source): models.ensemble must name at least one model") }
                if let repeated = members.first(where: { name in members.filter { $0 == name }.count > 1 }) {
                    throw Problem("\(source): models.ensemble names \(repeated) twice; each model is a member once (use [models.weights] to weigh it)")
                }
                for name in members where !ModelRegistry.names.contains(name) {
                    throw Problem("\(source): models.ensemble: \(ModelRegistry.UnknownModel(name: name))")
                }
                configuration.ensemble = members
            }
            if let weights = try reader.table(models, "weights", prefix: "models.") {
                for key in weights.keys {
                    guard configuration.ensemble.contains(key) else { throw Problem("\(source): models.weights.\(key) names no ensemble member") }
                    guard let value = try reader.number(weights, key, prefix: "models.weights."), value >= 0, value.isFinite else {
                        throw Problem("\(source): models.weights.\(key) must be a finite non-negative number")
                    }
                    configuration.ensembleWeights[key] = value
                }
                // The mask averages the members by weight: all at 0 would divide 0 by 0 and
                // publish empty masks as results.
                guard configuration.ensemble.contains(where: { configuration.ensembleWeights[$0] ?? 1 > 0 }) else {
                    throw Problem("\(source): models.weights gives every ensemble member weight 0; at least one must count")
                }
            }
            if let precision = try reader.table(models, "precision", prefix: "models.") {
                for key in precision.keys {
                    guard ModelRegistry.names.contains(key) else {
                        throw Problem("\(source): models.precision.\(key): \(ModelRegistry.UnknownModel(name: key))")
                    }
                    let text = try reader.string(precision, key, prefix: "models.precision.") ?? ""
                    guard let value = ComputePrecision(rawValue: text) else {
                        throw Problem("\(source): models.precision.\(key) must be \"fp32\", \"bf16\" or \"int8\", not \"\(text)\"")
                    }
                    configuration.precision[key] = value
                }
            }
            if let value = try reader.bool(models, "student_alongside", prefix: "models.") { configuration.studentAlongside = value }
            if let value = try reader.bool(models, "test_time_augmentation", prefix: "models.") { configuration.testTimeAugmentation = value }
            if let value = try reader.bool(models, "allow_untrained", prefix: "models.") { configuration.allowUntrainedModels = value }
            if let value = try reader.number(models, "max_memory_gb", prefix: "models.", range: 1...65_536) {
                configuration.memoryBudgetBytes = Int(value * Double(1 << 30))
            }
        }
        if let watch = try reader.table(table, "watch") {
            try reader.check(watch, allowed: ["marker", "quiescence_seconds", "mode", "poll_interval_seconds", "max_case_bytes", "max_case_files", "incomplete_timeout_seconds"], prefix: "watch.")
            if let value = try reader.string(watch, "marker", prefix: "watch.") {
                guard RootLayout.isSafeCaseName(value) else { throw Problem("\(source): watch.marker must be a plain file name") }
                configuration.marker = value
            }
            if let value = try reader.number(watch, "quiescence_seconds", prefix: "watch.", range: 0.1...86_400) { configuration.quiescenceSeconds = value }
            if let value = try reader.string(watch, "mode", prefix: "watch.") {
                guard let mode = WatchMode(rawValue: value) else { throw Problem("\(source): watch.mode must be \"auto\", \"inotify\" or \"poll\"") }
                configuration.watchMode = mode
            }
            if let value = try reader.number(watch, "poll_interval_seconds", prefix: "watch.", range: 0.1...3600) { configuration.pollIntervalSeconds = value }
            if let value = try reader.integer(watch, "max_case_bytes", prefix: "watch.", range: 1...(1 << 40)) { configuration.maximumCaseBytes = value }
            if let value = try reader.integer(watch, "max_case_files", prefix: "watch.", range: 5...1000) { configuration.maximumCaseFiles = value }
            if let value = try reader.number(watch, "incomplete_timeout_seconds", prefix: "watch.", range: 1...604_800) { configuration.incompleteTimeoutSeconds = value }
        }
        if let processing = try reader.table(table, "processing") {
            try reader.check(processing, allowed: ["labels", "max_attempts", "retry_backoff_seconds", "max_crashes", "max_unexplained_deaths",
                                                    "stop_timeout_seconds", "archive_retention_days", "idle_memory_release_seconds", "mode"], prefix: "processing.")
            if let value = try reader.string(processing, "labels", prefix: "processing.") {
                guard let convention = LabelConvention(rawValue: value) else { throw Problem("\(source): processing.labels must be \"brats2018\" or \"brats2023\"") }
                configuration.labels = convention
            }
            if let value = try reader.integer(processing, "max_attempts", prefix: "processing.", range: 1...100) { configuration.maximumAttempts = value }
            if let value = try reader.number(processing, "retry_backoff_seconds", prefix: "processing.", range: 0...86_400) { configuration.retryBackoffSeconds = value }
            if let value = try reader.integer(processing, "max_crashes", prefix: "processing.", range: 1...100) { configuration.maximumCrashes = value }
            if let value = try reader.integer(processing, "max_unexplained_deaths", prefix: "processing.", range: 1...1000) { configuration.maximumUnexplainedDeaths = value }
            if let value = try reader.number(processing, "stop_timeout_seconds", prefix: "processing.", range: 0...86_400) { configuration.stopTimeoutSeconds = value }
            if let value = try reader.integer(processing, "archive_retention_days", prefix: "processing.", range: 0...36_500) { configuration.archiveRetentionDays = value }
            if let value = try reader.number(processing, "idle_memory_release_seconds", prefix: "processing.", range: 0...86_400) { configuration.idleMemoryReleaseSeconds = value }
            if let value = try reader.string(processing, "mode", prefix: "processing.") {
                guard let mode = InferenceMode(rawValue: value) else { throw Problem("\(source): processing.mode must be \"ensemble\" or \"student-first\"") }
                configuration.inferenceMode = mode
            }
        }
        if let pool = try reader.table(table, "pool") {
            configuration.pool = try parsePool(pool, reader: reader)
        }
        if let training = try reader.table(table, "training") {
            configuration.retrain = try parseTraining(training, reader: reader)
        }
        return configuration
    }

    private static func parsePool(_ table: TOMLTable, reader: KeyReader) throws -> PoolAdmissionPolicy {
        let source = reader.source
        try reader.check(table, allowed: ["enabled", "max_entries", "min_teacher_dice", "max_entropy", "max_nesting_violation",
                                          "wt_ml_range", "min_dominant_component", "admit_labelled"], prefix: "pool.")
        var policy = PoolAdmissionPolicy()
        if let value = try reader.bool(table, "enabled", prefix: "pool.") { policy.enabled = value }
        if let value = try reader.integer(table, "max_entries", prefix: "pool.", range: 1...1_000_000) { policy.maximumEntries = value }
        if let values = try reader.numbers(table, "min_teacher_dice", prefix: "pool.") {
            guard values.count == 3, values.allSatisfy({ (0...1).contains($0) }) else {
                throw Problem("\(source): pool.min_teacher_dice must be three numbers in [0, 1] (WT, TC, ET)")
            }
            policy.minimumTeacherDice = values
        }
        if let value = try reader.number(table, "max_entropy", prefix: "pool.", range: 0...1) { policy.maximumEntropy = value }
        if let value = try reader.number(table, "max_nesting_violation", prefix: "pool.", range: 0...1) { policy.maximumNestingViolation = value }
        if let values = try reader.numbers(table, "wt_ml_range", prefix: "pool.") {
            guard values.count == 2, values[0] >= 0, values[0] <= values[1] else {
                throw Problem("\(source): pool.wt_ml_range must be [minimum, maximum] in mL")
            }
            policy.wholeTumourMillilitres = values[0]...values[1]
        }
        if let value = try reader.number(table, "min_dominant_component", prefix: "pool.", range: 0...1) { policy.minimumDominantComponent = value }
        if let value = try reader.bool(table, "admit_labelled", prefix: "pool.") { policy.admitLabelled = value }
        return policy
    }

    private static func parseTraining(_ table: TOMLTable, reader: KeyReader) throws -> RetrainSettings {
        try reader.check(table, allowed: ["labelled", "holdout", "budget_minutes", "steps", "learning_rate", "warmup_steps", "threads",
                                          "precision", "soft_target_weight", "pseudo_label_confidence", "pool_weight", "weight_average_decay", "epsilon", "delta", "metric", "keep_versions"], prefix: "training.")
        var settings = RetrainSettings()
        if let value = try reader.strings(table, "labelled", prefix: "training.") { settings.labelled = value }
        if let value = try reader.strings(table, "holdout", prefix: "training.") {
            guard !value.isEmpty else { throw Problem("\(reader.source): training.holdout must name at least one case") }
            settings.holdout = value
        }
        if let value = try reader.number(table, "budget_minutes", prefix: "training.", range: 0.1...10_080) { settings.budgetSeconds = value * 60 }
        if let value = try reader.integer(table, "steps", prefix: "training.", range: 0...10_000_000) { settings.steps = value == 0 ? nil : value }
        if let value = try reader.number(table, "learning_rate", prefix: "training.", range: 1e-7...1) { settings.learningRate = value }
        if let value = try reader.integer(table, "warmup_steps", prefix: "training.", range: 0...100_000) { settings.warmupSteps = value }
        if let value = try reader.integer(table, "threads", prefix: "training.", range: 1...256) { settings.threads = value }
        if let text = try reader.string(table, "precision", prefix: "training.") {
            guard let value = ComputePrecision(rawValue: text), value.isTrainable else {
                throw Problem("\(reader.source): training.precision must be \"fp32\" or \"bf16\", not \"\(text)\"")
            }
            settings.precision = value
        }
        if let value = try reader.number(table, "soft_target_weight", prefix: "training.", range: 0...1) { settings.softTargetWeight = value }
        if let value = try reader.number(table, "pseudo_label_confidence", prefix: "training.", range: 0...0.999) {
            settings.pseudoLabelConfidence = value
        }
        if let value = try reader.number(table, "pool_weight", prefix: "training.", range: 0...10) { settings.poolWeight = value }
        if let value = try reader.number(table, "weight_average_decay", prefix: "training.", range: 0...0.99999) {
            settings.weightAverageDecay = value == 0 ? nil : value
        }
        if let value = try reader.number(table, "epsilon", prefix: "training.", range: 0...1) { settings.epsilon = value }
        if let value = try reader.number(table, "delta", prefix: "training.", range: 0...1) { settings.delta = value }
        if let value = try reader.string(table, "metric", prefix: "training.") {
            guard let metric = HoldoutEvaluation.Metric(rawValue: value) else {
                throw Problem("\(reader.source): training.metric must be \"volume\" or \"lesion\"")
            }
            settings.metric = metric
        }
        if let value = try reader.integer(table, "keep_versions", prefix: "training.", range: 1...1000) { settings.keepVersions = value }
        return settings
    }
}

/// Typed access to TOML keys with errors that name the file and the dotted key.
private struct KeyReader {
    let source: String

    func check(_ table: TOMLTable, allowed: Set<String>, prefix: String) throws {
        for key in table.keys.sorted() where !allowed.contains(key) {
            throw DaemonConfiguration.Problem("\(source): unknown key '\(prefix)\(key)' (known: \(allowed.sorted().map { prefix + $0 }.joined(separator: ", ")))")
        }
    }

    private func wrongType(_ key: String, _ expected: String) -> DaemonConfiguration.Problem {
        DaemonConfiguration.Problem("\(source): '\(key)' must be \(expected)")
    }

    func table(_ table: TOMLTable, _ key: String, prefix: String = "") throws -> TOMLTable? {
        guard let value = table[key] else { return nil }
        guard let result = value.table else { throw wrongType(prefix + key, "a table") }
        return result
    }

    func string(_ table: TOMLTable, _ key: String, prefix: String = "") throws -> String? {
        guard let value = table[key] else { return nil }
        guard let result = value.string else { throw wrongType(prefix + key, "a string") }
        return result
    }

    func strings(_ table: TOMLTable, _ key: String, prefix: String = "") throws -> [String]? {
        guard let value = table[key] else { return nil }
        guard let array = value.array else { throw wrongType(prefix + key, "an array of strings") }
        return try array.map { element in
            guard let text = element.string else { throw wrongType(prefix + key, "an array of strings") }
            return text
        }
    }

    func bool(_ table: TOMLTable, _ key: String, prefix: String = "") throws -> Bool? {
        guard let value = table[key] else { return nil }
        guard let result = value.bool else { throw wrongType(prefix + key, "true or false") }
        return result
    }

    func number(_ table: TOMLTable, _ key: String, prefix: String = "", range: ClosedRange<Double>? = nil) throws -> Double? {
        guard let value = table[key] else { return nil }
        guard let result = value.double ?? value.int.map(Double.init) else { throw wrongType(prefix + key, "a number") }
        if let range, !range.contains(result) { throw wrongType(prefix + key, "between \(range.lowerBound) and \(range.upperBound)") }
        return result
    }

    func numbers(_ table: TOMLTable, _ key: String, prefix: String = "") throws -> [Double]? {
        guard let value = table[key] else { return nil }
        guard let array = value.array else { throw wrongType(prefix + key, "an array of numbers") }
        return try array.map { element in
            guard let number = element.double ?? element.int.map(Double.init) else { throw wrongType(prefix + key, "an array of numbers") }
            return number
        }
    }

    func integer(_ table: TOMLTable, _ key: String, prefix: String = "", range: ClosedRange<Int>? = nil) throws -> Int? {
        guard let value = table[key] else { return nil }
        guard let result = value.int else { throw wrongType(prefix + key, "an integer") }
        if let range, !range.contains(result) { throw wrongType(prefix + key, "between \(range.lowerBound) and \(range.upperBound)") }
        return result
    }
}
