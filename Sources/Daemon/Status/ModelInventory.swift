import Foundation

/// What is installed under `<root>/models/` (SPEC.md §2): for every model folder, the version
/// `current` points to and what its `model.json` says. Read without loading any weights, and
/// tolerant of half-installed folders (every problem becomes a `note`, never an error), because
/// `brainseg status` must work on any root.
public struct InstalledModel: Sendable, Equatable, Codable {
    /// The folder name under `models/` (e.g. `student`).
    public var name: String
    /// The version in service: the target of the `current` link (its last path component), or the
    /// content of a `current` file; nil when there is no `current`.
    public var currentVersion: String?
    /// `model.json`'s `name`, `version` and `date`, when readable.
    public var cardName: String?
    public var cardVersion: String?
    public var date: String?
    /// `model.json`'s `validationDice` (`WT`, `TC`, `ET`), when present.
    public var validationDice: [String: Double]?
    /// Versions present on disk (numeric ones sorted numerically).
    public var versionsOnDisk: [String]
    /// What is wrong or missing, for the operator (nil when all is well).
    public var note: String?
}

public enum ModelInventory {
    /// The models installed under `modelsFolder`, sorted by name; empty when the folder is missing.
    public static func list(modelsFolder: String) -> [InstalledModel] {
        let manager = FileManager.default
        let names = ((try? manager.contentsOfDirectory(atPath: modelsFolder)) ?? [])
            .filter { !$0.hasPrefix(".") && isDirectory("\(modelsFolder)/\($0)") }
            .sorted()
        return names.map { inspect(folder: "\(modelsFolder)/\($0)", name: $0) }
    }

    static func inspect(folder: String, name: String) -> InstalledModel {
        let manager = FileManager.default
        let entries = ((try? manager.contentsOfDirectory(atPath: folder)) ?? []).filter { !$0.hasPrefix(".") && $0 != "current" }
        let versions = entries.filter { isDirectory("\(folder)/\($0)") }.sorted { left, right in
            switch (Int(left), Int(right)) {
            case let (l?, r?): return l < r
            case (_?, nil): return true
            case (nil, _?): return false
            default: return left < right
            }
        }
        var model = InstalledModel(name: name, versionsOnDisk: versions)
        let current = "\(folder)/current"
        var currentFolder: String?
        if let target = try? manager.destinationOfSymbolicLink(atPath: current) {
            model.currentVersion = URL(fileURLWithPath: target).lastPathComponent
            currentFolder = target.hasPrefix("/") ? target : "\(folder)/\(target)"
        } else if isDirectory(current) {
            model.currentVersion = "current"
            currentFolder = current
        } else if let text = try? String(contentsOfFile: current, encoding: .utf8) {
            let version = text.trimmingCharacters(in: .whitespacesAndNewlines)
            model.currentVersion = version
            currentFolder = "\(folder)/\(version)"
        } else {
            model.note = versions.isEmpty ? "no versions installed" : "no 'current' link (versions on disk: \(versions.joined(separator: ", ")))"
            return model
        }
        guard let currentFolder, isDirectory(currentFolder) else {
            model.note = "'current' points to a missing version"
            return model
        }
        let cardPath = "\(currentFolder)/model.json"
        guard let data = manager.contents(atPath: cardPath) else {
            model.note = "no model.json in \(currentFolder)"
            return model
        }
        guard let card = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            model.note = "model.json in \(currentFolder) is not a JSON object"
            return model
        }
        model.cardName = card["name"] as? String
        model.cardVersion = card["version"] as? String ?? (card["version"] as? Int).map(String.init)
        model.date = card["date"] as? String
        if let dice = card["validationDice"] as? [String: Any] {
            let numbers = dice.compactMapValues { ($0 as? NSNumber)?.doubleValue }
            if !numbers.isEmpty { model.validationDice = numbers }
        }
        return model
    }

    static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}
