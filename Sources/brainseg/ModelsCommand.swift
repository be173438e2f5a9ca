import ArgumentParser
import Core
import Daemon
import Foundation
import Logging
import Plugins

/// `brainseg models list|show|rollback`: the model versions under `<root>/models/` (SPEC.md §6).
struct ModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List, show and roll back the model versions in a daemon's root.",
        subcommands: [List.self, Show.self, Rollback.self]
    )

    struct RootOptions: ParsableArguments {
        @Option(help: "Root folder (default ./var; /var/lib/brainseg under systemd).") var root: String = RootLayout.defaultRoot
        @Flag(help: "Print JSON.") var json = false
        var layout: RootLayout { RootLayout(root: root) }
    }

    static func modelNames(_ layout: RootLayout) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: layout.models)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    static func dice(_ card: ModelCard?) -> String {
        guard let dice = card?.validationDice else { return "–" }
        return String(format: "WT %.3f TC %.3f ET %.3f", dice.wholeTumour, dice.tumourCore, dice.enhancingTumour)
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every model with its kept versions; * marks the one in service.")
        @OptionGroup var options: RootOptions

        func run() async throws {
            let layout = options.layout
            var all: [String: [ModelVersions.Version]] = [:]
            for name in ModelsCommand.modelNames(layout) { all[name] = ModelVersions(name: name, layout: layout).list() }
            if options.json { print(try ReadableJSON.string(all)); return }
            if all.isEmpty { print("no models installed under \(layout.models)"); return }
            for name in all.keys.sorted() {
                print(name)
                for version in all[name]! {
                    let card = version.card
                    print("  \(version.current ? "*" : " ") v\(version.version)  \(card?.date ?? "")  steps \(card?.steps ?? 0)  hold-out \(ModelsCommand.dice(card))")
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The model card of a version (default: the one in service).")
        @OptionGroup var options: RootOptions
        @Argument(help: "Model name.") var name: String
        @Argument(help: "Version (default: current).") var version: String?

        func run() async throws {
            let versions = ModelVersions(name: name, layout: options.layout)
            guard let chosen = version ?? versions.current, let entry = versions.list().first(where: { $0.version == chosen }) else {
                printToStandardError("brainseg models show: \(name) has no version \(version ?? "in service") under \(options.layout.models)")
                throw ExitCode(1)
            }
            if options.json { print(try ReadableJSON.string(entry)); return }
            print("\(name) v\(entry.version)\(entry.current ? " (in service)" : "")")
            if let card = entry.card {
                print(String(decoding: try card.encoded(), as: UTF8.self))
            }
        }
    }

    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put an older version back into service (default: the newest one older than the current); the running daemon picks it up.")
        @OptionGroup var options: RootOptions
        @Argument(help: "Model name.") var name: String
        @Argument(help: "Version to return to.") var version: String?

        func run() async throws {
            DaemonLogging.bootstrap()
            let logger = Logger(label: "brainseg.models")
            let layout = options.layout
            do {
                let (from, to) = try ModelVersions(name: name, layout: layout).rollback(to: version)
                let ledger = try Ledger(path: layout.ledger)
                _ = try ledger.recordModelEvent(name: name, version: to, kind: .rolledBack, detailJSON: "{\"from\":\"\(from)\",\"to\":\"\(to)\"}")
                logger.log(.rollback, "\(name) rolled back from v\(from) to v\(to)", fields: [.model: name, .modelVersion: to])
                print("\(name): v\(from) → v\(to) (in service now)")
            } catch {
                printToStandardError("brainseg models rollback: \(error)")
                throw ExitCode(1)
            }
        }
    }
}
