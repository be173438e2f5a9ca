import Foundation

/// Where shipped and installed models are found, in order (first that has the model wins):
/// 1. an explicit folder (`--models-dir`, the configuration's `models.directory`);
/// 2. `$BRAINSEG_MODELS`;
/// 3. `/usr/share/brainseg/models` (the install location);
/// 4. `models/` of the source tree the executable was built in (…/.build/<config>/brainseg →
///    the folder holding Package.swift).
/// Within a models folder a model is `<name>/current` (a link to the version in service) or
/// else the highest-numbered `<name>/<version>/` holding a `model.json`.
public enum ModelSearchPath {
    public static let installLocation = "/usr/share/brainseg/models"

    /// The folders searched, in order.
    public static func folders(explicit: String?) -> [String] {
        var paths: [String] = []
        if let explicit, !explicit.isEmpty { paths.append(explicit) }
        if let environment = ProcessInfo.processInfo.environment["BRAINSEG_MODELS"], !environment.isEmpty { paths.append(environment) }
        paths.append(installLocation)
        if let tree = sourceTreeModels() { paths.append(tree) }
        return paths
    }

    static func sourceTreeModels() -> String? {
        var directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
                return directory.appendingPathComponent("models").path
            }
            directory = directory.deletingLastPathComponent()
        }
        return nil
    }

    /// The version folder of `name` inside one models folder, or nil.
    public static func versionDirectory(in root: String, name: String) -> String? {
        let base = "\(root)/\(name)"
        let current = "\(base)/current"
        if FileManager.default.fileExists(atPath: "\(current)/model.json") { return current }
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).compactMap { Int($0) }.sorted()
        for version in versions.reversed() where FileManager.default.fileExists(atPath: "\(base)/\(version)/model.json") {
            return "\(base)/\(version)"
        }
        return nil
    }

    /// The first version folder of `name` along the search path, or nil.
    public static func locate(_ name: String, explicit: String?) -> String? {
        for root in folders(explicit: explicit) {
            if let found = versionDirectory(in: root, name: name) { return found }
        }
        return nil
    }
}
