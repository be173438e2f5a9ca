import Core
import Foundation
import Plugins

/// The versions of one model under `<root>/models/<name>/`: numbered folders and the `current`
/// link (SPEC.md §2). Promotion, rollback and pruning for `brainseg retrain` and `brainseg models`.
public struct ModelVersions: Sendable {
    public let name: String
    public let layout: RootLayout

    public init(name: String, layout: RootLayout) {
        self.name = name
        self.layout = layout
    }

    public struct VersionError: Error, CustomStringConvertible, Sendable {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// One version as listed.
    public struct Version: Sendable, Codable, Equatable {
        public var version: String
        public var current: Bool
        public var card: ModelCard?
    }

    var base: String { "\(layout.models)/\(name)" }

    /// Numbered versions, oldest first.
    public var numbers: [Int] {
        (((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).compactMap { Int($0) }).sorted()
    }

    public var current: String? { ModelInstaller.currentVersion(name, layout: layout) }

    public func list() -> [Version] {
        let current = self.current
        return numbers.map { number in
            let directory = "\(base)/\(number)"
            let card = FileManager.default.contents(atPath: "\(directory)/model.json").flatMap { try? JSONDecoder().decode(ModelCard.self, from: $0) }
            return Version(version: String(number), current: String(number) == current, card: card)
        }
    }

    /// Installs the model folder `source` (weights + card) as the next version and switches
    /// `current` to it. The card's `version` is rewritten to the new number.
    public func promote(from source: String, notes: String) throws -> String {
        let cardPath = "\(source)/model.json"
        guard let data = FileManager.default.contents(atPath: cardPath) else { throw VersionError("\(cardPath) not found") }
        var card = try JSONDecoder().decode(ModelCard.self, from: data)
        card.version = String((numbers.max() ?? 0) + 1)
        card.notes = notes
        try AtomicFile.write([UInt8](try card.encoded()), to: cardPath)
        return try ModelInstaller.install(from: source, name: name, layout: layout)
    }

    /// Points `current` at `version`, or at the newest version older than the current one.
    /// Returns (from, to).
    public func rollback(to version: String?) throws -> (String, String) {
        guard let current else { throw VersionError("\(name) has no version in service (\(base)/current missing)") }
        let target: String
        if let version {
            guard numbers.contains(where: { String($0) == version }) else {
                throw VersionError("\(name) has no version \(version) (kept: \(numbers.map(String.init).joined(separator: ", ")))")
            }
            target = version
        } else {
            guard let currentNumber = Int(current), let older = numbers.last(where: { $0 < currentNumber }) else {
                throw VersionError("\(name) v\(current) has no older version to roll back to")
            }
            target = String(older)
        }
        guard FileManager.default.fileExists(atPath: "\(base)/\(target)/weights.safetensors") else {
            throw VersionError("\(base)/\(target) has no weights.safetensors")
        }
        try ModelInstaller.switchCurrent(name: name, to: target, layout: layout)
        return (current, target)
    }

    /// Deletes the oldest versions beyond `keep`, never the one in service. Returns the removed ones.
    @discardableResult
    public func prune(keep: Int) -> [String] {
        let current = self.current
        var removable = numbers.map(String.init).filter { $0 != current }
        var removed: [String] = []
        while removable.count + (current == nil ? 0 : 1) > keep, let oldest = removable.first {
            removable.removeFirst()
            if (try? FileManager.default.removeItem(atPath: "\(base)/\(oldest)")) != nil { removed.append(oldest) }
        }
        return removed
    }
}
