import Core
import Foundation
import Logging

/// The daemon's one synchronous work loop: watcher events → readiness (marker or quiescence) →
/// queue → one case at a time; then retries, student-first teachers' passes and idle
/// housekeeping. It owns the loop, signals, systemd status and the watchdog heartbeat; the case
/// itself is `CaseIntake` + `CaseRunner`.
///
/// SIGTERM: `STOPPING=1`; the case in progress finishes when it is expected to finish within
/// the stop timeout, otherwise it stops at the next stage and is resumed at the next start.
/// SIGHUP: `RELOADING=1`, configuration and models reloaded, `READY=1`. A watchdog thread sends
/// `WATCHDOG=1` at half the interval while the loop's heartbeat is fresh.
final class WorkLoop {
    private var configuration: DaemonConfiguration
    private let layout: RootLayout
    private let logger: Logger
    private let ledger: Ledger
    private let runner: CaseRunner
    private var models: ModelsInService
    private let watcher: DropFolderWatcher
    private let reloadConfiguration: () throws -> DaemonConfiguration
    private let notifier = SystemdNotifier()
    private let heartbeat = Heartbeat()
    private let stuck: StuckCases
    private var housekeeping = IdleHousekeeping()
    private var readiness: CaseReadiness
    private var queue: [String] = []
    private var retries: [(name: String, folder: String, notBefore: Date)] = []
    /// Finished cases whose inputs could not be filed away (`archive/` or `failed/` unusable):
    /// offered again with back-off until the move succeeds.
    private var unfiled: [(name: String, folder: String, notBefore: Date, delay: Double)] = []
    private var lastStatus = ""

    init(configuration: DaemonConfiguration, layout: RootLayout, logger: Logger, ledger: Ledger, runner: CaseRunner,
         models: ModelsInService, watcher: DropFolderWatcher, reloadConfiguration: @escaping () throws -> DaemonConfiguration) {
        self.configuration = configuration
        self.layout = layout
        self.logger = logger
        self.ledger = ledger
        self.runner = runner
        self.models = models
        self.watcher = watcher
        self.reloadConfiguration = reloadConfiguration
        stuck = StuckCases(ledger: ledger, logger: logger)
        readiness = CaseReadiness(settings: Self.readinessSettings(configuration))
    }

    static func readinessSettings(_ configuration: DaemonConfiguration) -> CaseReadiness.Settings {
        .init(markerFileName: configuration.marker, quiescencePeriod: .milliseconds(Int(configuration.quiescenceSeconds * 1000)))
    }

    /// Why the loop stopped the daemon with a failure (systemd restarts it: `Restart=on-failure`).
    struct LedgerFileChanged: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs until SIGTERM. Throws `LedgerFileChanged` when `ledger.sqlite` was deleted or
    /// replaced while running: the open database no longer is the file a restart reads. A
    /// deleted file is first written back from the open database (nothing recorded is lost);
    /// the daemon then exits 1 between cases, and starts again on the file that is there.
    func run() throws {
        let signals = SignalMonitor { [watcher] in watcher.wake() }
        let watchdog = WatchdogThread(notifier: notifier, heartbeat: heartbeat)
        watchdog.start()
        defer { watchdog.stop() }
        // Cases a crash or a stop left in work/ come first.
        let leftovers = ((try? FileManager.default.contentsOfDirectory(atPath: layout.work)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        logger.info("brainseg \(layout.root): watching \(layout.incoming) (\(watcher.effectiveMode)); models \(models.summary); \(leftovers.count) case(s) to resume")
        _ = notifier.ready(status: statusLine())
        for name in leftovers where !signals.stopRequested {
            runClaimed(name: name, folder: "\(layout.work)/\(name)", received: nil, isLeftover: true, signals: signals)
        }
        var pendingEvents: [DropFolderEvent] = [.fullRescan]
        while !signals.stopRequested {
            heartbeat.beat()
            if let reason = ledgerFileProblem() {
                _ = notifier.stopping(status: "stopping: \(reason)")
                logger.critical("\(reason)")
                throw LedgerFileChanged(description: reason)
            }
            if signals.takeReloadRequest() { reload() } else if models.changedOnDisk(layout: layout) { reloadModels() }
            let now = ContinuousClock.now
            enqueueReadyCases(events: pendingEvents, at: now)
            if turn(signals: signals) {
                pendingEvents = [.fullRescan]
                continue
            }
            housekeeping.run(configuration: configuration, layout: layout, logger: logger)
            stuck.forgetVanished(incoming: layout.incoming)
            let wait = readiness.nextRefresh(at: now).map { max(.zero, $0 - now) } ?? .seconds(1)
            pendingEvents = watcher.nextEvents(timeout: min(wait, .seconds(1)))
        }
        _ = notifier.stopping(status: "stopping")
        logger.info("brainseg stopping")
    }

    /// nil while the ledger file is the one opened; else what happened to it and what was done.
    private func ledgerFileProblem() -> String? {
        switch ledger.fileChange {
        case .unchanged:
            return nil
        case .deleted:
            do {
                try ledger.restoreDeletedFile()
                return "\(ledger.path) was deleted while the daemon ran; it was written back from the open database with every record, and the daemon restarts to use it"
            } catch {
                return "\(ledger.path) was deleted while the daemon ran and could not be written back (\(error)); the daemon stops so that nothing more is recorded into a file that is gone"
            }
        case .replaced:
            return "\(ledger.path) was replaced by another file while the daemon ran; the daemon restarts to use it (records written since the replacement went into the old file)"
        }
    }

    /// One unit of work, in priority order: a new case, a due retry, a deferred teachers' pass.
    /// Returns false when there was nothing to do.
    private func turn(signals: SignalMonitor) -> Bool {
        if let name = queue.first {
            queue.removeFirst()
            readiness.forget(name)
            publishStatus(statusLine(current: name))
            takeIncoming(name: name, signals: signals)
            publishStatus(statusLine())
            return true
        }
        if let retry = retries.first, retry.notBefore <= Date() {
            retries.removeFirst()
            runClaimed(name: retry.name, folder: retry.folder, received: nil, signals: signals)
            return true
        }
        if let index = unfiled.firstIndex(where: { $0.notBefore <= Date() }) {
            let entry = unfiled.remove(at: index)
            runClaimed(name: entry.name, folder: entry.folder, received: nil, isLeftover: true, signals: signals, unfiledDelay: entry.delay)
            return true
        }
        if let name = ((try? FileManager.default.contentsOfDirectory(atPath: layout.deferred)) ?? []).filter({ !$0.hasPrefix(".") }).sorted().first {
            publishStatus("teachers for \(name) (student mask out) · \(models.summary)")
            runDeferred(name: name, signals: signals)
            publishStatus(statusLine())
            return true
        }
        return false
    }

    private func enqueueReadyCases(events: [DropFolderEvent], at now: ContinuousClock.Instant) {
        for name in readiness.refresh(incoming: layout.incoming, events: events, at: now)
        where !queue.contains(name) && !stuck.isWaiting(name, at: now) {
            queue.append(name)
            if !stuck.isKnown(name) { logger.log(.caseReceived, fields: [.caseID: name]) }
        }
        failIncompleteCases(at: now)
    }

    // MARK: - Cases

    /// A complete case in incoming/: check, claim, run. An entry that cannot be moved out of
    /// incoming/ (permissions) is reported once and retried with back-off (`StuckCases`).
    private func takeIncoming(name: String, signals: SignalMonitor) {
        let incomingPath = "\(layout.incoming)/\(name)"
        let received = Date()
        if case .failure(let refusal) = DropFolderSafety.inspect(caseDirectory: incomingPath, allowedRoot: layout.incoming, limits: safetyLimits) {
            refuseFromIncoming(name, path: incomingPath, reason: refusal.reason, action: "refused and moved to failed/ (\(refusal.reason))")
            return
        }
        let claimedFolder: String
        do {
            claimedFolder = try CaseFolders.move(incomingPath, into: layout.work, name: name)
        } catch let error as CaseFolders.MoveError where error.code != ENOENT {
            stuck.record(name, path: incomingPath, error: error, action: "claimed (moved into work/)")
            return
        } catch {
            logger.warning("could not claim \(name): \(error)")   // another daemon took it, or it vanished
            return
        }
        stuck.clear(name)
        runClaimed(name: name, folder: claimedFolder, received: received, signals: signals)
    }

    /// A case folder inside work/: intake (checked again: the sender may have changed it
    /// between the checks and the claim), then the runner. A leftover (found in work/ at start,
    /// or offered again because it could not be filed) whose content the ledger says is
    /// finished is only filed away (`CaseRunner.fileFinishedLeftover`), never run again. A
    /// finished case whose folder is still in work/ afterwards is offered again after
    /// `unfiledDelay` seconds (the retry back-off at first), doubling up to ten minutes.
    private func runClaimed(name: String, folder: String, received: Date?, isLeftover: Bool = false, signals: SignalMonitor,
                            unfiledDelay: Double? = nil) {
        let claimed: ClaimedCase
        switch CaseIntake.examine(folder: folder, name: name, allowedRoot: layout.work, limits: safetyLimits) {
        case .failure(let failure):
            try? runner.refuse(folder: folder, name: name, reason: failure.description)
            return
        case .success(let value):
            claimed = value
        }
        let verdict: CaseRunner.Verdict
        if isLeftover, let filed = runner.fileFinishedLeftover(claimed) {
            verdict = filed
        } else {
            housekeeping.noteActivity()
            defer { housekeeping.noteActivity() }
            let pass: CasePass = configuration.inferenceMode == .studentFirst ? .studentOnly : .ensemble
            verdict = runner.run(claimed, pass: pass, received: received, progress: { stage in
                self.heartbeat.beat()
                self.publishStatus("segmenting \(name) (\(stage))")
            }, stopRequested: { signals.stopRequested })
        }
        switch verdict {
        case .retry(let notBefore):
            retries.append((name, folder, notBefore))
        case .requeued:
            break
        case .completed, .duplicate, .deferred, .failed:
            if FileManager.default.fileExists(atPath: folder) {
                let delay = unfiledDelay ?? configuration.retryBackoffSeconds
                unfiled.append((name, folder, Date().addingTimeInterval(delay), min(delay * 2, 600)))
            }
        }
    }

    /// Student-first mode: the teachers' pass over a case whose student mask is out.
    private func runDeferred(name: String, signals: SignalMonitor) {
        let folder = "\(layout.deferred)/\(name)"
        switch CaseIntake.examine(folder: folder, name: name, allowedRoot: layout.deferred, limits: safetyLimits) {
        case .failure(let failure):
            logger.error("\(name): the teachers' pass cannot run: \(failure); the student's mask stays", metadata: ["CASE_ID": "\(name)"])
            _ = try? CaseFolders.move(folder, into: layout.archive, name: name)
        case .success(let claimed):
            housekeeping.noteActivity()
            defer { housekeeping.noteActivity() }
            _ = runner.runTeachersAfterStudent(claimed, progress: { stage in
                self.heartbeat.beat()
                self.publishStatus("teachers for \(name) (\(stage))")
            }, stopRequested: { signals.stopRequested })
        }
    }

    /// A case that lacks a modality is failed when its marker file says the sender is done and
    /// nothing changed for the quiescence period since (a sender that writes the marker first
    /// and then copies the scans is waited for), or when it stayed incomplete for
    /// `incompleteTimeoutSeconds`; so is a case whose files a process held open for writing,
    /// unchanged, for that long (a sender that hung). Its files go to failed/ intact.
    private func failIncompleteCases(at now: ContinuousClock.Instant) {
        let timeout = Duration.milliseconds(Int(configuration.incompleteTimeoutSeconds * 1000))
        for name in readiness.trackedCases where !stuck.isWaiting(name, at: now) {
            let reason: String
            switch readiness.state(of: name, at: now) {
            case .incomplete(let missing, let since)?:
                let markerPresent = readiness.snapshotHasMarker(name)
                let quiet = now - since >= readiness.settings.quiescencePeriod
                guard (markerPresent && quiet) || now - since > timeout else { continue }
                let missingText = missing.map(\.description).joined(separator: ", ")
                reason = markerPresent
                    ? "incomplete case: the \(configuration.marker) marker is present but \(missingText) is missing, and nothing changed for \(Int(configuration.quiescenceSeconds)) s (expected T1, T1ce, T2 and FLAIR NIfTI files)"
                    : "incomplete case: \(missingText) still missing after \(Int(configuration.incompleteTimeoutSeconds)) s"
            case .beingWritten(let files, let since)?:
                guard now - since > timeout else { continue }
                reason = "incomplete case: \(files.joined(separator: ", ")) still open for writing, unchanged for \(Int(configuration.incompleteTimeoutSeconds)) s (the sender seems to have hung)"
            default:
                continue
            }
            readiness.forget(name)
            refuseFromIncoming(name, path: "\(layout.incoming)/\(name)", reason: reason, action: "moved to failed/ (\(reason))")
        }
    }

    private func refuseFromIncoming(_ name: String, path: String, reason: String, action: String) {
        do {
            try runner.refuse(folder: path, name: name, reason: reason)
            stuck.clear(name)
        } catch let error as CaseFolders.MoveError {
            stuck.record(name, path: path, error: error, action: action)
        } catch {}
    }

    private var safetyLimits: DropFolderSafety.Limits {
        DropFolderSafety.Limits(maximumTotalBytes: Int64(configuration.maximumCaseBytes), maximumFileCount: configuration.maximumCaseFiles)
    }

    // MARK: - Reload and status

    /// Loads the models `current` now points to; a failure keeps the models in service.
    private func reloadModels() {
        let before = models.summary
        do {
            try loadModels()
            logger.log(.configurationReloaded, "models changed on disk: \(before) → \(models.summary)")
            publishStatus(statusLine())
        } catch {
            logger.error("models changed on disk but could not be loaded; keeping \(before): \(error)")
            models.acceptVersionsOnDisk(layout: layout)
        }
    }

    /// SIGHUP: the new configuration and its models are loaded first and applied together, so a
    /// failure keeps everything as it was. Everything applies at once except what the watcher
    /// was built with (`watch.mode`, `watch.poll_interval_seconds`) and the root: those are
    /// named in a warning and wait for a restart.
    private func reload() {
        _ = notifier.reloading()
        do {
            var fresh = try reloadConfiguration()
            if fresh.root != configuration.root {
                logger.warning("root changes need a restart; keeping \(configuration.root)")
                fresh.root = configuration.root
            }
            let freshModels = try ModelsInService(configuration: fresh, layout: layout, logger: logger)
            var waiting: [String] = []
            if fresh.watchMode != configuration.watchMode { waiting.append("watch.mode") }
            if fresh.pollIntervalSeconds != configuration.pollIntervalSeconds { waiting.append("watch.poll_interval_seconds") }
            if !waiting.isEmpty { logger.warning("\(waiting.joined(separator: " and ")) change(s) take effect at the next restart") }
            configuration = fresh
            runner.policy = .init(fresh)
            readiness.settings = Self.readinessSettings(fresh)
            models = freshModels
            runner.pipeline = models.processor
            logger.log(.configurationReloaded, "configuration and models reloaded: \(models.summary)")
        } catch {
            logger.error("reload failed, keeping the previous configuration and models: \(error)")
        }
        _ = notifier.ready(status: statusLine())
    }

    private func loadModels() throws {
        models = try ModelsInService(configuration: configuration, layout: layout, logger: logger)
        runner.pipeline = models.processor
    }

    /// Sends STATUS= only when it changed (systemd keeps the last one).
    private func publishStatus(_ text: String) {
        guard text != lastStatus else { return }
        lastStatus = text
        _ = notifier.status(text)
    }

    private func statusLine(current: String? = nil) -> String {
        if let current { return "segmenting \(current) · queue \(queue.count) · \(models.summary)" }
        return "idle · queue \(queue.count) · \(models.summary)"
    }
}
