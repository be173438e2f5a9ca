import Core
import Foundation

/// The resumable state of a run, in one safetensors file written atomically: the model's
/// parameters (by name), the optimiser state (`optimizer.*`), the weight average when the run
/// keeps one (`average.*`), and in the metadata the step reached, the planned step count,
/// elapsed seconds and the best validation score.
struct TrainingCheckpoint {
    var step: Int
    var totalSteps: Int
    var elapsedSeconds: Double
    var bestScore: Double
    /// The `average.*` tensors as read (empty when the run keeps no average).
    var averageState: [String: Tensor] = [:]

    static func path(in run: String) -> String { "\(run)/checkpoint.safetensors" }

    func write(model: SegmentationModel, optimizer: Optimizer, average: WeightAverage?, to run: String) throws {
        var tensors: [String: Tensor] = [:]
        for parameter in model.parameters { tensors["model.\(parameter.name)"] = parameter.value }
        for (key, value) in optimizer.state() { tensors[key] = value }
        for (key, value) in average?.state(model.parameters) ?? [:] { tensors[key] = value }
        let metadata = ["step": String(step), "total_steps": String(totalSteps), "elapsed_seconds": String(elapsedSeconds),
                        "best_score": String(bestScore)]
        try SafeTensors(tensors: tensors, metadata: metadata).write(to: Self.path(in: run))
    }

    /// Restores parameters and optimiser state; returns nil when the run has no checkpoint.
    static func read(from run: String, model: SegmentationModel, optimizer: Optimizer) throws -> TrainingCheckpoint? {
        let path = Self.path(in: run)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let file = try SafeTensors.read(from: path)
        var missing: [String] = []
        for parameter in model.parameters {
            guard let value = file.tensors["model.\(parameter.name)"], value.shape == parameter.shape else {
                missing.append(parameter.name)
                continue
            }
            parameter.value = value
        }
        guard missing.isEmpty else {
            throw TrainingError("\(path): checkpoint lacks or mis-shapes \(missing.count) parameters, e.g. \(missing[0])")
        }
        try optimizer.loadState(file.tensors.filter { $0.key.hasPrefix("optimizer.") })
        guard let step = file.metadata["step"].flatMap(Int.init), let total = file.metadata["total_steps"].flatMap(Int.init) else {
            throw TrainingError("\(path): checkpoint metadata lacks the step")
        }
        return TrainingCheckpoint(step: step, totalSteps: total,
                                  elapsedSeconds: file.metadata["elapsed_seconds"].flatMap(Double.init) ?? 0,
                                  bestScore: file.metadata["best_score"].flatMap(Double.init) ?? -1,
                                  averageState: file.tensors.filter { $0.key.hasPrefix(WeightAverage.prefix) })
    }
}
