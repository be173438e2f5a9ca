import ArgumentParser
import Daemon

/// `brainseg status`: what the daemon on a root is doing and has done, read from the ledger and
/// the folders without disturbing a running daemon (SPEC.md §6). Exit status 0 with a report
/// (also when there is no ledger yet), 1 when the root does not exist.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the queue, recent cases, failures, model versions, pool size and last retrain."
    )

    @Option(help: "Root folder of the daemon (default ./var; /var/lib/brainseg under systemd).")
    var root: String = RootLayout.defaultRoot

    @Flag(help: "Print one JSON object instead of tables.")
    var json = false

    @Option(help: "How many recent cases and failures to list.")
    var limit: Int = 10

    func run() async throws {
        let report: StatusReport
        do {
            report = try StatusReport.gather(layout: RootLayout(root: root), recentLimit: limit, failureLimit: limit)
        } catch let error as StatusReport.MissingRoot {
            printToStandardError("brainseg status: \(error)")
            throw ExitCode(1)
        }
        print(json ? try report.json() : report.text())
    }
}
