import Core
import Foundation
import Logging
import Plugins

/// `brainseg serve`: the drop-folder daemon (SPEC.md §2–3, §7).
///
/// Start-up, in this order: configuration, the root (`RootAdoption`: never `/` or a folder that
/// is not brainseg's; one daemon per root, `ProcessLock`), the root's folders, the ledger, the
/// crash note (`CrashRecorder`), removal of what killed installs and publications left, the
/// models (installed into the root on first start), the watcher; then `WorkLoop` runs until
/// SIGTERM. Start-up failures throw, and so does a ledger file deleted or replaced while
/// running (the daemon exits 1 for systemd to restart it); per-case problems never stop it.
///
/// The case path, top to bottom: `WorkLoop` (readiness → queue) → `CaseIntake` (safety checks,
/// files that count, digests: a `ClaimedCase`) → `CaseFolders.move` into `work/` → `CaseRunner`
/// (ledger registration, crash accounting, the pass through `CaseProcessor`, filing, events).
public final class DaemonService {
    private let configuration: DaemonConfiguration
    private let configurationPath: String?
    private let rootOverride: String?
    private let logger: Logger
    private let layout: RootLayout

    public init(configurationPath: String?, rootOverride: String?, logger: Logger) throws {
        self.configurationPath = configurationPath
        self.rootOverride = rootOverride
        self.logger = logger
        var configuration = try DaemonConfiguration.load(path: configurationPath)
        if let rootOverride { configuration.root = rootOverride }
        self.configuration = configuration
        layout = RootLayout(root: configuration.root)
    }

    /// Runs until SIGTERM/SIGINT. Throws for start-up failures (configuration, folders, ledger,
    /// models), and when the ledger file is deleted or replaced while running (`WorkLoop.run`).
    public func run() throws {
        try RootAdoption.check(layout)
        // One daemon per root: a second one would resume the first one's case in work/ and
        // process it twice.
        let lock = try ProcessLock(path: "\(layout.root)/.serve.lock", holder: "brainseg daemon on \(layout.root)")
        defer { withExtendedLifetime(lock) {} }
        for folder in layout.folders {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        let ledger = try Ledger(path: layout.ledger)
        let notes = CrashRecorder(path: "\(layout.root)/.crash-note")
        if !notes.isArmed { logger.warning("cannot write \(layout.root)/.crash-note: a case that crashes the daemon will not be recognised") }
        DistillationPool(directory: layout.pool, maximumEntries: configuration.pool.maximumEntries).removeStaleStaging()
        for stale in ModelInstaller.removeStaleStaging(layout: layout) + OutputFolderPublisher.removeStaleStaging(output: layout.output) {
            logger.notice("removed \(stale), left by an interrupted install or publication")
        }
        ConvolutionKernelCheck.warnIfUnavailable(logger, work: "running", unit: "brainseg.service")
        ConvolutionKernelCheck.reportWinograd(logger)
        ConvolutionKernelCheck.reportReducedPrecision(logger, precision: configuration.precision)
        let models = try ModelsInService(configuration: configuration, layout: layout, logger: logger)
        let runner = CaseRunner(ledger: ledger, pipeline: models.processor, notes: notes, layout: layout,
                                policy: .init(configuration), logger: logger)
        let watcher = try DropFolderWatcher(incoming: layout.incoming, mode: Self.watchMode(configuration),
                                            pollingInterval: .milliseconds(Int(configuration.pollIntervalSeconds * 1000)))
        defer { watcher.close() }
        let reloadConfiguration: () throws -> DaemonConfiguration = { [configurationPath, rootOverride] in
            var fresh = try DaemonConfiguration.load(path: configurationPath)
            if let rootOverride { fresh.root = rootOverride }
            return fresh
        }
        let loop = WorkLoop(configuration: configuration, layout: layout, logger: logger, ledger: ledger, runner: runner,
                            models: models, watcher: watcher, reloadConfiguration: reloadConfiguration)
        try loop.run()
    }

    static func watchMode(_ configuration: DaemonConfiguration) -> DropFolderWatcher.Mode {
        switch configuration.watchMode {
        case .poll: return .polling(interval: .milliseconds(Int(configuration.pollIntervalSeconds * 1000)))
        case .inotify: return .inotify
        case .automatic: return .automatic
        }
    }
}
