import Core
import Foundation
import Testing
import TestSupport

/// The self-improvement loop through the real executable with tiny data (SPEC.md §5): cases
/// dropped into a running daemon fill the pool, `brainseg retrain` records a decision, a
/// zeroed candidate is rejected, a good one is promoted and picked up by the running daemon,
/// rollback works, and `kill -9` during a retrain leaves model and pool untouched.
@Suite("brainseg retrain, pool and models (end to end)", .serialized)
struct RetrainEndToEndTests {
    static func configuration(labelled: String) -> String {
        """
        [models]
        ensemble = ["student", "unet"]
        student_alongside = false
        [watch]
        quiescence_seconds = 1
        [pool]
        min_teacher_dice = [0.0, 0.0, 0.0]
        max_entropy = 1.0
        max_nesting_violation = 1.0
        wt_ml_range = [0.0, 100000.0]
        min_dominant_component = 0.0
        [training]
        labelled = ["\(labelled)"]
        holdout = ["case0", "case1"]
        threads = 2
        weight_average_decay = 0.9
        pool_weight = 0.5
        """
    }

    static func run(_ arguments: [String], timeout: TimeInterval = 600) throws -> ExecutableRunner.Result {
        try ExecutableRunner.run(arguments, environment: ["BRAINSEG_LOG_TARGET": "stderr"], timeout: timeout)
    }

    static func json(_ text: String) -> Any? { try? JSONSerialization.jsonObject(with: Data(text.utf8)) }

    static func currentStudent(_ root: String) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "\(root)/models/student/current")
    }

    @Test("drop → pool grows → retrain decides; zeroed candidate rejected; good one promoted and picked up; rollback; kill -9 is safe")
    func selfImprovementLoop() throws {
        let scratch = try TemporaryDirectory()
        let labelled = scratch.file("labelled")
        try SyntheticCases.write(into: labelled, count: 3, size: 16)
        let drops = try SyntheticCases.write(into: scratch.file("drops"), count: 3, size: 16, seed: 7, labelled: false)

        // A tiny student, installed as version 1 of the root.
        let trained = try Self.run(["train", "student", "--data", labelled, "--steps", "3", "--patch", "8,8,8", "--warmup", "1",
                                    "--threads", "2", "--out", scratch.file("tiny"), "--cache", scratch.file("cache")])
        #expect(trained.status == 0, "\(trained.standardError)")
        let root = scratch.file("root")
        try FileManager.default.createDirectory(atPath: "\(root)/models/student", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: scratch.file("tiny/final"), toPath: "\(root)/models/student/1")
        try FileManager.default.createSymbolicLink(atPath: "\(root)/models/student/current", withDestinationPath: "1")

        let daemon = try DaemonHarness(root: root, configuration: Self.configuration(labelled: labelled))
        #expect(try daemon.start() != nil, "\(daemon.log)")
        try daemon.copyInPlace(drops[0], as: "drop0")
        try daemon.copyInPlace(drops[1], as: "drop1")
        try daemon.copyInPlace("\(labelled)/case2", as: "expert2")
        #expect(DaemonHarness.wait(timeout: 300) { ["drop0", "drop1", "expert2"].allSatisfy { FileManager.default.fileExists(atPath: "\(root)/pool/\($0)/entry.json") } },
                "pool entries: \(daemon.log)")
        let list = try Self.run(["pool", "list", "--root", root, "--json"])
        let entries = Self.json(list.standardOutput) as? [[String: Any]] ?? []
        #expect(entries.count == 3, "\(list.standardOutput)")
        #expect(entries.first { $0["caseIdentifier"] as? String == "expert2" }?["kind"] as? String == "expert-labelled")
        #expect(entries.first { $0["caseIdentifier"] as? String == "drop0" }?["kind"] as? String == "pseudo-labelled")
        #expect(daemon.log.contains("pool: admitted drop0"), "\(daemon.log)")
        let report = try String(contentsOfFile: "\(daemon.output("drop0"))/drop0_report.json", encoding: .utf8)
        #expect(report.contains("\"admittedToPool\" : true"), "\(report)")
        // The same images again are neither processed nor admitted twice.
        try daemon.copyInPlace(drops[0], as: "drop0-again")
        #expect(DaemonHarness.wait(timeout: 120) { daemon.log.contains("drop0-again: same content as case") }, "\(daemon.log)")
        #expect(!FileManager.default.fileExists(atPath: "\(root)/pool/drop0-again"))

        // A real retrain within a 1-minute budget records a decision.
        let config = "\(root)/brainseg.toml"
        let retrain = try Self.run(["retrain", "--config", config, "--budget", "1m", "--json"])
        #expect(retrain.status == 0, "\(retrain.standardError)")
        let decision = Self.json(retrain.standardOutput) as? [String: Any]
        #expect(decision?["promoted"] != nil, "\(retrain.standardOutput)")
        #expect((decision?["trainingSteps"] as? Int ?? 0) > 0)
        // The candidate is the run's weight average ([training] weight_average_decay).
        let runConfiguration = (try? String(contentsOfFile: "\(root)/retrain/\(decision?["run"] as? String ?? "?")/training/config.json",
                                            encoding: .utf8)) ?? ""
        #expect(runConfiguration.contains("\"weightAverageDecay\" : 0.9"), "\(runConfiguration)")
        // Pseudo-labelled pool entries are drawn half as often as labelled cases ([training]
        // pool_weight); the expert-labelled entry counts as a labelled case.
        let run = Self.json(runConfiguration) as? [String: Any]
        let trainingCases = run?["trainingCases"] as? [String] ?? []
        let caseWeights = run?["caseWeights"] as? [Double] ?? []
        #expect(caseWeights.count == trainingCases.count, "\(runConfiguration)")
        let weightOf = Dictionary(zip(trainingCases.map { URL(fileURLWithPath: $0).lastPathComponent }, caseWeights)) { first, _ in first }
        #expect(weightOf["drop0"] == 0.5 && weightOf["drop1"] == 0.5, "\(runConfiguration)")
        #expect(weightOf["expert2"] == 1, "\(runConfiguration)")
        let versionAfterRetrain = Self.currentStudent(root)!

        // A candidate with zeroed weights (outputs 0.5 everywhere: no tumour) is rejected.
        let zeroed = scratch.file("zeroed")
        try FileManager.default.copyItem(atPath: scratch.file("tiny/final"), toPath: zeroed)
        var weights = try SafeTensors.read(from: "\(zeroed)/weights.safetensors")
        for (name, tensor) in weights.tensors { weights.tensors[name] = Tensor(shape: tensor.shape) }
        try weights.write(to: "\(zeroed)/weights.safetensors")
        let rejected = try Self.run(["retrain", "--config", config, "--candidate", zeroed, "--json"])
        #expect(rejected.status == 0, "\(rejected.standardError)")
        let rejection = Self.json(rejected.standardOutput) as? [String: Any]
        #expect(rejection?["promoted"] as? Bool == false, "\(rejected.standardOutput)")
        #expect(((rejection?["current"] as? [String: Any])?["mean"] as? [String: Double])?["WT"] ?? 0 > 0,
                "the current student must find tumour for the rejection to mean anything: \(rejected.standardOutput)")
        #expect(Self.currentStudent(root) == versionAfterRetrain)

        // The same weights as the student in service do not get worse: promoted, and the running daemon uses them.
        let good = "\(root)/models/student/\(versionAfterRetrain)"
        let promoted = try Self.run(["retrain", "--config", config, "--candidate", good, "--json"])
        let promotion = Self.json(promoted.standardOutput) as? [String: Any]
        #expect(promotion?["promoted"] as? Bool == true, "\(promoted.standardOutput)\n\(promoted.standardError)")
        let newVersion = promotion?["promotedVersion"] as? String ?? "?"
        #expect(Self.currentStudent(root) == newVersion)
        #expect(DaemonHarness.wait(timeout: 30) { daemon.log.contains("student v\(newVersion)") }, "\(daemon.log)")
        try daemon.copyInPlace(drops[2], as: "after-promotion")
        #expect(DaemonHarness.wait(timeout: 300) { FileManager.default.fileExists(atPath: "\(daemon.output("after-promotion"))/after-promotion_report.json") })
        let after = try String(contentsOfFile: "\(daemon.output("after-promotion"))/after-promotion_report.json", encoding: .utf8)
        #expect(after.contains("\"name\" : \"student\"") && after.contains("\"version\" : \"\(newVersion)\""), "\(after)")

        // Rollback returns to the previous version; the ledger and the daemon follow.
        let rollback = try Self.run(["models", "rollback", "student", "--root", root])
        #expect(rollback.status == 0, "\(rollback.standardError)")
        #expect(Self.currentStudent(root) == versionAfterRetrain)
        let models = Self.json(try Self.run(["models", "list", "--root", root, "--json"]).standardOutput) as? [String: [[String: Any]]]
        #expect(models?["student"]?.first { $0["current"] as? Bool == true }?["version"] as? String == versionAfterRetrain)
        let status = try Self.run(["status", "--root", root, "--json"]).standardOutput
        #expect((Self.json(status) as? [String: Any])?["lastRetrain"] as? [String: Any] != nil, "\(status)")
        #expect((Self.json(status) as? [String: Any])?["poolSize"] as? Int == 4, "\(status)")

        // kill -9 during a retrain: the student in service and the pool are untouched; the next run starts cleanly.
        let poolBefore = try FileManager.default.contentsOfDirectory(atPath: "\(root)/pool").sorted()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ExecutableRunner.executablePath)
        process.arguments = ["retrain", "--config", config, "--budget", "1m"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        #expect(DaemonHarness.wait(timeout: 120) {
            let runs = (try? FileManager.default.contentsOfDirectory(atPath: "\(root)/retrain")) ?? []
            return runs.contains {
                FileManager.default.fileExists(atPath: "\(root)/retrain/\($0)/training/log.jsonl")
                    && !FileManager.default.fileExists(atPath: "\(root)/retrain/\($0)/decision.json")
            }
        }, "the retrain never started training")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(Self.currentStudent(root) == versionAfterRetrain)
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(root)/pool").sorted() == poolBefore)
        let next = try Self.run(["retrain", "--config", config, "--candidate", good])
        #expect(next.status == 0, "\(next.standardError)")
        #expect(next.standardError.contains("removed the unfinished run"), "\(next.standardError)")
        #expect(daemon.stop() == 0)
    }

    @Test("two retrains never overlap: the second is refused while the first holds the lock")
    func lockRefusesSecondRun() throws {
        let scratch = try TemporaryDirectory()
        let root = scratch.file("root")
        try FileManager.default.createDirectory(atPath: "\(root)/retrain", withIntermediateDirectories: true)
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        holder.arguments = ["\(root)/retrain/lock", "sleep", "30"]
        try holder.run()
        defer { holder.terminate() }
        Thread.sleep(forTimeInterval: 0.5)
        let refused = try Self.run(["retrain", "--root", root, "--steps", "1"])
        #expect(refused.status == 1)
        #expect(refused.standardError.contains("another retrain is running"), "\(refused.standardError)")
    }
}
