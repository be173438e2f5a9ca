import Core
import Foundation
import Plugins

/// Loads models for one-shot commands along `ModelSearchPath`.
enum ModelLocator {
    /// Loads `names`. A model without weights anywhere throws `MissingModelWeights`, unless
    /// `allowUntrained`: then it is built with random weights and `warn` says so (for trying
    /// the pipeline before the first training; never silent).
    static func load(_ names: [String], profile: ModelProfile, explicit: String?, allowUntrained: Bool,
                     warn: (String) -> Void) throws -> [SegmentationModel] {
        try names.map { name in
            guard ModelRegistry.names.contains(name) else { throw ModelRegistry.UnknownModel(name: name) }
            if let directory = ModelSearchPath.locate(name, explicit: explicit) {
                let (model, card) = try ModelStore.load(directory: directory)
                guard model.profile == profile else {
                    throw ModelStore.LoadError(path: directory, detail: "profile \(card.profile.rawValue) differs from the requested \(profile.rawValue)")
                }
                return model
            }
            let searched = ModelSearchPath.folders(explicit: explicit)
            guard allowUntrained else { throw MissingModelWeights(name: name, searched: searched, optIn: "--allow-untrained") }
            warn("warning: no trained weights for \(name) (searched \(searched.joined(separator: ", "))); using random weights (--allow-untrained)")
            return ModelRegistry.make(name, profile: profile)!
        }
    }
}
