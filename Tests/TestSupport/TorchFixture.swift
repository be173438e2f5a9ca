import Core
import Foundation

/// A PyTorch reference case: tensors and settings written by a script under
/// `Tests/Fixtures/torch/` (see `fixture_io.py`), one safetensors file per case.
public struct TorchFixture: Sendable {
    public let name: String
    public let tensors: [String: Tensor]
    /// Settings from `__metadata__`, JSON-decoded (numbers, strings, arrays).
    public let settings: [String: String]

    /// Loads `Tests/Fixtures/torch/<group>/<name>.safetensors`.
    public init(group: String, name: String) throws {
        let file = try SafeTensors.read(from: Fixtures.path("torch/\(group)/\(name).safetensors"))
        self.name = name
        tensors = file.tensors
        settings = file.metadata
    }

    /// Every case name in a group (file names without extension), sorted.
    public static func cases(in group: String) -> [String] {
        let folder = Fixtures.path("torch/\(group)")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { $0.hasSuffix(".safetensors") }.map { String($0.dropLast(12)) }.sorted()
    }

    /// A tensor that must exist.
    public subscript(_ key: String) -> Tensor {
        guard let tensor = tensors[key] else { fatalError("fixture \(name) has no tensor \(key); it has \(tensors.keys.sorted())") }
        return tensor
    }

    /// An integer setting.
    public func integer(_ key: String) -> Int {
        guard let text = settings[key], let value = Int(text) else { fatalError("fixture \(name): no integer setting \(key)") }
        return value
    }

    /// A floating-point setting.
    public func number(_ key: String) -> Double {
        guard let text = settings[key], let value = Double(text) else { fatalError("fixture \(name): no number setting \(key)") }
        return value
    }

    /// A string setting (JSON string unquoted).
    public func string(_ key: String) -> String {
        guard let text = settings[key], let data = text.data(using: .utf8),
              let value = try? JSONDecoder().decode(String.self, from: data) else { fatalError("fixture \(name): no string setting \(key)") }
        return value
    }

    /// An integer-array setting.
    public func integers(_ key: String) -> [Int] {
        guard let text = settings[key], let data = text.data(using: .utf8),
              let value = try? JSONDecoder().decode([Int].self, from: data) else { fatalError("fixture \(name): no integer-array setting \(key)") }
        return value
    }
}

/// Relative comparison for float32 results: max |a − b| ≤ tolerance × max(1, max |b|).
public func relativeError(_ actual: Tensor, _ expected: Tensor) -> Float {
    precondition(actual.shape == expected.shape, "shape \(actual.shape) vs \(expected.shape)")
    let scale = max(1, expected.withUnsafeBufferPointer { $0.reduce(0) { max($0, abs($1)) } })
    return actual.maximumAbsoluteDifference(expected) / scale
}
