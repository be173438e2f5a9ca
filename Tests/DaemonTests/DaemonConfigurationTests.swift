import Foundation
import Core
import Daemon
import Plugins
import Testing
import TestSupport

@Suite("Daemon configuration")
struct DaemonConfigurationTests {
    @Test("no file: the embedded defaults (root ./var, the three teachers and the student, student alongside)")
    func defaults() throws {
        let configuration = try DaemonConfiguration.load(path: nil)
        #expect(configuration.root == "./var")
        #expect(configuration.ensemble == ["unet", "resunet-vae", "cascade", "student"])
        #expect(configuration.studentAlongside)
        #expect(!configuration.allowUntrainedModels, "a model without trained weights stops the daemon unless allowed")
        #expect(configuration.memoryBudgetBytes == 8 << 30)
        #expect(configuration.quiescenceSeconds == 30 && configuration.marker == "READY")
        // Each model's fastest arithmetic that passed its equivalence check on real cases.
        #expect(configuration.precision == ["unet": .int8, "resunet-vae": .int8, "cascade": .int8, "student": .bfloat16])
    }

    @Test("every key optional; values read with their types")
    func values() throws {
        let configuration = try DaemonConfiguration.parse("""
            root = "/srv/brainseg"
            [models]
            ensemble = ["unet", "student"]
            weights = { unet = 2.0, student = 1 }
            precision = { unet = "bf16", student = "fp32", cascade = "int8" }
            student_alongside = false
            allow_untrained = true
            max_memory_gb = 10.5
            [watch]
            quiescence_seconds = 5
            mode = "poll"
            [processing]
            labels = "brats2023"
            stop_timeout_seconds = 120
            """)
        #expect(configuration.root == "/srv/brainseg")
        #expect(configuration.ensemble == ["unet", "student"])
        #expect(configuration.ensembleWeights == ["unet": 2, "student": 1])
        #expect(configuration.precision["unet"] == .bfloat16 && configuration.precision["student"] == .float32)
        #expect(configuration.precision["cascade"] == .int8)
        #expect(configuration.precision["resunet-vae"] == DaemonConfiguration().precision["resunet-vae"])
        #expect(!configuration.studentAlongside)
        #expect(configuration.allowUntrainedModels)
        #expect(configuration.memoryBudgetBytes == 21 << 29)
        #expect(configuration.quiescenceSeconds == 5 && configuration.watchMode == .poll)
        #expect(configuration.labels == .brats2023 && configuration.stopTimeoutSeconds == 120)
        #expect(try DaemonConfiguration.parse("") == DaemonConfiguration())
    }

    @Test("a file that is not text, or cannot be read, is named as such")
    func unreadableFiles() throws {
        let scratch = try TemporaryDirectory()
        try Data([0xff, 0xfe, 0x00, 0x9c, 0x81]).write(to: URL(fileURLWithPath: scratch.file("binary.toml")))
        #expect { try DaemonConfiguration.load(path: scratch.file("binary.toml")) } throws: { "\($0)".contains("not UTF-8 text") }
        #expect { try DaemonConfiguration.load(path: scratch.file("absent.toml")) } throws: { "\($0)".contains("cannot read the configuration file") }
    }

    @Test("unknown keys, wrong types, bad values and broken TOML are errors naming the key",
          arguments: [
              ("rooot = \"/x\"", "unknown key 'rooot'"),
              ("[watch]\nquiesence_seconds = 3", "unknown key 'watch.quiesence_seconds'"),
              ("[models]\nensemble = [\"unet\", \"vnet\"]", "unknown model 'vnet'"),
              ("[watch]\nquiescence_seconds = \"thirty\"", "'watch.quiescence_seconds' must be a number"),
              ("[processing]\nmax_attempts = 0", "'processing.max_attempts' must be between"),
              ("[models]\nmax_memory_gb = 0.5", "'models.max_memory_gb' must be between"),
              ("[models]\nprofile = \"gpu\"", "models.profile"),
              ("[models.precision]\nvnet = \"bf16\"", "unknown model 'vnet'"),
              ("[models.precision]\nunet = \"fp16\"", "models.precision.unet must be \"fp32\", \"bf16\" or \"int8\""),
              // int8 is an inference arithmetic: the nightly retrain's steps cannot use it.
              ("[training]\nprecision = \"int8\"", "training.precision must be \"fp32\" or \"bf16\", not \"int8\""),
              ("root = ", "invalid TOML"),
              // An empty root once made the daemon's root `/` (RootAdoption).
              ("root = \"\"", "root must name a folder"),
              // A member listed twice crashed the daemon at start and on reload; weights of inf or
              // all 0 published empty masks as results.
              ("[models]\nensemble = [\"student\", \"student\"]", "names student twice"),
              ("[models.weights]\nunet = inf", "models.weights.unet must be a finite non-negative number"),
              ("[models.weights]\nunet = nan", "models.weights.unet must be a finite non-negative number"),
              ("[models]\nensemble = [\"unet\", \"student\"]\n[models.weights]\nunet = 0\nstudent = 0", "every ensemble member weight 0"),
          ])
    func errors(_ text: String, _ expected: String) {
        #expect { try DaemonConfiguration.parse(text, source: "/etc/brainseg/brainseg.toml") } throws: { error in
            let message = "\(error)"
            return message.contains(expected) && message.contains("/etc/brainseg/brainseg.toml")
        }
    }
}

@Suite("Example configuration")
struct ExampleConfigurationTests {
    @Test("systemd/brainseg.toml parses with every daemon key uncommented, giving the embedded defaults")
    func exampleMatchesParser() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("systemd/brainseg.toml").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var inTraining = false
        let uncommented = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            if line.hasPrefix("[") { inTraining = line.hasPrefix("[training]") }
            guard !inTraining, line.hasPrefix("# "), line.dropFirst(2).contains(" = ") || line.dropFirst(2).hasPrefix("[") else { return String(line) }
            let body = line.dropFirst(2)
            return body.first.map { $0.isLetter || $0 == "[" } == true ? String(body) : String(line)
        }.joined(separator: "\n")
        var parsed = try DaemonConfiguration.parse(uncommented, source: path)
        #expect(parsed.root == "/var/lib/brainseg")
        parsed.root = RootLayout.defaultRoot
        parsed.modelsDirectory = nil
        parsed.ensembleWeights = [:]
        #expect(parsed == DaemonConfiguration())
    }
}

@Suite("Daemon configuration: pool and training tables")
struct PoolTrainingConfigurationTests {
    @Test("[pool], [training] and processing.mode are read and validated")
    func tables() throws {
        let configuration = try DaemonConfiguration.parse("""
            [processing]
            mode = "student-first"
            [pool]
            max_entries = 50
            min_teacher_dice = [0.9, 0.8, 0.7]
            wt_ml_range = [1, 200]
            [training]
            labelled = ["/data/labelled"]
            holdout = ["a", "b"]
            budget_minutes = 30
            steps = 800
            epsilon = 0.01
            metric = "lesion"
            soft_target_weight = 0.5
            pseudo_label_confidence = 0.8
            pool_weight = 0.25
            weight_average_decay = 0.995
            """)
        #expect(configuration.inferenceMode == .studentFirst)
        #expect(configuration.pool.maximumEntries == 50 && configuration.pool.minimumTeacherDice == [0.9, 0.8, 0.7])
        #expect(configuration.pool.wholeTumourMillilitres == 1...200)
        #expect(configuration.retrain.labelled == ["/data/labelled"] && configuration.retrain.holdout == ["a", "b"])
        #expect(configuration.retrain.budgetSeconds == 1800 && configuration.retrain.epsilon == 0.01)
        #expect(configuration.retrain.steps == 800)
        #expect(try DaemonConfiguration.parse("").retrain.steps == 1500, "the measured nightly recipe")
        #expect(try DaemonConfiguration.parse("[training]\nsteps = 0").retrain.steps == nil, "0: as many as the budget allows")
        #expect(configuration.retrain.metric == .lesion)
        #expect(configuration.retrain.softTargetWeight == 0.5)
        #expect(configuration.retrain.pseudoLabelConfidence == 0.8)
        #expect(configuration.retrain.weightAverageDecay == 0.995)
        #expect(configuration.retrain.poolWeight == 0.25)
        #expect(try DaemonConfiguration.parse("").retrain.poolWeight == 1, "every case as often until a measured weight replaces it")
        #expect(try DaemonConfiguration.parse("[training]\nweight_average_decay = 0").retrain.weightAverageDecay == nil, "0: the last step's weights")
        #expect(try DaemonConfiguration.parse("").retrain.softTargetWeight == 0, "labels only until cross-validation says otherwise")
        #expect(try DaemonConfiguration.parse("").retrain.metric == .volume, "volume-wise Dice stays the default")
        for (text, expected) in [("[pool]\nmin_teacher_dice = [0.9]", "pool.min_teacher_dice"),
                                 ("[pool]\nthreshold = 1", "unknown key 'pool.threshold'"),
                                 ("[training]\nepsilon = 2", "training.epsilon"),
                                 ("[training]\nsteps = -5", "training.steps"),
                                 ("[training]\nsoft_target_weight = 1.5", "training.soft_target_weight"),
                                 ("[training]\npseudo_label_confidence = 1", "training.pseudo_label_confidence"),
                                 ("[training]\nweight_average_decay = 1", "training.weight_average_decay"),
                                 ("[training]\npool_weight = -1", "training.pool_weight"),
                                 ("[training]\nmetric = \"lesions\"", "training.metric must be \"volume\" or \"lesion\""),
                                 ("[processing]\nmode = \"fast\"", "processing.mode")] {
            #expect { try DaemonConfiguration.parse(text) } throws: { error in "\(error)".contains(expected) }
        }
    }
}
