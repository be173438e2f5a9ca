import ArgumentParser
import Core
import Daemon
import Foundation

/// `brainseg pool list|show|remove`: the distillation pool of a daemon's root (SPEC.md §5).
struct PoolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pool",
        abstract: "List, show and remove distillation-pool entries.",
        subcommands: [List.self, Show.self, Remove.self]
    )

    struct RootOptions: ParsableArguments {
        @Option(help: "Root folder (default ./var; /var/lib/brainseg under systemd).") var root: String = RootLayout.defaultRoot
        @Flag(help: "Print JSON.") var json = false
        var pool: DistillationPool { DistillationPool(directory: RootLayout(root: root).pool, maximumEntries: .max) }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every entry with its kind, score and admission time.")
        @OptionGroup var options: RootOptions

        func run() async throws {
            let entries = options.pool.entries()
            if options.json { print(try ReadableJSON.string(entries)); return }
            print("\(entries.count) entr\(entries.count == 1 ? "y" : "ies") in \(options.pool.directory)")
            let formatter = ISO8601DateFormatter()
            for entry in entries {
                let dice = entry.confidence.teacherDice.map { String(format: "teachers WT %.2f TC %.2f ET %.2f", $0.wholeTumour, $0.tumourCore, $0.enhancingTumour) } ?? ""
                print(String(format: "  %@  %@  score %.3f  WT %.1f mL  %@  %@", entry.caseIdentifier, entry.kind.rawValue, entry.confidence.score,
                             entry.confidence.wholeTumourMillilitres, dice, formatter.string(from: entry.admittedAt)))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One entry's entry.json.")
        @OptionGroup var options: RootOptions
        @Argument(help: "Entry (case) name.") var name: String

        func run() async throws {
            do {
                print(try ReadableJSON.string(try options.pool.entry(named: name)))
            } catch {
                printToStandardError("brainseg pool show: \(error)")
                throw ExitCode(1)
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an entry (e.g. a pseudo-label a radiologist rejected).")
        @OptionGroup var options: RootOptions
        @Argument(help: "Entry (case) names.") var names: [String]

        func run() async throws {
            var failed = false
            for name in names {
                do {
                    try options.pool.remove(name)
                    print("removed \(name)")
                } catch {
                    printToStandardError("brainseg pool remove: \(error)")
                    failed = true
                }
            }
            if failed { throw ExitCode(1) }
        }
    }
}
