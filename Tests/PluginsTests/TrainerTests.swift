import Core
import Foundation
import Plugins
import Testing
import TestSupport

/// Training on tiny synthetic cases: a resumed run equals an uninterrupted one bit for bit,
/// checkpoints are atomic, the log reads as one run.
@Suite("Trainer", .serialized)
struct TrainerTests {
    static func configuration(_ cases: [String], holdout: [String] = [], steps: Int = 4) -> TrainingConfiguration {
        var configuration = TrainingConfiguration(model: "student", profile: .cpu, trainingCases: cases, holdoutCases: holdout,
                                                  steps: steps, budgetSeconds: nil, seed: 7, command: "test")
        configuration.patchSize = [8, 8, 8]
        configuration.warmupSteps = 1
        configuration.checkpointIntervalSeconds = 0   // a checkpoint after every step
        configuration.cacheDirectory = nil
        return configuration
    }

    static func weights(_ run: String) throws -> [String: [Float]] {
        try SafeTensors.read(from: "\(run)/final/weights.safetensors").tensors.mapValues(\.scalars)
    }

    @Test("resume after an interruption gives exactly the uninterrupted weights; no temporary files remain")
    func resumeEqualsUninterrupted() throws {
        let scratch = try TemporaryDirectory()
        let cases = try SyntheticCases.write(into: scratch.file("data"), count: 2, size: 16)
        let configuration = Self.configuration(cases)

        let straight = scratch.file("straight")
        _ = try Trainer(configuration: configuration, runDirectory: straight) { _ in }.runLoaded()

        let interrupted = scratch.file("interrupted")
        let first = try Trainer(configuration: configuration, runDirectory: interrupted) { _ in }
        try first.loadData()
        let partial = try first.run(stoppingAfter: 2)
        #expect(partial.steps == 2)
        #expect(!FileManager.default.fileExists(atPath: "\(interrupted)/final"))
        // A crash mid-write leaves at most a hidden temporary; it must not disturb the resume.
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: "\(interrupted)/.checkpoint.tmp-1-x.safetensors"))
        let resumed = try Trainer(configuration: configuration, runDirectory: interrupted) { _ in }.runLoaded()
        #expect(resumed.steps == 4)

        let a = try Self.weights(straight), b = try Self.weights(interrupted)
        #expect(a.keys.sorted() == b.keys.sorted())
        #expect(a == b, "resumed weights differ from the uninterrupted run")
        let logSteps = try String(contentsOfFile: "\(interrupted)/log.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["step"] as? Int }
        #expect(logSteps == [1, 2, 3, 4])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: straight).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "temporary files left: \(leftovers)")
    }

    @Test("--stop-after reproduces step N of a longer schedule: final/ equals the checkpoint of that step")
    func stopAfterReproducesACheckpoint() throws {
        let scratch = try TemporaryDirectory()
        let cases = try SyntheticCases.write(into: scratch.file("data"), count: 2, size: 16)
        let long = Self.configuration(cases, steps: 6)
        let partial = try Trainer(configuration: long, runDirectory: scratch.file("long")) { _ in }
        try partial.loadData()
        _ = try partial.run(stoppingAfter: 3)   // checkpoint of step 3 (one after every step)
        let checkpoint = try SafeTensors.read(from: scratch.file("long/checkpoint.safetensors")).tensors

        var stopped = long
        stopped.stopAfterStep = 3
        let outcome = try Trainer(configuration: stopped, runDirectory: scratch.file("stopped")) { _ in }.runLoaded()
        #expect(outcome.steps == 3)
        let final = try Self.weights(scratch.file("stopped"))
        #expect(!final.isEmpty)
        for (name, values) in final {
            let stored = checkpoint[name] ?? checkpoint["model.\(name)"] ?? checkpoint.first { $0.key.hasSuffix(name) }?.value
            #expect(stored?.scalars == values, "\(name) differs from the step-3 checkpoint")
        }
        let card = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: scratch.file("stopped/final/model.json")))) as? [String: Any]
        #expect(card?["steps"] as? Int == 3)
    }

    @Test("a budget caps a fixed step count: steps that do not fit are planned down, steps that fit run exactly")
    func budgetCapsFixedSteps() throws {
        let scratch = try TemporaryDirectory()
        let cases = try SyntheticCases.write(into: scratch.file("data"), count: 1, size: 16)
        var tight = Self.configuration(cases, steps: 40)
        tight.checkpointIntervalSeconds = 3600
        tight.budgetSeconds = 0.001   // nothing fits: the plan falls to the step after the pace is measured
        var messages: [String] = []
        let capped = try Trainer(configuration: tight, runDirectory: scratch.file("tight")) { messages.append($0) }.runLoaded()
        #expect(capped.steps == 4)
        #expect(messages.contains { $0.contains("the budget fits 4 of the 40 steps") }, "\(messages)")

        var roomy = Self.configuration(cases, steps: 6)
        roomy.checkpointIntervalSeconds = 3600
        roomy.budgetSeconds = 3600
        let exact = try Trainer(configuration: roomy, runDirectory: scratch.file("roomy")) { _ in }.runLoaded()
        #expect(exact.steps == 6)
        var unbounded = roomy
        unbounded.budgetSeconds = nil
        _ = try Trainer(configuration: unbounded, runDirectory: scratch.file("unbounded")) { _ in }.runLoaded()
        #expect(try Self.weights(scratch.file("roomy")) == Self.weights(scratch.file("unbounded")),
                "a budget the steps fit in must not change the run")
    }

    @Test("a different configuration cannot resume someone else's run")
    func refusesForeignRun() throws {
        let scratch = try TemporaryDirectory()
        let cases = try SyntheticCases.write(into: scratch.file("data"), count: 1, size: 16)
        _ = try Trainer(configuration: Self.configuration(cases, steps: 1), runDirectory: scratch.file("run")) { _ in }.runLoaded()
        var other = Self.configuration(cases, steps: 1)
        other.seed = 8
        #expect(throws: TrainingError.self) { try Trainer(configuration: other, runDirectory: scratch.file("run")) { _ in } }
    }

    @Test("validation on a hold-out case writes best/ with a model card")
    func validationAndBest() throws {
        let scratch = try TemporaryDirectory()
        let cases = try SyntheticCases.write(into: scratch.file("data"), count: 3, size: 16)
        let run = scratch.file("run")
        let outcome = try Trainer(configuration: Self.configuration(Array(cases.prefix(2)), holdout: [cases[2]], steps: 2),
                                  runDirectory: run) { _ in }.runLoaded()
        #expect(outcome.bestScore >= 0 && outcome.bestScore <= 1)
        let card = try JSONDecoder().decode(ModelCard.self, from: Data(contentsOf: URL(fileURLWithPath: "\(run)/best/model.json")))
        #expect(card.name == "student" && card.holdout == ["case2"] && card.validationDice != nil)
        let (loaded, _) = try ModelStore.load(directory: "\(run)/best")
        #expect(loaded.name == "student")
    }

    @Test("without hold-out cases there is nothing to choose by: final/ only, no best/")
    func noHoldoutNoBest() throws {
        let scratch = try TemporaryDirectory()
        let cases = try SyntheticCases.write(into: scratch.file("data"), count: 2, size: 16)
        let run = scratch.file("run")
        _ = try Trainer(configuration: Self.configuration(cases, steps: 2), runDirectory: run) { _ in }.runLoaded()
        #expect(FileManager.default.fileExists(atPath: "\(run)/final/model.json"))
        #expect(!FileManager.default.fileExists(atPath: "\(run)/best"))
    }
}

extension Trainer {
    /// Loads the data and runs to the end.
    func runLoaded() throws -> Outcome {
        try loadData()
        return try run()
    }
}
