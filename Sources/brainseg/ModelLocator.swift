import Core
import Foundation
import Plugins

/// Loads models for one-shot commands along `ModelSearchPath`.
enum ModelLocator {
    /// Loads `names`; a model without weights anywhere is built with random weights, and
    /// `warn` says so (useful before the first training; never silent).
    static func load(_ names: [String], profile: ModelProfile, explicit: String?, warn: (String) -> Void) throws -> [SegmentationModel] {
        try names.map { name in
            guard ModelRegistry.names.contains(name) else { throw ModelRegistry.UnknownModel(name: name) }
            if let directory = ModelSearchPath.locate(name, explicit: explicit) {
                let (model, card) = try ModelStore.load(directory: directory)
                guard model.profile == profile else {
                    throw ModelStore.LoadError(path: directory, detail: "profile \(card.profile.rawValue) differs from the requested \(profile.rawValue)")
                }
                return model
            }
            warn("warning: no trained weights for \(name) (searched \(ModelSearchPath.folders(explicit: explicit).joined(separator: ", "))); using random weights")
            return ModelRegistry.make(name, profile: profile)!
        }
    }
}
