/// A model that has no trained weights in any folder of `ModelSearchPath`. Masks from random
/// weights look like masks, so neither `brainseg segment` nor the daemon runs such a model
/// unless asked to explicitly (`--allow-untrained`, `[models] allow_untrained = true`: for
/// trying the pipeline before any training, never for patients).
public struct MissingModelWeights: Error, CustomStringConvertible, Sendable {
    public let name: String
    /// The folders searched, in order.
    public let searched: [String]
    /// How the caller opts in to random weights (a flag or a configuration key).
    public let optIn: String

    public init(name: String, searched: [String], optIn: String) {
        self.name = name
        self.searched = searched
        self.optIn = optIn
    }

    public var description: String {
        "no trained weights for \(name) (searched \(searched.joined(separator: ", "))); install the shipped models into one "
            + "of these folders (README \"Models\"), or opt in to random weights with \(optIn) (its masks are meaningless)"
    }
}
