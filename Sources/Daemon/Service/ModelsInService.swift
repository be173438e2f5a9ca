import Foundation
import Logging
import Plugins

/// The models in service and the case pipeline built on them. Loads (installing the shipped
/// models into the root on the first start), and notices `models/<name>/current` changing
/// (a promotion or rollback) with one readlink per model per loop turn.
final class ModelsInService {
    let processor: CaseProcessor
    /// `student v1, unet v2, …` for logs and STATUS=.
    let summary: String
    /// Model name → version loaded.
    private(set) var versions: [String: String]

    /// - Throws: model installation or loading failures (a start-up failure).
    init(configuration: DaemonConfiguration, layout: RootLayout, logger: Logger) throws {
        if let folder = configuration.modelsDirectory, !folder.isEmpty, !FileManager.default.fileExists(atPath: folder) {
            logger.warning("models.directory \(folder) does not exist; models are looked for in \(ModelSearchPath.folders(explicit: nil).joined(separator: ", ")) and \(layout.models)")
        }
        var names = configuration.ensemble
        let studentSeparately = (configuration.studentAlongside || configuration.inferenceMode == .studentFirst) && !names.contains(ModelRegistry.studentName)
        if studentSeparately { names.append(ModelRegistry.studentName) }
        let loaded = try ModelInstaller.load(names, layout: layout, profile: configuration.profile,
                                             searchFolder: configuration.modelsDirectory,
                                             allowUntrained: configuration.allowUntrainedModels) { logger.warning("\($0)") }
        processor = CaseProcessor(configuration: configuration, layout: layout,
                                  models: .init(ensemble: configuration.ensemble.map { loaded[$0]! },
                                                student: studentSeparately ? loaded[ModelRegistry.studentName] : nil))
        versions = Dictionary(uniqueKeysWithValues: names.map { ($0, loaded[$0]!.version) })
        summary = names.map { name in
            let version = loaded[name]!.version
            return Int(version) != nil ? "\(name) v\(version)" : "\(name) (\(version))"
        }.joined(separator: ", ")
    }

    /// Whether a `current` link points elsewhere than the loaded version.
    func changedOnDisk(layout: RootLayout) -> Bool {
        versions.contains { name, version in
            guard let onDisk = ModelInstaller.currentVersion(name, layout: layout) else { return false }
            return onDisk != version
        }
    }

    /// After a failed reload: take the versions on disk as seen, so the loop does not retry
    /// every turn.
    func acceptVersionsOnDisk(layout: RootLayout) {
        for name in versions.keys { versions[name] = ModelInstaller.currentVersion(name, layout: layout) ?? versions[name] }
    }
}
