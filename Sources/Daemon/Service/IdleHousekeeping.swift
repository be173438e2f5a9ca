import CPosix
import Core
import Foundation
import Logging

/// What the daemon does when the queue is empty: prune old archived inputs (hourly) and,
/// after `idleMemoryReleaseSeconds` without a case, give the engine's buffer pool and free heap
/// back to the system (the next case allocates them again, about a second).
struct IdleHousekeeping {
    private var lastPrune = Date.distantPast
    private var lastActivity = Date()
    private var memoryReleased = true

    /// A case started or ended: memory is in use again and the idle clock restarts.
    mutating func noteActivity() {
        lastActivity = Date()
        memoryReleased = false
    }

    mutating func run(configuration: DaemonConfiguration, layout: RootLayout, logger: Logger) {
        pruneArchiveIfDue(configuration: configuration, layout: layout, logger: logger)
        releaseMemoryIfIdle(seconds: configuration.idleMemoryReleaseSeconds, logger: logger)
    }

    /// Removes archived inputs older than `archiveRetentionDays` (hourly).
    private mutating func pruneArchiveIfDue(configuration: DaemonConfiguration, layout: RootLayout, logger: Logger) {
        guard configuration.archiveRetentionDays > 0, Date().timeIntervalSince(lastPrune) > 3600 else { return }
        lastPrune = Date()
        let limit = Date().addingTimeInterval(-Double(configuration.archiveRetentionDays) * 86_400)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: layout.archive)) ?? [] {
            let path = "\(layout.archive)/\(name)"
            if let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date, modified < limit {
                try? FileManager.default.removeItem(atPath: path)
                logger.info("archive: removed \(name) (older than \(configuration.archiveRetentionDays) days)")
            }
        }
    }

    private mutating func releaseMemoryIfIdle(seconds: Double, logger: Logger) {
        guard !memoryReleased, seconds > 0, Date().timeIntervalSince(lastActivity) >= seconds else { return }
        memoryReleased = true
        let before = ResidentMemory.currentMegabytes()
        let pooled = BufferPool.shared.idleBytes
        BufferPool.shared.drain()
        OneDNNConvolution.releaseCachedKernels()
        _ = cposix_malloc_trim()
        let after = ResidentMemory.currentMegabytes()
        logger.info("idle for \(Int(seconds)) s: released \(pooled >> 20) MB of engine buffers; resident memory \(before) MB → \(after) MB")
    }
}
