import Core
import Daemon
import Foundation
import Testing
import TestSupport

/// `brainseg train` through the real executable: `kill -9` mid-run, `--resume`, and the
/// weights equal an uninterrupted run's.
@Suite("brainseg train (end to end)", .serialized)
struct TrainCommandTests {
    static func arguments(data: String, run: String, cache: String) -> [String] {
        ["train", "student", "--data", data, "--steps", "8", "--patch", "8,8,8", "--warmup", "1", "--checkpoint-minutes", "0",
         "--seed", "3", "--threads", "2", "--out", run, "--cache", cache]
    }

    /// data/: one labelled case; pool/: one entry (returned) whose teachers were unsure on every
    /// voxel (soft probabilities 128/255), very different from its label.
    static func caseAndUnsurePoolEntry(in scratch: TemporaryDirectory) throws -> String {
        try SyntheticCases.write(into: scratch.file("data"), count: 1, size: 16)
        let entry = try SyntheticCases.write(into: scratch.file("pool"), count: 1, size: 16, seed: 2)[0]
        try FileManager.default.createDirectory(atPath: "\(entry)/soft", withIntermediateDirectories: true)
        for region in ["WT", "TC", "ET"] {
            try NiftiWriter.writeLabels([UInt8](repeating: 128, count: 16 * 16 * 16), geometry: VolumeGeometry(dims: [16, 16, 16]),
                                        to: "\(entry)/soft/prob_\(region).nii.gz")
        }
        return entry
    }

    @Test("kill -9 during training, resume: identical final weights; the model card records the command")
    func killAndResume() throws {
        let scratch = try TemporaryDirectory()
        try SyntheticCases.write(into: scratch.file("data"), count: 2, size: 16)
        let straight = try ExecutableRunner.run(Self.arguments(data: scratch.file("data"), run: scratch.file("a"), cache: scratch.file("cache")),
                                                timeout: 600)
        #expect(straight.status == 0, "stderr: \(straight.standardError)")

        // Start the same run elsewhere and kill it hard once a few steps are logged.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ExecutableRunner.executablePath)
        process.arguments = Self.arguments(data: scratch.file("data"), run: scratch.file("b"), cache: scratch.file("cache"))
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let log = scratch.file("b/log.jsonl")
        let deadline = Date().addingTimeInterval(300)
        while Date() < deadline {
            let lines = (try? String(contentsOfFile: log, encoding: .utf8))?.split(separator: "\n").count ?? 0
            if lines >= 4 || !process.isRunning { break }
            usleep(20_000)
        }
        let killedEarly = process.isRunning
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(killedEarly, "the run finished before it could be killed; the test needs slower steps")
        #expect(!FileManager.default.fileExists(atPath: scratch.file("b/final/weights.safetensors")))

        let resumed = try ExecutableRunner.run(["train", "--resume", scratch.file("b")], timeout: 600)
        #expect(resumed.status == 0, "stderr: \(resumed.standardError)")
        #expect(resumed.standardError.contains("resuming at step"))
        let a = try SafeTensors.read(from: scratch.file("a/final/weights.safetensors")).tensors
        let b = try SafeTensors.read(from: scratch.file("b/final/weights.safetensors")).tensors
        #expect(a.keys.sorted() == b.keys.sorted())
        #expect(a.allSatisfy { b[$0.key]?.scalars == $0.value.scalars }, "resumed weights differ")
        let card = try String(contentsOfFile: scratch.file("a/final/model.json"), encoding: .utf8)
        #expect(card.contains("\"command\" : \"brainseg train student"))
        #expect(card.contains("\"steps\" : 8"))
    }

    @Test("--soft-target-weight trains pool entries on their soft/ probabilities: recorded in config.json, weights differ from labels only")
    func softTargetWeight() throws {
        let scratch = try TemporaryDirectory()
        _ = try Self.caseAndUnsurePoolEntry(in: scratch)
        var runs: [String: [String: Tensor]] = [:]
        for weight in ["0", "1"] {
            let run = scratch.file("run-\(weight)")
            let result = try ExecutableRunner.run(Self.arguments(data: scratch.file("data"), run: run, cache: scratch.file("cache"))
                                                  + ["--pool", scratch.file("pool"), "--soft-target-weight", weight], timeout: 600)
            #expect(result.status == 0, "stderr: \(result.standardError)")
            runs[weight] = try SafeTensors.read(from: "\(run)/final/weights.safetensors").tensors
        }
        let configuration = try String(contentsOfFile: scratch.file("run-1/config.json"), encoding: .utf8)
        #expect(configuration.contains("\"softTargetWeight\" : 1"))
        #expect(!(try String(contentsOfFile: scratch.file("run-0/config.json"), encoding: .utf8)).contains("softTargetWeight"))
        let labelsOnly = try #require(runs["0"]), soft = try #require(runs["1"])
        #expect(labelsOnly.contains { soft[$0.key]?.scalars != $0.value.scalars }, "the soft targets changed nothing")
        let refused = try ExecutableRunner.run(Self.arguments(data: scratch.file("data"), run: scratch.file("bad"), cache: scratch.file("cache"))
                                               + ["--soft-target-weight", "1.5"], timeout: 60)
        #expect(refused.status != 0 && refused.standardError.contains("--soft-target-weight"))
    }

    @Test("--pseudo-label-confidence masks unsure voxels of pseudo-labelled pool entries only: an expert-labelled entry trains as without it")
    func pseudoLabelConfidence() throws {
        let scratch = try TemporaryDirectory()
        let entry = try Self.caseAndUnsurePoolEntry(in: scratch)
        func train(_ name: String, _ options: [String]) throws -> [String: Tensor] {
            let run = scratch.file(name)
            let result = try ExecutableRunner.run(Self.arguments(data: scratch.file("data"), run: run, cache: scratch.file("cache"))
                                                  + ["--pool", scratch.file("pool")] + options, timeout: 600)
            #expect(result.status == 0, "stderr: \(result.standardError)")
            return try SafeTensors.read(from: "\(run)/final/weights.safetensors").tensors
        }
        let plain = try train("plain", [])
        let masked = try train("masked", ["--pseudo-label-confidence", "0.8"])
        let configuration = try String(contentsOfFile: scratch.file("masked/config.json"), encoding: .utf8)
        #expect(configuration.contains("\"pseudoLabelConfidence\" : 0.8"))
        #expect(configuration.contains("pseudoLabelledCases"))
        #expect(plain.contains { masked[$0.key]?.scalars != $0.value.scalars }, "the mask changed nothing")

        // The same entry recorded as an expert's segmentation: its labels are trusted everywhere.
        let name = URL(fileURLWithPath: entry).lastPathComponent
        let assessment = ConfidenceAssessment(teacherDice: nil, entropy: .init(wholeTumour: 0, tumourCore: 0, enhancingTumour: 0),
                                              nestingViolation: 0, wholeTumourMillilitres: 1, dominantComponentFraction: 1, score: 1,
                                              passes: true, reasons: [])
        let expert = PoolEntry(caseIdentifier: name, kind: .expertLabelled, admittedAt: Date(), contentHash: "hash", inputHashes: [:],
                               labelFile: "\(name)_seg.nii.gz", probabilityFiles: [:], teachers: [], confidence: assessment)
        try ReadableJSON.encoder.encode(expert).write(to: URL(fileURLWithPath: "\(entry)/entry.json"))
        let trusted = try train("expert", ["--pseudo-label-confidence", "0.8"])
        #expect(plain.allSatisfy { trusted[$0.key]?.scalars == $0.value.scalars }, "an expert-labelled entry was masked")

        let refused = try ExecutableRunner.run(Self.arguments(data: scratch.file("data"), run: scratch.file("bad"), cache: scratch.file("cache"))
                                               + ["--pseudo-label-confidence", "0.3"], timeout: 60)
        #expect(refused.status != 0 && refused.standardError.contains("--pseudo-label-confidence"))
    }

    @Test("--rotate-all-axes, --gamma, --noise and --class-balanced are recorded in config.json; a bad range is refused")
    func augmentationOptions() throws {
        let scratch = try TemporaryDirectory()
        try SyntheticCases.write(into: scratch.file("data"), count: 1, size: 16)
        var arguments = Self.arguments(data: scratch.file("data"), run: scratch.file("run"), cache: scratch.file("cache"))
        arguments[arguments.firstIndex(of: "--steps")! + 1] = "2"
        let result = try ExecutableRunner.run(arguments + ["--rotate-all-axes", "--gamma", "0.7,1.5", "--noise", "0.1", "--class-balanced"], timeout: 600)
        #expect(result.status == 0, "stderr: \(result.standardError)")
        let stored = try JSONDecoder().decode(TrainingConfigurationProbe.self, from: Data(contentsOf: URL(fileURLWithPath: scratch.file("run/config.json"))))
        #expect(stored.augmentation.rotateAllAxes == true && stored.augmentation.noiseStandardDeviation == 0.1)
        #expect(stored.augmentation.gammaRange == [0.7, 1.5])
        #expect(stored.classBalancedCentres == true)
        let refused = try ExecutableRunner.run(Self.arguments(data: scratch.file("data"), run: scratch.file("bad"), cache: scratch.file("cache"))
                                               + ["--gamma", "1.5,0.7"], timeout: 60)
        #expect(refused.status != 0 && refused.standardError.contains("--gamma"))
    }

    @Test("--precision int8 is refused before anything is trained: it is an inference arithmetic")
    func int8Refused() throws {
        let scratch = try TemporaryDirectory()
        try SyntheticCases.write(into: scratch.file("data"), count: 1, size: 16)
        let refused = try ExecutableRunner.run(Self.arguments(data: scratch.file("data"), run: scratch.file("run"), cache: scratch.file("cache"))
                                               + ["--precision", "int8"], timeout: 60)
        #expect(refused.status != 0 && refused.standardError.contains("for inference only"), "stderr: \(refused.standardError)")
        #expect(!FileManager.default.fileExists(atPath: scratch.file("run/config.json")))
    }

    /// The part of a run's config.json this suite reads.
    struct TrainingConfigurationProbe: Decodable {
        struct Augmentation: Decodable {
            var rotateAllAxes: Bool?
            var gammaRange: [Float]?
            var noiseStandardDeviation: Float?
        }
        var augmentation: Augmentation
        var classBalancedCentres: Bool?
    }
}
