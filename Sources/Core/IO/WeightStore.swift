/// Saving a network's parameters to a safetensors file and loading them back, by name.
///
/// Saving writes one F32 tensor per parameter under the parameter's name, plus string metadata
/// (model, profile, steps, …), atomically (`SafeTensors.write`: temporary name, fsync, rename),
/// so a reader sees the old file or the new one, never a partial one.
///
/// Loading checks the whole file against the parameter list before changing anything and
/// reports EVERY problem in one `WeightStoreError`: tensors the network needs but the file lacks,
/// tensors in the file the network does not have (unless allow-listed), tensors whose shape
/// differs, and tensors holding NaN or infinity. Only when there is no problem are the values
/// assigned (gradients are left alone). The allow-list exists for checkpoints that carry
/// unused tensors, e.g. the released student's `decoder_convs.3.*` and `decoder_convs1x1.3.*`.
public enum WeightStore {
    /// Writes `parameters` (names must be distinct) and `metadata` to `path` atomically.
    /// Throws `WeightStoreError` for duplicate names, or the underlying I/O error.
    public static func save(_ parameters: [Parameter], to path: String, metadata: [String: String] = [:]) throws {
        var tensors: [String: Tensor] = [:]
        var duplicates: [String] = []
        for parameter in parameters {
            if tensors.updateValue(parameter.value, forKey: parameter.name) != nil { duplicates.append(parameter.name) }
        }
        guard duplicates.isEmpty else {
            throw WeightStoreError(path: path, problems: duplicates.map { .duplicateName($0) }, action: "save")
        }
        try SafeTensors(tensors: tensors, metadata: metadata).write(to: path)
    }

    /// Loads `path` into `parameters` and returns the file's metadata.
    ///
    /// - Parameter ignoring: names of tensors that may be present in the file and are then
    ///   ignored; an entry ending in `*` matches every name with that prefix
    ///   (`"decoder_convs.3.*"`). Allow-listed names that the network does need are still loaded.
    /// - Throws: `SafeTensors.FormatError` for an unreadable file; `WeightStoreError` listing all
    ///   mismatches. Nothing is changed when it throws.
    @discardableResult
    public static func load(_ path: String, into parameters: [Parameter], ignoring allowList: [String] = []) throws -> [String: String] {
        let file = try SafeTensors.read(from: path)
        var problems: [WeightStoreError.Problem] = []
        var seen = Set<String>()
        for parameter in parameters {
            guard seen.insert(parameter.name).inserted else {
                problems.append(.duplicateName(parameter.name))
                continue
            }
            guard let tensor = file.tensors[parameter.name] else {
                problems.append(.missing(name: parameter.name, expectedShape: parameter.shape))
                continue
            }
            if tensor.shape != parameter.shape {
                problems.append(.shapeMismatch(name: parameter.name, expectedShape: parameter.shape, foundShape: tensor.shape))
            } else if let bad = firstNonFinite(tensor) {
                problems.append(.nonFinite(name: parameter.name, value: bad))
            }
        }
        for name in file.tensors.keys.sorted() where !seen.contains(name) && !matches(name, allowList) {
            problems.append(.unexpected(name: name, foundShape: file.tensors[name]!.shape))
        }
        guard problems.isEmpty else { throw WeightStoreError(path: path, problems: problems, action: "load") }
        for parameter in parameters { parameter.value = file.tensors[parameter.name]! }
        return file.metadata
    }

    /// Whether `name` is on the allow-list (exact, or prefix for entries ending in `*`).
    static func matches(_ name: String, _ allowList: [String]) -> Bool {
        allowList.contains { entry in
            entry.hasSuffix("*") ? name.hasPrefix(entry.dropLast()) : name == entry
        }
    }

    private static func firstNonFinite(_ tensor: Tensor) -> Float? {
        tensor.withUnsafeBufferPointer { values in values.first { !$0.isFinite } }
    }
}

/// A weight file that does not fit the network, with every problem named.
public struct WeightStoreError: Error, CustomStringConvertible, Sendable {
    public enum Problem: Sendable, Equatable, CustomStringConvertible {
        /// The network has the parameter, the file has no tensor of that name.
        case missing(name: String, expectedShape: [Int])
        /// The file has a tensor the network does not have and that is not allow-listed.
        case unexpected(name: String, foundShape: [Int])
        /// Both have it, with different shapes.
        case shapeMismatch(name: String, expectedShape: [Int], foundShape: [Int])
        /// The tensor contains NaN or ±∞ (a diverged training run).
        case nonFinite(name: String, value: Float)
        /// Two parameters of the network share a name (a programming error in the network).
        case duplicateName(String)

        public var name: String {
            switch self {
            case .missing(let name, _), .unexpected(let name, _), .shapeMismatch(let name, _, _), .nonFinite(let name, _),
                 .duplicateName(let name):
                return name
            }
        }

        public var description: String {
            switch self {
            case .missing(let name, let shape):
                return "missing: \(name) \(shape) is needed by the network but not in the file"
            case .unexpected(let name, let shape):
                return "unexpected: \(name) \(shape) is in the file but not in the network"
            case .shapeMismatch(let name, let expected, let found):
                return "wrong shape: \(name) is \(found) in the file, the network expects \(expected)"
            case .nonFinite(let name, let value):
                return "not finite: \(name) contains \(value)"
            case .duplicateName(let name):
                return "duplicate: two network parameters are named \(name)"
            }
        }
    }

    /// The weight file.
    public let path: String
    /// Every problem found, in parameter order, then unexpected tensors sorted by name.
    public let problems: [Problem]
    let action: String

    public var description: String {
        let count = problems.count == 1 ? "1 problem" : "\(problems.count) problems"
        return "cannot \(action) weights \(path) (\(count)):\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
            + "\nCheck that the file was written for this model and profile (channel widths), convert it again, "
            + "or retrain; tensors that are known to be unused can be allow-listed."
    }
}
