import Core
import Foundation
import Plugins

/// The daemon's models: `<root>/models/<name>/<version>/` with `<root>/models/<name>/current`
/// a relative symbolic link to the version in service (SPEC.md §2).
///
/// On the first start with an empty root, each needed model is copied from the first folder
/// of `ModelSearchPath` that has it into `<root>/models/<name>/1/` and `current` is pointed
/// there. A `current` lost later (deleted, dangling, a loop) is pointed back at the newest
/// installed version, with a warning, never replaced by the shipped model. A model found
/// nowhere is a start-up error (`MissingModelWeights`), unless the configuration allows
/// untrained models: then it runs with random weights and a warning (it is never installed, so
/// nothing untrained looks like a version).
public enum ModelInstaller {
    /// What was loaded for one model.
    public struct Loaded {
        public var model: SegmentationModel
        /// "1", "2", … or "untrained".
        public var version: String
        public var card: ModelCard?

        public init(model: SegmentationModel, version: String, card: ModelCard?) {
            self.model = model
            self.version = version
            self.card = card
        }
    }

    /// Installs missing models and loads `names` from `<root>/models`; throws
    /// `MissingModelWeights` for a model found nowhere unless `allowUntrained`.
    public static func load(
        _ names: [String], layout: RootLayout, profile: ModelProfile, searchFolder: String?, allowUntrained: Bool,
        warn: (String) -> Void
    ) throws -> [String: Loaded] {
        var result: [String: Loaded] = [:]
        for name in names {
            let current = "\(layout.models)/\(name)/current"
            if !FileManager.default.fileExists(atPath: "\(current)/model.json") {
                if let restored = try restoreCurrent(name, layout: layout) {
                    warn("\(current) was missing or led nowhere; it now points at version \(restored), the newest installed one (`brainseg models rollback \(name) VERSION` chooses another)")
                } else if let source = ModelSearchPath.locate(name, explicit: searchFolder), !source.hasPrefix(layout.models) {
                    try install(from: source, name: name, layout: layout)
                }
            }
            if FileManager.default.fileExists(atPath: "\(current)/model.json") {
                let (model, card) = try ModelStore.load(directory: current)
                guard model.name == name else {
                    throw ModelStore.LoadError(path: current, detail: "holds a \(model.name) model, not \(name) (its model.json says \"\(card.name)\")")
                }
                guard model.profile == profile else {
                    throw ModelStore.LoadError(path: current, detail: "profile \(card.profile.rawValue) differs from the configured \(profile.rawValue)")
                }
                result[name] = Loaded(model: model, version: currentVersion(name, layout: layout) ?? card.version, card: card)
            } else {
                let searched = ModelSearchPath.folders(explicit: searchFolder)
                guard allowUntrained else { throw MissingModelWeights(name: name, searched: searched, optIn: "[models] allow_untrained = true") }
                warn("no trained weights for \(name) (searched \(searched.joined(separator: ", "))); running it with random weights (allow_untrained)")
                result[name] = Loaded(model: ModelRegistry.make(name, profile: profile)!, version: "untrained", card: nil)
            }
        }
        return result
    }

    /// Points a missing, dangling or looping `current` back at the newest installed version that
    /// holds a model (its number, or nil when there is none: a first start). Reinstalling the
    /// shipped model instead, as before, silently replaced promoted students with it, under a
    /// new number on every start.
    static func restoreCurrent(_ name: String, layout: RootLayout) throws -> String? {
        let base = "\(layout.models)/\(name)"
        let numbers = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).compactMap { Int($0) }.sorted(by: >)
        guard let newest = numbers.first(where: { number in
            ["model.json", "weights.safetensors"].allSatisfy { FileManager.default.fileExists(atPath: "\(base)/\(number)/\($0)") }
        }) else { return nil }
        try switchCurrent(name: name, to: String(newest), layout: layout)
        return String(newest)
    }

    /// Copies a model folder into version 1 (or the next free version) and switches `current`.
    @discardableResult
    public static func install(from source: String, name: String, layout: RootLayout) throws -> String {
        let base = "\(layout.models)/\(name)"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        let existing = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).compactMap { Int($0) }
        let version = String((existing.max() ?? 0) + 1)
        let staging = "\(base)/.install-\(version)-\(getpid())"
        try? FileManager.default.removeItem(atPath: staging)
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        for file in ["weights.safetensors", "model.json"] {
            try FileManager.default.copyItem(atPath: "\(source)/\(file)", toPath: "\(staging)/\(file)")
            try AtomicFile.sync(path: "\(staging)/\(file)")
        }
        guard rename(staging, "\(base)/\(version)") == 0 else {
            throw ModelStore.LoadError(path: "\(base)/\(version)", detail: "cannot install: \(String(cString: strerror(errno)))")
        }
        try switchCurrent(name: name, to: version, layout: layout)
        return version
    }

    /// Removes what a killed install or switch left in `<root>/models/<name>/`: `.install-*` and
    /// `.current-*` entries whose process (the PID in the name) is gone. Entries of a live
    /// process (a retrain promoting right now) are left alone. Returns the removed paths.
    @discardableResult
    public static func removeStaleStaging(layout: RootLayout) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: layout.models)) ?? []).filter { !$0.hasPrefix(".") }.flatMap { name in
            AbandonedStaging.remove(in: "\(layout.models)/\(name)", prefixes: [".install-", ".current-"])
        }
    }

    /// Points `<name>/current` at `version` atomically (a new link renamed over the old one).
    public static func switchCurrent(name: String, to version: String, layout: RootLayout) throws {
        let base = "\(layout.models)/\(name)"
        let temporary = "\(base)/.current-\(getpid())"
        unlink(temporary)
        guard symlink(version, temporary) == 0, rename(temporary, "\(base)/current") == 0 else {
            let message = String(cString: strerror(errno))
            unlink(temporary)
            throw ModelStore.LoadError(path: "\(base)/current", detail: "cannot switch to version \(version): \(message)")
        }
        let directory = open(base, O_RDONLY | O_DIRECTORY)
        if directory >= 0 { fsync(directory); close(directory) }
    }

    /// The version `current` points to, or nil.
    public static func currentVersion(_ name: String, layout: RootLayout) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "\(layout.models)/\(name)/current")
    }
}
