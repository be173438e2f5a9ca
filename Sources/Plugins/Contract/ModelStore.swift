import Core
import Foundation

/// Model directories on disk: `<models>/<name>/<version>/{weights.safetensors, model.json}`,
/// with `<models>/<name>/current` a symbolic link to the version in service.
public enum ModelStore {
    /// A problem loading a model directory, with the path and what to do.
    public struct LoadError: Error, CustomStringConvertible, Sendable {
        public let path: String
        public let detail: String
        public init(path: String, detail: String) {
            self.path = path
            self.detail = detail
        }
        public var description: String { "\(path): \(detail)" }
    }

    /// The text of a top-level field of a JSON file, for error messages ("?" when unreadable).
    static func rawField(_ field: String, in path: String) -> String {
        guard let data = FileManager.default.contents(atPath: path),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return "?" }
        return object[field].map { "\($0)" } ?? "?"
    }

    /// Loads the model in `directory` (a version directory or a `current` link): reads the
    /// card, checks it against the registry (name, profile, architecture), builds the network
    /// and loads the weights, reporting every name or shape mismatch.
    public static func load(directory: String) throws -> (model: SegmentationModel, card: ModelCard) {
        let cardPath = "\(directory)/model.json"
        let card: ModelCard
        do {
            card = try JSONDecoder().decode(ModelCard.self, from: Data(contentsOf: URL(fileURLWithPath: cardPath)))
        } catch DecodingError.dataCorrupted(let context) where ["profile", "role"].contains(context.codingPath.last?.stringValue) {
            let field = context.codingPath.last!.stringValue
            let expected = field == "profile" ? ModelProfile.allCases.map(\.rawValue) : ModelRole.allCases.map(\.rawValue)
            throw LoadError(path: cardPath, detail: "unknown \(field) '\(Self.rawField(field, in: cardPath))'; expected \(expected.joined(separator: " or "))")
        } catch {
            throw LoadError(path: cardPath, detail: "cannot read the model card: \(error)")
        }
        guard let model = ModelRegistry.make(card.name, profile: card.profile) else {
            throw LoadError(path: cardPath, detail: ModelRegistry.UnknownModel(name: card.name).description)
        }
        let mismatched = model.architecture.filter { card.architecture[$0.key] != $0.value }
        if !mismatched.isEmpty {
            let described = mismatched.keys.sorted().map { "\($0): card \(card.architecture[$0].map(String.init) ?? "absent"), registry \(model.architecture[$0]!)" }
            throw LoadError(path: cardPath, detail: "architecture differs from the registry's \(card.name) (\(card.profile.rawValue)): \(described.joined(separator: "; "))")
        }
        do {
            _ = try WeightStore.load("\(directory)/weights.safetensors", into: model.parameters, ignoring: model.ignorableWeightNames)
        } catch {
            throw LoadError(path: "\(directory)/weights.safetensors", detail: "\(error)")
        }
        return (model, card)
    }

    /// Writes a model's weights and card into `directory` (created if needed), atomically.
    public static func save(_ model: SegmentationModel, card: ModelCard, to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try WeightStore.save(model.parameters, to: "\(directory)/weights.safetensors", metadata: ["name": card.name, "version": card.version])
        try AtomicFile.write([UInt8](try card.encoded()), to: "\(directory)/model.json")
    }
}
