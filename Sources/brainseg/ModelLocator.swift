import Core
import Foundation
import Plugins

/// Finds shipped or installed models. Search order (first that exists wins):
/// 1. `--models-dir DIR`; 2. `$BRAINSEG_MODELS`; 3. `/usr/share/brainseg/models` (the install
/// location); 4. `models/` of the source tree the executable was built in (…/.build/<config>/brainseg
/// → …/models). Within a models folder, `<name>/current` (a link to the version in service),
/// else the highest-numbered `<name>/<version>/`.
enum ModelLocator {
    static let installLocation = "/usr/share/brainseg/models"

    static func searchPath(explicit: String?) -> [String] {
        var paths: [String] = []
        if let explicit { paths.append(explicit) }
        if let environment = ProcessInfo.processInfo.environment["BRAINSEG_MODELS"], !environment.isEmpty { paths.append(environment) }
        paths.append(installLocation)
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var directory = executable.deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("models").path
            if FileManager.default.fileExists(atPath: "\(directory.path)/Package.swift") { paths.append(candidate); break }
            directory = directory.deletingLastPathComponent()
        }
        return paths
    }

    /// The directory of model `name` in the first models folder that has it, or nil.
    static func directory(for name: String, explicit: String?) -> String? {
        for root in searchPath(explicit: explicit) {
            if let found = versionDirectory(root: root, name: name) { return found }
        }
        return nil
    }

    static func versionDirectory(root: String, name: String) -> String? {
        let base = "\(root)/\(name)"
        let current = "\(base)/current"
        if FileManager.default.fileExists(atPath: "\(current)/model.json") { return current }
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [])
            .compactMap { Int($0) }.sorted()
        for version in versions.reversed() where FileManager.default.fileExists(atPath: "\(base)/\(version)/model.json") {
            return "\(base)/\(version)"
        }
        return nil
    }

    /// Loads `names`; a model without weights anywhere is built with random weights, and
    /// `warn` says so (useful before the first training; never silent).
    static func load(_ names: [String], profile: ModelProfile, explicit: String?, warn: (String) -> Void) throws -> [SegmentationModel] {
        try names.map { name in
            guard ModelRegistry.names.contains(name) else { throw ModelRegistry.UnknownModel(name: name) }
            if let directory = directory(for: name, explicit: explicit) {
                let (model, card) = try ModelStore.load(directory: directory)
                guard model.profile == profile else {
                    throw ModelStore.LoadError(path: directory, detail: "profile \(card.profile) differs from the requested \(profile.rawValue)")
                }
                return model
            }
            warn("warning: no trained weights for \(name) (searched \(searchPath(explicit: explicit).joined(separator: ", "))); using random weights")
            return ModelRegistry.make(name, profile: profile)!
        }
    }
}
