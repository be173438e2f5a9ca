import ArgumentParser
import Daemon
import Foundation
import Logging

/// `brainseg serve`: the drop-folder daemon (SPEC.md §2–3, §7), under systemd or in a terminal.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the drop-folder daemon (systemd Type=notify; plain log lines in a terminal)."
    )

    @Option(help: "TOML configuration file; every key is optional (default: the embedded configuration).")
    var config: String?

    @Option(help: "Root folder holding incoming/, output/, models/ … (overrides the configuration; default ./var).")
    var root: String?

    func run() async throws {
        DaemonLogging.bootstrap()
        let logger = Logger(label: "brainseg.serve")
        do {
            let service = try DaemonService(configurationPath: config, rootOverride: root, logger: logger)
            try service.run()
        } catch {
            logger.critical("brainseg serve cannot start: \(error)")
            if DaemonLogging.currentTarget() == .journal { printToStandardError("brainseg serve: \(error)") }
            throw ExitCode(1)
        }
    }
}
