import ArgumentParser
import Core
import Daemon
import Foundation
import Logging

/// `brainseg retrain`: one nightly student retraining with the promotion gate (SPEC.md §5).
/// Exit status 0 whether the candidate was promoted or rejected (both are decisions); 1 when
/// the run could not happen (another run holds the lock, no student in service, no data).
struct RetrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retrain",
        abstract: "Fine-tune the student on labelled + pool cases and promote it only if the hold-out Dice does not get worse."
    )

    @Option(help: "TOML configuration file (its [training] table gives the defaults).") var config: String?
    @Option(help: "Root folder (default ./var; /var/lib/brainseg under systemd).") var root: String?
    @Option(help: "Time budget, e.g. 2h, 45m, 1m: caps training.steps (default: training.budget_minutes).") var budget: String?
    @Option(help: "Fixed number of training steps, without a budget (default: training.steps, capped by the budget).") var steps: Int?
    @Option(help: "A labelled case folder or folder of case folders (repeatable; default: training.labelled).") var labelled: [String] = []
    @Option(help: "Comma-separated hold-out case names (default: training.holdout).") var holdout: String?
    @Option(help: "Judge this model folder (weights.safetensors + model.json) instead of training a candidate.") var candidate: String?
    @Option(help: "Training seed (default: the newest student version number).") var seed: UInt64?
    @Flag(help: "Print the decision as JSON.") var json = false

    func run() async throws {
        DaemonLogging.bootstrap()
        let logger = Logger(label: "brainseg.retrain")
        do {
            let configuration = try DaemonConfiguration.load(path: config, rootOverride: root)
            var options = StudentRetraining.Options()
            options.budgetSeconds = try budget.map(TrainCommand.parseDuration)
            options.steps = steps
            // Command-line folders are relative to the working directory (configuration ones to the root).
            options.labelled = labelled.isEmpty ? nil : labelled.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
            options.holdout = holdout.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
            options.candidate = candidate
            options.seed = seed
            let retraining = StudentRetraining(configuration: configuration, options: options, logger: logger) { printToStandardError($0) }
            let outcome = try retraining.run()
            let decision = outcome.decision
            if json {
                print(try ReadableJSON.string(decision))
            } else {
                let verdict = decision.promoted ? "promoted as student v\(decision.promotedVersion!)" : "rejected; student v\(decision.startingVersion) stays in service"
                print("retrain \(decision.run): \(verdict)")
                for reason in decision.reasons { print("  \(reason)") }
                print("  run folder: \(outcome.runDirectory)")
            }
        } catch {
            printToStandardError("brainseg retrain: \(error)")
            throw ExitCode(1)
        }
    }
}
